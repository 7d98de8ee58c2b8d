//! Runs one Zion target proxy for benchmarks: `--weight` percent of requests
//! to the canary address, the rest to the stable one, optionally with sticky
//! sessions, header rules (`NAME=VALUE`, repeatable) and mirroring. Prints
//! the bound address on stdout; on SIGTERM or Ctrl-C prints the requests
//! each version received and the peak resident memory on stderr, and shuts
//! down.
//!
//! With `--tls-cert FILE --tls-key FILE` the listener terminates TLS with
//! that certificate; with `--upstream h2c` the replicas are reached over
//! HTTP/2 in clear text (a gRPC service).
//!
//! Usage: bench_proxy --stable ADDR --canary ADDR [--weight 5] [--listen 127.0.0.1:0]
//!        [--sticky] [--match-header NAME=VALUE]... [--mirror PERCENT]
//!        [--tls-cert FILE --tls-key FILE] [--upstream http1|h2c]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::signal::unix::{SignalKind, signal};
use zion_proxy::{
    ListenerSettings, MatchRule, Pool, Route, TargetProxy, TlsCertificate, TlsSettings,
    TrafficMetrics, UpstreamProtocol,
};

struct Args {
    listen: SocketAddr,
    stable: SocketAddr,
    canary: SocketAddr,
    weight: u8,
    sticky: bool,
    matches: Vec<MatchRule>,
    mirror: u8,
    tls: Option<TlsSettings>,
    upstream: UpstreamProtocol,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut listen = "127.0.0.1:0".parse()?;
    let (mut stable, mut canary, mut weight) = (None, None, 5);
    let (mut sticky, mut matches, mut mirror) = (false, Vec::new(), 0);
    let (mut cert, mut key, mut upstream) = (None, None, UpstreamProtocol::Http1);
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
            "--tls-cert" => cert = Some(PathBuf::from(value)),
            "--tls-key" => key = Some(PathBuf::from(value)),
            "--upstream" => {
                upstream = match value.as_str() {
                    "http1" => UpstreamProtocol::Http1,
                    "h2c" => UpstreamProtocol::H2c,
                    other => bail!("--upstream {other}: use http1 or h2c"),
                }
            }
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
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsSettings {
            certificates: vec![TlsCertificate {
                names: vec!["localhost".to_owned()],
                cert,
                key,
            }],
        }),
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    Ok(Args {
        listen,
        stable: stable.context("--stable ADDR is required")?,
        canary: canary.context("--canary ADDR is required")?,
        weight,
        sticky,
        matches,
        mirror,
        tls,
        upstream,
    })
}

// The runtime the zion binary runs its server on; the proxy moves its
// connections to worker threads of its own, as it does there.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let metrics = Arc::new(TrafficMetrics::new());
    let settings = ListenerSettings {
        tls: args.tls,
        ..ListenerSettings::default()
    };
    let proxy = TargetProxy::bind_with(args.listen, Arc::clone(&metrics), settings).await?;
    proxy.set_route(
        Route::split(
            Pool::new("stable", vec![args.stable]),
            Pool::new("canary", vec![args.canary]),
            args.weight,
        )
        .with_sticky(args.sticky)
        .with_matches(args.matches)
        .with_mirror(args.mirror)
        .with_upstream_protocol(args.upstream),
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
