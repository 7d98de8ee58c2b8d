//! Header and cookie rules, mirroring and sticky sessions on a real target:
//! which version answered is counted request by request, through the
//! built-in proxy, with real replicas.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;

const STEPS: &str = "        - { weight: 0, match: [{ header: X-Team, equals: blue }, { cookie: canary, equals: \"yes\" }] }\n        - { mirror: 50 }\n        - { weight: 50 }\n        - { weight: 100 }";

/// Answers of `n` requests with `headers`, counted by version.
fn count(p: &Project, n: usize, headers: &[(&str, &str)]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let r = http_request(p.target, "/", headers).unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        *seen.entry(r.version).or_insert(0) += 1;
    }
    seen
}

/// Requests the canary version has received so far (served or mirrored).
fn canary_requests(p: &Project, version: &str) -> u64 {
    p.target_status()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .and_then(|v| v["requests"].as_u64())
        .unwrap_or(0)
}

fn promote(p: &Project, id: i64, step: u64) {
    let out = p.zion(&["promote", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    p.wait_for(id, Duration::from_secs(10), "the next step", |d| {
        d["step"].as_u64() == Some(step)
    });
}

#[test]
fn header_rules_then_mirroring_then_sticky_split() {
    let mut p = Project::new(STEPS, &[], "20s");
    std::fs::write(
        p.spec_path(),
        std::fs::read_to_string(p.spec_path())
            .unwrap()
            .replace("    canary:\n", "    canary:\n      sticky: true\n"),
    )
    .unwrap();
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = p.zion(&[
        "deploy", "web", "2.0", "--env", "staging", "--output", "json",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"]
        .as_i64()
        .unwrap();
    p.wait_for(
        id,
        Duration::from_secs(20),
        "step 1 with 2.0 healthy",
        |d| d["step"].as_u64() == Some(1),
    );

    // Step 1, weight 0: only the team's requests reach 2.0.
    assert_eq!(count(&p, 40, &[]), BTreeMap::from([("1.0".into(), 40)]));
    assert_eq!(
        count(&p, 20, &[("X-Team", "blue")]),
        BTreeMap::from([("2.0".into(), 20)])
    );
    assert_eq!(
        count(&p, 20, &[("x-team", "blue")]),
        BTreeMap::from([("2.0".into(), 20)])
    );
    assert_eq!(
        count(&p, 20, &[("Cookie", "theme=dark; canary=yes")]),
        BTreeMap::from([("2.0".into(), 20)])
    );
    assert_eq!(
        count(&p, 20, &[("X-Team", "red")]),
        BTreeMap::from([("1.0".into(), 20)])
    );

    // Step 2, mirror 50%: clients only ever see 1.0; 2.0 gets copies.
    promote(&p, id, 2);
    let before = canary_requests(&p, "2.0");
    assert_eq!(count(&p, 200, &[]), BTreeMap::from([("1.0".into(), 200)]));
    let mirrored = eventually(Duration::from_secs(5), "mirrored requests counted", || {
        let n = canary_requests(&p, "2.0") - before;
        (n >= 80).then_some(n)
    });
    // The split is deterministic; allow for requests still in flight.
    assert!(
        (80..=120).contains(&mirrored),
        "mirrored {mirrored} of 200 at 50%"
    );
    let t = String::from_utf8_lossy(&p.zion(&["get", &id.to_string()]).stdout).to_string();
    assert!(t.contains("mirroring 50% of stable's requests"), "{t}");
    assert!(t.contains("step 2/4, canary 0%, mirroring 50%"), "{t}");

    // Step 3, weight 50 and sticky: new clients split by weight, and each
    // stays on the version it was first sent to.
    promote(&p, id, 3);
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    for client in 0..100 {
        let r = http_request(p.target, "/", &[]).unwrap();
        let cookie = r
            .cookies
            .iter()
            .find(|c| c.starts_with("zion_version="))
            .unwrap_or_else(|| panic!("client {client}: no sticky cookie in {r:?}"))
            .clone();
        *first.entry(r.version.clone()).or_insert(0) += 1;
        for _ in 0..10 {
            let again = http_request(p.target, "/", &[("Cookie", &cookie)]).unwrap();
            assert_eq!(again.version, r.version, "client {client} flipped versions");
        }
    }
    let on_canary = first.get("2.0").copied().unwrap_or(0);
    assert!(
        (40..=60).contains(&on_canary),
        "new clients at 50%: {first:?}"
    );
    // A cookie naming a version no longer routed is re-assigned.
    let r = http_request(p.target, "/", &[("Cookie", "zion_version=0.9")]).unwrap();
    assert!(["1.0", "2.0"].contains(&r.version.as_str()), "{r:?}");
    assert!(
        r.cookies
            .iter()
            .any(|c| c == &format!("zion_version={}", r.version)),
        "{r:?}"
    );

    let out = p.zion(&["promote", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    p.wait_for(id, Duration::from_secs(10), "succeeded", |d| {
        d["phase"] == "succeeded"
    });
    assert_eq!(
        count(&p, 20, &[("X-Team", "blue")]),
        BTreeMap::from([("2.0".into(), 20)])
    );
}

#[test]
fn a_faulty_version_seen_only_through_mirroring_is_rolled_back() {
    let steps = "        - { mirror: 100, pause: 30s }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &["3.0:errors=0.5"], "20s");
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let load = Load::start(p.target);
    let out = p.zion(&["deploy", "web", "3.0", "--env", "staging", "--wait"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        describe(&out),
        p.log()
    );
    let seen = load.finish();
    // Clients never saw 3.0 or an error: only its mirrored copies failed.
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        vec!["1.0".to_string()],
        "{seen:?}"
    );
    assert!(seen.values().all(|(_, errors)| *errors == 0), "{seen:?}");
    let d = p.json(&["history"])[0].clone();
    assert_eq!(d["phase"], "rolled_back");
    assert!(d["reason"].as_str().unwrap().contains("3.0 stopped"), "{d}");
    let full = p.deployment(d["id"].as_i64().unwrap());
    let failing = full["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["verdict"] == "fail" && r["canary"]["errors"].as_u64().unwrap_or(0) > 0);
    assert!(failing, "{full}");
}
