//! Runs one Zion target proxy for benchmarks: `--weight` percent of requests
//! to the canary address, the rest to the stable one, optionally with sticky
//! sessions, header rules (`NAME=VALUE`, repeatable) and mirroring. Prints
//! the bound address on stdout; on SIGTERM or Ctrl-C prints the requests
//! each version received and the peak resident memory on stderr, and shuts
//! down.
//!
//! Usage: bench_proxy --stable ADDR --canary ADDR [--weight 5] [--listen 127.0.0.1:0]
//!        [--sticky] [--match-header NAME=VALUE]... [--mirror PERCENT]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::signal::unix::{SignalKind, signal};
use zion_proxy::{MatchRule, Pool, Route, TargetProxy, TrafficMetrics};

struct Args {
    listen: SocketAddr,
    stable: SocketAddr,
    canary: SocketAddr,
    weight: u8,
    sticky: bool,
    matches: Vec<MatchRule>,
    mirror: u8,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut listen = "127.0.0.1:0".parse()?;
    let (mut stable, mut canary, mut weight) = (None, None, 5);
    let (mut sticky, mut matches, mut mirror) = (false, Vec::new(), 0);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--sticky" {
            sticky = true;
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value.parse()?,
            "--stable" => stable = Some(value.parse()?),
            "--canary" => canary = Some(value.parse()?),
            "--weight" => weight = value.parse()?,
            "--mirror" => mirror = value.parse()?,
            "--match-header" => {
                let (name, value) = value
                    .split_once('=')
                    .with_context(|| format!("--match-header {value}: use NAME=VALUE"))?;
                matches.push(MatchRule::HeaderEquals {
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        listen,
        stable: stable.context("--stable ADDR is required")?,
        canary: canary.context("--canary ADDR is required")?,
        weight,
        sticky,
        matches,
        mirror,
    })
}

// The runtime the zion binary runs its server on; the proxy moves its
// connections to worker threads of its own, as it does there.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let metrics = Arc::new(TrafficMetrics::new());
    let proxy = TargetProxy::bind(args.listen, Arc::clone(&metrics)).await?;
    proxy.set_route(
        Route::split(
            Pool::new("stable", vec![args.stable]),
            Pool::new("canary", vec![args.canary]),
            args.weight,
        )
        .with_sticky(args.sticky)
        .with_matches(args.matches)
        .with_mirror(args.mirror),
    );
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", proxy.local_addr())?;
        stdout.flush()?;
    }

    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    proxy.shutdown().await;
    let (stable, stable_err) = metrics.totals("stable");
    let (canary, canary_err) = metrics.totals("canary");
    let total = (stable + canary).max(1) as f64;
    let mirror = metrics.mirror_stats();
    eprintln!(
        "zion proxy served stable={stable} ({:.2}%, {stable_err} errors) canary={canary} ({:.2}%, {canary_err} errors); mirrored {} (dropped {}, skipped {}); peak RSS {}",
        100.0 * stable as f64 / total,
        100.0 * canary as f64 / total,
        mirror.mirrored,
        mirror.dropped,
        mirror.skipped,
        peak_rss().unwrap_or_else(|| "unknown".to_owned()),
    );
    Ok(())
}

/// The process's peak resident set size as the kernel reports it (Linux).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}
