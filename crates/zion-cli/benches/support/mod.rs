//! What the CLI's benches share: free ports, a control plane started on a
//! spec with its first version deployed, and waiting for a phase.
#![allow(dead_code)] // Each bench uses its own part of this.

pub mod engines;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

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
    let d = client
        .post(
            "/deployments",
            &json!({"service": "web", "environment": "bench", "version": "1.0"}),
        )
        .await
        .unwrap();
    wait_phase(&client, d["id"].as_i64().unwrap(), &["succeeded"]).await;
    (running, client)
}
