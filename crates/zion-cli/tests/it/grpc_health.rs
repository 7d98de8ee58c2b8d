//! A service of real gRPC servers (Python's grpcio, the fixture the
//! providers' tests use) probed with `health: { grpc: … }`: a version that
//! reports NOT_SERVING never gets traffic and fails with the probe's reason,
//! one that turns NOT_SERVING mid-canary is rolled back by its failed
//! probes, and versions that report SERVING are promoted. Only probing is
//! exercised: no request goes through the target's listener.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const SERVER_PY: &str =
    include_str!("../../../zion-providers/tests/fixtures/grpc_health_server.py");

fn grpc_spec(api: std::net::SocketAddr, target: std::net::SocketAddr) -> String {
    // Each version reads its status from `status-<version>` while that file
    // exists, SERVING otherwise.
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: [python3, grpc_health_server.py, --port, "{{port}}", --version, "{{version}}", --service, zion.test.Web, --status-file, "status-{{version}}"]
        replicas: 1
    health:
      grpc: {{ service: zion.test.Web }}
      interval: 300ms
      timeout: 250ms
      start_timeout: 8s
    targets:
      staging: {{ listen: {target} }}
    canary:
      steps:
        - {{ weight: 50, pause: 3s }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 1
      min_requests: 0
      checks:
        - {{ metric: health, min: 0.95 }}
"#
    )
}

fn deploy(p: &Project, version: &str) -> i64 {
    let d = p.json(&["deploy", "web", version, "--env", "staging"]);
    d["id"].as_i64().unwrap_or_else(|| panic!("{d}"))
}

fn settled(p: &Project, id: i64) -> Value {
    p.wait_for(id, Duration::from_secs(60), "the deployment to end", |d| {
        ["succeeded", "rolled_back", "failed"].contains(&d["phase"].as_str().unwrap_or(""))
    })
}

#[test]
fn a_version_reporting_not_serving_is_never_promoted() {
    let mut p = Project::with_spec(grpc_spec);
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("grpc_health_server.py"), SERVER_PY).unwrap();
    p.start();
    let first = settled(&p, deploy(&p, "1.0"));
    assert_eq!(first["phase"], "succeeded", "{first}\n{}", p.log());

    // 2.0 starts and answers, but NOT_SERVING: it never becomes healthy,
    // so no traffic moves, and the reason is the probe's.
    std::fs::write(dir.join("status-2.0"), "NOT_SERVING").unwrap();
    let d = settled(&p, deploy(&p, "2.0"));
    assert_eq!(d["phase"], "failed", "{d}\n{}", p.log());
    let why = d["reason"].as_str().unwrap();
    assert!(
        why.contains("2.0 did not become healthy within 8s")
            && why.contains("gRPC health Check of `zion.test.Web`: answered NOT_SERVING (2)")
            && why.contains("no traffic was moved"),
        "{why}"
    );
    for e in d["events"].as_array().unwrap() {
        assert_eq!(e["canary_weight"], 0, "{d}");
    }
    assert_eq!(p.target_status()["stable_version"], "1.0");

    // 3.0 is SERVING at first, then turns NOT_SERVING at 50%: its failed
    // probes in a row roll it back at once.
    let id = deploy(&p, "3.0");
    p.wait_for(id, Duration::from_secs(30), "3.0 at 50%", |d| {
        d["canary_weight"] == 50
    });
    std::fs::write(dir.join("status-3.0"), "NOT_SERVING").unwrap();
    let d = settled(&p, id);
    assert_eq!(d["phase"], "rolled_back", "{d}\n{}", p.log());
    let why = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "rolling_back")
        .and_then(|e| e["reason"].as_str())
        .unwrap_or_else(|| panic!("no rollback event: {d}"));
    assert!(
        why.contains("3.0 failed") && why.contains("consecutive health checks"),
        "{why}"
    );
    assert_eq!(p.target_status()["stable_version"], "1.0");

    // 4.0 stays SERVING: promoted.
    let d = settled(&p, deploy(&p, "4.0"));
    assert_eq!(d["phase"], "succeeded", "{d}\n{}", p.log());
    assert_eq!(p.target_status()["stable_version"], "4.0");
}
