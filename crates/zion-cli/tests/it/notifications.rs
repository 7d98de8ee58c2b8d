//! Notifications end to end: a real HTTP receiver that refuses its first
//! deliveries then recovers gets every event exactly once per delivery key,
//! in order, signed, across a `kill -9` of `zion up`; Slack's buttons
//! approve as the mapped principal, and a stale or wrong Slack signature
//! records nothing. The signatures are checked here with the hmac crate,
//! independently of Zion's code.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::*;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A local HTTP receiver that answers 500 to its first `fail_first`
/// requests and 200 `ok` after, recording every request.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        Receiver::answering(move |_, n| {
            if n <= fail_first {
                ("500 Internal Server Error", "down for now".to_owned())
            } else {
                ("200 OK", "ok".to_owned())
            }
        })
    }

    /// A receiver whose answer to the `n`th request (1-based) is
    /// `answer(request, n)`: a status line and a body.
    fn answering(
        answer: impl Fn(&Got, usize) -> (&'static str, String) + Send + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Got>>> = Default::default();
        let log = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len()
                };
                let (status, body) = answer(&request, n);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Receiver { addr, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Got> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Got {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn deploy(p: &Project, version: &str) -> i64 {
    let d = p.json(&["deploy", "web", version, "--env", "staging"]);
    d["id"].as_i64().unwrap_or_else(|| panic!("{d}"))
}

fn settled(p: &Project, id: i64) -> Value {
    p.wait_for(id, Duration::from_secs(90), "the deployment to end", |d| {
        ["succeeded", "rolled_back", "failed"].contains(&d["phase"].as_str().unwrap_or(""))
    })
}

const STEPS: &str = "        - { weight: 50, pause: 1s }\n        - { weight: 100 }";
const HOOK_SECRET: &str = "hook-s3cret-value";

#[test]
fn a_receiver_that_fails_then_recovers_gets_every_event_once_per_key_in_order_across_a_kill_9() {
    let hook = Receiver::start(3);
    let addr = hook.addr;
    let mut p = Project::with_spec(|api, target| {
        format!(
            "{}notifications:
  receivers:
    audit-sink: {{ webhook: {{ url: http://{addr}/zion, secret_env: ZION_TEST_HOOK_SECRET }} }}
  subscriptions:
    - receiver: audit-sink
      events: [deployment.requested, deployment.started, deployment.step, deployment.succeeded]
      services: [web]
  max_attempts: 30
  timeout: 2s
",
            spec(api, target, STEPS, &[], "20s")
        )
    });
    p.env
        .push(("ZION_TEST_HOOK_SECRET".into(), HOOK_SECRET.into()));
    p.start();
    let first = settled(&p, deploy(&p, "1.0"));
    assert_eq!(first["phase"], "succeeded", "{first}");
    // The receiver is still refusing (it refuses three, 0.5 s, 1 s and 2 s
    // apart): kill -9 mid-way through the retries.
    eventually(Duration::from_secs(30), "two refused attempts", || {
        (hook.got().len() >= 2).then_some(())
    });
    p.stop(nix::sys::signal::Signal::SIGKILL);
    p.start();
    // A canary's rounds need requests.
    let load = Load::start(p.target);
    let second = settled(&p, deploy(&p, "2.0"));
    drop(load);
    assert_eq!(second["phase"], "succeeded", "{second}");

    // Every row of the outbox ends delivered.
    let rows = eventually(
        Duration::from_secs(60),
        "every notification delivered",
        || {
            let rows = p.json(&["notifications"]);
            let list = rows.as_array().unwrap().clone();
            (!list.is_empty() && list.iter().all(|r| r["state"] == "delivered")).then_some(list)
        },
    );
    let mut ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    ids.sort();
    let events: Vec<&str> = rows
        .iter()
        .rev()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    // 1.0 is direct; 2.0 a canary of two steps (one event per step moved).
    let (first_two, rest) = events.split_at(5);
    assert_eq!(
        first_two,
        [
            "deployment.requested",
            "deployment.started",
            "deployment.succeeded",
            "deployment.requested",
            "deployment.started",
        ],
        "{rows:?}"
    );
    let (last, steps) = rest.split_last().unwrap();
    assert_eq!(*last, "deployment.succeeded", "{rows:?}");
    assert!(
        !steps.is_empty() && steps.iter().all(|e| *e == "deployment.step"),
        "{rows:?}"
    );

    // What the receiver got: every request signed (checked here with an
    // independent HMAC), every key once after dropping duplicates, in
    // order of the outbox, each with its row's event and audit entry.
    let got = hook.got();
    let mut first_seen: Vec<i64> = Vec::new();
    for g in &got {
        assert_eq!(g.path, "/zion");
        let ts = &g.headers["x-zion-timestamp"];
        let expected = format!(
            "sha256={}",
            hmac_hex(HOOK_SECRET, &[ts.as_bytes(), b".", g.body.as_bytes()])
        );
        assert_eq!(g.headers["x-zion-signature"], expected, "{g:?}");
        let id: i64 = g.headers["x-zion-delivery"].parse().unwrap();
        if !first_seen.contains(&id) {
            first_seen.push(id);
        }
        let body: Value = serde_json::from_str(&g.body).unwrap();
        let row = rows.iter().find(|r| r["id"] == id).unwrap();
        assert_eq!(body["event"], row["event"]);
        assert_eq!(g.headers["x-zion-event"], row["event"].as_str().unwrap());
        assert_eq!(body["audit_index"], row["audit_index"]);
        assert_eq!(body["details"]["service"], "web");
    }
    assert_eq!(first_seen, ids, "each key, in the outbox's order");
    let refused_then_sent = got
        .iter()
        .filter(|g| g.headers["x-zion-delivery"] == ids[0].to_string())
        .count();
    assert!(
        refused_then_sent >= 4,
        "three refusals, then the delivery: {got:?}"
    );
    // Nothing after the first was sent before it was delivered.
    let first_other = got
        .iter()
        .position(|g| g.headers["x-zion-delivery"] != ids[0].to_string())
        .unwrap();
    assert!(first_other >= 4, "{got:?}");

    let text = p.zion(&["notifications"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("audit-sink (webhook) deployment.requested deployment/"),
        "{text}"
    );
    assert!(
        text.contains("last error: receiver `audit-sink` answered 500"),
        "{text}"
    );
    assert!(!text.contains(HOOK_SECRET) && !p.log().contains(HOOK_SECRET));
}

/// Percent-encodes a form value.
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A POST of `body` to `path` with `headers`: the status and the body.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, answer) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, answer.to_string())
}

const SIGNING: &str = "slack-signing-s3cret";

/// Slack's interactivity request for `user` pressing `action` on `id`,
/// signed with `secret` at `timestamp`.
fn press(
    addr: SocketAddr,
    user: &str,
    action: &str,
    id: i64,
    secret: &str,
    timestamp: i64,
) -> (u16, String) {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": user, "username": user },
        "actions": [{ "action_id": action, "value": id.to_string(), "type": "button" }],
    });
    let body = format!("payload={}", form_value(&payload.to_string()));
    let ts = timestamp.to_string();
    let signature = format!(
        "v0={}",
        hmac_hex(secret, &[b"v0:", ts.as_bytes(), b":", body.as_bytes()])
    );
    post(
        addr,
        "/api/v1/slack/interactions",
        &[
            ("x-slack-request-timestamp", ts),
            ("x-slack-signature", signature),
        ],
        &body,
    )
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn slack_buttons_approve_as_the_mapped_principal_and_a_stale_or_wrong_signature_records_nothing() {
    let chat = Receiver::start(0);
    let addr = chat.addr;
    let mut p = Project::with_spec(|api, target| {
        spec(api, target, STEPS, &[], "20s").replace(
            "  - name: staging\n",
            "  - name: staging\n    approvals: { required: 1, roles: [approver] }\n",
        ) + "notifications:
  receivers:
    chat: { slack: { url_env: ZION_TEST_SLACK_URL } }
  subscriptions:
    - { receiver: chat, events: [approval.requested, approval.decided] }
  slack:
    signing_secret_env: ZION_TEST_SLACK_SIGNING
    users: { U0ALICE: alice, U0BOB: bob }
"
    });
    p.env.push((
        "ZION_TEST_SLACK_URL".into(),
        format!("http://{addr}/services/T0/B0/x"),
    ));
    p.env
        .push(("ZION_TEST_SLACK_SIGNING".into(), SIGNING.into()));
    p.start();
    p.token("alice", "approver");
    let id = deploy(&p, "1.0");
    p.wait_for(id, Duration::from_secs(30), "awaiting approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    // The approval request arrives in Slack with its buttons.
    let request = eventually(
        Duration::from_secs(30),
        "the approval request in Slack",
        || chat.got().into_iter().next(),
    );
    assert_eq!(request.path, "/services/T0/B0/x");
    let message: Value = serde_json::from_str(&request.body).unwrap();
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("waits for approval"),
        "{message}"
    );
    let buttons = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap_or_else(|| panic!("{message}"))["elements"]
        .clone();
    assert_eq!(buttons[0]["action_id"], "zion_approve");
    assert_eq!(buttons[0]["value"], id.to_string());

    // Refused, recording nothing: stale, wrong secret, unmapped user, a
    // mapped user without a token.
    let now = unix_now();
    let (status, body) = press(p.api, "U0ALICE", "zion_approve", id, SIGNING, now - 600);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("stale"), "{body}");
    let (status, body) = press(p.api, "U0ALICE", "zion_approve", id, "not-the-secret", now);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("does not match"), "{body}");
    let (status, body) = press(p.api, "U0NOBODY", "zion_approve", id, SIGNING, now);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("notifications.slack.users"), "{body}");
    let (status, body) = press(p.api, "U0BOB", "zion_approve", id, SIGNING, now);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no live token"), "{body}");
    let d = p.deployment(id);
    assert_eq!(d["phase"], "awaiting_approval", "{d}");
    assert_eq!(d["approvals"]["given"], json!([]), "{d}");
    let decisions = p.json(&["audit", "log", "--action", "approval.approve"]);
    assert_eq!(decisions, json!([]), "{decisions}");

    // Alice's press approves, as `zion approve` by alice would.
    let (status, body) = press(p.api, "U0ALICE", "zion_approve", id, SIGNING, unix_now());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("approve recorded for deployment"), "{body}");
    let d = settled(&p, id);
    assert_eq!(d["phase"], "succeeded", "{d}");
    assert_eq!(d["approvals"]["given"], json!(["alice"]), "{d}");
    let decisions = p.json(&["audit", "log", "--action", "approval.approve"]);
    let entry = &decisions[0];
    assert_eq!(entry["entry"]["actor"], "alice", "{decisions}");
    assert_eq!(entry["entry"]["details"]["via"], "slack", "{decisions}");
    // The decision reached Slack too.
    eventually(Duration::from_secs(30), "the decision in Slack", || {
        chat.got()
            .iter()
            .any(|g| g.body.contains("approved by alice"))
            .then_some(())
    });
    assert!(!p.log().contains(SIGNING));
}

/// The seconds deployment of `version` takes from its request to its end.
fn rollout_seconds(p: &Project, version: &str) -> f64 {
    let load = Load::start(p.target);
    let start = std::time::Instant::now();
    let d = settled(p, deploy(p, version));
    drop(load);
    assert_eq!(d["phase"], "succeeded", "{d}");
    start.elapsed().as_secs_f64()
}

#[test]
fn a_dead_receiver_does_not_slow_a_rollout() {
    // Accepts connections (the kernel's backlog) and never answers: every
    // attempt waits for its whole timeout.
    let blackhole = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = blackhole.local_addr().unwrap();
    let mut p = Project::with_spec(|api, target| {
        format!(
            "{}notifications:
  receivers:
    dead: {{ webhook: {{ url: http://{dead}/zion }} }}
  subscriptions:
    - {{ receiver: dead, events: [deployment.requested, deployment.started, deployment.step, deployment.succeeded] }}
  timeout: 3s
",
            spec(api, target, STEPS, &[], "20s")
        )
    });
    p.start();
    rollout_seconds(&p, "1.0");
    let with_dead = rollout_seconds(&p, "2.0");
    // Meanwhile the first message waits its timeout at each attempt.
    eventually(Duration::from_secs(20), "a timed-out attempt", || {
        let rows = p.json(&["notifications"]);
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| {
                r["state"] == "retrying"
                    && r["last_error"]
                        .as_str()
                        .unwrap_or("")
                        .contains("no answer within 3s")
            })
            .then_some(())
    });
    // The baseline, in the same run: the same rollout with no receiver.
    let plain = {
        let text = std::fs::read_to_string(p.spec_path()).unwrap();
        text[..text.find("notifications:").unwrap()].to_string()
    };
    std::fs::write(p.spec_path(), plain).unwrap();
    let out = p.zion(&["apply"]);
    assert!(out.status.success(), "{}", describe(&out));
    let without = rollout_seconds(&p, "3.0");
    println!("rollout with a dead receiver {with_dead:.2} s, without one {without:.2} s");
    // Generous: the same within scheduling noise, far below one attempt's
    // timeout per message (four messages, 3 s each).
    assert!(
        with_dead < without * 1.5 + 3.0,
        "with a dead receiver {with_dead:.2} s, without {without:.2} s"
    );
    drop(blackhole);
}

/// PagerDuty's Events API cannot be reached from the tests (and is https):
/// a local receiver stands in at `api_url`, checked for what the Events API
/// v2 documents.
#[test]
fn pagerduty_gets_a_trigger_then_a_resolve_under_one_dedup_key_for_an_incident() {
    let pd = Receiver::start(0);
    let addr = pd.addr;
    let mut p = Project::with_spec(|api, target| {
        format!(
            r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: production
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      production: {{ listen: {target} }}
    canary:
      # 50% held until promoted: no traffic needed.
      steps: [{{ weight: 50 }}, {{ weight: 100 }}]
notifications:
  receivers:
    on-call: {{ pagerduty: {{ routing_key_env: ZION_TEST_PD_KEY, api_url: "http://{addr}" }} }}
  subscriptions:
    - {{ receiver: on-call, events: [incident.opened, incident.resolved], services: [web] }}
"#
        )
    });
    p.env
        .push(("ZION_TEST_PD_KEY".into(), "R0UTINGKEY0123456789".into()));
    p.start();
    let deploy_prod = |version: &str| {
        let d = p.json(&["deploy", "web", version, "--env", "production"]);
        d["id"].as_i64().unwrap()
    };
    let first = deploy_prod("1.0");
    p.wait_for(first, Duration::from_secs(60), "1.0 live", |d| {
        d["phase"] == "succeeded"
    });
    let id = deploy_prod("2.0");
    p.wait_for(id, Duration::from_secs(30), "the canary at 50%", |d| {
        d["canary_weight"] == 50
    });
    let out = p.zion(&["abort", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    p.wait_for(id, Duration::from_secs(30), "rolled back", |d| {
        d["phase"] == "rolled_back"
    });
    let incident = p.json(&["incident", "list"])[0]["id"].as_i64().unwrap();
    let out = p.zion(&["incident", "resolve", &incident.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));

    let got = eventually(
        Duration::from_secs(30),
        "the trigger and the resolve",
        || {
            let got = pd.got();
            (got.len() >= 2).then_some(got)
        },
    );
    let events: Vec<Value> = got
        .iter()
        .map(|g| {
            assert_eq!(g.path, "/v2/enqueue");
            serde_json::from_str(&g.body).unwrap()
        })
        .collect();
    let key = format!("zion/incident/{incident}");
    assert_eq!(events[0]["event_action"], "trigger", "{events:?}");
    assert_eq!(events[0]["routing_key"], "R0UTINGKEY0123456789");
    assert_eq!(events[0]["dedup_key"], key);
    assert_eq!(events[0]["payload"]["severity"], "critical");
    assert_eq!(events[0]["payload"]["source"], "zion/web/production");
    assert!(
        events[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("deployment {id} of 2.0 rolled back")),
        "{events:?}"
    );
    assert_eq!(events[1]["event_action"], "resolve", "{events:?}");
    assert_eq!(events[1]["dedup_key"], key);
    assert_eq!(events[1]["routing_key"], "R0UTINGKEY0123456789");
    let listed = p.zion(&["notifications", "--output", "json"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("R0UTINGKEY"));
    assert!(!p.log().contains("R0UTINGKEY"));
}

/// GitHub's API cannot be reached from the tests (and is https): a local
/// receiver stands in at `api_url`, answering the pull requests of a
/// commit as GitHub's REST API does.
#[test]
fn github_gets_the_approval_request_on_the_pull_request_of_the_commit_or_as_an_issue() {
    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    let gh = Receiver::answering(|g, _| {
        if g.path == format!("/repos/acme/web/commits/{SHA}/pulls") {
            ("200 OK", r#"[{"number": 12, "state": "open"}]"#.to_owned())
        } else if g.path.starts_with("/repos/acme/web/commits/") {
            ("200 OK", "[]".to_owned())
        } else {
            ("201 Created", r#"{"id": 1}"#.to_owned())
        }
    });
    let addr = gh.addr;
    let mut p = Project::with_spec(|api, target| {
        spec(api, target, STEPS, &[], "20s").replace(
            "  - name: staging\n",
            "  - name: staging\n    approvals: { required: 1, roles: [approver] }\n",
        ) + &format!(
            "notifications:
  receivers:
    repo: {{ github: {{ repo: acme/web, token_env: ZION_TEST_GH_TOKEN, api_url: \"http://{addr}\" }} }}
  subscriptions:
    - {{ receiver: repo, events: [approval.requested] }}
"
        )
    });
    p.env
        .push(("ZION_TEST_GH_TOKEN".into(), "ghp_t0ken".into()));
    p.start();
    let with_commit = p.json(&["deploy", "web", "1.0", "--env", "staging", "--commit", SHA])["id"]
        .as_i64()
        .unwrap();
    let got = eventually(
        Duration::from_secs(30),
        "the comment on the pull request",
        || {
            let got = gh.got();
            (got.len() >= 2).then_some(got)
        },
    );
    assert_eq!(got[0].path, format!("/repos/acme/web/commits/{SHA}/pulls"));
    assert_eq!(got[0].headers["authorization"], "Bearer ghp_t0ken");
    assert_eq!(got[1].path, "/repos/acme/web/issues/12/comments");
    let comment: Value = serde_json::from_str(&got[1].body).unwrap();
    let text = comment["body"].as_str().unwrap();
    assert!(
        text.contains(&format!("`/approve {with_commit}`")),
        "{text}"
    );
    assert!(text.contains("waits for approval"), "{text}");

    // Without a commit: an issue.
    let bob = p.token("bob", "approver");
    let out = p.zion_as(
        &bob,
        &["reject", &with_commit.to_string(), "--comment", "next"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let without = p.json(&["deploy", "web", "1.1", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    let got = eventually(Duration::from_secs(30), "the issue", || {
        let got = gh.got();
        (got.len() >= 3).then_some(got)
    });
    assert_eq!(got[2].path, "/repos/acme/web/issues");
    let issue: Value = serde_json::from_str(&got[2].body).unwrap();
    assert!(
        issue["title"]
            .as_str()
            .unwrap()
            .contains(&format!("deployment {without}")),
        "{issue}"
    );
    assert!(
        issue["body"]
            .as_str()
            .unwrap()
            .contains(&format!("`/reject {without} <reason>`")),
        "{issue}"
    );
    assert!(!p.log().contains("ghp_t0ken"));
}

#[test]
fn delivered_rows_older_than_the_retention_are_pruned_and_open_ones_stay() {
    let ok = Receiver::start(0);
    let down = Receiver::start(usize::MAX);
    let (ok_addr, down_addr) = (ok.addr, down.addr);
    let mut p = Project::with_spec(|api, target| {
        format!(
            "{}notifications:
  receivers:
    ok: {{ webhook: {{ url: http://{ok_addr}/zion }} }}
    down: {{ webhook: {{ url: http://{down_addr}/zion }} }}
  subscriptions:
    - {{ receiver: ok, events: [deployment.requested] }}
    - {{ receiver: down, events: [deployment.requested] }}
  max_attempts: 100
  retention: 1h
",
            spec(api, target, STEPS, &[], "20s")
        )
    });
    p.set_clock(0);
    p.start();
    deploy(&p, "1.0");
    let states = |p: &Project| -> BTreeMap<String, String> {
        p.json(&["notifications"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["receiver"].as_str().unwrap().to_owned(),
                    r["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    eventually(
        Duration::from_secs(30),
        "one delivered, one retrying",
        || {
            let s = states(&p);
            (s.get("ok").map(String::as_str) == Some("delivered")
                && s.get("down").map(String::as_str) == Some("retrying"))
            .then_some(())
        },
    );
    // Within the retention: kept (the sender prunes every 10 s).
    p.advance_clock(30 * 60);
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(states(&p).len(), 2);
    // Beyond it: the delivered row goes; the open one stays, however old.
    p.advance_clock(60 * 60);
    let s = eventually(Duration::from_secs(30), "the delivered row pruned", || {
        let s = states(&p);
        (!s.contains_key("ok")).then_some(s)
    });
    assert_eq!(s.get("down").map(String::as_str), Some("retrying"), "{s:?}");
    assert_eq!(ok.got().len(), 1);
}

#[test]
fn a_log_altered_in_the_database_is_told_once_to_subscribers_of_audit_verification_failed() {
    let hook = Receiver::start(0);
    let addr = hook.addr;
    let mut p = Project::with_spec(|api, target| {
        format!(
            "{}notifications:
  receivers:
    security: {{ webhook: {{ url: http://{addr}/zion }} }}
  subscriptions:
    # A log-wide event: the service filter does not narrow it.
    - {{ receiver: security, events: [audit.verification_failed], services: [web] }}
",
            spec(api, target, STEPS, &[], "20s")
        )
    });
    p.set_clock(0);
    p.start();
    settled(&p, deploy(&p, "1.0"));
    // The scheduled verification has read the log whole at least once.
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.zion(&["audit", "verify"]).status.success());
    assert!(hook.got().is_empty());

    // Entry 1 (the deployment's creation) altered in the database file.
    let db = rusqlite::Connection::open(p.data_dir().join("zion.db")).unwrap();
    let entry: Vec<u8> = db
        .query_row("SELECT entry FROM audit_entries WHERE idx = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let altered = String::from_utf8(entry)
        .unwrap()
        .replacen("\"actor\":\"", "\"actor\":\"x", 1);
    db.execute(
        "UPDATE audit_entries SET entry = ?1 WHERE idx = 1",
        [altered.as_bytes()],
    )
    .unwrap();
    drop(db);

    // What was appended since was verified already, so the minute's
    // check of the new part finds nothing; the hourly whole read does.
    p.advance_clock(60);
    std::thread::sleep(Duration::from_secs(3));
    assert!(hook.got().is_empty(), "{:?}", hook.got());
    p.advance_clock(60 * 60);
    let got = eventually(Duration::from_secs(30), "the failure told", || {
        let got = hook.got();
        (!got.is_empty()).then_some(got)
    });
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["event"], "audit.verification_failed", "{body}");
    assert_eq!(body["audit_index"], 1, "{body}");
    assert_eq!(body["subject"], "audit", "{body}");
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("the audit log failed its verification at entry 1: "),
        "{summary}"
    );

    // Found again, by hand and by the next hour: told no more.
    let out = p.zion(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    p.advance_clock(60 * 60);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hook.got().len(), 1, "{:?}", hook.got());
    let rows = p.json(&["notifications"]);
    let told: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "audit.verification_failed")
        .collect();
    assert_eq!(told.len(), 1, "{rows}");
    assert_eq!(told[0]["state"], "delivered", "{rows}");
}
