//! A good version walks every canary step under real traffic; a faulty one
//! is rolled back by Zion on its own; `--wait` exit codes follow the outcome.

use std::time::Duration;

use crate::support::*;

const STEPS: &str = "        - { weight: 20, pause: 2s }\n        - { weight: 60, pause: 2s }\n        - { weight: 100 }";

#[test]
fn good_version_is_promoted_and_faulty_one_rolled_back() {
    let mut p = Project::new(STEPS, &["3.0:errors=0.5"], "20s");
    p.start();

    // The first version: all traffic once healthy.
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(p.target_status()["stable_version"], "1.0");
    let (status, version, body) = http_get(p.target, "/").unwrap();
    assert_eq!((status, version.as_str()), (200, "1.0"), "{body}");

    // A good canary under load: both versions answer while it runs.
    let load = Load::start(p.target);
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let text = String::from_utf8_lossy(&out.stdout);
    for w in ["20%", "60%", "100%", "succeeded"] {
        assert!(text.contains(w), "--wait output lacks {w}: {text}");
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = load.finish();
    assert!(seen.get("1.0").is_some_and(|c| c.0 > 0), "{seen:?}");
    assert!(seen.get("2.0").is_some_and(|c| c.0 > 0), "{seen:?}");
    // Moving traffic and stopping 1.0 dropped no request.
    assert!(
        seen.values().all(|(_, errors)| *errors == 0),
        "errors during a good rollout: {seen:?}"
    );
    for _ in 0..20 {
        let (status, version, _) = http_get(p.target, "/").unwrap();
        assert_eq!((status, version.as_str()), (200, "2.0"));
    }
    let history = p.json(&["history"]);
    let good = &history.as_array().unwrap()[0];
    assert_eq!(good["phase"], "succeeded");
    let d = p.deployment(good["id"].as_i64().unwrap());
    let weights: Vec<u64> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step"].is_u64())
        .map(|e| e["canary_weight"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, vec![20, 60, 100, 100], "{d}");
    let rounds = d["rounds"].as_array().unwrap();
    assert!(
        rounds
            .iter()
            .any(|r| r["verdict"] == "pass" && r["canary"]["requests"].as_u64().unwrap() > 0),
        "{d}"
    );

    // A faulty canary (50% errors): rolled back, exit 1, stable untouched.
    let (d, _) = faulty_version_rolled_back(&p, p.target, "3.0");
    assert_eq!(d["canary_weight"], 0);
    let rb = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "rolling_back")
        .unwrap();
    assert_eq!(rb["actor"], "controller");
    assert!(
        rb["reason"].as_str().unwrap().contains("error_rate"),
        "{rb}"
    );
    assert_eq!(p.target_status()["stable_version"], "2.0");
    for _ in 0..20 {
        let (status, version, _) = http_get(p.target, "/").unwrap();
        assert_eq!((status, version.as_str()), (200, "2.0"));
    }
    // The faulty version's replicas are gone.
    let t = p.target_status();
    let versions: Vec<&str> = t["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["2.0"], "{t}");
}

#[test]
fn manual_promote_pause_resume_abort_and_rollback() {
    // A step without a pause waits for a promote.
    let steps = "        - { weight: 30 }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &[], "20s");
    p.start();
    assert!(
        p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"])
            .status
            .success()
    );
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    let sid = id.to_string();
    p.wait_for(id, Duration::from_secs(30), "step 1 at 30%", |d| {
        d["step"] == 1 && d["canary_weight"] == 30
    });
    let paused = p.json(&["pause", &sid]);
    assert_eq!(paused["phase"], "paused");
    // Refused by the deployment's state (409): exit 3.
    let again = p.zion(&["pause", &sid]);
    assert_eq!(again.status.code(), Some(3), "{}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already paused"));
    assert_eq!(p.json(&["resume", &sid])["phase"], "progressing");
    let done = p.json(&["promote", &sid]);
    assert_eq!(done["phase"], "succeeded");
    let d = p.deployment(id);
    let last = d["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["to_phase"].as_str()),
        (Some("admin"), Some("succeeded"))
    );

    // Abort sends traffic back to stable.
    let d = p.json(&["deploy", "web", "3.0", "--env", "staging"]);
    let id3 = d["id"].as_i64().unwrap();
    p.wait_for(id3, Duration::from_secs(30), "3.0 at 30%", |d| {
        d["canary_weight"] == 30
    });
    p.json(&["abort", &id3.to_string()]);
    let d = p.wait_for(id3, Duration::from_secs(30), "rolled back", |d| {
        d["phase"] == "rolled_back"
    });
    assert_eq!(d["canary_weight"], 0);
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("2.0 serves all traffic"),
        "{d}"
    );
    let (_, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!(version, "2.0");

    // promote --full skips the rest.
    let d = p.json(&["deploy", "web", "4.0", "--env", "staging"]);
    let id4 = d["id"].as_i64().unwrap();
    p.wait_for(id4, Duration::from_secs(30), "4.0 at 30%", |d| {
        d["canary_weight"] == 30
    });
    let full = p.json(&["promote", &id4.to_string(), "--full"]);
    assert_eq!(full["phase"], "succeeded");
    assert!(
        full["reason"]
            .as_str()
            .unwrap()
            .contains("promoted fully by admin")
    );

    // Rollback: a new deployment of the previous succeeded version (2.0).
    let out = p.zion(&["rollback", "web", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let history = p.json(&["history"]);
    let rb = &history.as_array().unwrap()[0];
    assert_eq!(
        (
            rb["version"].as_str(),
            rb["type"].as_str(),
            rb["phase"].as_str()
        ),
        (Some("2.0"), Some("rollback"), Some("succeeded"))
    );
    let (_, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!(version, "2.0");
}
