//! The web console's overview with 1,000 targets: the server time to build
//! the targets' views from a store holding them (a stable version each and
//! a canary in progress) and render the overview's HTML, as `/ui/` and
//! each poll of its live stream do. The goal is under 100 ms per render;
//! printed is the median of the runs and its ratio to 100 ms, beside the
//! render alone and the store reads alone measured in the same run.
//! Run: `cargo bench -p zion-server --bench console_overview`.

use std::time::{Duration, Instant};

use zion_core::api::{DeploymentView, TargetView};
use zion_core::deployment::{Phase, PlanKind};
use zion_store::contract::fixtures::{created, deployment, moved, t};
use zion_store::{DeploymentStore, SqliteStore};

const TARGETS: usize = 1_000;
const RUNS: usize = 31;

/// A store with every target's stable 1.0 and its 2.0 canary at 20%.
fn filled() -> SqliteStore {
    let store = SqliteStore::open_in_memory().expect("an in-memory store");
    for i in 0..TARGETS {
        let service = format!("svc-{i:04}");
        let first = deployment(&service, "production", "1.0", 0);
        let first = store
            .create_deployment(&first, &created(&first), None)
            .expect("the first deployment");
        store
            .record(&moved(&first, Phase::Succeeded, 10), &[], &[])
            .expect("1.0 succeeded");
        let canary = deployment(&service, "production", "2.0", 20);
        let canary = store
            .create_deployment(&canary, &created(&canary), None)
            .expect("the canary");
        let mut next = moved(&canary, Phase::Progressing, 30);
        next.step = Some(0);
        next.canary_weight = 20;
        next.started_at = Some(t(30));
        store
            .record(&next, &[], &[])
            .expect("the canary's first step");
    }
    store
}

/// The views `/ui/` shows, read from the store as the server reads them.
fn views(store: &SqliteStore) -> Vec<TargetView> {
    let active = store.active_deployments().expect("active deployments");
    (0..TARGETS)
        .map(|i| {
            let service = format!("svc-{i:04}");
            let current = active
                .iter()
                .find(|d| d.service == service && d.environment == "production");
            TargetView {
                stable_version: store
                    .stable_version(&service, "production")
                    .expect("stable version"),
                deployment: current.map(DeploymentView::of),
                service,
                environment: "production".into(),
                listen: "127.0.0.1:8080".into(),
                preview: None,
                strategy: PlanKind::Canary,
                versions: Vec::new(),
                driven_by: None,
                router_error: None,
            }
        })
        .collect()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    let store = filled();
    let mut reads = Vec::new();
    let mut renders = Vec::new();
    let mut whole = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let v = views(&store);
        let read = start.elapsed();
        let html = zion_server::render_overview(&v, &[]);
        let total = start.elapsed();
        assert!(html.contains("svc-0999"), "every target rendered");
        bytes = html.len();
        reads.push(read);
        renders.push(total - read);
        whole.push(total);
    }
    let (reads, renders, whole) = (median(reads), median(renders), median(whole));
    println!("console overview, {TARGETS} targets, median of {RUNS} runs ({bytes} bytes of HTML):");
    println!(
        "  store reads (views):   {:>8.2} ms",
        reads.as_secs_f64() * 1e3
    );
    println!(
        "  render (maud):         {:>8.2} ms",
        renders.as_secs_f64() * 1e3
    );
    println!(
        "  server time per render {:>8.2} ms = {:.3} × the 100 ms goal",
        whole.as_secs_f64() * 1e3,
        whole.as_secs_f64() / 0.1
    );
}
