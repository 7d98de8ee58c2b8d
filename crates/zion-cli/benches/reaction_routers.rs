//! Reaction time through each router, in one run: from a canary starting
//! to fail (50% errors) to its weight 0, with a 1 s analysis interval and
//! one check on the error rate.
//!
//! - **built-in**: Zion's own proxy, judged on what it measured (the
//!   baseline);
//! - **HAProxy, statistics**: weights through its Runtime API, judged on
//!   its per-server statistics, read once a second;
//! - **HAProxy, request log**: the same, judged on each request's line
//!   HAProxy sends Zion over syslog;
//! - **nginx, access log**: weights by an upstream include and a reload,
//!   judged on nginx's JSON access log, which Zion tails;
//! - **nginx, Prometheus**: the same routing, judged on a Prometheus query
//!   over the replicas' own `/metrics`, scraped every second (the replicas
//!   found through Zion's `GET /api/v1/sd/replicas`).
//!
//! Each run starts a control plane in-process and real demo-app replicas;
//! HAProxy, nginx and Prometheus are Debian's packages, started here in the
//! foreground on free ports under a temporary directory. The canary turns
//! faulty 3.1–3.9 s after it starts (a different phase of the one-second
//! cycles in each run). "Fault visible" is the first 5xx the load
//! generator receives from the canary; "weight 0" is the recorded
//! `rolling_back` transition.
//! Run: `cargo bench -p zion-cli --bench reaction_routers`.

mod support;
use support::{engines, free, wait_phase};

use std::net::SocketAddr;

const RUNS: usize = 5;
const ZION: &str = env!("CARGO_BIN_EXE_zion");

/// Where the target's traffic goes through, and what judges it.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    Builtin,
    HaproxyStats,
    HaproxyLog,
    NginxLog,
    NginxPrometheus,
}

impl Path {
    const ALL: [Path; 5] = [
        Path::Builtin,
        Path::HaproxyStats,
        Path::HaproxyLog,
        Path::NginxLog,
        Path::NginxPrometheus,
    ];

    fn name(self) -> &'static str {
        match self {
            Path::Builtin => "built-in proxy, its own metrics",
            Path::HaproxyStats => "HAProxy, its statistics",
            Path::HaproxyLog => "HAProxy, its request log",
            Path::NginxLog => "nginx, its access log",
            Path::NginxPrometheus => "nginx, Prometheus (1 s scrape)",
        }
    }
}

/// The share of the new version's answers that were 5xx over the last 3 s,
/// from the replicas' own counters (`demo_app_requests_total`): empty (so
/// inconclusive) until the canary has answered.
const ERROR_RATIO: &str = r#"sum(increase(demo_app_requests_total{version="{{version}}",code="5xx"}[3s])) / sum(increase(demo_app_requests_total{version="{{version}}"}[3s]))"#;

/// Where the bench's engines listen.
struct Ports {
    api: SocketAddr,
    target: SocketAddr,
    prometheus: SocketAddr,
    syslog: SocketAddr,
}

fn spec(p: &Ports, path: Path, after_ms: u64) -> String {
    let Ports {
        api,
        target,
        prometheus: prom,
        syslog,
    } = p;
    let error_rate = "[ { metric: error_rate, max: 0.01 } ]".to_owned();
    let (providers, route, checks, min_requests) = match path {
        Path::Builtin => (
            String::new(),
            format!("{{ listen: {target} }}"),
            error_rate.clone(),
            10,
        ),
        Path::HaproxyStats => (
            "providers: { edge: { haproxy: { socket: admin.sock } } }\n".to_owned(),
            "{ haproxy: { provider: edge, backend: web } }".to_owned(),
            error_rate,
            10,
        ),
        Path::HaproxyLog => (
            format!("providers: {{ edge: {{ haproxy: {{ socket: admin.sock, syslog: \"{syslog}\" }} }} }}\n"),
            "{ haproxy: { provider: edge, backend: web } }".to_owned(),
            error_rate,
            10,
        ),
        Path::NginxLog => (
            "providers: { edge: { nginx: { config: nginx.conf } } }\n".to_owned(),
            "{ nginx: { provider: edge, upstream: web, include: up/web.conf, access_log: web.json } }".to_owned(),
            error_rate,
            10,
        ),
        // Judged on Prometheus alone: no access log, so Zion counts no
        // requests of its own (and `min_requests` is 0).
        Path::NginxPrometheus => (
            format!(
                "providers:\n  edge: {{ nginx: {{ config: nginx.conf }} }}\n  prom: {{ prometheus: {{ url: \"http://{prom}\", timeout: 900ms }} }}\n"
            ),
            "{ nginx: { provider: edge, upstream: web, include: up/web.conf } }".to_owned(),
            format!(
                "[ {{ name: errors, prometheus: {{ provider: prom, query: '{ERROR_RATIO}' }}, max: 0.01 }} ]"
            ),
            0,
        ),
    };
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
    targets: {{ bench: {route} }}
    canary: {{ steps: [ {{ weight: 20, pause: 5m }}, {{ weight: 100 }} ] }}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: {min_requests}
      checks: {checks}
"#
    )
}

/// A UDP port free on 127.0.0.1 now.
fn free_udp() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Seconds from the fault becoming visible to the recorded rollback.
async fn one_run(path: Path, after_ms: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ports = Ports {
        api: free(),
        target: free(),
        prometheus: free(),
        syslog: free_udp(),
    };
    let target = ports.target;
    let router: Option<Box<dyn Send>> = match path {
        Path::Builtin => None,
        Path::HaproxyStats => Some(Box::new(engines::haproxy(d, target, None))),
        Path::HaproxyLog => Some(Box::new(engines::haproxy(d, target, Some(ports.syslog)))),
        Path::NginxLog => Some(Box::new(engines::nginx(d, target, true))),
        Path::NginxPrometheus => Some(Box::new(engines::nginx(d, target, false))),
    };
    let yaml = spec(&ports, path, after_ms);
    let (running, client) = support::start_with_stable(yaml, d).await;
    let _prometheus = (path == Path::NginxPrometheus)
        .then(|| engines::prometheus(d, ports.prometheus, ports.api, &running.admin_token));

    let load = support::Load::start(target);
    let id = support::deploy(&client, "2.0").await;
    let d = wait_phase(&client, id, &["rolled_back", "succeeded", "failed"]).await;
    let seen = load.stop().await;
    running.shutdown().await;
    drop(router);
    assert_eq!(
        d["phase"],
        "rolled_back",
        "{}: not rolled back: {d}",
        path.name()
    );
    let visible = seen.first_error.expect("no 5xx seen from the canary");
    support::secs(visible, support::rolled_back_at(&d))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); Path::ALL.len()];
    for run in 1..=RUNS {
        let after_ms = 3000 + (run as u64 - 1) * 1000 / RUNS as u64 + 100;
        let mut line = format!("run {run}: fault visible → weight 0:");
        for (i, path) in Path::ALL.into_iter().enumerate() {
            let s = rt.block_on(one_run(path, after_ms));
            line.push_str(&format!(" {} {s:.2}s;", path.name()));
            figures[i].push(s);
        }
        println!("{}", line.trim_end_matches(';'));
    }
    for v in &mut figures {
        v.sort_by(f64::total_cmp);
    }
    let median = |v: &[f64]| v[v.len() / 2];
    let baseline = median(&figures[0]).max(1e-6);
    println!(
        "reaction, fault visible → weight 0 (1 s analysis interval, 50% errors, failure_limit 2, {RUNS} runs of each)"
    );
    for (path, v) in Path::ALL.into_iter().zip(&figures) {
        println!(
            "  {:<34} median {:.2}s (min {:.2}s, max {:.2}s): {:.2}× the built-in path",
            path.name(),
            median(v),
            v[0],
            v[v.len() - 1],
            median(v) / baseline
        );
    }
}
