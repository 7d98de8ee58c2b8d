//! HTTP, TCP and exec probes, failure counting and the health share.

use std::time::{Duration, SystemTime};

use zion_core::spec::Probe;
use zion_providers::ReplicaState;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probe_follows_the_health_endpoint_and_counts_consecutive_failures() {
    let fx = Fixture::new();
    let k = key("1.0.0");
    let flag = fx.path("healthy");
    let spec = server(&[("HEALTHY_IF_FILE", flag.to_str().unwrap())]);
    fx.workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();

    // Listening but answering 503: failures pile up, nothing is ready.
    let st = eventually("three failed probes", WAIT, || {
        fx.workloads
            .status(&k)
            .filter(|s| s.consecutive_probe_failures >= 3)
    })
    .await;
    assert_eq!(st.ready, 0);
    assert!(!st.ever_ready);
    assert!(st.healthy_endpoints.is_empty());
    assert_eq!(st.replicas[0].state, ReplicaState::Starting);
    let err = eventually("a 503 reported", WAIT, || {
        fx.workloads.status(&k)?.replicas[0]
            .last_error
            .clone()
            .filter(|e| e.contains("503"))
    })
    .await;
    assert!(err.contains("/healthz"), "{err}");

    std::fs::write(&flag, "").unwrap();
    let st = ready(&fx.workloads, &k, 1).await;
    assert_eq!(st.consecutive_probe_failures, 0, "a pass resets the count");
    assert!(st.ever_ready);
    assert_eq!(st.replicas[0].state, ReplicaState::Running);
    assert_eq!(st.replicas[0].last_error, None);
    assert_eq!(st.healthy_endpoints[0].port(), st.replicas[0].port);

    std::fs::remove_file(&flag).unwrap();
    let st = eventually("failures after turning unhealthy", WAIT, || {
        fx.workloads
            .status(&k)
            .filter(|s| s.consecutive_probe_failures >= 2)
    })
    .await;
    assert_eq!(st.ready, 0);
    assert!(st.ever_ready, "it was ready once");
    assert!(st.healthy_endpoints.is_empty());
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_probe_passes_only_when_something_listens() {
    let fx = Fixture::new();
    let (up, down) = (key("listening"), key("silent"));
    fx.workloads
        .ensure(&up, &server(&[]), &health(Probe::Tcp), 1)
        .await
        .unwrap();
    fx.workloads
        .ensure(
            &down,
            &process(&["sleep", "60"], &[]),
            &health(Probe::Tcp),
            1,
        )
        .await
        .unwrap();

    let st = ready(&fx.workloads, &up, 1).await;
    assert!(st.ever_ready);
    let st = eventually("silent replica fails three probes", WAIT, || {
        fx.workloads
            .status(&down)
            .filter(|s| s.consecutive_probe_failures >= 3)
    })
    .await;
    assert_eq!(st.ready, 0);
    assert!(!st.ever_ready);
    let err = st.replicas[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("TCP"), "{err}");
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_probe_gets_substitutions_and_judges_by_exit_status() {
    let fx = Fixture::new();
    let spec = process(&["sleep", "60"], &[("MARK", "m1")]);
    // Passes only if {port}/{version} were substituted, PORT/ZION_VERSION and
    // the spec's env are set, and it runs in the replica's folder.
    let checks = Probe::Exec(
        [
            "sh",
            "-c",
            "test \"$PORT\" = \"$1\" && test \"$ZION_VERSION\" = \"$2\" && test \"$MARK\" = m1 && test -f server.py",
            "probe",
            "{port}",
            "{version}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    let (good, bad, slow) = (key("5.1"), key("5.2"), key("5.3"));
    fx.workloads
        .ensure(&good, &spec, &health(checks), 1)
        .await
        .unwrap();
    fx.workloads
        .ensure(&bad, &spec, &health(Probe::Exec(vec!["false".into()])), 1)
        .await
        .unwrap();
    let mut slow_health = health(Probe::Exec(vec!["sleep".into(), "30".into()]));
    slow_health.timeout = Duration::from_millis(300);
    fx.workloads
        .ensure(&slow, &spec, &slow_health, 1)
        .await
        .unwrap();

    let st = ready(&fx.workloads, &good, 1).await;
    assert!(st.ever_ready);

    let st = eventually("exit status 1 fails", WAIT, || {
        fx.workloads
            .status(&bad)
            .filter(|s| s.consecutive_probe_failures >= 3)
    })
    .await;
    assert_eq!(st.ready, 0);
    let err = st.replicas[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("false"), "{err}");

    let st = eventually("a hanging probe times out", WAIT, || {
        fx.workloads
            .status(&slow)
            .filter(|s| s.consecutive_probe_failures >= 2)
    })
    .await;
    assert_eq!(st.ready, 0);
    let err = st.replicas[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("timed out"), "{err}");
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_share_is_the_share_of_passing_probes_since_a_time() {
    let fx = Fixture::new();
    let (good, bad) = (key("good"), key("bad"));
    let started = SystemTime::now();
    fx.workloads
        .ensure(&good, &server(&[]), &http_health(), 2)
        .await
        .unwrap();
    fx.workloads
        .ensure(&bad, &server(&[("FAIL_HEALTH", "1")]), &http_health(), 1)
        .await
        .unwrap();
    assert_eq!(fx.workloads.health_share(&key("unknown"), started), None);

    ready(&fx.workloads, &good, 2).await;
    let since_ready = SystemTime::now();
    assert_eq!(
        fx.workloads
            .health_share(&good, since_ready + Duration::from_secs(3600)),
        None
    );
    let share = eventually("probes after readiness", WAIT, || {
        fx.workloads.health_share(&good, since_ready)
    })
    .await;
    assert_eq!(share, 1.0);
    let overall = fx.workloads.health_share(&good, started).unwrap();
    assert!(overall > 0.0 && overall <= 1.0, "{overall}");

    eventually("failing probes of the bad version", WAIT, || {
        fx.workloads
            .status(&bad)
            .filter(|s| s.consecutive_probe_failures >= 3)
    })
    .await;
    assert_eq!(fx.workloads.health_share(&bad, started), Some(0.0));
    fx.workloads.stop_all().await;
}
