//! Reaction time: from a canary starting to fail (50% errors) to canary
//! weight 0, with a 1 s analysis interval. Goal: under 3 s.
//!
//! Each run starts a control plane in-process, a stable version and a
//! canary (real demo-app processes) that turns faulty 3.1–3.9 s after it
//! starts (a different phase of the analysis cycle in each run),
//! under steady load through the proxy. "Fault visible" is the first 5xx the
//! load generator receives from the canary; "weight 0" is the time of the
//! recorded `rolling_back` transition (traffic is switched right after it
//! is persisted); "drained" is the last response the canary served.
//!
//! The baseline, measured in the same run on the same machine, is an
//! operator's `zion abort` of a healthy canary under the same load: from the
//! command to the recorded transition and to the last canary response. The
//! difference is what detecting the fault costs over being told.
//! Run: `cargo bench -p zion-cli --bench reaction`.

mod support;
use support::{free, secs, wait_phase};

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde_json::json;

const RUNS: usize = 5;
const ZION: &str = env!("CARGO_BIN_EXE_zion");

fn spec(api: SocketAddr, target: SocketAddr, after_ms: u64) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments: [ {{ name: bench }} ]
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}", "--fault", "2.0:errors=0.5,after={after_ms}ms"]
        replicas: 2
    health: {{ http: /healthz, interval: 200ms, timeout: 150ms }}
    targets: {{ bench: {{ listen: {target} }} }}
    canary: {{ steps: [ {{ weight: 20, pause: 5m }}, {{ weight: 100 }} ] }}
    analysis: {{ interval: 1s, failure_limit: 2, min_requests: 10 }}
"#
    )
}

/// How the canary's traffic is ended: by Zion on a fault, or by an operator.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    /// The canary fails `after_ms` after it starts; Zion rolls it back.
    Fault { after_ms: u64 },
    /// A healthy canary, aborted by `POST …/abort` once it serves.
    Abort,
}

/// Seconds from the fault becoming visible (or the abort being sent) to
/// the recorded rollback and to the last canary response.
async fn one_run(ending: Ending) -> (f64, f64) {
    let after_ms = match ending {
        Ending::Fault { after_ms } => after_ms,
        // Never within the run.
        Ending::Abort => 600_000,
    };
    let dir = tempfile::tempdir().unwrap();
    let (api, target) = (free(), free());
    let yaml = spec(api, target, after_ms);
    let (running, client) = support::start_with_stable(yaml, dir.path()).await;

    let load = support::Load::start(target);
    let id = support::deploy(&client, "2.0").await;
    let mut aborted_at = None;
    if ending == Ending::Abort {
        // Aborted once the canary has served for a while.
        loop {
            let serving = load.seen().last_canary.is_some();
            if serving {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        aborted_at = Some(SystemTime::now());
        client
            .post(&format!("/deployments/{id}/abort"), &json!({}))
            .await
            .unwrap();
    }
    let d = wait_phase(&client, id, &["rolled_back", "succeeded", "failed"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = load.stop().await;
    running.shutdown().await;
    assert_eq!(
        d["phase"], "rolled_back",
        "the faulty canary was not rolled back: {d}"
    );
    let rollback = support::rolled_back_at(&d);
    let visible = match ending {
        Ending::Fault { .. } => s.first_error.expect("no 5xx seen from the canary"),
        Ending::Abort => aborted_at.expect("the abort was sent"),
    };
    (
        secs(visible, rollback),
        secs(visible, s.last_canary.unwrap_or(rollback)),
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut weight0 = Vec::new();
    let mut drained = Vec::new();
    let mut abort_weight0 = Vec::new();
    let mut abort_drained = Vec::new();
    for run in 1..=RUNS {
        // The fault starts at a different point of the analysis cycle in
        // each run (sweeping the 1 s interval), so the figures are not one
        // lucky phase repeated.
        let after_ms = 3000 + (run as u64 - 1) * 1000 / RUNS as u64 + 100;
        let (w, d) = rt.block_on(one_run(Ending::Fault { after_ms }));
        println!(
            "run {run}: fault visible → canary weight 0: {w:.2}s; → last canary response: {d:.2}s"
        );
        weight0.push(w);
        drained.push(d);
        let (w, d) = rt.block_on(one_run(Ending::Abort));
        println!(
            "run {run}: baseline, abort sent → canary weight 0: {:.1} ms; → last canary response: {:.1} ms",
            w * 1000.0,
            d * 1000.0
        );
        abort_weight0.push(w);
        abort_drained.push(d);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mw, md) = (median(&mut weight0), median(&mut drained));
    let (bw, bd) = (median(&mut abort_weight0), median(&mut abort_drained));
    let max = weight0.iter().copied().fold(0.0, f64::max);
    println!("reaction (1 s analysis interval, 50% errors, {RUNS} runs of each)");
    println!(
        "  median to weight 0: {mw:.2}s, max {max:.2}s; goal 3 s → median is {:.2}× the goal",
        mw / 3.0
    );
    println!("  median to the last canary response: {md:.2}s");
    println!(
        "  baseline, an operator's abort: median {:.1} ms to weight 0, {:.1} ms to the last canary response",
        bw * 1000.0,
        bd * 1000.0
    );
    // The abort lands in well under a millisecond, so a ratio to it says
    // little: the difference is what detecting the fault costs.
    println!(
        "  detecting the fault vs being told: +{:.2}s to weight 0 ({:.0}× the abort's median)",
        mw - bw,
        mw / bw.max(1e-6)
    );
}
