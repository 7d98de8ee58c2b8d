//! The gRPC health probe against a real gRPC server (Python's grpcio and
//! its `grpc.health.v1` servicer): SERVING is healthy; NOT_SERVING, a
//! service the server does not know, nothing listening, something that
//! never answers, and a server that is not gRPC are not, each saying why.

use std::time::Duration;

use zion_core::spec::{HealthSpec, Probe, ProcessSpec};
use zion_providers::VersionStatus;

use crate::*;

/// The server, a fixture shared with the CLI's end-to-end tests.
pub const GRPC_SERVER_PY: &str = include_str!("../fixtures/grpc_health_server.py");

const SERVICE: &str = "zion.test.Web";

/// The gRPC server as a replica in `app/`, knowing `SERVICE`, with `args`
/// added (e.g. `--status NOT_SERVING`).
fn grpc_server(fx: &Fixture, args: &[&str]) -> ProcessSpec {
    std::fs::write(fx.path("app/grpc_health_server.py"), GRPC_SERVER_PY).unwrap();
    let mut command = vec![
        "python3",
        "grpc_health_server.py",
        "--port",
        "{port}",
        "--version",
        "{version}",
        "--service",
        SERVICE,
    ];
    command.extend_from_slice(args);
    process(&command, &[])
}

fn grpc(service: &str) -> HealthSpec {
    health(Probe::Grpc {
        service: service.into(),
    })
}

/// Waits until a probe of `k` fails for a reason containing `needle` (the
/// server takes a moment to start, refusing connections until then) and
/// returns its status and that reason.
async fn failing(
    fx: &Fixture,
    k: &zion_providers::VersionKey,
    needle: &str,
) -> (VersionStatus, String) {
    eventually(
        &format!("a probe of {k} failing with {needle}"),
        WAIT,
        || {
            let st = fx.workloads.status(k)?;
            let why = st.replicas[0].last_error.clone()?;
            (why.contains(needle) && st.consecutive_probe_failures > 0).then_some((st, why))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_is_healthy_and_not_serving_is_not_whenever_it_changes() {
    let fx = Fixture::new();
    let k = key("1.0");
    let flag = fx.path("status");
    let spec = grpc_server(&fx, &["--status-file", flag.to_str().unwrap()]);
    fx.workloads
        .ensure(&k, &spec, &grpc(SERVICE), 1)
        .await
        .unwrap();
    let st = ready(&fx.workloads, &k, 1).await;
    assert_eq!(st.replicas[0].last_error, None);
    assert_eq!(st.healthy_endpoints[0].port(), st.replicas[0].port);

    // The server turns NOT_SERVING while running: unhealthy, and says so.
    std::fs::write(&flag, "NOT_SERVING").unwrap();
    let (st, why) = failing(&fx, &k, "NOT_SERVING").await;
    assert_eq!(st.ready, 0);
    assert!(st.healthy_endpoints.is_empty());
    assert!(
        why.contains(&format!("gRPC health Check of `{SERVICE}`"))
            && why.contains("answered NOT_SERVING (2), not SERVING"),
        "{why}"
    );

    // UNKNOWN is not SERVING either.
    std::fs::write(&flag, "UNKNOWN").unwrap();
    eventually("UNKNOWN reported", WAIT, || {
        fx.workloads.status(&k)?.replicas[0]
            .last_error
            .clone()
            .filter(|e| e.contains("answered UNKNOWN (0)"))
    })
    .await;

    // And back: healthy again.
    std::fs::write(&flag, "SERVING").unwrap();
    let st = ready(&fx.workloads, &k, 1).await;
    assert_eq!(st.consecutive_probe_failures, 0);
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overall_health_is_asked_with_an_empty_service() {
    let fx = Fixture::new();
    let (good, bad) = (key("2.0"), key("2.1"));
    fx.workloads
        .ensure(&good, &grpc_server(&fx, &[]), &grpc(""), 1)
        .await
        .unwrap();
    fx.workloads
        .ensure(
            &bad,
            &grpc_server(&fx, &["--status", "NOT_SERVING"]),
            &grpc(""),
            1,
        )
        .await
        .unwrap();
    ready(&fx.workloads, &good, 1).await;
    let (st, why) = failing(&fx, &bad, "answered").await;
    assert!(!st.ever_ready);
    assert!(
        why.contains("gRPC health Check (overall)") && why.contains("NOT_SERVING"),
        "{why}"
    );
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_the_server_does_not_know_is_not_found() {
    let fx = Fixture::new();
    let k = key("3.0");
    fx.workloads
        .ensure(&k, &grpc_server(&fx, &[]), &grpc("zion.test.Nobody"), 1)
        .await
        .unwrap();
    let (st, why) = failing(&fx, &k, "grpc-status").await;
    assert!(!st.ever_ready);
    assert!(
        why.contains("gRPC health Check of `zion.test.Nobody`")
            && why.contains("grpc-status 5 NOT_FOUND")
            && why.contains("check health.grpc.service"),
        "{why}"
    );
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_silence_and_plain_http_are_unhealthy() {
    let fx = Fixture::new();
    let (nothing, silent, http) = (key("4.0"), key("4.1"), key("4.2"));
    fx.workloads
        .ensure(&nothing, &process(&["sleep", "60"], &[]), &grpc(""), 1)
        .await
        .unwrap();
    // Accepts connections and never says a word.
    let mute = process(
        &[
            "python3",
            "-c",
            "import socket, sys, time\n\
             s = socket.socket()\n\
             s.bind(('127.0.0.1', int(sys.argv[1])))\n\
             s.listen()\n\
             while True: time.sleep(60)",
            "{port}",
        ],
        &[],
    );
    let mut short = grpc("");
    short.timeout = Duration::from_millis(300);
    fx.workloads
        .ensure(&silent, &mute, &short, 1)
        .await
        .unwrap();
    // An HTTP/1.1 server, not a gRPC one.
    fx.workloads
        .ensure(&http, &server(&[]), &grpc(""), 1)
        .await
        .unwrap();

    let (_, why) = failing(&fx, &nothing, "connect").await;
    assert!(
        why.contains("connect to port") && why.contains("refused"),
        "{why}"
    );
    let (_, why) = failing(&fx, &silent, "timed out").await;
    assert!(why.contains("timed out after 300ms"), "{why}");
    let (st, why) = failing(&fx, &http, "cleartext HTTP/2").await;
    assert!(!st.ever_ready);
    assert!(why.contains("gRPC health Check (overall)"), "{why}");
    fx.workloads.stop_all().await;
}
