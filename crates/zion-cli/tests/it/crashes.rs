//! A version whose process says why it dies and exits: it fails as soon as
//! its replicas keep dying before they were ever healthy, not after the
//! whole `start_timeout`, and `zion get` shows what the process said.

use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_version_that_crashes_at_start_fails_at_once_showing_its_output() {
    // Far longer than a crash loop takes, so that waiting it out would show.
    let start_timeout = Duration::from_secs(120);
    let steps = "        - { weight: 50, pause: 1s }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &["2.0:crash"], "120s");
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    let began = Instant::now();
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    let took = began.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        took < start_timeout / 2,
        "a crash loop waited {took:?}, close to the start timeout\n{}",
        p.log()
    );

    let id = p.json(&["history"])[0]["id"].as_i64().unwrap();
    let d = p.deployment(id);
    assert_eq!(d["phase"], "failed", "{d}");
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("2.0 exited 3 times before it was ever healthy")
            && reason.contains("exit status: 1")
            && reason.contains("no traffic was moved")
            && reason.contains("\n  | error: demo-app 2.0: crashing at start as told"),
        "{reason}"
    );
    // The text view shows the same lines.
    let out = p.zion(&["get", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("exited 3 times before it was ever healthy")
            && text.contains("  | error: demo-app 2.0: crashing at start as told"),
        "{text}"
    );
    // The stable version never stopped serving.
    assert_eq!(p.target_status()["stable_version"], "1.0");
    let (status, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!((status, version.as_str()), (200, "1.0"));
}
