//! Blue-green switch back: the time from `POST /rollback` to the first
//! answer from the old version on the target's listener. Goal: under
//! 100 ms while the old version still runs (inside `scale_down_delay`).
//!
//! Baseline, measured in the same run: the same rollback once the old
//! version has been stopped (`scale_down_delay: 0s`), so its replicas must
//! start and pass a health probe first.
//! Run: `cargo bench -p zion-cli --bench switchback`.

mod support;
use support::free;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zion_cli::client::Client;
use zion_server::ServerOptions;

const RUNS: usize = 5;
const ZION: &str = env!("CARGO_BIN_EXE_zion");

fn spec(api: SocketAddr, target: SocketAddr, preview: SocketAddr, delay: &str) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments: [ {{ name: bench }} ]
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
        replicas: 2
    health: {{ http: /healthz, interval: 200ms, timeout: 150ms }}
    targets: {{ bench: {{ listen: {target}, preview: {preview} }} }}
    strategy: blue_green
    blue_green: {{ scale_down_delay: {delay} }}
    analysis: {{ interval: 1s, min_requests: 1 }}
"#
    )
}

async fn wait_for(client: &Client, id: i64, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let d = client
            .get(&format!("/deployments/{id}"))
            .await
            .unwrap_or(Value::Null);
        if pred(&d) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deploy(client: &Client, version: &str) -> i64 {
    let d = client
        .post(
            "/deployments",
            &json!({"service": "web", "environment": "bench", "version": version}),
        )
        .await
        .unwrap();
    d["id"].as_i64().unwrap()
}

/// Milliseconds from the rollback command to 1.0 answering, `RUNS` times.
async fn switch_backs(delay: &str) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let (api, target, preview) = (free(), free(), free());
    let yaml = spec(api, target, preview, delay);
    let parsed = zion_core::spec::parse_spec(&yaml).unwrap();
    let mut opts = ServerOptions::new(parsed, yaml, dir.path().to_path_buf());
    opts.stop_grace = Duration::from_secs(1);
    let running = zion_server::start(opts).await.unwrap();
    let client = Client::with(
        format!("http://{}", running.api_addr),
        running.admin_token.clone(),
    );
    let id = deploy(&client, "1.0").await;
    wait_for(&client, id, |d| d["phase"] == "succeeded").await;
    let http = reqwest::Client::new();
    let url = format!("http://{target}/");
    let version = |r: &reqwest::Response| {
        r.headers()
            .get("x-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut out = Vec::new();
    for _ in 0..RUNS {
        let id = deploy(&client, "2.0").await;
        wait_for(&client, id, |d| d["preview"] == "ready").await;
        // Preview traffic for the analysis round the promote needs.
        let _ = http.get(format!("http://{preview}/")).send().await;
        client
            .post(&format!("/deployments/{id}/promote"), &json!({}))
            .await
            .unwrap();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && version(&r) == "2.0"
            {
                break;
            }
        }
        // Past a 0s delay, 1.0 is stopped before the rollback.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sent = Instant::now();
        let rb = client
            .post(
                "/rollback",
                &json!({"service": "web", "environment": "bench"}),
            )
            .await
            .unwrap();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && version(&r) == "1.0"
            {
                break;
            }
        }
        out.push(sent.elapsed().as_secs_f64() * 1000.0);
        wait_for(&client, rb["id"].as_i64().unwrap(), |d| {
            d["phase"] == "succeeded"
        })
        .await;
        // 2.0 stops after the switch back; let it go before the next run.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    running.shutdown().await;
    out
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let instant = rt.block_on(switch_backs("60s"));
    let cold = rt.block_on(switch_backs("0s"));
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("blue-green rollback, command → first answer from the old version ({RUNS} runs each)");
    println!(
        "  old version still running (inside scale_down_delay): median {:.1} ms [{}]; goal 100 ms",
        median(&instant),
        show(&instant)
    );
    println!(
        "  baseline, old version stopped (process start + probe): median {:.1} ms [{}]",
        median(&cold),
        show(&cold)
    );
    println!(
        "  ratio: the switch back takes {:.3}× the cold rollback",
        median(&instant) / median(&cold)
    );
}
