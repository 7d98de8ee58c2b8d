//! The controller reconciles a target when it is due: every tick while a
//! deployment moves, only on a change when nothing happens to it.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use zion_server::Clock;

use crate::support::{call, free, start_spec_on};

fn in_seconds(secs: i64) -> Timestamp {
    (Timestamp::now() + SignedDuration::from_secs(secs))
        .round(jiff::Unit::Second)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_target_is_not_reconciled_every_tick_and_a_busy_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::shifted(SignedDuration::ZERO);
    let (from, to) = (in_seconds(-3600), in_seconds(3600));
    let service = |name: &str| {
        format!(
            "  - name: {name}\n    workload:\n      process:\n        command: [\"python3\", \"-m\", \"http.server\", \"{{port}}\", \"--bind\", \"127.0.0.1\"]\n    targets: {{ production: {{ listen: {} }} }}\n",
            free()
        )
    };
    let yaml = format!(
        "server: {{ listen: {}, data_dir: state }}\nenvironments:\n  - name: production\n    windows: {{ timezone: UTC, freeze: [{{ from: \"{from}\", to: \"{to}\", reason: test-freeze }}] }}\nservices:\n{}{}",
        free(),
        service("web"),
        service("api"),
    );
    let r = start_spec_on(dir.path(), yaml, clock.clone()).await;
    // web's deployment waits for the freeze to end: the controller looks
    // at it every tick (100 ms). api has nothing to do.
    let body = json!({ "service": "web", "environment": "production", "version": "1.0", "wait_for_window": true });
    let (s, d) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&r.admin_token),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    // Let the wake of the deploy pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (web, api) = (
        r.app.reconciles("web", "production"),
        r.app.reconciles("api", "production"),
    );
    assert!(api >= 1, "every target is reconciled at start: {api}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let busy = r.app.reconciles("web", "production") - web;
    let idle = r.app.reconciles("api", "production") - api;
    assert!(
        busy >= 5,
        "the held deployment's target: {busy} passes in 1.5 s"
    );
    assert_eq!(idle, 0, "the idle target was reconciled {idle} times");

    // The held one starts once the clock leaves the freeze.
    clock.advance(Duration::from_secs(7200));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, d) = call(&r, "GET", "/api/v1/deployments", Some(&r.admin_token), None).await;
        if d[0]["phase"] != "pending" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still pending: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.shutdown().await;
}
