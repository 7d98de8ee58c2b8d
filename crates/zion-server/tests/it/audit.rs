//! The audit log end to end: every change and its entry are one write (a
//! change whose entry cannot be appended does not happen), and refused
//! authentications are counted into one entry per reason and minute.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};
use zion_server::Running;
use zion_store::{AuditAppend, AuditNode, AuditRow, NewIncident};

use crate::support::{call, free, request, start_spec};

fn spec(api: &str, target: &str, environments: &str) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
{environments}services:
  - name: web
    workload:
      process:
        command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
    targets: {{ staging: {{ listen: {target} }} }}
"#
    )
}

const STAGING: &str = "  - { name: staging }\n";

/// Deployments there wait for an approval, so one stays active.
const GATED: &str = "  - { name: staging, approvals: { required: 1 } }\n";

/// Every entry as (index, action, subject, whole entry).
async fn entries(r: &Running) -> Vec<(u64, String, String, Value)> {
    let (s, list) = call(
        r,
        "GET",
        "/api/v1/audit/entries?limit=100000",
        Some(&r.admin_token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let entry = e["entry"].clone();
            (
                e["index"].as_u64().unwrap(),
                entry["action"].as_str().unwrap().to_string(),
                entry["subject"].as_str().unwrap().to_string(),
                entry,
            )
        })
        .collect()
}

/// The log's own verification: every leaf, root and signed checkpoint.
async fn verified(r: &Running) -> Value {
    let (s, v) = call(r, "GET", "/api/v1/audit/verify", Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "the audit log does not verify: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_and_its_entry_are_written_together() {
    let dir = tempfile::tempdir().unwrap();
    let (api, target) = (free(), free());
    let r = start_spec(dir.path(), spec(&api, &target, GATED)).await;
    let admin = r.admin_token.clone();

    let (s, body) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({ "name": "alice", "role": "deployer" })),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = call(&r, "DELETE", "/api/v1/tokens/alice", Some(&admin), None).await;
    assert_eq!(s, 200, "{body}");
    // Nothing to revoke: no change, so no entry (and the log does not skip
    // the entry it did not write: the appends below would be refused).
    let (s, body) = call(&r, "DELETE", "/api/v1/tokens/alice", Some(&admin), None).await;
    assert_eq!(s, 404, "{body}");

    let wider = spec(&api, &target, &format!("{GATED}  - {{ name: qa }}\n"));
    let (s, body) = call(&r, "PUT", "/api/v1/spec", Some(&admin), Some(json!(wider))).await;
    assert_eq!(s, 200, "{body}");

    let deploy = json!({ "service": "web", "environment": "staging", "version": "1.0" });
    let (s, created) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&admin),
        Some(deploy.clone()),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    // A second one on the busy target is refused, and so is its entry.
    let deploy2 = json!({ "service": "web", "environment": "staging", "version": "2.0" });
    let (s, body) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&admin),
        Some(deploy2),
    )
    .await;
    assert_eq!(s, 409, "{body}");

    let incident = r
        .app
        .store
        .open_incident(&NewIncident {
            service: "web".into(),
            environment: "staging".into(),
            deployment_id: None,
            opened_at: Timestamp::now(),
            opened_by: "controller".into(),
            reason: "error budget spent".into(),
        })
        .unwrap();
    let resolve = format!("/api/v1/incidents/{}/resolve", incident.id);
    let body = Some(json!({ "comment": "restarted" }));
    let (s, resolved) = call(&r, "POST", &resolve, Some(&admin), body.clone()).await;
    assert_eq!(s, 200, "{resolved}");
    let (s, again) = call(&r, "POST", &resolve, Some(&admin), body).await;
    assert_eq!(s, 409, "{again}");

    let log = entries(&r).await;
    let dep = format!("deployment/{id}");
    let inc = format!("incident/{}", incident.id);
    // The controller's transitions of the deployment interleave; the rest
    // is exactly the changes above, in order, each once.
    let changes: Vec<(&str, &str)> = log
        .iter()
        .filter(|(_, action, _, _)| action != "deployment.transition")
        .map(|(_, action, subject, _)| (action.as_str(), subject.as_str()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("token.create", "token/admin"),
            ("spec.apply", "spec"),
            ("token.create", "token/alice"),
            ("token.revoke", "token/alice"),
            ("spec.apply", "spec"),
            ("deployment.create", dep.as_str()),
            ("incident.resolve", inc.as_str()),
        ],
        "{log:#?}"
    );
    let find = |action: &str, subject: &str| {
        log.iter()
            .filter(|(_, a, s, _)| a == action && s == subject)
            .map(|(i, _, _, e)| (*i, e))
            .collect::<Vec<_>>()
    };
    let (creation, entry) = find("deployment.create", &dep)[0];
    assert_eq!(entry["actor"], "admin");
    assert_eq!(entry["details"]["version"], "1.0");
    assert_eq!(entry["details"]["environment"], "staging");
    // The creation comes before anything that happened to the deployment.
    for (i, _) in find("deployment.transition", &dep) {
        assert!(
            creation < i,
            "transition {i} logged before creation {creation}"
        );
    }
    let (_, applied) = find("spec.apply", "spec")[1];
    assert_eq!(applied["actor"], "admin");
    assert!(
        applied["details"]["changed_paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("environments")),
        "{applied}"
    );
    let (_, resolution) = find("incident.resolve", &inc)[0];
    assert_eq!(resolution["details"]["service"], "web");
    assert_eq!(
        resolution["details"]["resolution"],
        "resolved by admin: restarted"
    );

    let v = verified(&r).await;
    assert_eq!(v["entries"].as_u64().unwrap(), log.len() as u64);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_entry_is_refused_does_not_happen() {
    let dir = tempfile::tempdir().unwrap();
    let (api, target) = (free(), free());
    let r = start_spec(dir.path(), spec(&api, &target, STAGING)).await;
    let admin = r.admin_token.clone();
    let before = r.app.store.latest_spec().unwrap().unwrap();

    // A row written behind the log's back: the log's next entries no longer
    // continue the stored log, so the store refuses them, with the change.
    let size = r.app.store.audit_size().unwrap();
    r.app
        .store
        .append_audit(&AuditAppend {
            outbox: Vec::new(),
            rows: vec![AuditRow {
                index: size,
                time: Timestamp::now(),
                action: "test.sneaked".into(),
                subject: "nothing".into(),
                entry: b"{}".to_vec(),
            }],
            nodes: vec![AuditNode {
                level: 0,
                index: size,
                hash: [7; 32],
            }],
            checkpoint: None,
        })
        .unwrap();

    let (s, body) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({ "name": "bob", "role": "viewer" })),
    )
    .await;
    assert_eq!(s, 500, "{body}");
    let (s, body) = call(&r, "DELETE", "/api/v1/tokens/admin", Some(&admin), None).await;
    assert_eq!(s, 500, "{body}");
    let deploy = json!({ "service": "web", "environment": "staging", "version": "1.0" });
    let (s, body) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&admin),
        Some(deploy),
    )
    .await;
    assert_eq!(s, 500, "{body}");
    let other = spec(&api, &target, &format!("{STAGING}  - {{ name: qa }}\n"));
    let (s, body) = call(&r, "PUT", "/api/v1/spec", Some(&admin), Some(json!(other))).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audit log"),
        "{body}"
    );

    let tokens = r.app.store.tokens().unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].name, "admin");
    assert_eq!(tokens[0].revoked_at, None);
    assert!(
        r.app
            .store
            .deployments(&Default::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(r.app.store.latest_spec().unwrap().unwrap(), before);
    assert_eq!(r.app.spec().environments.len(), 1);
    assert_eq!(r.app.store.audit_size().unwrap(), size + 1);
    r.shutdown().await;
}

/// The `action` entries (`auth.refused`, `auth.forbidden`) as (principal,
/// minute) → count, refusing a principal and minute logged twice.
fn refusals(log: &[(u64, String, String, Value)], action: &str) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for (index, _, subject, entry) in log.iter().filter(|(_, a, _, _)| a == action) {
        let actor = entry["actor"].as_str().unwrap().to_string();
        assert_eq!(subject, &format!("principal/{actor}"));
        let minute = entry["details"]["minute"].as_str().unwrap().to_string();
        let count = entry["details"]["count"].as_u64().unwrap();
        assert!(count > 0, "entry {index}: {entry}");
        let before = counts.insert((actor, minute), count);
        assert!(
            before.is_none(),
            "entry {index} repeats a principal and minute: {entry}"
        );
    }
    counts
}

/// Sends `n` requests authorised by `header` (None: no header at all).
async fn refused_requests(api: std::net::SocketAddr, header: Option<String>, n: usize) {
    let http = reqwest::Client::new();
    for _ in 0..n {
        let mut req = http.get(format!("http://{api}/api/v1/deployments"));
        if let Some(h) = &header {
            req = req.header("authorization", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_authentications_are_one_entry_per_reason_and_minute() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = spec(&free(), &free(), STAGING);
    let r = start_spec(dir.path(), yaml.clone()).await;
    let size = r.app.store.audit_size().unwrap();

    // 200 refusals from four callers at once: 120 made-up tokens (one of
    // them 8 KiB long, all different), 40 without any header, 20 with
    // another scheme, and 20 with a token revoked meanwhile.
    let (s, created) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&r.admin_token),
        Some(json!({ "name": "gone", "role": "viewer" })),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let gone = created["token"].as_str().unwrap().to_string();
    let (s, _) = call(
        &r,
        "DELETE",
        "/api/v1/tokens/gone",
        Some(&r.admin_token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, created) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&r.admin_token),
        Some(json!({ "name": "reader", "role": "viewer" })),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let reader = created["token"].as_str().unwrap().to_string();
    let long = format!("zion_{}", "f".repeat(8192));
    let api = r.api_addr;
    let made_up = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for i in 0..120 {
            let token = if i == 0 {
                long.clone()
            } else {
                format!("zion_guess{i:04}")
            };
            let resp = http
                .get(format!("http://{api}/api/v1/deployments"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 401);
        }
    });
    let tasks = [
        made_up,
        tokio::spawn(refused_requests(api, None, 40)),
        tokio::spawn(refused_requests(
            api,
            Some("Basic YWRtaW46YWRtaW4=".into()),
            20,
        )),
        tokio::spawn(refused_requests(api, Some(format!("Bearer {gone}")), 20)),
    ];
    for t in tasks {
        t.await.unwrap();
    }
    // A viewer trying to deploy, 15 times: authenticated, but refused (403).
    for _ in 0..15 {
        let (s, body, _) = request(
            &r,
            "POST",
            "/api/v1/deployments",
            Some(&reader),
            Some(json!({ "service": "web", "version": "1.0", "environment": "staging" })),
        )
        .await;
        assert_eq!(s, 403, "{body}");
    }
    // An authorised request in between is not a refusal.
    let (s, _, _) = request(&r, "GET", "/api/v1/deployments", Some(&r.admin_token), None).await;
    assert_eq!(s, 200);

    // A graceful stop logs the counts of the minute that has not ended.
    r.shutdown().await;
    let r = start_spec(dir.path(), yaml).await;
    let log = entries(&r).await;
    // The restart, with the same spec, recorded no spec change.
    let applies: Vec<&Value> = log
        .iter()
        .filter(|(_, a, _, _)| a == "spec.apply")
        .map(|(_, _, _, e)| e)
        .collect();
    assert_eq!(applies.len(), 1, "{applies:#?}");
    assert_eq!(
        applies[0]["details"]["changed_paths"],
        json!(["audit", "environments", "server", "services"])
    );
    let counts = refusals(&log, "auth.refused");
    let mut per_principal: BTreeMap<&str, u64> = BTreeMap::new();
    for ((who, _), n) in &counts {
        *per_principal.entry(who.as_str()).or_default() += n;
    }
    // A revoked token's principal is known, and named.
    assert_eq!(
        per_principal,
        BTreeMap::from([
            ("(no token)", 40),
            ("(not a bearer token)", 20),
            ("(unknown token)", 120),
            ("gone", 20),
        ]),
        "{counts:?}"
    );
    assert_eq!(per_principal.values().sum::<u64>(), 200);
    // One entry a principal, two if the requests straddled a minute: never
    // one a request.
    assert!(counts.len() <= 8, "{counts:?}");
    let forbidden = refusals(&log, "auth.forbidden");
    assert_eq!(forbidden.values().sum::<u64>(), 15, "{forbidden:?}");
    assert!(
        forbidden.keys().all(|(who, _)| who == "reader"),
        "{forbidden:?}"
    );
    assert!(forbidden.len() <= 2, "{forbidden:?}");
    let route = log
        .iter()
        .find(|(_, a, _, _)| a == "auth.forbidden")
        .map(|(_, _, _, e)| e["details"]["route"].clone())
        .unwrap();
    assert_eq!(route, "POST /api/v1/deployments");
    // No secret and nothing the callers made up is kept.
    for (_, _, _, entry) in &log {
        let text = entry.to_string();
        assert!(!text.contains(&gone), "a token is logged: {text}");
        assert!(
            !text.contains("zion_guess"),
            "a sent token is logged: {text}"
        );
        assert!(
            !text.contains(&"f".repeat(32)),
            "a sent token is logged: {text}"
        );
        assert!(
            !text.contains("YWRtaW46"),
            "a sent header is logged: {text}"
        );
    }
    // Logged after the entries that existed before (and the token's two).
    let first = log
        .iter()
        .find(|(_, a, _, _)| a == "auth.refused")
        .map(|(i, _, _, _)| *i)
        .unwrap();
    assert!(first >= size + 3, "{first} < {size} + 3");
    let v = verified(&r).await;
    assert_eq!(v["entries"].as_u64().unwrap(), log.len() as u64);
    r.shutdown().await;
}

async fn report_audit(r: &Running) -> Value {
    let (s, report) = call(r, "GET", "/api/v1/report", Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "{report}");
    report["audit"].clone()
}

/// The report's audit section: the whole log verified on the first report,
/// then only what was appended since, until a verification fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_verifies_what_was_appended_since_its_last_verification() {
    let dir = tempfile::tempdir().unwrap();
    let r = start_spec(dir.path(), spec(&free(), &free(), STAGING)).await;
    let first = report_audit(&r).await;
    let size = r.app.store.audit_size().unwrap();
    assert_eq!(first["verified"], "yes", "{first}");
    assert_eq!(first["verified_from_entry"], 0, "{first}");
    assert_eq!(first["entries"], size, "{first}");

    // Two changes later, only they are read.
    for name in ["a", "b"] {
        let body = json!({ "name": name, "role": "viewer" });
        let (s, v) = call(
            &r,
            "POST",
            "/api/v1/tokens",
            Some(&r.admin_token),
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let second = report_audit(&r).await;
    assert_eq!(second["verified"], "yes", "{second}");
    assert_eq!(second["verified_from_entry"], size, "{second}");
    assert_eq!(second["entries"], size + 2, "{second}");
    assert_eq!(
        second["last_full_verification"],
        first["last_full_verification"]
    );

    // An entry appended since, altered in the file: the report says so and
    // names it; the next report verifies from entry 0 again.
    let body = json!({ "name": "c", "role": "viewer" });
    let (s, v) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&r.admin_token),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let db = rusqlite::Connection::open(dir.path().join("state/zion.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE audit_entries SET entry = CAST(replace(CAST(entry AS TEXT), 'viewer', 'admin') AS BLOB) WHERE idx = ?1",
            [(size + 2) as i64],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let third = report_audit(&r).await;
    assert_eq!(third["verified"], "NO", "{third}");
    assert_eq!(third["first_bad_entry"], size + 2, "{third}");
    let (s, v) = call(
        &r,
        "GET",
        "/api/v1/audit/verify",
        Some(&r.admin_token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["verified_from_entry"], Value::Null, "{v}");
    r.shutdown().await;
}

/// Verification reads the checkpoints and the entries in one snapshot: a
/// change committing meanwhile is seen whole or not at all, never as
/// entries that no checkpoint covers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_while_changes_commit_never_raises_a_false_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let r = start_spec(dir.path(), spec(&free(), &free(), STAGING)).await;
    let api = r.api_addr;
    let token = r.admin_token.clone();
    let writer = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for i in 0..150 {
            let resp = http
                .post(format!("http://{api}/api/v1/tokens"))
                .bearer_auth(&token)
                .json(&json!({ "name": format!("t{i}"), "role": "viewer" }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201);
        }
    });
    let mut runs = 0;
    while !writer.is_finished() {
        for path in ["/api/v1/audit/verify", "/api/v1/report"] {
            let (s, v) = call(&r, "GET", path, Some(&r.admin_token), None).await;
            assert_eq!(s, 200, "{v}");
            let ok = if path.ends_with("verify") {
                v["ok"] == true
            } else {
                v["audit"]["verified"] == "yes"
            };
            assert!(ok, "{path} while changes commit: {v}");
        }
        runs += 1;
    }
    writer.await.unwrap();
    assert!(runs >= 3, "only {runs} verifications overlapped the writes");
    verified(&r).await;
    r.shutdown().await;
}

/// A log that does not verify signs nothing, so a changed spec cannot be
/// recorded at start: Zion starts on the last recorded spec instead, and
/// says what is wrong, so that `zion audit verify` can still be asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_log_starts_on_the_last_recorded_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (api, target) = (free(), free());
    let r = start_spec(dir.path(), spec(&api, &target, STAGING)).await;
    let size = r.app.store.audit_size().unwrap();
    r.shutdown().await;
    // An entry forged at the end, with its leaf hash: no checkpoint covers it.
    let forged = format!(
        r#"{{"action":"token.create","actor":"admin","details":{{}},"seq":{size},"subject":"token/x","time":"2026-01-01T00:00:00Z"}}"#
    );
    let db = rusqlite::Connection::open(dir.path().join("state/zion.db")).unwrap();
    db.execute(
        "INSERT INTO audit_entries (idx, time, action, subject, entry) VALUES (?1, '2026-01-01T00:00:00Z', 'token.create', 'token/x', ?2)",
        rusqlite::params![size as i64, forged.as_bytes()],
    )
    .unwrap();
    let leaf = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(forged.as_bytes());
        h.finalize().to_vec()
    };
    db.execute(
        "INSERT INTO audit_nodes (level, idx, hash) VALUES (0, ?1, ?2)",
        rusqlite::params![size as i64, leaf],
    )
    .unwrap();
    drop(db);

    let changed = spec(&api, &target, &format!("{STAGING}  - {{ name: qa }}\n"));
    let r = start_spec(dir.path(), changed).await;
    assert_eq!(
        r.app.spec().environments.len(),
        1,
        "the new spec was applied"
    );
    let (s, v) = call(
        &r,
        "GET",
        "/api/v1/audit/verify",
        Some(&r.admin_token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["index"], size, "{v}");
    r.shutdown().await;
}
