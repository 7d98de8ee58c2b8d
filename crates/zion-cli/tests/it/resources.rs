//! Checks on what a version's replicas use, read from `/proc` for real
//! processes: a version that keeps two cores busy is rolled back by a
//! `cpu` check (seed 001: CPU above 80% rolls back), one that holds 300 MB
//! by a `memory_mb` check, and an idle, small version passes both.

use crate::support::*;

/// One replica per version (the figures are the sum over replicas), the
/// check alone, and no traffic needed.
fn resource_spec(check: &str) -> impl FnOnce(std::net::SocketAddr, std::net::SocketAddr) -> String {
    let check = check.to_owned();
    move |api, target| {
        let base = spec(
            api,
            target,
            "        - { weight: 50, pause: 2s }\n        - { weight: 100 }",
            &["3.0:cpu=2", "4.0:memory=300"],
            "20s",
        )
        .replace("replicas: 2", "replicas: 1");
        let at = base.find("    analysis:\n").unwrap();
        format!(
            "{}    analysis:\n      interval: 1s\n      failure_limit: 2\n      min_requests: 0\n      checks:\n        - {check}\n",
            &base[..at]
        )
    }
}

/// Deploys `version` and waits for its end; returns the deployment.
fn deploy(p: &Project, version: &str) -> serde_json::Value {
    let out = p.zion(&["deploy", "web", version, "--env", "staging", "--wait"]);
    let history = p.json(&["history", "web", "--env", "staging"]);
    let d = history.as_array().unwrap()[0].clone();
    assert_eq!(d["version"], version, "{}\n{d}", describe(&out));
    p.deployment(d["id"].as_i64().unwrap())
}

/// The reason the deployment was rolled back, and the figure its failed
/// round measured for `metric`.
fn rolled_back_on(d: &serde_json::Value, metric: &str) -> (String, f64) {
    assert_eq!(d["phase"], "rolled_back", "{d}");
    let round = d["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "fail")
        .unwrap_or_else(|| panic!("no failed round: {d}"));
    let check = round["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} check: {round}"));
    let why = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "rolling_back")
        .and_then(|e| e["reason"].as_str())
        .unwrap_or_else(|| panic!("no rollback event: {d}"));
    (
        why.to_owned(),
        check["canary"]
            .as_f64()
            .unwrap_or_else(|| panic!("{check}")),
    )
}

#[test]
fn a_version_burning_cpu_is_rolled_back_by_a_cpu_check() {
    let mut p = Project::with_spec(resource_spec("{ metric: cpu, max: 80 }"));
    p.start();
    assert_eq!(deploy(&p, "1.0")["phase"], "succeeded");
    // An idle version passes: a few percent of one core at most.
    let idle = deploy(&p, "2.0");
    assert_eq!(idle["phase"], "succeeded", "{idle}\n{}", p.log());
    let busy = deploy(&p, "3.0");
    let (reason, cpu) = rolled_back_on(&busy, "cpu");
    assert!(cpu > 80.0, "{busy}");
    assert!(reason.contains("cpu"), "{reason}");
}

#[test]
fn a_version_holding_memory_is_rolled_back_by_a_memory_check() {
    let mut p = Project::with_spec(resource_spec("{ metric: memory_mb, max: 150 }"));
    p.start();
    assert_eq!(deploy(&p, "1.0")["phase"], "succeeded");
    let small = deploy(&p, "2.0");
    assert_eq!(small["phase"], "succeeded", "{small}\n{}", p.log());
    let big = deploy(&p, "4.0");
    let (reason, mb) = rolled_back_on(&big, "memory_mb");
    assert!(mb > 290.0, "{big}");
    assert!(reason.contains("memory_mb"), "{reason}");
}
