//! `kill -9` of `zion up` mid-canary, then a restart: the replicas it left
//! running are adopted as they run (no restart, no gap in service), the
//! deployment resumes at the step it had reached, and its history holds no
//! duplicated transition.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::*;

#[test]
fn kill_nine_mid_canary_resumes_at_the_step_reached() {
    // Step 2 has no pause: the rollout waits there for a promote, so the
    // kill lands at a known step.
    let steps =
        "        - { weight: 20, pause: 1s }\n        - { weight: 50 }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &[], "20s");
    p.start();
    assert!(
        p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"])
            .status
            .success()
    );
    // Analysis needs canary traffic to pass step 1.
    let load = Load::start(p.target);
    let id = p.json(&["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    let before = p.wait_for(id, Duration::from_secs(30), "step 2 at 50%", |d| {
        d["step"] == 2 && d["canary_weight"] == 50
    });
    let events_before = before["events"].as_array().unwrap().len();
    let old = p.replicas();
    assert_eq!(old.len(), 4, "two versions × two replicas: {old:?}");

    drop(load);
    p.stop(Signal::SIGKILL);
    // The replicas outlive a SIGKILLed parent…
    assert!(
        old.iter().all(|(pid, _)| alive(*pid)),
        "replicas died with zion up: {old:?}"
    );

    // …and the next start adopts them as they run: the same processes,
    // serving all along.
    p.start();
    let after = p.wait_for(
        id,
        Duration::from_secs(30),
        "both versions ready again",
        |_| {
            let t = p.target_status();
            t["versions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["ready"] == 2)
                .count()
                == 2
        },
    );
    let mut new = p.replicas();
    let mut old = old;
    new.sort();
    old.sort();
    assert_eq!(
        new,
        old,
        "the replicas were not adopted as they ran\n{}",
        p.log()
    );
    assert!(p.log().contains("driving the target again"), "{}", p.log());
    assert_eq!(
        (
            after["phase"].as_str(),
            after["step"].as_u64(),
            after["canary_weight"].as_u64()
        ),
        (Some("progressing"), Some(2), Some(50))
    );
    // Traffic really is split again after the restart (the route follows
    // the replicas' readiness within a controller tick or two: waited for).
    let mut versions = std::collections::BTreeSet::new();
    eventually(Duration::from_secs(20), "both versions answering", || {
        for _ in 0..10 {
            if let Ok((200, v, _)) = http_get(p.target, "/") {
                versions.insert(v);
            }
        }
        (versions.contains("1.0") && versions.contains("2.0")).then_some(())
    });

    let done = p.json(&["promote", &id.to_string()]);
    assert_eq!(done["phase"], "succeeded");
    let d = p.deployment(id);
    let events = d["events"].as_array().unwrap();
    // Nothing was replayed from the start: the restart added no step event
    // before the promote.
    assert_eq!(events.len(), events_before + 2, "{d}");
    let keys: Vec<(String, String, Option<u64>, u64)> = events
        .iter()
        .map(|e| {
            (
                e["from_phase"].as_str().unwrap().to_string(),
                e["to_phase"].as_str().unwrap().to_string(),
                e["step"].as_u64(),
                e["canary_weight"].as_u64().unwrap(),
            )
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "duplicated transitions: {keys:?}");
    let (_, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!(version, "2.0");
}
