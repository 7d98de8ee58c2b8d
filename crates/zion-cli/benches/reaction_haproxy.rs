//! Reaction time through HAProxy: from a canary starting to fail (50%
//! errors) to its weight 0, judged on HAProxy's statistics and on its
//! request log sent to Zion over syslog, beside the same canary through the
//! built-in proxy measured in the same run (the baseline). All judge one
//! check, `error_rate max 0.01`, every second (HAProxy's statistics carry
//! no latency, so every run judges the same check only).
//!
//! Each run starts a control plane in-process and real demo-app replicas;
//! the HAProxy runs start their own `haproxy` (Debian's package) in the
//! foreground on free ports. The canary turns faulty 3.1–3.9 s after it
//! starts (a different phase of the one-second cycles in each run).
//! "Fault visible" is the first 5xx the load generator receives from the
//! canary; "weight 0" is the recorded `rolling_back` transition.
//! Run: `cargo bench -p zion-cli --bench reaction_haproxy`.

mod support;
use support::{free, wait_phase};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;

const RUNS: usize = 5;
const ZION: &str = env!("CARGO_BIN_EXE_zion");

/// Where the target's traffic goes through.
#[derive(Clone, Copy, PartialEq)]
enum Router {
    Builtin,
    Haproxy,
    /// HAProxy sending each request's log line to Zion.
    HaproxyLog,
}

fn spec(api: SocketAddr, target: &str, providers: &str, after_ms: u64) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
{providers}environments: [ {{ name: bench }} ]
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}", "--fault", "2.0:errors=0.5,after={after_ms}ms"]
        replicas: 2
    health: {{ http: /healthz, interval: 200ms, timeout: 150ms }}
    targets: {{ bench: {target} }}
    canary: {{ steps: [ {{ weight: 20, pause: 5m }}, {{ weight: 100 }} ] }}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: 10
      checks: [ {{ metric: error_rate, max: 0.01 }} ]
"#
    )
}

/// An HAProxy with one frontend and the backend `web`.
struct Haproxy(Child);

impl Haproxy {
    fn start(dir: &Path, frontend: SocketAddr, syslog: Option<SocketAddr>) -> Haproxy {
        let socket = dir.join("admin.sock");
        let log = syslog
            .map(|a| format!("  log {a} local0\n  log-format \"%b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST\"\n"))
            .unwrap_or_default();
        let cfg = format!(
            "global\n  stats socket {} level admin\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n{log}\
             frontend fe\n  bind {frontend}\n  default_backend web\n\
             backend web\n  balance roundrobin\n",
            socket.display()
        );
        std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
        let program = std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("haproxy"))
                    .find(|p| p.is_file())
            })
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"));
        let child = Command::new(program)
            .arg("-f")
            .arg(dir.join("haproxy.cfg"))
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy must be installed (apt-get install haproxy)");
        while !socket.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Haproxy(child)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Seconds from the fault becoming visible to the recorded rollback.
async fn one_run(router: Router, after_ms: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (api, target) = (free(), free());
    let (yaml, _haproxy) = match router {
        Router::Builtin => (
            spec(api, &format!("{{ listen: {target} }}"), "", after_ms),
            None,
        ),
        Router::Haproxy => (
            spec(
                api,
                "{ haproxy: { provider: edge, backend: web } }",
                "providers: { edge: { haproxy: { socket: admin.sock } } }\n",
                after_ms,
            ),
            Some(Haproxy::start(dir.path(), target, None)),
        ),
        Router::HaproxyLog => {
            let syslog = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            (
                spec(
                    api,
                    "{ haproxy: { provider: edge, backend: web } }",
                    &format!(
                        "providers: {{ edge: {{ haproxy: {{ socket: admin.sock, syslog: \"{syslog}\" }} }} }}\n"
                    ),
                    after_ms,
                ),
                Some(Haproxy::start(dir.path(), target, Some(syslog))),
            )
        }
    };
    let (running, client) = support::start_with_stable(yaml, dir.path()).await;

    let first_error: Arc<Mutex<Option<SystemTime>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (first_error, stop) = (first_error.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let (http, first_error) = (http.clone(), first_error.clone());
                tokio::spawn(async move {
                    if let Ok(r) = http.get(format!("http://{target}/")).send().await {
                        let now = SystemTime::now();
                        if r.headers().get("x-version").is_some_and(|v| v == "2.0")
                            && r.status().is_server_error()
                        {
                            first_error.lock().unwrap().get_or_insert(now);
                        }
                    }
                });
            }
        })
    };
    let d = client
        .post(
            "/deployments",
            &json!({"service": "web", "environment": "bench", "version": "2.0"}),
        )
        .await
        .unwrap();
    let id = d["id"].as_i64().unwrap();
    let d = wait_phase(&client, id, &["rolled_back", "succeeded", "failed"]).await;
    stop.store(true, Ordering::Relaxed);
    let _ = load.await;
    running.shutdown().await;
    assert_eq!(d["phase"], "rolled_back", "not rolled back: {d}");
    let rollback: SystemTime = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "rolling_back")
        .and_then(|e| e["at"].as_str()?.parse::<jiff::Timestamp>().ok())
        .map(SystemTime::from)
        .unwrap();
    let visible = first_error
        .lock()
        .unwrap()
        .expect("no 5xx seen from the canary");
    rollback
        .duration_since(visible)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut builtin = Vec::new();
    let mut haproxy = Vec::new();
    let mut logged = Vec::new();
    for run in 1..=RUNS {
        let after_ms = 3000 + (run as u64 - 1) * 1000 / RUNS as u64 + 100;
        let b = rt.block_on(one_run(Router::Builtin, after_ms));
        let h = rt.block_on(one_run(Router::Haproxy, after_ms));
        let l = rt.block_on(one_run(Router::HaproxyLog, after_ms));
        println!(
            "run {run}: fault visible → weight 0: built-in {b:.2}s, HAProxy statistics {h:.2}s, HAProxy request log {l:.2}s"
        );
        builtin.push(b);
        haproxy.push(h);
        logged.push(l);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mb, mh, ml) = (
        median(&mut builtin),
        median(&mut haproxy),
        median(&mut logged),
    );
    println!("reaction through HAProxy (1 s analysis interval, 50% errors, {RUNS} runs of each)");
    println!(
        "  median to weight 0: HAProxy {mh:.2}s (max {:.2}s), built-in {mb:.2}s (max {:.2}s): {:.2}× the built-in path",
        haproxy.iter().copied().fold(0.0, f64::max),
        builtin.iter().copied().fold(0.0, f64::max),
        mh / mb.max(1e-6)
    );
    println!(
        "  median to weight 0 on HAProxy's request log: {ml:.2}s (max {:.2}s): {:.2}× the built-in path",
        logged.iter().copied().fold(0.0, f64::max),
        ml / mb.max(1e-6)
    );
}
