//! A gRPC service rolled out through the built-in proxy over HTTP/2: clients
//! call it with prior knowledge, the proxy reaches the replicas over h2c
//! (`upstream_protocol: h2c`), a good version is promoted, and one whose
//! calls fail with UNAVAILABLE (HTTP 200, `grpc-status: 14` in the
//! trailers) is rolled back by the error_rate check.
//!
//! The service and its client are Python's grpcio (scripts/test.sh installs
//! it), so the calls are a real gRPC stack's, not the proxy's own idea of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// A unary method `/zion.test.Echo/Call` answering its version's name, or
/// failing with UNAVAILABLE when its version is listed after it.
const SERVER: &str = r#"import sys
from concurrent import futures
import grpc

port, version, failing = sys.argv[1], sys.argv[2], sys.argv[3:]

def call(request, context):
    if version in failing:
        context.abort(grpc.StatusCode.UNAVAILABLE, "version %s is failing" % version)
    return ("from " + version).encode()

handler = grpc.method_handlers_generic_handler(
    "zion.test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port("127.0.0.1:" + port)
server.start()
server.wait_for_termination()
"#;

/// Calls the method through `target` until `stop` exists (and at least 20
/// times), then prints how often each answer (or each failure's status
/// code) came, as JSON.
const CLIENT: &str = r#"import json, os, sys, time
import grpc

target, stop = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
call = channel.unary_unary("/zion.test.Echo/Call")
seen = {}
calls = 0
while calls < 20 or not os.path.exists(stop):
    calls += 1
    try:
        key = call(b"", timeout=5).decode()
    except grpc.RpcError as e:
        key = e.code().name
    seen[key] = seen.get(key, 0) + 1
    time.sleep(0.005)
print(json.dumps(seen))
"#;

fn grpc_spec(api: std::net::SocketAddr, target: std::net::SocketAddr) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: ["python3", "server.py", "{{port}}", "{{version}}", "3.0"]
        replicas: 2
    health: {{ tcp: true, interval: 300ms, timeout: 250ms, start_timeout: 30s }}
    targets:
      staging: {{ listen: {target}, upstream_protocol: h2c }}
    canary:
      steps:
        - {{ weight: 30, pause: 2s }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: 5
      checks:
        - {{ metric: error_rate, max: 0.01 }}
"#
    )
}

/// gRPC calls through the target from a Python client, in the background.
struct Calls {
    child: Child,
    stop: PathBuf,
}

impl Calls {
    fn start(dir: &Path, target: std::net::SocketAddr, name: &str) -> Calls {
        let stop = dir.join(format!("{name}.stop"));
        let child = Command::new("python3")
            .arg(dir.join("client.py"))
            .arg(target.to_string())
            .arg(&stop)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Calls { child, stop }
    }

    /// Stops the calls: answer (`from <version>`) or status code → count.
    fn finish(self) -> BTreeMap<String, u64> {
        std::fs::write(&self.stop, "").unwrap();
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
    }
}

#[test]
fn a_grpc_version_failing_its_calls_is_rolled_back_and_a_good_one_promoted() {
    let mut p = Project::with_spec(grpc_spec);
    std::fs::write(p.dir.path().join("server.py"), SERVER).unwrap();
    std::fs::write(p.dir.path().join("client.py"), CLIENT).unwrap();
    p.start();

    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());

    // A good version under gRPC traffic: promoted, no call failed.
    let calls = Calls::start(p.dir.path(), p.target, "good");
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    std::thread::sleep(Duration::from_millis(300));
    let seen = calls.finish();
    assert!(seen.get("from 1.0").is_some_and(|n| *n > 0), "{seen:?}");
    assert!(seen.get("from 2.0").is_some_and(|n| *n > 0), "{seen:?}");
    assert!(
        seen.keys().all(|k| k.starts_with("from ")),
        "calls failed during a good rollout: {seen:?}"
    );

    // A version whose calls fail with UNAVAILABLE: HTTP 200 every time,
    // yet its version's errors, so it is rolled back.
    let calls = Calls::start(p.dir.path(), p.target, "bad");
    let out = p.zion(&["deploy", "web", "3.0", "--env", "staging", "--wait"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        describe(&out),
        p.log()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rolled_back"),
        "{}",
        describe(&out)
    );
    let seen = calls.finish();
    assert!(
        seen.get("UNAVAILABLE").is_some_and(|n| *n > 0),
        "the failing version got no calls: {seen:?}"
    );
    assert_eq!(p.target_status()["stable_version"], "2.0");
    // Stable serves every call again.
    let seen = Calls::start(p.dir.path(), p.target, "after").finish();
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["from 2.0"], "{seen:?}");
}
