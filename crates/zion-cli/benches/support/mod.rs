//! What the CLI's benches share: free ports, a control plane started on a
//! spec with its first version deployed, waiting for a phase, the load
//! the reaction benches send through a target, and when a rollback began.
#![allow(dead_code)] // Each bench uses its own part of this.

pub mod engines;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use zion_cli::client::Client;
use zion_server::{Running, ServerOptions};

/// A port free on 127.0.0.1 now.
pub fn free() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Waits until deployment `id` is in one of `phases`; returns it.
pub async fn wait_phase(client: &Client, id: i64, phases: &[&str]) -> Value {
    loop {
        let d = client
            .get(&format!("/deployments/{id}"))
            .await
            .unwrap_or(Value::Null);
        if phases.iter().any(|p| d["phase"] == *p) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a control plane on `yaml` in `dir` and deploys version 1.0 of
/// `web` to `bench`, waiting for it to succeed.
pub async fn start_with_stable(yaml: String, dir: &Path) -> (Running, Client) {
    let parsed = zion_core::spec::parse_spec(&yaml).unwrap();
    let mut opts = ServerOptions::new(parsed, yaml, dir.to_path_buf());
    opts.stop_grace = Duration::from_secs(1);
    let running = zion_server::start(opts).await.unwrap();
    let client = Client::with(
        format!("http://{}", running.api_addr),
        running.admin_token.clone(),
    );
    let id = deploy(&client, "1.0").await;
    wait_phase(&client, id, &["succeeded"]).await;
    (running, client)
}

/// What the load saw of the new version (2.0): its first 5xx and its last
/// answer.
#[derive(Default, Clone, Copy)]
pub struct Seen {
    pub first_error: Option<SystemTime>,
    pub last_canary: Option<SystemTime>,
}

/// Steady load through `target`: a request every 5 ms, each on its own
/// task, so a slow answer does not slow the load.
pub struct Load {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    pub fn start(target: SocketAddr) -> Load {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (seen, stop) = (seen.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut tick = tokio::time::interval(Duration::from_millis(5));
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let (http, seen) = (http.clone(), seen.clone());
                    tokio::spawn(async move {
                        let Ok(r) = http.get(format!("http://{target}/")).send().await else {
                            return;
                        };
                        let now = SystemTime::now();
                        if r.headers().get("x-version").is_some_and(|v| v == "2.0") {
                            let mut s = seen.lock().unwrap();
                            s.last_canary = Some(now);
                            if r.status().is_server_error() {
                                s.first_error.get_or_insert(now);
                            }
                        }
                    });
                }
            })
        };
        Load { seen, stop, task }
    }

    /// What was seen so far.
    pub fn seen(&self) -> Seen {
        *self.seen.lock().unwrap()
    }

    /// Stops the load; returns what it saw.
    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.seen.clone();
        let _ = self.task.await;
        *seen.lock().unwrap()
    }
}

/// Deploys `version` of `web` to `bench`; returns the deployment's id.
pub async fn deploy(client: &Client, version: &str) -> i64 {
    let d = client
        .post(
            "/deployments",
            &json!({"service": "web", "environment": "bench", "version": version}),
        )
        .await
        .unwrap();
    d["id"].as_i64().unwrap()
}

/// When deployment `d` (its detail) entered `rolling_back`: the new
/// version's weight went to 0 right after that transition was recorded.
pub fn rolled_back_at(d: &Value) -> SystemTime {
    d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "rolling_back")
        .and_then(|e| e["at"].as_str()?.parse::<jiff::Timestamp>().ok())
        .map(SystemTime::from)
        .expect("no rolling_back event")
}

/// Seconds from `a` to `b`, 0 if `b` is earlier.
pub fn secs(a: SystemTime, b: SystemTime) -> f64 {
    b.duration_since(a).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
