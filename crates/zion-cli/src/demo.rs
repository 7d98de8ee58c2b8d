//! `zion demo`: a control plane on a temporary data dir and free ports, a
//! real demo service (this binary's hidden `demo-app`), steady load through
//! Zion's proxy, then three deployments: the first version, a good one
//! promoted through every step, and a faulty one that Zion rolls back on its
//! own. Every figure in the summary is measured during the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use zion_server::ServerOptions;

use crate::cli::{Global, Output};
use crate::client::Client;
use crate::exit::Failure;
use crate::wait;

const SERVICE: &str = "shop";
const ENV: &str = "demo";

/// What the load generator saw of one version.
#[derive(Debug, Default, Clone)]
struct Seen {
    ok: u64,
    errors: u64,
    first_error: Option<SystemTime>,
    last: Option<SystemTime>,
}

#[derive(Default)]
struct LoadStats {
    by_version: BTreeMap<String, Seen>,
    failed: u64,
}

pub async fn run(_g: &Global, rps: u32) -> Result<(), Failure> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("zion-demo-")
        .tempdir()
        .map_err(|e| Failure::negative(format!("cannot create a temporary directory: {e}")))?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::negative(format!("cannot find the zion binary: {e}")))?;
    let listen = free_port()?;
    let api = free_port()?;
    let yaml = spec_yaml(&exe.display().to_string(), api, listen);
    let spec = zion_core::spec::parse_spec(&yaml)
        .map_err(|e| Failure::negative(format!("the demo's own spec is invalid:\n{e}")))?;
    let mut opts = ServerOptions::new(spec, yaml, dir.path().to_path_buf());
    opts.stop_grace = Duration::from_secs(2);
    let running = zion_server::start(opts)
        .await
        .map_err(|e| Failure::negative(format!("cannot start the demo control plane: {e}")))?;
    println!(
        "Zion demo: control plane at http://{}, data in a temporary directory",
        running.api_addr
    );
    println!(
        "service `{SERVICE}` in `{ENV}`: 2 replicas per version, traffic through Zion's proxy at http://{listen}"
    );
    println!(
        "canary plan: 10% for 3s → 50% for 3s → 100%; analysis every 1s (error_rate ≤ 1%, p95 ≤ 1.2× stable, health ≥ 95%)\n"
    );
    let client = Client::with(
        format!("http://{}", running.api_addr),
        running.admin_token.clone(),
    );
    // Replicas run in their own process groups, so a Ctrl-C at the terminal
    // does not reach them: stop them ourselves before leaving.
    let result = tokio::select! {
        r = scenario(&client, listen, rps) => r,
        _ = tokio::signal::ctrl_c() => Err(Failure::negative("interrupted")),
    };
    println!("\nstopping the control plane and every replica…");
    running.shutdown().await;
    drop(dir);
    let outcome = result?;
    println!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    outcome
}

/// Runs the three deployments; the outer Result is a failure to run at all,
/// the inner one whether everything behaved.
async fn scenario(
    client: &Client,
    listen: SocketAddr,
    rps: u32,
) -> Result<Result<(), Failure>, Failure> {
    let mut problems = Vec::new();
    println!("1) first version 1.0.0: started, then given all traffic once healthy");
    let first = deploy(client, "1.0.0").await?;
    if first["phase"] != "succeeded" {
        problems.push(format!(
            "1.0.0 ended {} instead of succeeded",
            first["phase"]
        ));
    }

    // The route to 1.0.0 is set just after its success is recorded; start
    // the load once the proxy answers, so every figure below is about the
    // rollouts and not about the demo's own start.
    let http = reqwest::Client::new();
    for _ in 0..100 {
        match http.get(format!("http://{listen}/")).send().await {
            Ok(r) if r.status().is_success() => break,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let stats = Arc::new(Mutex::new(LoadStats::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(generate_load(listen, rps, stats.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("\n2) good version 1.1.0 as a canary, under {rps} requests/s of steady load");
    let good = deploy(client, "1.1.0").await?;
    if good["phase"] != "succeeded" {
        problems.push(format!(
            "1.1.0 ended {} instead of succeeded",
            good["phase"]
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "\n3) faulty version 1.2.0-faulty (30% errors, +40 ms): Zion should roll it back by itself"
    );
    let bad = deploy(client, "1.2.0-faulty").await?;
    if bad["phase"] != "rolled_back" {
        problems.push(format!(
            "1.2.0-faulty ended {} instead of rolled_back",
            bad["phase"]
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = load.await;

    let stats = stats.lock().expect("stats lock");
    println!("\nsummary");
    println!("  deployment  version        outcome      took    steps");
    for d in [&first, &good, &bad] {
        println!(
            "  #{:<10} {:<14} {:<12} {:>5.1}s  {}",
            d["id"],
            d["version"].as_str().unwrap_or(""),
            d["phase"].as_str().unwrap_or(""),
            took(d),
            steps_seen(d)
        );
    }
    println!("\n  traffic seen by the load generator (through Zion's proxy):");
    for (v, s) in &stats.by_version {
        let total = s.ok + s.errors;
        println!(
            "    {v:<14} {total:>6} responses, {:>5} errors ({:.1}%)",
            s.errors,
            if total > 0 {
                s.errors as f64 * 100.0 / total as f64
            } else {
                0.0
            }
        );
    }
    if stats.failed > 0 {
        println!("    {} requests got no response", stats.failed);
    }
    let faulty = stats
        .by_version
        .get("1.2.0-faulty")
        .cloned()
        .unwrap_or_default();
    let rollback_at = event_time(&bad, "rolling_back");
    match (faulty.first_error, rollback_at) {
        (Some(visible), Some(zero)) => {
            let secs = zero
                .duration_since(visible)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            println!(
                "\n  fault visible (first 5xx from 1.2.0-faulty) → canary weight 0: {secs:.2}s"
            );
            if let Some(last) = faulty.last {
                let drained = last
                    .duration_since(visible)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                println!("  fault visible → last response from 1.2.0-faulty: {drained:.2}s");
            }
            if let Some(reason) = event_reason(&bad, "rolling_back") {
                println!("  why: {reason}");
            }
        }
        _ => problems.push("the faulty version's errors or its rollback were not observed".into()),
    }
    let good_seen = stats.by_version.get("1.1.0").map(|s| s.ok).unwrap_or(0);
    if good_seen == 0 {
        problems.push("no request reached 1.1.0".into());
    }
    if problems.is_empty() {
        println!("\nall three deployments behaved as expected");
        Ok(Ok(()))
    } else {
        for p in &problems {
            println!("PROBLEM: {p}");
        }
        Ok(Err(Failure::negative(
            "the demo did not behave as expected",
        )))
    }
}

/// Deploys and follows to the end; returns the final deployment.
async fn deploy(client: &Client, version: &str) -> Result<Value, Failure> {
    let d = client
        .post(
            "/deployments",
            &json!({ "service": SERVICE, "environment": ENV, "version": version }),
        )
        .await?;
    let id = d["id"].as_i64().unwrap_or_default();
    // A rollback is an expected outcome here, not a failure of the demo.
    let _ = wait::follow(client, id, Output::Text).await;
    client.get(&format!("/deployments/{id}")).await
}

async fn generate_load(
    listen: SocketAddr,
    rps: u32,
    stats: Arc<Mutex<LoadStats>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default();
    let url = format!("http://{listen}/");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rps.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        let http = http.clone();
        let url = url.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let resp = http.get(&url).send().await;
            let now = SystemTime::now();
            let mut s = stats.lock().expect("stats lock");
            match resp {
                Ok(r) => {
                    let version = r
                        .headers()
                        .get("x-version")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("(no version)")
                        .to_string();
                    let seen = s.by_version.entry(version).or_default();
                    if r.status().is_server_error() {
                        seen.errors += 1;
                        seen.first_error.get_or_insert(now);
                    } else {
                        seen.ok += 1;
                    }
                    seen.last = Some(now);
                }
                Err(_) => s.failed += 1,
            }
        });
    }
}

fn took(d: &Value) -> f64 {
    let parse = |k: &str| {
        d[k].as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    match (parse("created_at"), parse("finished_at")) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    }
}

fn steps_seen(d: &Value) -> String {
    let mut weights: Vec<u64> = Vec::new();
    for e in d["events"].as_array().into_iter().flatten() {
        let w = e["canary_weight"].as_u64().unwrap_or(0);
        if e["step"].is_u64() && weights.last() != Some(&w) {
            weights.push(w);
        }
    }
    if weights.is_empty() {
        "direct".into()
    } else {
        weights
            .iter()
            .map(|w| format!("{w}%"))
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

fn event_time(d: &Value, phase: &str) -> Option<SystemTime> {
    d["events"]
        .as_array()?
        .iter()
        .find(|e| e["to_phase"] == phase)
        .and_then(|e| {
            e["at"]
                .as_str()?
                .parse::<jiff::Timestamp>()
                .ok()
                .map(SystemTime::from)
        })
}

fn event_reason(d: &Value, phase: &str) -> Option<String> {
    d["events"]
        .as_array()?
        .iter()
        .find(|e| e["to_phase"] == phase)
        .and_then(|e| e["reason"].as_str().map(String::from))
}

fn free_port() -> Result<SocketAddr, Failure> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Failure::negative(format!("no free port on 127.0.0.1: {e}")))?;
    l.local_addr().map_err(|e| Failure::negative(e.to_string()))
}

fn spec_yaml(exe: &str, api: SocketAddr, listen: SocketAddr) -> String {
    let exe = exe.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"server:
  listen: {api}
  data_dir: data
environments:
  - name: {ENV}
services:
  - name: {SERVICE}
    workload:
      process:
        command: ["{exe}", "demo-app", "--port", "{{port}}", "--version", "{{version}}",
                  "--fault", "1.2.0-faulty:errors=0.3,latency=40ms"]
        replicas: 2
    health:
      http: /healthz
      interval: 500ms
      timeout: 300ms
      start_timeout: 20s
    targets:
      {ENV}: {{ listen: {listen} }}
    strategy: canary
    canary:
      steps:
        - {{ weight: 10, pause: 3s }}
        - {{ weight: 50, pause: 3s }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: 10
"#
    )
}
