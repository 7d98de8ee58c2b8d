//! Lifecycle hooks against real scripts and a real HTTP receiver: a
//! failing `pre_rollout` leaves stable untouched, `confirm_promotion`
//! holds the last step until it says yes, `on_rollback` runs on an
//! automatic rollback, and `http` hooks arrive signed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::support::*;

/// Hits each of the new version's replicas directly (not through the
/// target), then fails for a version listed in `broken`.
const SMOKE: &str = r#"
echo "hook=$ZION_HOOK service=$ZION_SERVICE env=$ZION_ENVIRONMENT version=$ZION_VERSION stable=$ZION_STABLE_VERSION phase=$ZION_PHASE id=$ZION_DEPLOYMENT_ID"
for a in $(echo "$ZION_NEW_ADDRESSES" | tr , ' '); do
  v=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://$a/healthz').headers['x-version'])") || exit 2
  echo "$a answered $v"
  [ "$v" = "$ZION_VERSION" ] || exit 3
done
if grep -qx "$ZION_VERSION" broken 2>/dev/null; then
  echo "smoke test failed for $ZION_VERSION" >&2
  exit 1
fi
"#;

fn hooks_spec(api: SocketAddr, target: SocketAddr, hooks: &str) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}", "--fault", "3.0:errors=1"]
        replicas: 2
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {target} }}
    canary:
      steps:
        - {{ weight: 50, pause: 1s }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 1
      min_requests: 3
      checks:
        - {{ metric: error_rate, max: 0.01 }}
    hooks:
{hooks}"#
    )
}

pub(crate) fn deploy(p: &Project, version: &str) -> i64 {
    let d = p.json(&["deploy", "web", version, "--env", "staging"]);
    d["id"].as_i64().unwrap_or_else(|| panic!("{d}"))
}

pub(crate) fn settled(p: &Project, id: i64) -> Value {
    p.wait_for(id, Duration::from_secs(60), "the deployment to end", |d| {
        ["succeeded", "rolled_back", "failed"].contains(&d["phase"].as_str().unwrap_or(""))
    })
}

/// The reasons of `d`'s events, in order.
pub(crate) fn reasons(d: &Value) -> Vec<String> {
    d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_failing_pre_rollout_leaves_stable_untouched_and_on_rollback_runs_on_a_rollback() {
    let mut p = Project::with_spec(|api, target| {
        hooks_spec(
            api,
            target,
            "      pre_rollout: [{ exec: [sh, smoke.sh], timeout: 20s }]\n\
             \x20     on_rollback: [{ exec: [sh, -c, 'echo \"$ZION_HOOK $ZION_VERSION $ZION_PHASE $ZION_STEP\" >> rollbacks.log'] }]\n",
        )
    });
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("smoke.sh"), SMOKE).unwrap();
    p.start();
    let first = settled(&p, deploy(&p, "1.0"));
    assert_eq!(first["phase"], "succeeded", "{first}\n{}", p.log());
    assert!(
        reasons(&first)
            .iter()
            .any(|r| r.starts_with("pre_rollout hook 1/1 (exec sh smoke.sh) passed: exited with 0")),
        "{first}"
    );

    // 2.0 is healthy but its smoke test fails: the deployment fails and
    // no request ever reaches it.
    std::fs::write(dir.join("broken"), "2.0\n").unwrap();
    let load = Load::start(p.target);
    let id = deploy(&p, "2.0");
    let d = settled(&p, id);
    std::thread::sleep(Duration::from_millis(500));
    let seen = load.finish();
    assert_eq!(d["phase"], "failed", "{d}\n{}", p.log());
    let why = d["reason"].as_str().unwrap();
    assert!(
        why.starts_with("pre_rollout hook 1/1 (exec sh smoke.sh) failed: exited with 1"),
        "{why}"
    );
    assert!(why.contains("smoke test failed for 2.0"), "{why}");
    assert!(why.contains("no traffic was moved"), "{why}");
    // The script reached both new replicas on their own addresses, and was
    // told the deployment's facts.
    assert_eq!(why.matches("answered 2.0").count(), 2, "{why}");
    assert!(
        why.contains(&format!(
            "hook=pre_rollout service=web env=staging version=2.0 stable=1.0 phase=progressing id={id}"
        )),
        "{why}"
    );
    for e in d["events"].as_array().unwrap() {
        assert_eq!(e["canary_weight"], 0, "{d}");
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        vec!["1.0"],
        "only stable answered: {seen:?}"
    );
    assert_eq!(p.target_status()["stable_version"], "1.0");
    // Recorded in the audit log like every event.
    let log = p.json(&["audit", "log"]);
    assert!(
        log.to_string().contains("smoke test failed for 2.0"),
        "{log}"
    );

    // 3.0 passes its smoke test (on /healthz) but fails every request: its
    // analysis rolls it back, and on_rollback runs.
    let load = Load::start(p.target);
    let d = settled(&p, deploy(&p, "3.0"));
    drop(load);
    assert_eq!(d["phase"], "rolled_back", "{d}\n{}", p.log());
    let ran = std::fs::read_to_string(dir.join("rollbacks.log")).unwrap_or_default();
    assert_eq!(ran, "on_rollback 3.0 rolling_back 1\n");
    assert!(
        reasons(&d)
            .iter()
            .any(|r| r.starts_with("on_rollback hook 1/1 (exec sh -c")),
        "{d}"
    );
    assert_eq!(p.target_status()["stable_version"], "1.0");
}

/// What the receiver got: each request's path, body, and whether its
/// signature was right.
type Received = Arc<Mutex<Vec<(String, Value, bool)>>>;

/// A small HTTP receiver checking `X-Zion-Signature` under `secret`;
/// answers 200 to a good signature, 401 otherwise.
fn receiver(secret: &'static str) -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Default::default();
    let log = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = BTreeMap::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
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
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            let ts = headers.get("x-zion-timestamp").cloned().unwrap_or_default();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{ts}.{body}").as_bytes());
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            let good = headers.get("x-zion-signature") == Some(&expected);
            log.lock().unwrap().push((
                path,
                serde_json::from_str(&body).unwrap_or(Value::Null),
                good,
            ));
            let status = if good { "200 OK" } else { "401 Unauthorized" };
            let answer = if good { "recorded" } else { "bad signature" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, received)
}

#[test]
fn confirm_promotion_holds_the_last_step_until_it_says_yes_and_http_hooks_are_signed() {
    let (hook, received) = receiver("s3cret");
    let mut p = Project::with_spec(|api, target| {
        hooks_spec(
            api,
            target,
            &format!(
                "      confirm_promotion: [{{ exec: [sh, -c, 'test -f promote || {{ echo x >> asked; echo \"not yet: no promote file (asked $(wc -l < asked) times)\"; exit 1; }}'] }}]\n\
                 \x20     pre_step: [{{ http: {{ url: http://{hook}/step, secret_file: hook.key }}, timeout: 5s }}]\n\
                 \x20     post_rollout: [{{ http: {{ url: http://{hook}/done, secret_file: hook.key }}, timeout: 5s, retries: 1 }}]\n"
            ),
        )
    });
    std::fs::write(p.dir.path().join("hook.key"), "s3cret\n").unwrap();
    p.start();
    let first = settled(&p, deploy(&p, "1.0"));
    assert_eq!(first["phase"], "succeeded", "{first}");

    let load = Load::start(p.target);
    let id = deploy(&p, "2.0");
    // Step 1's pause and analysis done, confirm_promotion says no: the
    // deployment waits at 50% and says why.
    let d = p.wait_for(id, Duration::from_secs(30), "a refused promotion", |d| {
        d["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("waiting for promotion")
    });
    let why = d["reason"].as_str().unwrap();
    assert!(
        why.contains("confirm_promotion hook 1/1 at step 1"),
        "{why}"
    );
    assert!(why.contains("not yet: no promote file"), "{why}");
    // It keeps asking (each no says something new here: the same no is
    // recorded once), and keeps waiting.
    let d = p.wait_for(id, Duration::from_secs(30), "a second refusal", |d| {
        reasons(d)
            .iter()
            .filter(|r| r.starts_with("waiting for promotion"))
            .count()
            >= 2
    });
    assert_eq!(
        (d["phase"].as_str(), d["canary_weight"].as_u64()),
        (Some("progressing"), Some(50)),
        "{d}"
    );
    std::fs::write(p.dir.path().join("promote"), "").unwrap();
    let d = settled(&p, id);
    drop(load);
    assert_eq!(d["phase"], "succeeded", "{d}\n{}", p.log());
    assert!(
        reasons(&d).iter().any(|r| r
            .starts_with("confirm_promotion hook 1/1 at step 1 (exec sh -c")
            && r.contains(" passed: ")),
        "{d}"
    );

    // The http hooks arrived signed, with the deployment's facts: pre_step
    // for 2.0's first step, post_rollout after each success.
    let got = eventually(Duration::from_secs(20), "post_rollout of 2.0", || {
        let got = received.lock().unwrap().clone();
        got.iter()
            .any(|(path, body, _)| path == "/done" && body["version"] == "2.0")
            .then_some(got)
    });
    assert!(got.iter().all(|(_, _, good)| *good), "{got:?}");
    let step = got
        .iter()
        .find(|(path, _, _)| path == "/step")
        .expect("pre_step");
    assert_eq!(step.1["hook"], "pre_step");
    assert_eq!(step.1["step"], 1);
    assert_eq!(step.1["version"], "2.0");
    assert_eq!(step.1["stable_version"], "1.0");
    assert_eq!(step.1["deployment_id"], id);
    let done: Vec<&Value> = got
        .iter()
        .filter(|(path, _, _)| path == "/done")
        .map(|(_, body, _)| body)
        .collect();
    assert_eq!(done.len(), 2, "{got:?}");
    assert_eq!(done[0]["version"], "1.0");
    assert_eq!(done[1]["phase"], "succeeded");
    let d = p.deployment(id);
    assert!(
        reasons(&d).iter().any(|r| r.starts_with(&format!(
            "post_rollout hook 1/1 (POST http://{hook}/done) passed: answered 200"
        ))),
        "{d}"
    );
}
