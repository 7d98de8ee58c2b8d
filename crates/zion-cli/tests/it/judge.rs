//! The statistical judge under real traffic: a version 30 ms slower than
//! stable at the same error rate is failed by the Mann-Whitney judge and
//! rolled back, and its rounds carry the judge's figures to `zion get`.

use crate::support::*;

#[test]
fn a_slower_version_is_failed_by_the_mann_whitney_judge() {
    let mut p = Project::with_spec(|api, target| {
        let base = spec(
            api,
            target,
            "        - { weight: 30, pause: 20s }\n        - { weight: 100 }",
            &["2.0:latency=30ms"],
            "20s",
        );
        let at = base.find("    analysis:\n").unwrap();
        format!(
            "{}    analysis:\n      interval: 2s\n      failure_limit: 2\n      min_requests: 5\n      judge: mann_whitney\n",
            &base[..at]
        )
    });
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    let load = Load::start(p.target);
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    let seen = load.finish();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        describe(&out),
        p.log()
    );
    assert!(seen.get("2.0").is_some_and(|c| c.0 > 0), "{seen:?}");
    let history = p.json(&["history", "web", "--env", "staging"]);
    let slow = &history.as_array().unwrap()[0];
    assert_eq!(slow["phase"], "rolled_back", "{slow}");
    let id = slow["id"].as_i64().unwrap();
    let d = p.deployment(id);
    let failed = d["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "fail")
        .unwrap_or_else(|| panic!("no failed round: {d}"));
    let judge = &failed["judge"];
    assert!(judge["score"].as_f64().unwrap() < 75.0, "{failed}");
    let latency = &judge["metrics"][0];
    assert_eq!(latency["metric"], "latency", "{failed}");
    assert_eq!(latency["classification"], "high", "{failed}");
    assert!(latency["p_value"].as_f64().unwrap() < 0.02, "{failed}");
    assert!(latency["effect_size"].as_f64().unwrap() > 1.2, "{failed}");
    assert!(latency["canary_n"].as_u64().unwrap() >= 5, "{failed}");
    assert!(latency["baseline_n"].as_u64().unwrap() >= 5, "{failed}");
    // The error rates are alike: that metric passes.
    assert_eq!(judge["metrics"][1]["metric"], "error_rate", "{failed}");
    assert_eq!(judge["metrics"][1]["classification"], "pass", "{failed}");

    let out = p.zion(&["get", &id.to_string(), "--rounds", "all"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mann_whitney judge:"), "{text}");
    let at = text.find("mann_whitney judge:").unwrap();
    eprintln!("{}", &text[at..]);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("latency") && l.trim_end().ends_with("high")),
        "{text}"
    );
    assert_eq!(p.target_status()["stable_version"], "1.0");
}
