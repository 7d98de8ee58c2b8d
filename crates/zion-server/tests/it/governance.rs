//! Governance end to end, through the HTTP API of an in-process control
//! plane with real workloads: the `requires` lifecycle, approvals by
//! distinct principals (and their refusal, rejection and expiry), deployment
//! windows and freezes, the pre-deployment checks (artifact, dependencies,
//! service health, open incidents) at request and before traffic moves,
//! break glass, and `/approve` comments from a signed GitHub webhook. Every
//! refusal is also checked to have created or changed nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zion_server::{Clock, Running};

use crate::support::{call, free, start_spec, start_spec_on};

/// How long any wait may take before the test fails; runs normally finish
/// far sooner, but a loaded CI machine starts Python slowly.
const PATIENCE: Duration = Duration::from_secs(30);

const COMMAND: &str = r#"["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]"#;

const TERMINAL: [&str; 6] = [
    "succeeded",
    "rolled_back",
    "rejected",
    "expired",
    "cancelled",
    "failed",
];

/// One service entry with a target in each of `envs`; `extra` holds more
/// lines: process keys (8 spaces) first, then service keys (4 spaces).
fn service(name: &str, envs: &[&str], extra: &str) -> String {
    let targets: Vec<String> = envs
        .iter()
        .map(|e| format!("{e}: {{ listen: {} }}", free()))
        .collect();
    format!(
        "  - name: {name}\n    workload:\n      process:\n        command: {COMMAND}\n{extra}    targets: {{ {} }}\n",
        targets.join(", ")
    )
}

/// A whole spec; `environments` and `services` are list items.
fn spec(server_extra: &str, environments: &str, services: &str) -> String {
    format!(
        "server: {{ listen: {}, data_dir: state{server_extra} }}\nenvironments:\n{environments}services:\n{services}",
        free()
    )
}

async fn start(dir: &Path, yaml: String) -> Running {
    start_spec(dir, yaml).await
}

async fn get(r: &Running, path: &str) -> Value {
    let (s, v) = call(r, "GET", path, Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

async fn post(r: &Running, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(r, "POST", path, Some(token), Some(body)).await
}

async fn deploy(r: &Running, token: &str, body: Value) -> (u16, Value) {
    post(r, token, "/api/v1/deployments", body).await
}

/// Deploys and insists on 201; returns the deployment's id.
async fn deploy_ok(r: &Running, token: &str, body: Value) -> i64 {
    let (s, d) = deploy(r, token, body.clone()).await;
    assert_eq!(s, 201, "{body} → {d}");
    d["id"].as_i64().unwrap()
}

/// Asserts a refusal with `status`, whose message contains every needle.
fn refused(status: u16, body: &Value, want: u16, needles: &[&str]) {
    assert_eq!(status, want, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or("");
    assert!(!msg.is_empty(), "an error without a message: {body}");
    for n in needles {
        assert!(msg.contains(n), "`{n}` not in the refusal: {msg}");
    }
}

/// The deployments list, newest first, for before/after comparisons.
async fn deployments(r: &Running) -> Value {
    get(r, "/api/v1/deployments").await
}

async fn token(r: &Running, name: &str, role: &str, github: Option<&str>) -> String {
    let mut body = json!({ "name": name, "role": role });
    if let Some(g) = github {
        body["github"] = json!(g);
    }
    let (s, t) = post(r, &r.admin_token, "/api/v1/tokens", body).await;
    assert_eq!(s, 201, "{t}");
    t["token"].as_str().unwrap().to_string()
}

/// Polls one deployment until `pred` holds.
async fn wait_until(r: &Running, id: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let d = get(r, &format!("/api/v1/deployments/{id}")).await;
        if pred(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id}: no {what} within {PATIENCE:?}; last: {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the deployment is in `phase`; fails at once when it ends in
/// another phase.
async fn wait_phase(r: &Running, id: i64, phase: &str) -> Value {
    let d = wait_until(r, id, phase, |d| {
        d["phase"] == phase || TERMINAL.contains(&d["phase"].as_str().unwrap_or(""))
    })
    .await;
    assert_eq!(d["phase"], phase, "deployment {id} ended elsewhere: {d:#}");
    d
}

/// The status of one version on one target, from `GET /services`.
async fn version_status(r: &Running, service: &str, env: &str, version: &str) -> Option<Value> {
    let list = get(r, "/api/v1/services").await;
    let target = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["service"] == service && t["environment"] == env)
        .cloned()?;
    target["versions"]
        .as_array()?
        .iter()
        .find(|v| v["version"] == version)
        .cloned()
}

/// Polls `GET /services` until the version has `ready` ready replicas.
async fn wait_ready(r: &Running, service: &str, env: &str, version: &str, ready: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let st = version_status(r, service, env, version).await;
        if st.as_ref().and_then(|s| s["ready"].as_u64()) == Some(ready) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{service}/{env} {version}: never {ready} ready; last: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn events(d: &Value) -> &Vec<Value> {
    d["events"].as_array().expect("a deployment's events")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A timestamp `secs` from now, to the whole second (as a spec writes it).
fn in_seconds(secs: i64) -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + secs).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_requires_the_version_to_succeed_in_staging_first() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = spec(
        "",
        "  - { name: staging }\n  - { name: production, requires: [staging] }\n",
        &service("web", &["staging", "production"], ""),
    );
    let r = start(dir.path(), yaml).await;
    let admin = r.admin_token.clone();
    let dana = token(&r, "dana", "deployer", None).await;

    let to_prod = json!({ "service": "web", "environment": "production", "version": "1.0" });
    let (s, body) = deploy(&r, &dana, to_prod.clone()).await;
    refused(
        s,
        &body,
        409,
        &["has not succeeded in staging", "--env staging"],
    );
    assert_eq!(body["error"]["code"], "requires_unmet");
    assert_eq!(deployments(&r).await, json!([]));

    let staging = deploy_ok(
        &r,
        &dana,
        json!({ "service": "web", "environment": "staging", "version": "1.0" }),
    )
    .await;
    // Requested is not succeeded: production still waits for it.
    let (s, body) = deploy(&r, &dana, to_prod.clone()).await;
    refused(s, &body, 409, &["staging"]);
    let d = wait_phase(&r, staging, "succeeded").await;
    assert_eq!(d["requested_by"], "dana");
    assert_eq!(events(&d)[0]["actor"], "dana");
    assert_eq!(deployments(&r).await.as_array().unwrap().len(), 1);

    let prod = deploy_ok(&r, &dana, to_prod).await;
    let d = wait_phase(&r, prod, "succeeded").await;
    assert_eq!(d["version"], "1.0");
    assert_eq!(d["environment"], "production");
    // Another version has not been through staging.
    let (s, body) = deploy(
        &r,
        &admin,
        json!({ "service": "web", "environment": "production", "version": "2.0" }),
    )
    .await;
    refused(s, &body, 409, &["web 2.0", "staging"]);
    assert_eq!(deployments(&r).await.as_array().unwrap().len(), 2);
    r.shutdown().await;
}

fn approvals_env(name: &str, timeout: &str) -> String {
    format!(
        "  - name: {name}\n    approvals: {{ required: 2, roles: [approver, admin], prevent_self_approval: true, timeout: {timeout} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_need_two_distinct_allowed_principals() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = spec(
        "",
        &approvals_env("production", "60s"),
        &service("web", &["production"], ""),
    );
    let r = start(dir.path(), yaml).await;
    let admin = r.admin_token.clone();
    let alice = token(&r, "alice", "approver", None).await;
    let bob = token(&r, "bob", "approver", None).await;
    let dana = token(&r, "dana", "deployer", None).await;
    let vera = token(&r, "vera", "viewer", None).await;

    let (s, created) = deploy(
        &r,
        &admin,
        json!({ "service": "web", "environment": "production", "version": "1.0" }),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["phase"], "pending");
    assert_eq!(created["requested_by"], "admin");
    assert_eq!(created["break_glass"], Value::Null);
    assert_eq!(created["approvals"]["required"], 2);
    assert_eq!(created["approvals"]["given"], json!([]));
    let id = created["id"].as_i64().unwrap();
    let path = |what: &str| format!("/api/v1/deployments/{id}/{what}");

    let d = wait_phase(&r, id, "awaiting_approval").await;
    assert!(d["approvals"]["expires_at"].is_string(), "{d}");
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("waiting for 2 approvals") && reason.contains("(not admin)"),
        "{reason}"
    );
    let still = d["approvals"]["still_needed"].as_str().unwrap();
    assert!(still.starts_with("2 more approvals"), "{still}");

    // Who may approve, as each caller sees it.
    for (who, may, why) in [
        (&alice, true, None),
        (&admin, false, Some("you requested it")),
        (&dana, false, Some("needs role approver or admin")),
        (&vera, false, Some("needs role approver or admin")),
    ] {
        let (s, list) = call(&r, "GET", "/api/v1/approvals", Some(who), None).await;
        assert_eq!(s, 200, "{list}");
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["id"], id);
        assert_eq!(list[0]["you_may_approve"], may, "{}", list[0]);
        assert_eq!(list[0]["why_not"].as_str(), why, "{}", list[0]);
    }

    // Refusals, none of which records anything.
    let before = get(&r, &format!("/api/v1/deployments/{id}")).await;
    let (s, body) = post(&r, &admin, &path("approve"), json!({})).await;
    refused(s, &body, 403, &["prevent_self_approval", "admin"]);
    let (s, body) = post(&r, &vera, &path("approve"), json!({})).await;
    refused(s, &body, 403, &["vera"]);
    let (s, body) = post(&r, &dana, &path("approve"), json!({})).await;
    refused(s, &body, 403, &["dana", "role deployer", "approver, admin"]);
    let (s, body) = post(&r, &dana, &path("reject"), json!({})).await;
    refused(s, &body, 403, &["dana"]);
    let (s, _) = call(&r, "POST", &path("approve"), None, None).await;
    assert_eq!(s, 401);
    let after = get(&r, &format!("/api/v1/deployments/{id}")).await;
    assert_eq!(after["gate"]["decisions"], json!([]));
    assert_eq!(events(&after).len(), events(&before).len());

    // The first approval counts once.
    let (s, d) = post(
        &r,
        &alice,
        &path("approve"),
        json!({ "comment": "canary plan ok" }),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["approvals"]["given"], json!(["alice"]));
    assert_eq!(d["phase"], "awaiting_approval");
    let still = d["approvals"]["still_needed"].as_str().unwrap();
    assert!(
        still.starts_with("1 more approval ") && still.contains("alice") && still.contains("admin"),
        "{still}"
    );
    let decision = &d["gate"]["decisions"][0];
    assert_eq!(decision["principal"], "alice");
    assert_eq!(decision["kind"], "approve");
    assert_eq!(decision["via"], "api");
    assert_eq!(decision["comment"], "canary plan ok");
    let (s, body) = post(&r, &alice, &path("approve"), json!({})).await;
    refused(
        s,
        &body,
        409,
        &["alice already decided", "distinct principals"],
    );
    let (s, body) = post(&r, &alice, &path("reject"), json!({})).await;
    refused(s, &body, 409, &["alice already decided"]);
    let (_, list) = call(&r, "GET", "/api/v1/approvals", Some(&alice), None).await;
    assert_eq!(list[0]["you_may_approve"], false, "{list}");
    assert!(
        list[0]["why_not"]
            .as_str()
            .unwrap()
            .contains("already decided"),
        "{list}"
    );
    let d = get(&r, &format!("/api/v1/deployments/{id}")).await;
    assert_eq!(d["approvals"]["given"], json!(["alice"]));

    // The second distinct approver completes the count; the rollout runs.
    let (s, d) = post(&r, &bob, &path("approve"), json!({})).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["approvals"]["given"], json!(["alice", "bob"]));
    assert_eq!(d["approvals"]["still_needed"], Value::Null);
    let d = wait_phase(&r, id, "succeeded").await;
    let evs = events(&d);
    let actors: Vec<&str> = evs.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert!(
        actors.contains(&"alice") && actors.contains(&"bob"),
        "{actors:?}"
    );
    let alice_ev = evs.iter().find(|e| e["actor"] == "alice").unwrap();
    assert!(
        alice_ev["reason"]
            .as_str()
            .unwrap()
            .contains("approved by alice (1/2"),
        "{alice_ev}"
    );
    let started = evs
        .iter()
        .find(|e| e["to_phase"] == "progressing")
        .expect("a progressing event");
    assert_eq!(started["from_phase"], "awaiting_approval");
    assert_eq!(started["actor"], "controller");
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("approved by alice, bob"),
        "{started}"
    );
    let (s, body) = post(&r, &alice, &path("approve"), json!({})).await;
    refused(s, &body, 409, &["succeeded", "not waiting for approval"]);
    let (_, list) = call(&r, "GET", "/api/v1/approvals", Some(&alice), None).await;
    assert_eq!(list, json!([]));

    // Without server.github the webhook says how to configure it.
    let (s, body) = deliver(&r, "ping", Some("sha256=00"), b"{}").await;
    refused(s, &body, 404, &["webhook_secret"]);

    // One rejection ends a deployment before anything starts.
    let id2 = deploy_ok(
        &r,
        &admin,
        json!({ "service": "web", "environment": "production", "version": "2.0" }),
    )
    .await;
    wait_phase(&r, id2, "awaiting_approval").await;
    let (s, d) = post(
        &r,
        &bob,
        &format!("/api/v1/deployments/{id2}/reject"),
        json!({ "comment": "not during the sale" }),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["phase"], "rejected");
    let d = get(&r, &format!("/api/v1/deployments/{id2}")).await;
    assert_eq!(d["phase"], "rejected");
    assert!(d["finished_at"].is_string());
    assert_eq!(d["started_at"], Value::Null);
    let last = events(&d).last().unwrap().clone();
    assert_eq!(
        (&last["actor"], &last["from_phase"], &last["to_phase"]),
        (
            &json!("bob"),
            &json!("awaiting_approval"),
            &json!("rejected")
        )
    );
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("rejected by bob: not during the sale"),
        "{last}"
    );
    // Nothing of 2.0 was started, and it stays rejected.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(version_status(&r, "web", "production", "2.0").await, None);
    let d = get(&r, &format!("/api/v1/deployments/{id2}")).await;
    assert_eq!(d["phase"], "rejected");
    r.shutdown().await;
}

/// How far `clock` must move for its time to be `at` plus `past`.
fn until(clock: &Clock, at: Timestamp, past: SignedDuration) -> Duration {
    let gap = (at + past).duration_since(clock.now());
    Duration::try_from(gap).unwrap_or(Duration::ZERO)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_not_given_in_time_expire() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = spec(
        "",
        &approvals_env("production", "1h"),
        &service("web", &["production"], ""),
    );
    // The hour passes when the test says so, not while a busy machine
    // applies a spec and an approval.
    let clock = Clock::shifted(SignedDuration::ZERO);
    let r = start_spec_on(dir.path(), yaml.clone(), clock.clone()).await;
    let dana = token(&r, "dana", "deployer", None).await;
    let alice = token(&r, "alice", "approver", None).await;
    let id = deploy_ok(
        &r,
        &dana,
        json!({ "service": "web", "environment": "production", "version": "1.0" }),
    )
    .await;
    let waiting = wait_phase(&r, id, "awaiting_approval").await;
    let expires: Timestamp = waiting["approvals"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The hour runs from when the deployment began to wait (to the second
    // at most above).
    let began: Timestamp = events(&waiting).last().unwrap()["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hour = SignedDuration::from_hours(1);
    let waits = expires.duration_since(began);
    assert!(
        waits >= hour && waits <= hour + SignedDuration::from_secs(1),
        "expires {waits} after it began to wait: {waiting}"
    );
    // A spec applied later that asks for one approval does not loosen the
    // gate this deployment was requested under.
    let looser = yaml.replace("required: 2", "required: 1");
    assert_ne!(looser, yaml);
    let applied = reqwest::Client::new()
        .put(format!("http://{}/api/v1/spec", r.api_addr))
        .bearer_auth(&r.admin_token)
        .body(looser)
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status().as_u16(), 200);
    // A minute before the hour is up, one approval of two is not enough,
    // and the deployment still waits.
    clock.advance(until(&clock, expires, SignedDuration::from_secs(-60)));
    let (s, d) = post(
        &r,
        &alice,
        &format!("/api/v1/deployments/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["approvals"]["required"], 2, "{d}");
    assert_eq!(d["phase"], "awaiting_approval", "{d}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = get(&r, &format!("/api/v1/deployments/{id}")).await;
    assert_eq!(d["phase"], "awaiting_approval", "expired early: {d:#}");

    clock.advance(until(&clock, expires, SignedDuration::from_secs(1)));
    let d = wait_phase(&r, id, "expired").await;
    let finished: Timestamp = d["finished_at"].as_str().unwrap().parse().unwrap();
    assert!(
        finished >= expires,
        "expired at {finished}, before {expires}"
    );
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("expired: 1/2 approvals after 1h") && reason.contains("alice"),
        "{reason}"
    );
    let last = events(&d).last().unwrap();
    assert_eq!(last["actor"], "controller");
    assert_eq!(last["from_phase"], "awaiting_approval");
    assert_eq!(d["started_at"], Value::Null);
    assert_eq!(version_status(&r, "web", "production", "1.0").await, None);
    let (s, body) = post(
        &r,
        &r.admin_token,
        &format!("/api/v1/deployments/{id}/approve"),
        json!({}),
    )
    .await;
    refused(s, &body, 409, &["expired"]);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_refuses_or_holds_deployments_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    // The freeze ends when the test moves the server's clock past it.
    let clock = Clock::shifted(SignedDuration::ZERO);
    let from = in_seconds(-3600);
    let to = in_seconds(3600);
    let envs = format!(
        "  - name: production\n    windows: {{ timezone: UTC, freeze: [{{ from: \"{from}\", to: \"{to}\", reason: test-freeze }}] }}\n"
    );
    let yaml = spec("", &envs, &service("web", &["production"], ""));
    let r = start_spec_on(dir.path(), yaml, clock.clone()).await;
    let admin = r.admin_token.clone();
    let body = json!({ "service": "web", "environment": "production", "version": "1.0" });

    let (s, refusal) = deploy(&r, &admin, body.clone()).await;
    let next = format!("next allowed at {to}");
    refused(
        s,
        &refusal,
        409,
        &["test-freeze", &next, "--wait-for-window"],
    );
    assert_eq!(deployments(&r).await, json!([]));

    let mut waiting = body.clone();
    waiting["wait_for_window"] = json!(true);
    let (s, d) = deploy(&r, &admin, waiting).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["phase"], "pending");
    assert_eq!(d["gate"]["wait_for_window"], true);
    let id = d["id"].as_i64().unwrap();

    let held = wait_until(&r, id, "a reason naming the window", |d| {
        d["reason"]
            .as_str()
            .is_some_and(|r| r.contains("waiting for the deployment window"))
    })
    .await;
    assert_eq!(held["phase"], "pending", "{held}");
    let reason = held["reason"].as_str().unwrap();
    assert!(
        reason.contains("test-freeze") && reason.contains(&format!("it opens at {to}")),
        "{reason}"
    );
    // Still held a moment later: nothing but the freeze's end lets it go.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = get(&r, &format!("/api/v1/deployments/{id}")).await;
    assert_eq!(
        (&d["phase"], &d["started_at"]),
        (&json!("pending"), &Value::Null)
    );
    assert_eq!(version_status(&r, "web", "production", "1.0").await, None);

    clock.advance(until(&clock, to, SignedDuration::from_secs(1)));
    let d = wait_phase(&r, id, "succeeded").await;
    let started: Timestamp = d["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        started >= to,
        "started at {started}, inside the freeze ending {to}"
    );
    let evs = events(&d);
    // The request's own event says it is queued; the controller's hold
    // event follows it.
    let hold = evs
        .iter()
        .skip(1)
        .find(|e| {
            e["reason"]
                .as_str()
                .unwrap()
                .contains("waiting for the deployment window")
        })
        .expect("an event for the hold");
    assert_eq!(
        (&hold["from_phase"], &hold["to_phase"]),
        (&json!("pending"), &json!("pending"))
    );
    assert_eq!(hold["actor"], "controller");
    let holds = evs
        .iter()
        .skip(1)
        .filter(|e| {
            e["reason"]
                .as_str()
                .unwrap()
                .contains("waiting for the deployment window")
        })
        .count();
    assert_eq!(holds, 1, "one event per reason, not one per tick: {evs:?}");
    assert!(evs.iter().any(|e| e["to_phase"] == "progressing"));
    assert_eq!(deployments(&r).await.as_array().unwrap().len(), 1);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_queued_for_the_window_says_so_when_created() {
    let dir = tempfile::tempdir().unwrap();
    let to = in_seconds(3600);
    let envs = format!(
        "  - name: production\n    windows: {{ freeze: [{{ from: \"{}\", to: \"{to}\", reason: test-freeze }}] }}\n",
        in_seconds(-3600)
    );
    let yaml = spec("", &envs, &service("web", &["production"], ""));
    let r = start(dir.path(), yaml).await;
    let (s, d) = deploy(
        &r,
        &r.admin_token,
        json!({ "service": "web", "environment": "production", "version": "1.0", "wait_for_window": true }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["phase"], "pending");
    // The requester reads this answer, not the next controller tick: it
    // must say that the deployment waits, and until when.
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("waiting for the deployment window") && reason.contains(&to.to_string()),
        "the created deployment's reason does not say it waits for the window: {reason}"
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_that_begins_while_approvals_wait_cancels_before_traffic() {
    let dir = tempfile::tempdir().unwrap();
    // The freeze begins when the test moves the server's clock into it.
    let clock = Clock::shifted(SignedDuration::ZERO);
    let from = in_seconds(3600);
    let envs = format!(
        "  - name: production\n    approvals: {{ required: 1, roles: [approver] }}\n    windows: {{ freeze: [{{ from: \"{from}\", to: \"{}\", reason: late-freeze }}] }}\n    checks: [deployment_window]\n",
        in_seconds(3 * 3600)
    );
    let yaml = spec("", &envs, &service("web", &["production"], ""));
    let r = start_spec_on(dir.path(), yaml, clock.clone()).await;
    let alice = token(&r, "alice", "approver", None).await;
    let (s, d) = deploy(
        &r,
        &r.admin_token,
        json!({ "service": "web", "environment": "production", "version": "1.0" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let result = &d["gate"]["check_results"][0];
    assert_eq!(result["check"], "deployment_window");
    assert_eq!(result["passed"], true, "{result}");
    let id = d["id"].as_i64().unwrap();
    wait_phase(&r, id, "awaiting_approval").await;

    // Approved once the freeze has begun: the window is checked again
    // before any traffic moves.
    clock.advance(until(&clock, from, SignedDuration::from_secs(1)));
    let (s, d) = post(
        &r,
        &alice,
        &format!("/api/v1/deployments/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    let d = wait_phase(&r, id, "cancelled").await;
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("deployment_window") && reason.contains("late-freeze"),
        "{reason}"
    );
    assert_eq!(d["started_at"], Value::Null);
    assert_eq!(version_status(&r, "web", "production", "1.0").await, None);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_allowed_windows_a_deploy_names_the_next_allowed_time() {
    let dir = tempfile::tempdir().unwrap();
    // A daily one-hour window starting two hours from now (to the minute).
    let opens = Timestamp::from_second((Timestamp::now().as_second() + 7200) / 60 * 60).unwrap();
    let closes = Timestamp::from_second(opens.as_second() + 3600).unwrap();
    let clock = |t: Timestamp| {
        let z = t.to_zoned(TimeZone::UTC);
        format!("{:02}:{:02}", z.hour(), z.minute())
    };
    let window = format!("daily {}-{}", clock(opens), clock(closes));
    let envs =
        format!("  - name: production\n    windows: {{ timezone: UTC, allow: [\"{window}\"] }}\n");
    let yaml = spec("", &envs, &service("web", &["production"], ""));
    let r = start(dir.path(), yaml).await;
    let (s, body) = deploy(
        &r,
        &r.admin_token,
        json!({ "service": "web", "environment": "production", "version": "1.0" }),
    )
    .await;
    let next = format!("next allowed at {opens}");
    refused(
        s,
        &body,
        409,
        &["outside the allowed windows", &window, "UTC", &next],
    );
    assert_eq!(deployments(&r).await, json!([]));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_path_is_relative_to_the_spec_folder_not_to_workdir() {
    // As the README says: `workdir` does not move the artifact.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app/dist")).unwrap();
    std::fs::write(dir.path().join("app/dist/web-1.0.txt"), b"in the workdir\n").unwrap();
    let envs = "  - { name: staging, checks: [artifact] }\n";
    let svc = service(
        "web",
        &["staging"],
        "        workdir: ./app\n        artifact: dist/web-{version}.txt\n",
    );
    let r = start(dir.path(), spec("", envs, &svc)).await;
    let body = json!({ "service": "web", "environment": "staging", "version": "1.0" });
    let (s, refusal) = deploy(&r, &r.admin_token, body.clone()).await;
    refused(
        s,
        &refusal,
        409,
        &["artifact", "cannot read artifact dist/web-1.0.txt"],
    );
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    let content = b"beside the spec\n";
    std::fs::write(dir.path().join("dist/web-1.0.txt"), content).unwrap();
    let (s, d) = deploy(&r, &r.admin_token, body).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["gate"]["artifact_sha256"], sha256_hex(content));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_check_verifies_the_file_at_request_and_before_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let envs = "  - { name: staging, checks: [artifact] }\n  - name: production\n    approvals: { required: 1, roles: [approver] }\n    checks: [artifact]\n";
    let svc = service(
        "web",
        &["staging", "production"],
        "        artifact: artifacts/web-{version}.txt\n",
    );
    let r = start(dir.path(), spec("", envs, &svc)).await;
    let admin = r.admin_token.clone();
    let alice = token(&r, "alice", "approver", None).await;
    let staging = |extra: Value| {
        let mut b = json!({ "service": "web", "environment": "staging", "version": "1.0" });
        if let Value::Object(m) = extra {
            b.as_object_mut().unwrap().extend(m);
        }
        b
    };

    // No file: refused.
    let (s, body) = deploy(&r, &admin, staging(json!({}))).await;
    refused(
        s,
        &body,
        409,
        &["artifact", "cannot read artifact artifacts/web-1.0.txt"],
    );
    assert_eq!(deployments(&r).await, json!([]));

    std::fs::create_dir_all(dir.path().join("artifacts")).unwrap();
    let content = b"web 1.0 build\n";
    std::fs::write(dir.path().join("artifacts/web-1.0.txt"), content).unwrap();
    let sha = sha256_hex(content);

    // The wrong hash: refused, naming both.
    let wrong = "0".repeat(64);
    let (s, body) = deploy(&r, &admin, staging(json!({ "sha256": wrong }))).await;
    refused(s, &body, 409, &["artifact", &sha, &wrong, "--sha256"]);
    // Not a hash at all: a bad request.
    let (s, body) = deploy(&r, &admin, staging(json!({ "sha256": "abc" }))).await;
    refused(s, &body, 400, &["64 hex digits"]);
    assert_eq!(deployments(&r).await, json!([]));

    // The right hash (in any case) is accepted and recorded.
    let (s, d) = deploy(&r, &admin, staging(json!({ "sha256": sha.to_uppercase() }))).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["gate"]["artifact_sha256"], sha);
    let result = &d["gate"]["check_results"][0];
    assert_eq!(result["check"], "artifact");
    assert_eq!(result["passed"], true);
    assert_eq!(result["stage"], "requested");
    assert!(
        result["reason"].as_str().unwrap().contains("(matches)"),
        "{result}"
    );
    let staging_id = d["id"].as_i64().unwrap();
    wait_phase(&r, staging_id, "succeeded").await;

    // Production: requested with one file, approved after it changed.
    let v2 = b"web 2.0 build\n";
    std::fs::write(dir.path().join("artifacts/web-2.0.txt"), v2).unwrap();
    let (s, d) = deploy(
        &r,
        &admin,
        json!({ "service": "web", "environment": "production", "version": "2.0" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["gate"]["artifact_sha256"], sha256_hex(v2));
    let id = d["id"].as_i64().unwrap();
    wait_phase(&r, id, "awaiting_approval").await;
    let swapped = b"something else entirely\n";
    std::fs::write(dir.path().join("artifacts/web-2.0.txt"), swapped).unwrap();
    let (s, d) = post(
        &r,
        &alice,
        &format!("/api/v1/deployments/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    let d = wait_phase(&r, id, "cancelled").await;
    let reason = d["reason"].as_str().unwrap();
    for needle in [
        "before traffic moved",
        "artifact",
        &sha256_hex(swapped),
        &sha256_hex(v2),
        "SHA-256 recorded when the deployment was requested",
    ] {
        assert!(reason.contains(needle), "`{needle}` not in: {reason}");
    }
    let before_traffic: Vec<&Value> = d["gate"]["check_results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["stage"] == "before_traffic")
        .collect();
    assert_eq!(before_traffic.len(), 1, "{d}");
    assert_eq!(before_traffic[0]["passed"], false);
    // The audit entry of the transition out of the gate carries that check.
    let log = get(
        &r,
        &format!("/api/v1/audit/entries?action=deployment.transition&subject=deployment/{id}"),
    )
    .await;
    let cancelled = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"]["details"]["to"] == "cancelled")
        .unwrap_or_else(|| panic!("no transition to cancelled: {log:#}"));
    let recorded = &cancelled["entry"]["details"]["pre_checks"];
    assert_eq!(recorded.as_array().map(Vec::len), Some(1), "{cancelled}");
    assert_eq!(recorded[0]["stage"], "before_traffic");
    assert_eq!(recorded[0]["check"], "artifact");
    assert_eq!(recorded[0]["passed"], false);
    assert_eq!(d["started_at"], Value::Null);
    assert_eq!(version_status(&r, "web", "production", "2.0").await, None);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_check_waits_for_a_healthy_dependency() {
    let dir = tempfile::tempdir().unwrap();
    let services = format!(
        "{}{}",
        service("web", &["staging"], ""),
        service("api", &["staging"], "    depends_on: [web]\n")
    );
    let yaml = spec(
        "",
        "  - { name: staging, checks: [dependencies] }\n",
        &services,
    );
    let r = start(dir.path(), yaml).await;
    let admin = r.admin_token.clone();
    let api = json!({ "service": "api", "environment": "staging", "version": "1.0" });

    let (s, body) = deploy(&r, &admin, api.clone()).await;
    refused(
        s,
        &body,
        409,
        &["dependencies", "web/staging has no stable version"],
    );
    assert_eq!(deployments(&r).await, json!([]));

    let (s, d) = deploy(
        &r,
        &admin,
        json!({ "service": "web", "environment": "staging", "version": "1.0" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert!(
        d["gate"]["check_results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("depends on no service"),
        "{d}"
    );
    wait_phase(&r, d["id"].as_i64().unwrap(), "succeeded").await;
    wait_ready(&r, "web", "staging", "1.0", 1).await;

    let (s, d) = deploy(&r, &admin, api).await;
    assert_eq!(s, 201, "{d}");
    let result = &d["gate"]["check_results"][0];
    assert_eq!(result["check"], "dependencies");
    assert_eq!(result["passed"], true);
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("web/staging 1.0 healthy"),
        "{result}"
    );
    r.shutdown().await;
}

/// Continues a stopped process when dropped, so a failing test leaves no
/// frozen replica behind.
struct Frozen(Pid);

impl Frozen {
    fn stop(pid: i32) -> Frozen {
        let pid = Pid::from_raw(pid);
        kill(pid, Signal::SIGSTOP).unwrap();
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_health_check_refuses_an_unhealthy_stable_but_not_a_hotfix() {
    let dir = tempfile::tempdir().unwrap();
    // HTTP probes: a stopped process still accepts TCP connections (the
    // kernel queues them), but never answers.
    let svc = service("web", &["staging"], "    health: { http: / }\n");
    let yaml = spec(
        "",
        "  - { name: staging, checks: [service_health] }\n",
        &svc,
    );
    let r = start(dir.path(), yaml).await;
    let admin = r.admin_token.clone();
    let web =
        |version: &str| json!({ "service": "web", "environment": "staging", "version": version });

    let (s, d) = deploy(&r, &admin, web("1.0")).await;
    assert_eq!(s, 201, "{d}");
    assert!(
        d["gate"]["check_results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no stable version yet"),
        "{d}"
    );
    wait_phase(&r, d["id"].as_i64().unwrap(), "succeeded").await;
    wait_ready(&r, "web", "staging", "1.0", 1).await;
    let st = version_status(&r, "web", "staging", "1.0").await.unwrap();
    let pid = st["pids"][0].as_i64().unwrap() as i32;

    let frozen = Frozen::stop(pid);
    wait_ready(&r, "web", "staging", "1.0", 0).await;
    let before = deployments(&r).await;
    let (s, body) = deploy(&r, &admin, web("2.0")).await;
    refused(
        s,
        &body,
        409,
        &["service_health", "web/staging 1.0 is unhealthy", "0/1"],
    );
    assert_eq!(deployments(&r).await, before);

    // A hotfix is the remedy, so the check does not block it.
    let mut hotfix = web("3.0");
    hotfix["type"] = json!("hotfix");
    let (s, d) = deploy(&r, &admin, hotfix).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["type"], "hotfix");
    let result = &d["gate"]["check_results"][0];
    assert_eq!(result["check"], "service_health");
    assert!(
        result["reason"].as_str().unwrap().starts_with("skipped:"),
        "{result}"
    );
    let hotfix_id = d["id"].as_i64().unwrap();
    let (s, d) = post(
        &r,
        &admin,
        &format!("/api/v1/deployments/{hotfix_id}/abort"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");

    // Healthy again: a feature deploy passes the check.
    drop(frozen);
    wait_ready(&r, "web", "staging", "1.0", 1).await;
    wait_until(&r, hotfix_id, "the end of the aborted hotfix", |d| {
        TERMINAL.contains(&d["phase"].as_str().unwrap_or(""))
    })
    .await;
    let (s, d) = deploy(&r, &admin, web("2.0")).await;
    assert_eq!(s, 201, "{d}");
    let result = &d["gate"]["check_results"][0];
    assert_eq!(result["passed"], true);
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("web/staging 1.0 healthy (1/1 replicas ready)"),
        "{result}"
    );
    r.shutdown().await;
}

/// Promotes fully once the canary is healthy (409 until then).
async fn promote_fully(r: &Running, id: i64) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (s, d) = post(
            r,
            &r.admin_token,
            &format!("/api/v1/deployments/{id}/promote"),
            json!({ "full": true }),
        )
        .await;
        if s == 200 {
            return d;
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
            "deployment {id} never became promotable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deploys `version` on a target that has a stable version, waits for the
/// canary to take traffic, and aborts it; returns its id once rolled back.
async fn deploy_and_abort(r: &Running, version: &str) -> i64 {
    let id = deploy_ok(
        r,
        &r.admin_token,
        json!({ "service": "web", "environment": "production", "version": version }),
    )
    .await;
    wait_until(r, id, "the canary's first step", |d| d["step"] == 1).await;
    let (s, d) = post(
        r,
        &r.admin_token,
        &format!("/api/v1/deployments/{id}/abort"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["phase"], "rolling_back");
    wait_phase(r, id, "rolled_back").await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_rollback_opens_an_incident_that_blocks_features_until_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(
        "web",
        &["production"],
        "    canary: { steps: [{ weight: 50 }, { weight: 100 }] }\n",
    );
    let yaml = spec(
        "",
        "  - { name: production, checks: [no_open_incident] }\n",
        &svc,
    );
    let r = start(dir.path(), yaml).await;
    let admin = r.admin_token.clone();
    let vera = token(&r, "vera", "viewer", None).await;
    let web = |version: &str, kind: &str| json!({ "service": "web", "environment": "production", "version": version, "type": kind });
    assert_eq!(get(&r, "/api/v1/incidents").await, json!([]));

    let first = deploy_ok(&r, &admin, web("1.0", "feature")).await;
    wait_phase(&r, first, "succeeded").await;
    let aborted = deploy_and_abort(&r, "2.0").await;

    let open = get(&r, "/api/v1/incidents").await;
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let incident = &open[0];
    assert_eq!(incident["service"], "web");
    assert_eq!(incident["environment"], "production");
    assert_eq!(incident["deployment_id"], aborted);
    assert_eq!(incident["opened_by"], "admin");
    assert_eq!(incident["resolved_at"], Value::Null);
    assert!(
        incident["reason"].as_str().unwrap().contains("rolled back"),
        "{incident}"
    );
    let incident_id = incident["id"].as_i64().unwrap();

    // A feature is refused while it is open.
    let before = deployments(&r).await;
    let (s, body) = deploy(&r, &admin, web("3.0", "feature")).await;
    refused(
        s,
        &body,
        409,
        &["no_open_incident", &format!("incident {incident_id}")],
    );
    assert_eq!(deployments(&r).await, before);

    // A hotfix is allowed, and its success resolves the incident.
    let (s, d) = deploy(&r, &admin, web("3.0", "hotfix")).await;
    assert_eq!(s, 201, "{d}");
    let check = &d["gate"]["check_results"][0];
    assert_eq!(check["check"], "no_open_incident");
    assert!(
        check["reason"].as_str().unwrap().starts_with("skipped:"),
        "{check}"
    );
    let hotfix = d["id"].as_i64().unwrap();
    promote_fully(&r, hotfix).await;
    wait_phase(&r, hotfix, "succeeded").await;
    assert_eq!(get(&r, "/api/v1/incidents").await, json!([]));
    let all = get(&r, "/api/v1/incidents?all=true").await;
    let resolved = &all.as_array().unwrap()[0];
    assert_eq!(resolved["id"], incident_id);
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert_eq!(resolved["resolved_by"], "admin");
    assert!(
        resolved["resolution"]
            .as_str()
            .unwrap()
            .contains(&format!("deployment {hotfix} of 3.0 succeeded")),
        "{resolved}"
    );
    // The audit log names the incident when it opened, and when the
    // success resolved it.
    let opened = get(
        &r,
        &format!("/api/v1/audit/entries?action=incident.open&subject=incident/{incident_id}"),
    )
    .await;
    let opened = opened.as_array().unwrap();
    assert_eq!(opened.len(), 1, "{opened:#?}");
    assert_eq!(opened[0]["entry"]["details"]["environment"], "production");
    let log = get(
        &r,
        &format!("/api/v1/audit/entries?action=incident.resolve&subject=incident/{incident_id}"),
    )
    .await;
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log:#}");
    assert_eq!(entries[0]["entry"]["details"]["automatic"], true);
    assert!(
        entries[0]["entry"]["details"]["resolution"]
            .as_str()
            .unwrap()
            .contains(&format!("deployment {hotfix} of 3.0 succeeded")),
        "{log:#}"
    );

    // A second incident, resolved by hand.
    deploy_and_abort(&r, "4.0").await;
    let open = get(&r, "/api/v1/incidents").await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    let second = open[0]["id"].as_i64().unwrap();
    assert_ne!(second, incident_id);
    let resolve = format!("/api/v1/incidents/{second}/resolve");
    let (s, body) = post(&r, &vera, &resolve, json!({ "comment": "x" })).await;
    refused(s, &body, 403, &["vera"]);
    assert_eq!(
        get(&r, "/api/v1/incidents").await.as_array().unwrap().len(),
        1
    );
    let (s, done) = post(
        &r,
        &admin,
        &resolve,
        json!({ "comment": "fixed the config by hand" }),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["id"], second);
    assert_eq!(done["resolved_by"], "admin");
    assert!(
        done["resolution"]
            .as_str()
            .unwrap()
            .contains("fixed the config by hand"),
        "{done}"
    );
    let (s, body) = post(&r, &admin, &resolve, json!({})).await;
    refused(s, &body, 409, &["already resolved"]);
    let (s, body) = post(&r, &admin, "/api/v1/incidents/9999/resolve", json!({})).await;
    refused(s, &body, 404, &["9999"]);
    let (s, body) = post(&r, &admin, "/api/v1/incidents/abc/resolve", json!({})).await;
    assert_eq!(s, 400, "{body}");
    let all = get(&r, "/api/v1/incidents?all=true").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(get(&r, "/api/v1/incidents").await, json!([]));

    // Nothing open: features are allowed again.
    let (s, d) = deploy(&r, &admin, web("5.0", "feature")).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["gate"]["check_results"][0]["passed"], true);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_for_admins_with_a_reason_and_skips_freeze_and_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let envs = format!(
        "  - name: production\n    approvals: {{ required: 2 }}\n    windows: {{ freeze: [{{ from: \"{}\", to: \"{}\", reason: test-freeze }}] }}\n    checks: [deployment_window]\n",
        in_seconds(-3600),
        in_seconds(3600)
    );
    let yaml = spec("", &envs, &service("web", &["production"], ""));
    let r = start(dir.path(), yaml).await;
    let admin = r.admin_token.clone();
    let dana = token(&r, "dana", "deployer", None).await;
    let body = |reason: &str| json!({ "service": "web", "environment": "production", "version": "1.0", "break_glass": reason });

    let (s, refusal) = deploy(&r, &dana, body("checkout down")).await;
    refused(s, &refusal, 403, &["dana", "break glass"]);
    for empty in ["", "   "] {
        let (s, refusal) = deploy(&r, &admin, body(empty)).await;
        refused(s, &refusal, 400, &["reason"]);
    }
    let (s, refusal) = deploy(
        &r,
        &admin,
        json!({ "service": "web", "environment": "production", "version": "1.0" }),
    )
    .await;
    refused(s, &refusal, 409, &["test-freeze"]);
    assert_eq!(deployments(&r).await, json!([]));

    let (s, d) = deploy(&r, &admin, body("  checkout down, hotfix for INC-42 ")).await;
    assert_eq!(s, 201, "{d}");
    let marked = json!({ "by": "admin", "reason": "checkout down, hotfix for INC-42" });
    assert_eq!(d["break_glass"], marked);
    assert_eq!(d["gate"]["break_glass"], marked);
    assert_eq!(d["approvals"]["still_needed"], Value::Null);
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("BREAK GLASS by admin"),
        "{d}"
    );
    let id = d["id"].as_i64().unwrap();
    let (_, waiting) = call(&r, "GET", "/api/v1/approvals", Some(&admin), None).await;
    assert_eq!(waiting, json!([]));

    let d = wait_phase(&r, id, "succeeded").await;
    assert_eq!(d["gate"]["decisions"], json!([]));
    let started = events(&d)
        .iter()
        .find(|e| e["to_phase"] == "progressing")
        .expect("a progressing event")
        .clone();
    assert_eq!(started["from_phase"], "pending");
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("break glass by admin: checkout down, hotfix for INC-42"),
        "{started}"
    );
    assert!(
        !events(&d)
            .iter()
            .any(|e| e["to_phase"] == "awaiting_approval"),
        "{d}"
    );
    let history = get(&r, "/api/v1/history").await;
    let entry = history
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == id)
        .expect("the deployment in history");
    assert_eq!(entry["break_glass"], marked);
    assert_eq!(entry["phase"], "succeeded");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_does_not_deploy_an_artifact_that_fails_the_requested_sha256() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("artifacts")).unwrap();
    let content = b"web 1.0 build\n";
    std::fs::write(dir.path().join("artifacts/web-1.0.txt"), content).unwrap();
    let svc = service(
        "web",
        &["production"],
        "        artifact: artifacts/web-{version}.txt\n",
    );
    let yaml = spec(
        "",
        "  - name: production\n    approvals: { required: 2 }\n    checks: [artifact]\n",
        &svc,
    );
    let r = start(dir.path(), yaml).await;
    // Break glass skips the environment's policy; the requester's own
    // statement of which bits to run is not policy, and a mismatch means
    // the wrong artifact.
    let wrong = "0".repeat(64);
    let (s, body) = deploy(
        &r,
        &r.admin_token,
        json!({
            "service": "web", "environment": "production", "version": "1.0",
            "sha256": wrong, "break_glass": "checkout down"
        }),
    )
    .await;
    let listed = deployments(&r).await;
    refused(s, &body, 409, &[&wrong, &sha256_hex(content)]);
    assert_eq!(listed, json!([]));
    r.shutdown().await;
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One webhook delivery: (status, JSON body).
async fn deliver(r: &Running, event: &str, signature: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/api/v1/webhooks/github", r.api_addr))
        .header("X-GitHub-Event", event)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn comment(id: i64, login: &str) -> Vec<u8> {
    format!(
        r#"{{"action":"created","comment":{{"body":"/approve {id} ship it","user":{{"login":"{login}"}},"html_url":"https://github.com/o/r/issues/1#c1"}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"{login}"}}}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_github_approve_comment_is_recorded_for_the_mapped_principal() {
    // The signer itself, against GitHub's documented example.
    assert_eq!(
        sign(b"It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = "gh-webhook-s3cret";
    std::fs::write(dir.path().join("gh-secret"), format!("{secret}\n")).unwrap();
    let yaml = spec(
        ", github: { webhook_secret_file: gh-secret }",
        &approvals_env("production", "60s"),
        &service("web", &["production"], ""),
    );
    let r = start(dir.path(), yaml).await;
    token(&r, "alice", "approver", Some("Alice-GH")).await;
    let id = deploy_ok(
        &r,
        &r.admin_token,
        json!({ "service": "web", "environment": "production", "version": "1.0" }),
    )
    .await;
    wait_phase(&r, id, "awaiting_approval").await;
    let decisions = |d: &Value| d["gate"]["decisions"].clone();
    let path = format!("/api/v1/deployments/{id}");

    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let (s, body) = deliver(&r, "ping", Some(&sign(secret.as_bytes(), ping)), ping).await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["recorded"], false);

    let good = comment(id, "alice-gh");
    let signature = sign(secret.as_bytes(), &good);
    // One byte changed after signing.
    let mut tampered = good.clone();
    let at = tampered.windows(7).position(|w| w == b"ship it").unwrap();
    tampered[at] = b'S';
    let (s, body) = deliver(&r, "issue_comment", Some(&signature), &tampered).await;
    refused(s, &body, 401, &["X-Hub-Signature-256"]);
    let (s, body) = deliver(&r, "issue_comment", None, &good).await;
    refused(s, &body, 401, &["missing X-Hub-Signature-256"]);
    let (s, body) = deliver(
        &r,
        "issue_comment",
        Some(&sign(b"another secret", &good)),
        &good,
    )
    .await;
    assert_eq!(s, 401, "{body}");
    // Signed, but by nobody Zion knows.
    let stranger = comment(id, "mallory-gh");
    let (s, body) = deliver(
        &r,
        "issue_comment",
        Some(&sign(secret.as_bytes(), &stranger)),
        &stranger,
    )
    .await;
    refused(s, &body, 403, &["mallory-gh", "not mapped"]);
    assert_eq!(decisions(&get(&r, &path).await), json!([]));

    let (s, body) = deliver(&r, "issue_comment", Some(&signature), &good).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["recorded"], true);
    let d = get(&r, &path).await;
    let recorded = decisions(&d);
    assert_eq!(recorded.as_array().unwrap().len(), 1, "{recorded}");
    let decision = &recorded[0];
    assert_eq!(decision["principal"], "alice");
    assert_eq!(decision["role"], "approver");
    assert_eq!(decision["kind"], "approve");
    assert_eq!(decision["via"], "github");
    assert_eq!(
        decision["comment"],
        "ship it (https://github.com/o/r/issues/1#c1)"
    );
    assert_eq!(d["approvals"]["given"], json!(["alice"]));
    let last = events(&d).last().unwrap();
    assert_eq!(last["actor"], "alice");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("(GitHub comment)"),
        "{last}"
    );

    // The same delivery again is the same principal deciding twice.
    let (s, body) = deliver(&r, "issue_comment", Some(&signature), &good).await;
    refused(s, &body, 409, &["alice already decided"]);
    assert_eq!(
        decisions(&get(&r, &path).await).as_array().unwrap().len(),
        1
    );
    r.shutdown().await;
}
