//! Blue-green and rolling deployments on a real target: real replicas, real
//! HTTP through the built-in proxy and its preview listener, and which
//! version answered counted request by request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// A `web` service in `staging` with `strategy`, its own extra keys and
/// the demo-app's `faults`.
fn strategy_spec(
    api: SocketAddr,
    target: SocketAddr,
    preview: Option<SocketAddr>,
    strategy: &str,
    replicas: u32,
    faults: &[&str],
) -> String {
    let base = spec(api, target, "        - { weight: 100 }", faults, "20s");
    let target_line = format!("staging: {{ listen: {target} }}");
    let with_preview = match preview {
        Some(p) => format!("staging: {{ listen: {target}, preview: {p} }}"),
        None => target_line.clone(),
    };
    base.replace(&target_line, &with_preview)
        .replace("replicas: 2", &format!("replicas: {replicas}"))
        .replace(
            "    canary:\n",
            &format!(
                "    strategy: {strategy}\n    blue_green:\n      scale_down_delay: 1h\n    rolling:\n      batch: 1\n    canary:\n"
            ),
        )
        // A failed round must not end the rollout here: the tests look at
        // the state a failed round leaves.
        .replace("failure_limit: 2", "failure_limit: 100")
}

/// Answers of `n` requests to `addr`, counted by version (errors included).
fn count(addr: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let r = http_request(addr, "/", &[]).unwrap();
        *seen.entry(r.version).or_insert(0) += 1;
    }
    seen
}

fn deploy(p: &Project, version: &str) -> i64 {
    let out = p.zion(&[
        "deploy", "web", version, "--env", "staging", "--output", "json",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// PIDs of the running replicas of `version`.
fn pids(p: &Project, version: &str) -> Vec<u64> {
    p.target_status()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .and_then(|v| v["pids"].as_array().cloned())
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

#[test]
fn blue_green_preview_promotion_refusal_and_instant_rollback() {
    let preview = free_addr();
    let mut p = Project::with_spec(|api, target| {
        strategy_spec(
            api,
            target,
            Some(preview),
            "blue_green",
            2,
            &["2.0:latency=60ms"],
        )
    });
    // The hour of scale_down_delay passes when the test moves the server's
    // clock: a rollback inside it is inside it however slow the machine.
    p.set_clock(0);
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let status = p.target_status();
    assert_eq!(status["preview"], preview.to_string());
    // Nothing is being rolled out: the preview serves the stable version.
    assert_eq!(count(preview, 5), BTreeMap::from([("1.0".into(), 5)]));
    let load = Load::start(p.target);

    // 2.0 is slow: its preview traffic fails the latency check.
    let id = deploy(&p, "2.0");
    p.wait_for(id, Duration::from_secs(20), "2.0's preview ready", |d| {
        d["preview"] == "ready"
    });
    let text = String::from_utf8_lossy(&p.zion(&["get", &id.to_string()]).stdout).to_string();
    assert!(text.contains("preview ready, live traffic 0%"), "{text}");
    assert_eq!(count(preview, 10), BTreeMap::from([("2.0".into(), 10)]));
    assert_eq!(count(p.target, 20), BTreeMap::from([("1.0".into(), 20)]));
    eventually(
        Duration::from_secs(20),
        "a failed round on the preview",
        || {
            count(preview, 10);
            let d = p.deployment(id);
            d["progress"]["step_last_failed"]
                .as_bool()
                .unwrap_or(false)
                .then_some(())
        },
    );
    let out = p.zion(&["promote", &id.to_string()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("preview of 2.0 is unhealthy") && err.contains("latest analysis round failed"),
        "{err}"
    );
    assert_eq!(
        p.deployment(id)["phase"],
        "progressing",
        "a refusal changes nothing"
    );
    let out = p.zion(&["abort", &id.to_string()]);
    assert_eq!(
        p.wait_for(id, Duration::from_secs(20), "rolled back", |d| d["phase"]
            == "rolled_back")["phase"],
        "rolled_back",
        "{}",
        describe(&out)
    );

    // 2.1 is good: promoted by hand, all traffic switches at once.
    let id = deploy(&p, "2.1");
    p.wait_for(id, Duration::from_secs(20), "2.1's preview ready", |d| {
        d["preview"] == "ready"
    });
    assert_eq!(count(preview, 10), BTreeMap::from([("2.1".into(), 10)]));
    assert_eq!(count(p.target, 20), BTreeMap::from([("1.0".into(), 20)]));
    let out = p.zion(&["promote", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(p.deployment(id)["phase"], "succeeded");
    assert_eq!(count(p.target, 20), BTreeMap::from([("2.1".into(), 20)]));
    let old = pids(&p, "1.0");
    assert_eq!(old.len(), 2, "1.0 keeps running during scale_down_delay");

    // Rollback inside the delay: a switch back, no process started (how
    // fast is the switchback benchmark's to measure).
    let sent = Instant::now();
    let out = p.zion(&["rollback", "web", "--env", "staging"]);
    assert!(out.status.success(), "{}", describe(&out));
    let switched = eventually(Duration::from_secs(20), "1.0 answering again", || {
        let r = http_request(p.target, "/", &[]).ok()?;
        (r.version == "1.0").then(|| sent.elapsed())
    });
    eprintln!(
        "rollback inside scale_down_delay: command → switch {:.1} ms (CLI process start included)",
        switched.as_secs_f64() * 1000.0
    );
    assert_eq!(pids(&p, "1.0"), old, "no replica of 1.0 was started");
    let rollback = p.json(&["history", "web", "--env", "staging"]);
    let last = &rollback.as_array().unwrap()[0];
    assert_eq!(last["type"], "rollback");
    assert_eq!(last["phase"], "succeeded");
    let took = |d: &Value| {
        let t = |k: &str| d[k].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
        t("finished_at")
            .duration_since(t("created_at"))
            .as_secs_f64()
            * 1000.0
    };
    eprintln!(
        "rollback recorded: created → succeeded in {:.1} ms",
        took(last)
    );
    eventually(Duration::from_secs(10), "2.1 stopped", || {
        pids(&p, "2.1").is_empty().then_some(())
    });

    // After scale_down_delay the old version is stopped.
    let id = deploy(&p, "3.0");
    p.wait_for(id, Duration::from_secs(20), "3.0's preview ready", |d| {
        d["preview"] == "ready"
    });
    let out = p.zion(&["promote", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    let old = pids(&p, "1.0");
    assert_eq!(old.len(), 2);
    // A while later, but inside the delay, 1.0 still runs.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(pids(&p, "1.0"), old, "1.0 stopped inside scale_down_delay");
    p.advance_clock(3660);
    eventually(
        Duration::from_secs(20),
        "1.0 stopped after the delay",
        || pids(&p, "1.0").is_empty().then_some(()),
    );
    let seen = load.finish();
    let errors: u64 = seen.values().map(|(_, e)| e).sum();
    assert_eq!(errors, 0, "users saw errors: {seen:?}");
    assert!(
        !seen.contains_key("2.0"),
        "users saw the preview-only 2.0: {seen:?}"
    );
}

#[test]
fn blue_green_promotes_itself_and_rolls_back_a_faulty_preview() {
    let preview = free_addr();
    let mut p = Project::with_spec(|api, target| {
        strategy_spec(
            api,
            target,
            Some(preview),
            "blue_green",
            2,
            &["2.0:errors=0.5"],
        )
        .replace(
            "scale_down_delay: 1h",
            "scale_down_delay: 1h\n      auto_promotion: 2s",
        )
        .replace("failure_limit: 100", "failure_limit: 2")
    });
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    // Faulty: analysis on preview traffic rolls it back; users never see it.
    let load = Load::start(p.target);
    let id = deploy(&p, "2.0");
    p.wait_for(id, Duration::from_secs(20), "2.0's preview ready", |d| {
        d["preview"] == "ready"
    });
    let d = eventually(Duration::from_secs(20), "2.0 rolled back", || {
        count(preview, 10);
        let d = p.deployment(id);
        (d["phase"] == "rolled_back").then_some(d)
    });
    assert!(d["reason"].as_str().unwrap().contains("stopped"), "{d}");
    let seen = load.finish();
    assert!(!seen.contains_key("2.0"), "users saw 2.0: {seen:?}");

    // Good: promoted by itself once its preview passed. Users keep using
    // 1.0 meanwhile, which gives the latency check its baseline.
    let load = Load::start(p.target);
    let id = deploy(&p, "2.1");
    // Preview traffic of its own pace, not tied to how fast this loop polls
    // on a busy machine: each round needs its requests to pass.
    let preview_load = Load::start(preview);
    let d = eventually(Duration::from_secs(60), "2.1 promoted by itself", || {
        let d = p.deployment(id);
        (d["phase"] == "succeeded").then_some(d)
    });
    preview_load.finish();
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("promoted automatically 2s after"),
        "{d}"
    );
    load.finish();
    assert_eq!(count(p.target, 20), BTreeMap::from([("2.1".into(), 20)]));
}

/// Waits for rolling batch `batch` to be ready (traffic held there while no
/// request makes a round conclusive).
fn batch_ready(p: &Project, id: i64, batch: u64) -> Value {
    p.wait_for(id, Duration::from_secs(20), "the batch ready", |d| {
        d["batch"].as_u64() == Some(batch) && d["batch_ready"] == true
    })
}

#[test]
fn rolling_batches_split_traffic_by_replicas_and_a_failed_batch_rolls_back() {
    let mut p = Project::with_spec(|api, target| {
        strategy_spec(api, target, None, "rolling", 3, &["3.0:errors=0.5"])
            .replace("failure_limit: 100", "failure_limit: 2")
    });
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let id = deploy(&p, "2.0");

    // Batch 1/3: one replica of three runs 2.0; a third of the traffic.
    let d = batch_ready(&p, id, 1);
    assert_eq!(d["canary_weight"], 33);
    assert_eq!(d["replaced"], 1);
    let text = String::from_utf8_lossy(&p.zion(&["get", &id.to_string()]).stdout).to_string();
    assert!(
        text.contains("batch 1/3, 1/3 replicas replaced, 33% of traffic"),
        "{text}"
    );
    let seen = count(p.target, 90);
    let new = seen.get("2.0").copied().unwrap_or(0);
    // 90 × 1/3 = 30; ±12 is more than three binomial standard deviations.
    assert!((18..=42).contains(&new), "{seen:?}");
    assert_eq!(new + seen.get("1.0").copied().unwrap_or(0), 90, "{seen:?}");

    // The requests made a round conclusive: batch 2 starts, then holds.
    let d = batch_ready(&p, id, 2);
    assert_eq!(d["canary_weight"], 67);
    let v1 = p.target_status()["versions"].clone();
    let ready = |version: &str| {
        v1.as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == version)
            .map(|v| v["ready"].as_u64().unwrap())
    };
    assert_eq!(ready("2.0"), Some(2));
    let seen = count(p.target, 90);
    let new = seen.get("2.0").copied().unwrap_or(0);
    // 90 × 2/3 = 60.
    assert!((48..=72).contains(&new), "{seen:?}");
    let d = eventually(Duration::from_secs(20), "2.0 stable", || {
        count(p.target, 10);
        let d = p.deployment(id);
        (d["phase"] == "succeeded").then_some(d)
    });
    assert!(d["reason"].as_str().unwrap().contains("batch 3/3 healthy"));
    assert_eq!(count(p.target, 20), BTreeMap::from([("2.0".into(), 20)]));
    eventually(Duration::from_secs(10), "1.0 stopped", || {
        pids(&p, "1.0").is_empty().then_some(())
    });

    // 3.0 fails its first batch: every replaced replica goes back.
    let id = deploy(&p, "3.0");
    batch_ready(&p, id, 1);
    let d = eventually(Duration::from_secs(20), "3.0 rolled back", || {
        count(p.target, 10);
        let d = p.deployment(id);
        (d["phase"] == "rolled_back").then_some(d)
    });
    let events = p.json(&["get", &id.to_string()])["events"].clone();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["to_phase"] == "rolling_back"),
        "{d}"
    );
    eventually(
        Duration::from_secs(10),
        "2.0 back to 3 replicas, 3.0 gone",
        || {
            let ok = pids(&p, "2.0").len() == 3 && pids(&p, "3.0").is_empty();
            ok.then_some(())
        },
    );
    assert_eq!(count(p.target, 20), BTreeMap::from([("2.0".into(), 20)]));
}
