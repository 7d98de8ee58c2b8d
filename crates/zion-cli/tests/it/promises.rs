//! Promises the README makes that no other test held Zion to: the demo
//! itself, `deploy --strategy`, who may steer a rollout, rolling capacity,
//! and the audit key's mode.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

#[test]
fn the_demo_runs_to_the_end_and_its_summary_lines_up() {
    // The demo's good version is judged on p95 against stable's: no other
    // test's servers may share the cores meanwhile.
    let _alone = machine_alone();
    let mut out = run_demo();
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    // Known flake, seen in some suite runs: the debug build's
    // fresh replicas of the good version answer a few of their first
    // requests slower than stable's p99 on a busy two-core machine, and its
    // latency check rolls it back. One more run; a real fault fails both.
    if text.contains("PROBLEM: 1.1.0 ended \"rolled_back\"") && text.contains("latency_p95") {
        eprintln!("first demo run, retried:\n{text}");
        out = run_demo();
        text = String::from_utf8_lossy(&out.stdout).to_string();
    }
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text.contains("all 3 deployments behaved as expected"),
        "{text}"
    );
    // The summary table: every row's cells start under their headings.
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.starts_with("  deployment ") && l.contains("version"))
        .unwrap_or_else(|| panic!("no summary table: {text}"));
    let heading = lines[head];
    let col = |name: &str| heading.find(name).unwrap();
    let rows: Vec<&str> = lines[head + 1..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('#'))
        .copied()
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    for (row, version) in rows.iter().zip(["1.0.0", "1.1.0", "1.2.0-faulty"]) {
        assert_eq!(row.find(version), Some(col("version")), "{heading}\n{row}");
        let outcome = row[col("outcome")..].split_whitespace().next().unwrap();
        assert!(
            ["succeeded", "rolled_back"].contains(&outcome),
            "{heading}\n{row}"
        );
        // "took" is right-aligned: its value ends where the heading ends.
        let took_end = col("took") + "took".len();
        assert_eq!(&row[took_end - 1..took_end], "s", "{heading}\n{row}");
    }
}

/// Runs `zion demo` in a folder of its own, within 240 s.
fn run_demo() -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(ZION)
        .args(["demo"])
        .current_dir(dir.path())
        .env_remove("ZION_SERVER")
        .env_remove("ZION_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zion demo did not finish within 240 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn deploy_strategy_runs_the_strategy_asked_for() {
    let preview = free_addr();
    let mut p = Project::with_spec(|api, target| {
        spec(
            api,
            target,
            "        - { weight: 50, pause: 1h }\n        - { weight: 100 }",
            &[],
            "20s",
        )
        .replace(
            &format!("staging: {{ listen: {target} }}"),
            &format!("staging: {{ listen: {target}, preview: {preview} }}"),
        )
    });
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    // The service's strategy is canary; this one deployment is blue-green.
    let d = p.json(&[
        "deploy",
        "web",
        "2.0",
        "--env",
        "staging",
        "--strategy",
        "blue_green",
    ]);
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["strategy"], "blue_green", "{d}");
    let d = p.wait_for(id, Duration::from_secs(30), "2.0's preview ready", |d| {
        d["preview"] == "ready"
    });
    assert_eq!(d["strategy"], "blue_green", "{d}");
    // Blue-green: the preview serves 2.0 alone while users stay on 1.0.
    assert_eq!(http_get(preview, "/").unwrap().1, "2.0");
    for _ in 0..10 {
        assert_eq!(http_get(p.target, "/").unwrap().1, "1.0");
    }
    let out = p.zion(&["promote", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    p.wait_for(id, Duration::from_secs(20), "2.0 succeeded", |d| {
        d["phase"] == "succeeded"
    });
    assert_eq!(http_get(p.target, "/").unwrap().1, "2.0");
}

#[test]
fn viewers_and_approvers_cannot_steer_a_rollout() {
    // A step without a pause waits for `zion promote`.
    let steps = "        - { weight: 50 }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &[], "20s");
    p.start();
    let viewer = p.token("vera", "viewer");
    let approver = p.token("abe", "approver");
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap().to_string();
    p.wait_for(
        id.parse().unwrap(),
        Duration::from_secs(20),
        "2.0 at step 1",
        |d| d["phase"] == "progressing" && d["canary_weight"] == 50,
    );
    let before = p.deployment(id.parse().unwrap());
    let commands: [&[&str]; 6] = [
        &["promote", &id],
        &["promote", &id, "--full"],
        &["pause", &id],
        &["resume", &id],
        &["abort", &id],
        &["rollback", "web", "--env", "staging"],
    ];
    for (who, token) in [("viewer", &viewer), ("approver", &approver)] {
        for args in commands {
            let out = p.zion_as(token, args);
            assert_eq!(
                out.status.code(),
                Some(3),
                "{who} ran {args:?}: {}",
                describe(&out)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("403") || err.to_lowercase().contains("role"),
                "{who} {args:?}: {err}"
            );
        }
    }
    // Nothing moved.
    let after = p.deployment(id.parse().unwrap());
    for field in ["phase", "canary_weight", "step"] {
        assert_eq!(after[field], before[field], "{field}: {after}");
    }
    assert_eq!(
        after["events"].as_array().unwrap().len(),
        before["events"].as_array().unwrap().len()
    );
    let history = p.json(&["history"]);
    assert_eq!(history.as_array().unwrap().len(), 2, "no rollback created");
}

#[test]
fn rolling_keeps_every_replica_of_capacity_ready_throughout() {
    let mut p = Project::with_spec(|api, target| {
        spec(api, target, "        - { weight: 100 }", &[], "20s")
            .replace("replicas: 2", "replicas: 3")
            .replace(
                "    canary:\n",
                "    strategy: rolling\n    rolling:\n      batch: 1\n    canary:\n",
            )
    });
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    // Ready replicas of every version, sampled while the batches run.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let spec = p.spec_path();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let out = Command::new(ZION)
                    .args(["status", "--output", "json", "-f"])
                    .arg(&spec)
                    .output()
                    .unwrap();
                if let Ok(all) = serde_json::from_slice::<Value>(&out.stdout) {
                    let ready: u64 = all[0]["versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v["ready"].as_u64())
                        .sum();
                    samples.push(ready);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        })
    };
    let load = Load::start(p.target);
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let seen = load.finish();
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    assert!(samples.len() >= 10, "too few samples: {samples:?}");
    let min = samples.iter().copied().min().unwrap();
    assert!(
        min >= 3,
        "capacity dipped to {min} ready replicas: {samples:?}"
    );
    // Replicas of both versions were up together at some point.
    assert!(samples.iter().any(|n| *n > 3), "{samples:?}");
    assert!(
        seen.values().all(|(_, errors)| *errors == 0),
        "users saw errors: {seen:?}"
    );
}

#[test]
fn the_audit_key_and_admin_token_are_private_to_their_owner() {
    let mut p = Project::new("        - { weight: 100 }", &[], "20s");
    p.start();
    assert_eq!(mode(&p.data_dir().join("audit.key")), 0o600);
    assert_eq!(mode(&p.data_dir().join("admin.token")), 0o600);
}
