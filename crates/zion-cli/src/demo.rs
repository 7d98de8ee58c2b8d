//! `zion demo`: a control plane on a temporary data dir and free ports, a
//! real demo service (this binary's hidden `demo-app`), steady load through
//! Zion's proxy, then the deployments: the first version, a good one
//! promoted through every step (canary steps, a blue-green switch after the
//! preview passed, or rolling batches), for blue-green an instant rollback
//! to the old version still running, and a faulty one that Zion rolls back
//! on its own. Every figure in the summary is measured during the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use zion_core::api::{DeployRequest, DeploymentDetail, DeploymentView, RollbackRequest};
use zion_core::deployment::Phase;
use zion_server::ServerOptions;

use crate::cli::{Global, Output, StrategyArg};
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

/// Where the demo's traffic goes.
#[derive(Clone, Copy)]
struct Addrs {
    listen: SocketAddr,
    preview: Option<SocketAddr>,
}

pub async fn run(_g: &Global, rps: u32, strategy: StrategyArg) -> Result<(), Failure> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("zion-demo-")
        .tempdir()
        .map_err(|e| Failure::negative(format!("cannot create a temporary directory: {e}")))?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::negative(format!("cannot find the zion binary: {e}")))?;
    let listen = free_port()?;
    let api = free_port()?;
    let preview = match strategy {
        StrategyArg::BlueGreen => Some(free_port()?),
        _ => None,
    };
    let addrs = Addrs { listen, preview };
    let yaml = spec_yaml(&exe.display().to_string(), api, addrs, strategy);
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
    let replicas = if matches!(strategy, StrategyArg::Rolling) {
        3
    } else {
        2
    };
    println!(
        "service `{SERVICE}` in `{ENV}`: {replicas} replicas per version, traffic through Zion's proxy at http://{listen}"
    );
    let plan = match strategy {
        StrategyArg::Canary => "canary plan: 10% for 3s → 50% for 3s → 100%".to_string(),
        StrategyArg::BlueGreen => format!(
            "blue-green plan: the new version runs 2 replicas beside the old one; the preview listener http://{} serves it alone; promoted by itself 3s after it is ready if analysis passes; the old version is kept 20s",
            preview.map(|p| p.to_string()).unwrap_or_default()
        ),
        StrategyArg::Rolling => {
            "rolling plan: one replica of three at a time; traffic follows the healthy replicas"
                .to_string()
        }
    };
    println!("{plan}; analysis every 1s (error_rate ≤ 1%, p95 ≤ 1.2× stable, health ≥ 95%)\n");
    let client = Client::with(
        format!("http://{}", running.api_addr),
        running.admin_token.clone(),
    );
    // Replicas run in their own process groups, so a Ctrl-C at the terminal
    // does not reach them: stop them ourselves before leaving.
    let result = tokio::select! {
        r = scenario(&client, addrs, rps, strategy) => r,
        _ = tokio::signal::ctrl_c() => Err(Failure::negative("interrupted")),
        why = running.failed() => Err(Failure::negative(why)),
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
    addrs: Addrs,
    rps: u32,
    strategy: StrategyArg,
) -> Result<Result<(), Failure>, Failure> {
    let listen = addrs.listen;
    let mut problems = Vec::new();
    println!("1) first version 1.0.0: started, then given all traffic once healthy");
    let first = deploy(client, "1.0.0").await?;
    if first.deployment.phase != Phase::Succeeded {
        problems.push(ended(&first, "1.0.0", Phase::Succeeded));
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
    // Blue-green: testers (here, a quarter of the load) try the preview;
    // analysis judges the new version on that traffic.
    let preview_stats = Arc::new(Mutex::new(LoadStats::default()));
    let preview_load = addrs.preview.map(|p| {
        tokio::spawn(generate_load(
            p,
            (rps / 4).max(20),
            preview_stats.clone(),
            stop.clone(),
        ))
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let how = match strategy {
        StrategyArg::Canary => "as a canary",
        StrategyArg::BlueGreen => "blue-green, tried on the preview listener first",
        StrategyArg::Rolling => "in rolling batches",
    };
    println!("\n2) good version 1.1.0 {how}, under {rps} requests/s of steady load");
    let good = deploy(client, "1.1.0").await?;
    if good.deployment.phase != Phase::Succeeded {
        problems.push(ended(&good, "1.1.0", Phase::Succeeded));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut shown = vec![first.clone(), good.clone()];
    let mut step = 3;
    if matches!(strategy, StrategyArg::BlueGreen) {
        println!(
            "\n3) rollback to 1.0.0 while it still runs (inside scale_down_delay): only a switch back"
        );
        match instant_rollback(client, listen).await? {
            Ok((rollback, switch)) => {
                println!(
                    "   rollback command → first response from 1.0.0 on the listener: {:.1} ms",
                    switch.as_secs_f64() * 1000.0
                );
                if rollback.deployment.phase != Phase::Succeeded {
                    problems.push(ended(&rollback, "the rollback", Phase::Succeeded));
                }
                shown.push(rollback);
            }
            Err(p) => problems.push(p),
        }
        step += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "\n{step}) faulty version 1.2.0-faulty (30% errors, +40 ms): Zion should roll it back by itself"
    );
    let bad = deploy(client, "1.2.0-faulty").await?;
    if bad.deployment.phase != Phase::RolledBack {
        problems.push(ended(&bad, "1.2.0-faulty", Phase::RolledBack));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = load.await;
    if let Some(p) = preview_load {
        let _ = p.await;
    }
    shown.push(bad.clone());

    let stats = stats.lock().expect("stats lock");
    println!("\nsummary");
    // One layout for the heading and the rows, so the columns line up.
    let row = |id: &str, version: &str, outcome: &str, took: &str, steps: &str| {
        println!("  {id:<11} {version:<14} {outcome:<12} {took:>6}  {steps}");
    };
    row("deployment", "version", "outcome", "took", "steps");
    for d in &shown {
        let view = &d.deployment;
        row(
            &format!("#{}", view.id),
            &view.version,
            view.phase.name(),
            &format!("{:.1}s", took(view)),
            &steps_seen(d),
        );
    }
    println!("\n  traffic seen by the load generator (through Zion's proxy):");
    for (v, s) in &stats.by_version {
        let total = s.ok + s.errors;
        println!(
            "    {v:<14} {total:>6} {:<9}  {:>5} {:<6} ({:.1}%)",
            noun(total, "response", "responses"),
            s.errors,
            noun(s.errors, "error", "errors"),
            if total > 0 {
                s.errors as f64 * 100.0 / total as f64
            } else {
                0.0
            }
        );
    }
    if stats.failed > 0 {
        println!(
            "    {} got no response",
            crate::render::count(stats.failed, "request", "requests")
        );
    }
    if addrs.preview.is_some() {
        let preview = preview_stats.lock().expect("stats lock");
        println!("\n  traffic seen on the preview listener:");
        for (v, s) in &preview.by_version {
            let total = s.ok + s.errors;
            println!(
                "    {v:<14} {total:>6} {:<9}  {:>5} {}",
                noun(total, "response", "responses"),
                s.errors,
                noun(s.errors, "error", "errors")
            );
        }
    }
    let faulty_live = stats
        .by_version
        .get("1.2.0-faulty")
        .cloned()
        .unwrap_or_default();
    let faulty = if addrs.preview.is_some() {
        if faulty_live.ok + faulty_live.errors > 0 {
            problems.push(format!(
                "users on the main listener got {} from 1.2.0-faulty before any switch",
                crate::render::count(faulty_live.ok + faulty_live.errors, "response", "responses")
            ));
        } else {
            println!(
                "\n  users on the main listener never saw 1.2.0-faulty: it failed on the preview"
            );
        }
        preview_stats
            .lock()
            .expect("stats lock")
            .by_version
            .get("1.2.0-faulty")
            .cloned()
            .unwrap_or_default()
    } else {
        faulty_live
    };
    let rollback_at = event_time(&bad, Phase::RollingBack);
    match (faulty.first_error, rollback_at) {
        (Some(visible), Some(zero)) => {
            let secs = zero
                .duration_since(visible)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            println!(
                "\n  fault visible (first 5xx from 1.2.0-faulty) → rollback decided: {secs:.2}s"
            );
            if let Some(last) = faulty.last {
                let drained = last
                    .duration_since(visible)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                println!("  fault visible → last response from 1.2.0-faulty: {drained:.2}s");
            }
            if let Some(reason) = event_reason(&bad, Phase::RollingBack) {
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
        println!("\nall {} deployments behaved as expected", shown.len());
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

/// `zion rollback` while the old version still runs; returns the rollback
/// deployment and the time from sending the command to the first response
/// from the old version on the listener.
async fn instant_rollback(
    client: &Client,
    listen: SocketAddr,
) -> Result<Result<(DeploymentDetail, Duration), String>, Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let url = format!("http://{listen}/");
    let version = |r: &reqwest::Response| {
        r.headers()
            .get("x-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    // Warm the connection so the figure is about Zion, not a TCP handshake.
    let _ = http.get(&url).send().await;
    let sent = Instant::now();
    let body = RollbackRequest {
        service: SERVICE.into(),
        environment: ENV.into(),
        to: None,
        break_glass: None,
    };
    let d: DeploymentView = client.post_view("/rollback", &body).await?;
    let mut switched = None;
    while sent.elapsed() < Duration::from_secs(10) {
        if let Ok(r) = http.get(&url).send().await
            && version(&r).as_deref() == Some("1.0.0")
        {
            switched = Some(sent.elapsed());
            break;
        }
    }
    let id = d.id;
    let _ = wait::follow(client, id, Output::Text).await;
    let d = client.get_view(&format!("/deployments/{id}")).await?;
    Ok(match switched {
        Some(t) => Ok((d, t)),
        None => Err("the listener never answered from 1.0.0 after the rollback".to_string()),
    })
}

/// Deploys and follows to the end; returns the final deployment.
async fn deploy(client: &Client, version: &str) -> Result<DeploymentDetail, Failure> {
    let body = DeployRequest::new(SERVICE, ENV, version);
    let d: DeploymentView = client.post_view("/deployments", &body).await?;
    // A rollback is an expected outcome here, not a failure of the demo.
    let _ = wait::follow(client, d.id, Output::Text).await;
    client.get_view(&format!("/deployments/{}", d.id)).await
}

/// A deployment that ended otherwise than `expected`, in words (the phase
/// quoted, as the summary has always shown it).
fn ended(d: &DeploymentDetail, what: &str, expected: Phase) -> String {
    format!(
        "{what} ended \"{}\" instead of {expected}",
        d.deployment.phase
    )
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

fn took(d: &DeploymentView) -> f64 {
    match d.finished_at {
        Some(b) => b.duration_since(d.created_at).as_secs_f64(),
        None => 0.0,
    }
}

fn steps_seen(d: &DeploymentDetail) -> String {
    let mut weights: Vec<u8> = Vec::new();
    for e in &d.events {
        let w = e.canary_weight;
        if e.step.is_some() && weights.last() != Some(&w) {
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

fn event_time(d: &DeploymentDetail, phase: Phase) -> Option<SystemTime> {
    d.events
        .iter()
        .find(|e| e.to_phase == phase)
        .map(|e| SystemTime::from(e.at))
}

/// The noun for `n`, singular for one (columns keep their own numbers).
fn noun<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn event_reason(d: &DeploymentDetail, phase: Phase) -> Option<String> {
    d.events
        .iter()
        .find(|e| e.to_phase == phase)
        .map(|e| e.reason.clone())
}

fn free_port() -> Result<SocketAddr, Failure> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Failure::negative(format!("no free port on 127.0.0.1: {e}")))?;
    l.local_addr().map_err(|e| Failure::negative(e.to_string()))
}

fn spec_yaml(exe: &str, api: SocketAddr, addrs: Addrs, strategy: StrategyArg) -> String {
    let exe = exe.replace('\\', "\\\\").replace('"', "\\\"");
    let listen = addrs.listen;
    let target = match addrs.preview {
        Some(p) => format!("{{ listen: {listen}, preview: {p} }}"),
        None => format!("{{ listen: {listen} }}"),
    };
    let (name, replicas) = match strategy {
        StrategyArg::Canary => ("canary", 2),
        StrategyArg::BlueGreen => ("blue_green", 2),
        StrategyArg::Rolling => ("rolling", 3),
    };
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
        replicas: {replicas}
    health:
      http: /healthz
      interval: 500ms
      timeout: 300ms
      start_timeout: 20s
    targets:
      {ENV}: {target}
    strategy: {name}
    blue_green:
      auto_promotion: 3s
      scale_down_delay: 20s
    rolling:
      batch: 1
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
