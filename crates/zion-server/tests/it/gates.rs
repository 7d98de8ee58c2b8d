//! Quality gates end to end, through the HTTP API of an in-process control
//! plane: a request into an environment with `gates` is judged on the
//! release evidence it carries (test results, coverage, findings by level)
//! and refused, naming every gate missed with the value measured, when the
//! evidence falls short or is missing; nothing is created then. Evidence
//! that meets the gates is recorded on the deployment with its commit;
//! break glass and rollbacks are not gated.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zion_server::Running;

use crate::support::{call, free, start_spec};

/// How long any wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

const COMMAND: &str = r#"["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]"#;

/// `production` demands every test passing, 80% line coverage, no error
/// finding and at most five warnings; `staging` demands nothing.
fn spec() -> String {
    format!(
        "server: {{ listen: {}, data_dir: state }}
environments:
  - name: staging
  - name: production
    gates:
      tests_passed: 100%
      coverage: 80%
      findings: {{ error: 0, warning: 5 }}
services:
  - name: web
    workload:
      process:
        command: {COMMAND}
    targets: {{ staging: {{ listen: {} }}, production: {{ listen: {} }} }}
    canary: {{ steps: [{{ weight: 50 }}, {{ weight: 100 }}] }}
",
        free(),
        free(),
        free()
    )
}

async fn start() -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().unwrap();
    let r = start_spec(dir.path(), spec()).await;
    (dir, r)
}

async fn get(r: &Running, path: &str) -> Value {
    let (s, v) = call(r, "GET", path, Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

async fn post(r: &Running, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(r, "POST", path, Some(token), Some(body)).await
}

async fn deploy(r: &Running, body: Value) -> (u16, Value) {
    post(r, &r.admin_token, "/api/v1/deployments", body).await
}

/// A request for `web` `version` in production carrying `extra` fields.
fn request(version: &str, extra: Value) -> Value {
    let mut body = json!({ "service": "web", "environment": "production", "version": version });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn tests(total: u64, passed: u64, failed: u64, skipped: u64, errors: u64) -> Value {
    json!({ "total": total, "passed": passed, "failed": failed, "skipped": skipped, "errors": errors })
}

fn coverage(lines_total: u64, lines_covered: u64) -> Value {
    json!({ "lines_total": lines_total, "lines_covered": lines_covered })
}

fn findings(error: u64, warning: u64, note: u64) -> Value {
    json!({ "error": error, "warning": warning, "note": note, "none": 0 })
}

/// Evidence that meets production's gates exactly at their limits: all 40
/// executed tests pass (2 skipped do not count), 800 of 1000 lines is 80%,
/// and 5 warnings is the most allowed.
fn good_evidence() -> Value {
    json!({
        "tests": tests(42, 40, 0, 2, 0),
        "coverage": coverage(1000, 800),
        "findings": findings(0, 5, 17),
    })
}

/// Asserts a refusal with `status` whose message holds every needle.
#[track_caller]
fn refused(status: u16, body: &Value, want: u16, needles: &[&str]) -> String {
    assert_eq!(status, want, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or("").to_string();
    for n in needles {
        assert!(msg.contains(n), "`{n}` not in the refusal: {msg}");
    }
    msg
}

async fn wait_phase(r: &Running, id: i64, phase: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let d = get(r, &format!("/api/v1/deployments/{id}")).await;
        if d["phase"] == phase {
            return d;
        }
        assert!(
            d["finished_at"].is_null(),
            "deployment {id} ended {} instead of {phase}: {d:#}",
            d["phase"]
        );
        assert!(
            Instant::now() < deadline,
            "deployment {id}: not {phase} within {PATIENCE:?}; last: {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Promotes to 100% at once, as soon as the new version is healthy.
async fn promote_fully(r: &Running, id: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let path = format!("/api/v1/deployments/{id}/promote");
        let (s, d) = post(r, &r.admin_token, &path, json!({ "full": true })).await;
        if s == 200 {
            return;
        }
        // Just created, the controller may not have started it yet.
        let starting = s == 409
            && d["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("is pending"));
        if !starting {
            refused(s, &d, 409, &["not healthy yet"]);
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} never promotable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_short_evidence_is_refused_naming_each_gate_and_nothing_is_stored() {
    let (_dir, r) = start().await;

    // No evidence at all: every gate fails, each saying what to attach.
    let (s, body) = deploy(&r, request("1.0", json!({}))).await;
    let msg = refused(
        s,
        &body,
        409,
        &[
            "quality gates failed for web 1.0 in production",
            "tests_passed gate: no evidence attached; the environment requires at least 100%",
            "--junit FILE",
            "coverage gate: no evidence attached; the environment requires at least 80%",
            "--coverage FILE",
            "findings.error gate: no evidence attached",
            "findings.warning gate: no evidence attached",
            "--sarif FILE",
            "Nothing was deployed",
        ],
    );
    assert_eq!(body["error"]["code"], "quality_gates_failed");
    assert_eq!(msg.matches("no evidence attached").count(), 4, "{msg}");

    // Short on three gates: 195 of 200 executed tests passed is 97.5%, 724
    // of 1000 lines is 72.4%, and one error finding where none is allowed;
    // the 5 warnings are within their limit and not named.
    let short = json!({
        "tests": tests(203, 195, 4, 3, 1),
        "coverage": coverage(1000, 724),
        "findings": findings(1, 5, 90),
    });
    let (s, body) = deploy(&r, request("1.0", json!({ "evidence": short }))).await;
    let msg = refused(
        s,
        &body,
        409,
        &[
            "quality gates failed",
            "tests passed 97.5% (195 of 200 executed) is below the required 100%",
            "coverage 72.4% is below the required 80%",
            "1 error finding(s) exceed the allowed 0",
        ],
    );
    assert!(!msg.contains("warning"), "{msg}");

    // Only coverage short, by one line: 799 of 1000 is 79.9%, never "80%".
    let mut one_short = good_evidence();
    one_short["coverage"] = coverage(1000, 799);
    let (s, body) = deploy(&r, request("1.0", json!({ "evidence": one_short }))).await;
    let msg = refused(
        s,
        &body,
        409,
        &[
            "quality gate failed for web 1.0 in production: coverage 79.9% is below the \
             required 80%",
        ],
    );
    assert!(!msg.contains("tests passed"), "{msg}");

    // Six warnings, one over the limit; a hotfix is gated like a feature.
    let mut warnings = good_evidence();
    warnings["findings"] = findings(0, 6, 0);
    let body = request("1.0", json!({ "evidence": warnings, "type": "hotfix" }));
    let (s, body) = deploy(&r, body).await;
    refused(
        s,
        &body,
        409,
        &["6 warning finding(s) exceed the allowed 5"],
    );

    // Figures no single report can produce are refused as a bad request.
    let mut odd = good_evidence();
    odd["tests"] = tests(10, 9, 0, 0, 0);
    let (s, body) = deploy(&r, request("1.0", json!({ "evidence": odd }))).await;
    refused(s, &body, 400, &["evidence.tests: total 10 is not passed 9"]);
    let mut odd = good_evidence();
    odd["coverage"] = coverage(10, 11);
    let (s, body) = deploy(&r, request("1.0", json!({ "evidence": odd }))).await;
    refused(s, &body, 400, &["11 lines covered of 10"]);
    let body = request(
        "1.0",
        json!({ "evidence": good_evidence(), "commit": "not-a-sha" }),
    );
    let (s, body) = deploy(&r, body).await;
    refused(s, &body, 400, &["`not-a-sha` is not a commit hash"]);
    let body = request(
        "1.0",
        json!({ "evidence": good_evidence(), "committed_at": "yesterday" }),
    );
    let (s, body) = deploy(&r, body).await;
    refused(s, &body, 400, &["committed_at"]);

    // `--type rollback` skips the gates only for a version that already
    // succeeded here; 1.0 never did.
    let body = request("1.0", json!({ "type": "rollback" }));
    let (s, body) = deploy(&r, body).await;
    refused(
        s,
        &body,
        409,
        &[
            "--type rollback is for a version that already succeeded on web/production",
            "zion rollback web --env production",
        ],
    );

    // Every refusal left nothing behind, and staging has no gates.
    assert_eq!(get(&r, "/api/v1/deployments").await, json!([]));
    // But each policy refusal (409) is evidence: one `deployment.refused`
    // entry each, with the reason and the figures judged; the malformed
    // requests (400) are not.
    let log = get(&r, "/api/v1/audit/entries?action=deployment.refused").await;
    let refusals = log.as_array().unwrap();
    assert_eq!(refusals.len(), 4, "{log:#}");
    for e in refusals {
        assert_eq!(e["entry"]["subject"], "target/web/production");
        assert_eq!(e["entry"]["actor"], "admin");
        assert_eq!(e["entry"]["details"]["refused_by"], "quality_gates_failed");
        assert!(
            e["entry"]["details"]["reason"]
                .as_str()
                .unwrap()
                .contains("quality gate"),
            "{e}"
        );
    }
    assert_eq!(
        refusals[1]["entry"]["details"]["evidence"]["coverage"],
        coverage(1000, 724)
    );
    assert_eq!(refusals[3]["entry"]["details"]["type"], "hotfix");
    // The report counts how often the gate held, citing the entries.
    let report = get(&r, "/api/v1/report?env=production").await;
    let held = &report["refusals"];
    assert_eq!(held["total"], 4, "{report:#}");
    assert_eq!(held["by_rule"], json!({ "quality_gates_failed": 4 }));
    let cited: Vec<Value> = refusals.iter().map(|e| e["index"].clone()).collect();
    assert_eq!(held["entries"], json!(cited));
    let staging = get(&r, "/api/v1/report?env=staging").await;
    assert_eq!(staging["refusals"], Value::Null, "{staging:#}");
    let (s, d) = deploy(
        &r,
        json!({ "service": "web", "environment": "staging", "version": "1.0" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["evidence"], Value::Null);
    assert!(
        !d["reason"].as_str().unwrap().contains("quality gates"),
        "{d}"
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_that_meets_the_gates_is_deployed_and_recorded_with_its_commit() {
    let (_dir, r) = start().await;
    let sha = "9FCEB02D0AE598E95DC970B74767F19372D61AF8";
    let body = request(
        "1.0",
        json!({
            "evidence": good_evidence(),
            "commit": sha,
            "committed_at": "2026-03-01T10:15:30+01:00",
        }),
    );
    let (s, created) = deploy(&r, body).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let d = wait_phase(&r, id, "succeeded").await;
    for shown in [&created, &d] {
        assert_eq!(shown["evidence"], good_evidence());
        assert_eq!(shown["commit"], sha.to_ascii_lowercase());
        // Stored as the instant, shown in UTC.
        assert_eq!(shown["committed_at"], "2026-03-01T09:15:30Z");
    }
    let first = d["events"][0]["reason"].as_str().unwrap();
    assert!(
        first.contains(
            "quality gates met: tests_passed, coverage, findings.error, findings.warning"
        ),
        "{first}"
    );
    // The audit log's record of the creation carries them too.
    let log = get(&r, "/api/v1/audit/entries?action=deployment.create").await;
    let subject = format!("deployment/{id}");
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"]["subject"] == subject.as_str())
        .unwrap_or_else(|| panic!("no deployment.create entry for {subject}: {log:#}"));
    let details = &entry["entry"]["details"];
    assert_eq!(details["evidence"], good_evidence());
    assert_eq!(details["commit"], sha.to_ascii_lowercase());
    assert_eq!(details["committed_at"], "2026-03-01T09:15:30Z");
    // The target's first version switches directly, whatever the
    // service's strategy (canary here), and says so.
    assert_eq!(created["strategy"], "direct");
    assert_eq!(details["strategy"], "direct");

    // 2.0 also meets them; then a rollback to 1.0 needs no evidence.
    let (s, second) = deploy(&r, request("2.0", json!({ "evidence": good_evidence() }))).await;
    assert_eq!(s, 201, "{second}");
    assert_eq!(second["strategy"], "canary");
    let second = second["id"].as_i64().unwrap();
    promote_fully(&r, second).await;
    wait_phase(&r, second, "succeeded").await;
    let (s, back) = post(
        &r,
        &r.admin_token,
        "/api/v1/rollback",
        json!({ "service": "web", "environment": "production" }),
    )
    .await;
    assert_eq!(s, 201, "{back}");
    assert_eq!(back["version"], "1.0");
    assert_eq!(back["type"], "rollback");
    // `strategy` is the plan's kind: a rollback switches directly, whatever
    // the service's strategy; `rollout` says it is a rollback.
    assert_eq!(back["rollout"], "rollback");
    assert_eq!(back["strategy"], "direct");
    assert_eq!(back["evidence"], Value::Null);
    let reason = back["reason"].as_str().unwrap();
    assert!(reason.contains("quality gates skipped"), "{reason}");
    wait_phase(&r, back["id"].as_i64().unwrap(), "succeeded").await;

    // Tightening the gate later does not rewrite history: 1.0 and 2.0 met
    // the gates in force when they were admitted (80% coverage), and the
    // report still counts both as passed under a 90% gate; the rollback
    // skipped the gates and carries no verdict.
    let tightened = r
        .app
        .store
        .latest_spec()
        .unwrap()
        .unwrap()
        .yaml
        .replace("coverage: 80%", "coverage: 90%");
    let (s, body) = call(
        &r,
        "PUT",
        "/api/v1/spec",
        Some(&r.admin_token),
        Some(Value::String(tightened)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let report = get(&r, "/api/v1/report?env=production").await;
    let g = &report["quality_gates"];
    assert_eq!(g["with_evidence"], 2, "{report:#}");
    assert_eq!(g["passed"], 2, "{g}");
    assert_eq!(g["failed"], 0, "{g}");
    // By strategy: one canary (2.0); the first version and the rollback
    // switched directly, so they are not counted as canaries.
    let rows: Vec<(&str, u64)> = report["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["strategy"].as_str().unwrap(),
                s["deployments"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [("canary", 1), ("direct", 2)], "{report:#}");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_skips_the_gates_and_keeps_what_was_attached() {
    let (_dir, r) = start().await;
    let (s, body) = post(
        &r,
        &r.admin_token,
        "/api/v1/tokens",
        json!({ "name": "dora", "role": "deployer" }),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let dora = body["token"].as_str().unwrap().to_string();

    // A deployer cannot break glass past the gates.
    let glass = json!({ "break_glass": "checkout down, INC-7" });
    let (s, body) = post(
        &r,
        &dora,
        "/api/v1/deployments",
        request("1.0", glass.clone()),
    )
    .await;
    refused(s, &body, 403, &["may not break glass"]);

    // An admin can, with no evidence at all.
    let (s, d) = deploy(&r, request("1.0", glass)).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["break_glass"]["reason"], "checkout down, INC-7");
    assert_eq!(d["evidence"], Value::Null);
    let id = d["id"].as_i64().unwrap();
    wait_phase(&r, id, "succeeded").await;

    // Evidence short of the gates is still recorded as attached.
    let short = json!({ "coverage": coverage(10, 3) });
    let body = request(
        "2.0",
        json!({ "evidence": short, "break_glass": "hotfix for INC-8" }),
    );
    let (s, d) = deploy(&r, body).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["evidence"]["coverage"], coverage(10, 3));
    assert_eq!(d["evidence"]["tests"], Value::Null);
    assert!(d["reason"].as_str().unwrap().contains("BREAK GLASS"), "{d}");
    r.shutdown().await;
}
