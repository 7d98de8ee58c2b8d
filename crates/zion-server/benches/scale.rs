//! One controller, many targets: 10,000 targets on simulated workloads and
//! traffic (`zion_server::simulated`: versions in memory, requests recorded
//! into each target's metrics), 1,000 of them progressing canaries with a
//! 10 s analysis interval, on SQLite (a file, its configured synchronous
//! mode) and on PostgreSQL (a throwaway cluster with its durable defaults).
//! The controller, the core, the store and the journal run as in `zion up`.
//!
//! For each case it prints the resident memory (VmRSS at the end, VmHWM:
//! the peak, setup included), the CPU of this process over the measured
//! run (utime + stime over wall time; PostgreSQL's own processes apart),
//! the lag of each analysis round (its decision time minus its due time:
//! the previous round's time plus the interval) as p50/p99/max, and the
//! rounds per second. A baseline measured in the same run (100 targets, 10
//! canaries) gives the cost per target. Goals: RSS under 1 GB, under one
//! core, p99 lag under 1 s.
//!
//! Each case runs in a process of its own (this binary again), so that its
//! memory figures are its own.
//!
//! Run: `cargo bench -p zion-server --features simulated --bench scale`.
//! The targets without a canary have no deployment unless
//! `ZION_SCALE_STABLE` (default: as many as the canaries) gives that many
//! a stable version first: each deploy wakes every target, and a pass
//! commits its targets' changes one after another, so 10,000 first
//! versions take the controller many minutes to settle.
//! `ZION_SCALE_SECONDS` (default 35) is how long each case is measured;
//! `ZION_SCALE_TARGETS` and `ZION_SCALE_CANARIES` (default 10000 and 1000)
//! the large case; `ZION_SCALE_STORES` (default `sqlite,postgres`) which
//! stores; `ZION_BENCH_DIR` where the SQLite databases go.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zion_core::analysis::Verdict;
use zion_core::deployment::Phase;
use zion_server::simulated::Simulation;
use zion_server::{Running, ServerOptions};
use zion_store::test_cluster::TestCluster;

mod support;
use support::{bench_dir, env_or, spec};

/// The analysis interval of every canary.
const INTERVAL: Duration = Duration::from_secs(10);

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // In clock ticks: USER_HZ, 100 on every Linux Zion runs on.
    (ticks(11) + ticks(12)) / 100.0
}

/// The PostgreSQL server's CPU: its postmaster and every child.
fn postgres_cpu(cluster: &TestCluster) -> f64 {
    let Some(master) = std::fs::read_to_string(cluster.dir().join("data/postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
    else {
        return 0.0;
    };
    let mut total = cpu_seconds(master);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(master) {
            total += cpu_seconds(pid);
        }
    }
    total
}

/// VmRSS and VmHWM of this process, in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Deploys `version` to the first `count` targets, `parallel` requests at a
/// time; returns how long it took.
async fn deploy_all(r: &Running, count: usize, version: &str, parallel: usize) -> Duration {
    let start = Instant::now();
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/deployments", r.api_addr);
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (http, url, token) = (http.clone(), url.clone(), r.admin_token.clone());
        let body =
            json!({"service": format!("s{i:05}"), "environment": "staging", "version": version});
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status.as_u16(), 201, "deploying {body}: {text}");
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// Waits until no deployment is active and `count` targets have a stable
/// version; false after `limit`.
async fn wait_until(r: &Running, limit: Duration, done: impl Fn(&Running) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done(r) {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

/// One case, in this process: prints one `RESULT {json}` line.
async fn run_case(store: &str, targets: usize, canaries: usize, seconds: u64) {
    let root = tempfile::Builder::new()
        .prefix("zion-scale-")
        .tempdir_in(bench_dir())
        .unwrap();
    let cluster = (store == "postgres").then(|| TestCluster::start(&[]).unwrap());
    let (parsed, yaml) = spec(targets);
    let mut opts = ServerOptions::new(parsed, yaml, root.path().to_path_buf());
    opts.listen = Some("127.0.0.1:0".parse().unwrap());
    opts.database = cluster.as_ref().map(TestCluster::new_database);
    opts.simulation = Some(Simulation::default());
    let started = Instant::now();
    let r = zion_server::start(opts).await.unwrap();
    let startup = started.elapsed();
    eprintln!("[{store} {targets}] up in {startup:.1?}");

    // The first `stable` targets get a stable version (switched
    // directly), then the first `canaries` of them a canary.
    let stable: usize = env_or("ZION_SCALE_STABLE", canaries).clamp(canaries, targets);
    let stable_time = deploy_all(&r, stable, "1.0", 32).await;
    let settled = wait_until(&r, Duration::from_secs(600), |r| {
        r.app.store.active_deployments().is_ok_and(|a| a.is_empty())
    })
    .await;
    assert!(settled, "the first versions did not all succeed");
    let stable_settled = started.elapsed() - startup;
    eprintln!("[{store} {targets}] {stable} stable versions in {stable_settled:.1?}");
    let canary_time = deploy_all(&r, canaries, "2.0", 32).await;
    let progressing = wait_until(&r, Duration::from_secs(600), |r| {
        r.app
            .store
            .active_deployments()
            .is_ok_and(|a| a.iter().filter(|d| d.phase == Phase::Progressing).count() == canaries)
    })
    .await;
    assert!(progressing, "the canaries did not all progress");
    eprintln!("[{store} {targets}] {canaries} canaries progressing; measuring {seconds}s");

    // The measured run.
    let me = std::process::id();
    let pg_before = cluster.as_ref().map_or(0.0, postgres_cpu);
    let cpu_before = cpu_seconds(me);
    let from = jiff::Timestamp::now();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let wall = wall.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(me) - cpu_before) / wall;
    let pg_cpu = cluster.as_ref().map_or(0.0, postgres_cpu);
    let pg_cpu = (pg_cpu - pg_before) / wall;
    let until = jiff::Timestamp::now();
    let (rss, hwm) = memory_mib();

    // The rounds decided during the run: each is due the interval after the
    // one before it.
    let active = r.app.store.active_deployments().unwrap();
    let mut lags = Vec::new();
    let (mut rounds, mut pass, mut inconclusive, mut fail) = (0u64, 0u64, 0u64, 0u64);
    let mut still_progressing = 0;
    for d in &active {
        still_progressing += usize::from(d.phase == Phase::Progressing);
        let recorded = r.app.store.rounds(d.id).unwrap();
        for pair in recorded.windows(2) {
            let (before, round) = (&pair[0], &pair[1]);
            if round.at < from || round.at > until {
                continue;
            }
            let due = before.last_at.unwrap_or(before.at) + INTERVAL;
            lags.push(round.at.duration_since(due).as_secs_f64());
        }
        for round in recorded.iter().filter(|x| x.at >= from && x.at <= until) {
            let n = u64::from(round.count.max(1));
            rounds += n;
            match round.verdict {
                Verdict::Pass => pass += n,
                Verdict::Inconclusive => inconclusive += n,
                Verdict::Fail => fail += n,
            }
        }
    }
    lags.sort_by(f64::total_cmp);
    let result = json!({
        "store": store,
        "targets": targets,
        "canaries": canaries,
        "stable": stable,
        "startup_s": startup.as_secs_f64(),
        "stable_deploys_s": stable_time.as_secs_f64(),
        "stable_settled_s": stable_settled.as_secs_f64(),
        "canary_deploys_s": canary_time.as_secs_f64(),
        "seconds": wall,
        "rss_mib": rss,
        "hwm_mib": hwm,
        "cpu_cores": cpu,
        "postgres_cpu_cores": pg_cpu,
        "rounds": rounds,
        "rounds_per_s": rounds as f64 / wall,
        "pass": pass,
        "inconclusive": inconclusive,
        "fail": fail,
        "still_progressing": still_progressing,
        "lag_p50_s": percentile(&lags, 0.50),
        "lag_p99_s": percentile(&lags, 0.99),
        "lag_max_s": lags.last().copied().unwrap_or(f64::NAN),
        "lags": lags.len(),
    });
    println!("RESULT {result}");
    r.shutdown().await;
    if let Some(c) = cluster {
        let _ = c.stop();
    }
}

fn print_table(results: &[Value]) {
    println!(
        "{:<9} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "store",
        "targets",
        "canaries",
        "rss MiB",
        "hwm MiB",
        "cores",
        "pg cores",
        "rounds/s",
        "lag p50",
        "lag p99",
        "lag max",
        "setup s"
    );
    for r in results {
        println!(
            "{:<9} {:>7} {:>8} {:>8.0} {:>8.0} {:>7.2} {:>7.2} {:>8.1} {:>7.3}s {:>7.3}s {:>7.3}s {:>8.1}",
            r["store"].as_str().unwrap_or(""),
            r["targets"],
            r["canaries"],
            r["rss_mib"].as_f64().unwrap_or(0.0),
            r["hwm_mib"].as_f64().unwrap_or(0.0),
            r["cpu_cores"].as_f64().unwrap_or(0.0),
            r["postgres_cpu_cores"].as_f64().unwrap_or(0.0),
            r["rounds_per_s"].as_f64().unwrap_or(0.0),
            r["lag_p50_s"].as_f64().unwrap_or(f64::NAN),
            r["lag_p99_s"].as_f64().unwrap_or(f64::NAN),
            r["lag_max_s"].as_f64().unwrap_or(f64::NAN),
            r["stable_settled_s"].as_f64().unwrap_or(0.0) + r["startup_s"].as_f64().unwrap_or(0.0),
        );
    }
    // The large case against its baseline, per target.
    for pair in results.chunks(2) {
        let [small, large] = pair else { continue };
        let per = |r: &Value, k: &str| {
            r[k].as_f64().unwrap_or(0.0) / r["targets"].as_f64().unwrap_or(1.0)
        };
        println!(
            "{}: {}× the targets: RSS {:.1}× ({:.1} KiB/target vs {:.1}), CPU {:.1}× ({:.1} vs {:.1} µcore/target), rounds/s {:.1}×",
            large["store"].as_str().unwrap_or(""),
            large["targets"].as_f64().unwrap_or(0.0) / small["targets"].as_f64().unwrap_or(1.0),
            large["rss_mib"].as_f64().unwrap_or(0.0) / small["rss_mib"].as_f64().unwrap_or(1.0),
            per(large, "rss_mib") * 1024.0,
            per(small, "rss_mib") * 1024.0,
            large["cpu_cores"].as_f64().unwrap_or(0.0)
                / small["cpu_cores"].as_f64().unwrap_or(1.0).max(1e-6),
            per(large, "cpu_cores") * 1e6,
            per(small, "cpu_cores") * 1e6,
            large["rounds_per_s"].as_f64().unwrap_or(0.0)
                / small["rounds_per_s"].as_f64().unwrap_or(1.0).max(1e-6),
        );
    }
}

fn main() {
    let seconds: u64 = env_or("ZION_SCALE_SECONDS", 35);
    if let Ok(case) = std::env::var("ZION_SCALE_CASE") {
        let parts: Vec<&str> = case.split(',').collect();
        let [store, targets, canaries] = parts[..] else {
            panic!("ZION_SCALE_CASE is store,targets,canaries: {case}");
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run_case(
            store,
            targets.parse().unwrap(),
            canaries.parse().unwrap(),
            seconds,
        ));
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is taken.
    let targets: usize = env_or("ZION_SCALE_TARGETS", 10_000);
    let canaries: usize = env_or("ZION_SCALE_CANARIES", 1_000);
    let stores: String = env_or("ZION_SCALE_STORES", "sqlite,postgres".to_string());
    let me = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    for store in stores.split(',').filter(|s| !s.is_empty()) {
        for (t, c) in [(100, 10), (targets, canaries)] {
            let out = Command::new(&me)
                .env("ZION_SCALE_CASE", format!("{store},{t},{c}"))
                .stderr(std::process::Stdio::inherit())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
            match line {
                Some(l) if out.status.success() => {
                    // Printed at once too: a later case that fails does
                    // not lose this one's figures.
                    eprintln!("RESULT {l}");
                    results.push(serde_json::from_str::<Value>(l).unwrap())
                }
                _ => panic!("case {store},{t},{c} failed ({}):\n{stdout}", out.status),
            }
        }
    }
    print_table(&results);
}
