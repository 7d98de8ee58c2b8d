//! A canary that gets no traffic at all: its rounds say what the step
//! needs, they are kept as one record, the deployment pauses after
//! `inconclusive_limit` saying why, `deploy --wait --timeout` gives up
//! without aborting it, and `zion wait ID` follows it to its end.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const STEPS: &str = "        - { weight: 5, pause: 1s }\n        - { weight: 100 }";

fn quiet_project() -> Project {
    Project::with_spec(|api, target| {
        let spec = spec(api, target, STEPS, &[], "20s");
        let limited = spec.replace(
            "      min_requests: 5\n",
            "      min_requests: 5\n      inconclusive_limit: 3s\n",
        );
        assert_ne!(limited, spec, "the spec's analysis changed shape");
        limited
    })
}

fn phase(d: &Value) -> &str {
    d["phase"].as_str().unwrap_or("")
}

#[test]
fn a_canary_without_traffic_pauses_and_waiting_for_it_can_stop() {
    let mut p = quiet_project();
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());

    // Nothing is sent to the listener: --wait gives up after 2 s, exit 1,
    // and says the deployment goes on.
    let out = p.zion(&[
        "deploy",
        "web",
        "2.0",
        "--env",
        "staging",
        "--wait",
        "--timeout",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let history = p.json(&["history"]);
    let id = history[0]["id"].as_i64().unwrap();
    let sid = id.to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: deployment {id} has not finished within 2s: "
        )) && stderr.contains(&format!(
            "It goes on: `zion wait {id}` follows it again, `zion abort {id}` stops it"
        )),
        "{}",
        describe(&out)
    );
    let d = p.deployment(id);
    assert!(
        matches!(phase(&d), "progressing" | "paused"),
        "the timeout must not end the deployment: {d}"
    );

    // After inconclusive_limit (3 s) of rounds without a request, it pauses
    // and says why.
    let d = p.wait_for(
        id,
        Duration::from_secs(60),
        "a pause for lack of traffic",
        |d| phase(d) != "progressing",
    );
    assert_eq!(phase(&d), "paused", "{d}\n{}", p.log());
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "no traffic reached 2.0 for 3s: promote to go on, abort to stop (last round: \
             0 of 5 requests in 1s at 5%: the step needs about 100 requests/s through the \
             listener; it gets 0)"
        ),
        "{reason}"
    );
    let pause = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "paused")
        .unwrap();
    assert_eq!(pause["actor"], "controller", "{pause}");
    assert_eq!(d["canary_weight"], 5, "a pause keeps the step: {d}");
    assert!(d["inconclusive_pause_at"].is_null(), "{d}");

    // Rounds go on while paused; identical ones stay one record.
    let d = p.wait_for(id, Duration::from_secs(60), "ten rounds", |d| {
        d["progress"]["rounds"].as_u64().unwrap_or(0) >= 10
    });
    let records = d["rounds"].as_array().unwrap();
    let rounds: u64 = records.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert!(rounds >= 10, "{d}");
    assert!(
        records.len() * 3 <= rounds as usize,
        "{} records for {rounds} quiet rounds: {d}",
        records.len()
    );
    let run = records.iter().max_by_key(|r| r["count"].as_u64()).unwrap();
    assert_eq!(run["verdict"], "inconclusive");
    assert!(
        run["last_at"].as_str().unwrap() > run["at"].as_str().unwrap(),
        "{run}"
    );
    let out = p.zion(&["get", &sid]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("waiting:    inconclusive for ")
            && text.contains(&format!("inconclusive) in {} record", records.len())),
        "{text}"
    );
    let out = p.zion(&["get", &sid, "--rounds", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("SUMMARY"), "{text}");
    assert!(text.contains("--rounds all` lists every one"), "{text}");

    // `zion wait` with a timeout gives up too; the deployment stays paused.
    let out = p.zion(&["wait", &sid, "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has not finished within 1s"),
        "{}",
        describe(&out)
    );
    assert_eq!(phase(&p.deployment(id)), "paused");

    // `zion wait ID` attaches and returns when the deployment ends.
    let mut waiter = Command::new(ZION)
        .args(["wait", &sid, "-f"])
        .arg(p.spec_path())
        .env_remove("ZION_TOKEN")
        .env_remove("ZION_SERVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(waiter.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    // Its first line (the deployment's first event) says it follows.
    assert!(first.contains("admin"), "not following yet: {first:?}");
    assert_eq!(p.json(&["promote", &sid])["phase"], "succeeded");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = waiter.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "zion wait did not return after the deployment succeeded"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut rest = String::new();
    lines.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {first}{rest}");
    assert!(
        rest.contains("no traffic reached 2.0 for 3s")
            && rest.contains(&format!("deployment {id} succeeded")),
        "{first}{rest}"
    );
}
