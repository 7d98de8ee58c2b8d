//! Spread and takeover: several replicas of `zion up` (three by default)
//! on one PostgreSQL database and the same spec of 10,000 targets, on
//! simulated workloads (`zion_server::simulated`). Each replica is a real
//! control plane (controller, store pool, journal, lease loop) with its own
//! data directory, so its own replica id, as separate `zion up` would be.
//!
//! It prints, for a baseline of 100 targets and for the large case, both
//! measured in this run on one throwaway cluster:
//! - **cold start**: from starting every replica at once until every
//!   target is held by a live lease, and until every target is held by the
//!   replica `zion_core::spread::owner` names (the spread settled), in the
//!   database and in each replica's own view;
//! - **spread**: how many targets each replica drives;
//! - **takeover**: one replica killed abruptly, then the time until every
//!   target it drove is held by a live replica, in the database and in the
//!   survivors' own views, against the goal of the lease time plus 2 s;
//!   and how long its leases still had to run when it died (the takeover
//!   minus that is the survivors' reaction to the expiry);
//! - **join**: a new replica started, until the spread settles again;
//! - **hand-over**: one replica stopped cleanly (`Running::shutdown`), until
//!   every target it drove is held by another;
//! - the large case's figures over the baseline's.
//!
//! Run: `cargo bench -p zion-server --features simulated --bench takeover`.
//! `ZION_TAKEOVER_LEASE` (seconds, default 10) is the lease time,
//! `ZION_TAKEOVER_TARGETS` (default 10000) the large case,
//! `ZION_TAKEOVER_REPLICAS` (default 3) how many replicas,
//! `ZION_TAKEOVER_CANARIES` (default 0) how many targets of each case get a
//! canary in progress before the measurements (a stable version first),
//! `ZION_BENCH_DIR` where the data directories go.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use zion_core::spread;
use zion_core::target::TargetId;
use zion_server::simulated::Simulation;
use zion_server::{Running, ServerOptions};
use zion_store::test_cluster::TestCluster;
use zion_store::{DeploymentStore, LeaseStore, PostgresStore};

mod support;
use support::{bench_dir, env_or, spec};

/// How often the database and the replicas' views are looked at.
const POLL: Duration = Duration::from_millis(100);

/// One replica of `zion up`: its control plane on a runtime of its own, so
/// that it can be killed alone.
struct Replica {
    name: String,
    runtime: tokio::runtime::Runtime,
    running: Running,
}

impl Replica {
    fn id(&self) -> String {
        self.running.app.replica_id().to_owned()
    }

    /// Kills it as abruptly as one process allows: its runtime is shut down
    /// without waiting, so every task (lease loop, controller, API) is
    /// dropped at its next await point with none of its clean-stop code
    /// run (no lease released, no heartbeat retired), then its app is
    /// dropped, and with it the store's pool and its own runtime, which
    /// closes its connections to PostgreSQL as the kernel would for a dead
    /// process. In one process, unlike `kill -9`, a task in the middle of a
    /// poll (a statement sent off the runtime, say) finishes that poll.
    /// Separate processes would also kill each other's listeners and
    /// simulated traffic, which the benchmark does not measure.
    fn kill(self) {
        let Replica {
            runtime, running, ..
        } = self;
        runtime.shutdown_background();
        drop(running);
    }

    /// A clean stop (`zion up` on SIGTERM): hands its targets over.
    fn stop(self) -> Duration {
        let Replica {
            runtime, running, ..
        } = self;
        let started = Instant::now();
        runtime.block_on(running.shutdown());
        let took = started.elapsed();
        runtime.shutdown_background();
        took
    }
}

/// Starts replicas `names` at once (each on its own runtime and data
/// directory under `root`), returns them when all are up.
fn start_replicas(
    names: &[String],
    root: &Path,
    parsed: &zion_core::spec::Spec,
    yaml: &str,
    url: &str,
    lease: Duration,
) -> Vec<Replica> {
    let threads: Vec<_> = names
        .iter()
        .map(|name| {
            let mut opts = ServerOptions::new(parsed.clone(), yaml.to_owned(), root.to_path_buf());
            opts.data_dir = root.join(name);
            opts.listen = Some("127.0.0.1:0".parse().unwrap());
            opts.database = Some(url.to_owned());
            opts.simulation = Some(Simulation::default());
            opts.lease_ttl = lease;
            let name = name.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(format!("zion-{name}"))
                    .enable_all()
                    .build()
                    .unwrap();
                let running = runtime
                    .block_on(zion_server::start(opts))
                    .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
                Replica {
                    name,
                    runtime,
                    running,
                }
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Copies the audit log's key and the admin token from replica `from`'s
/// data directory to `to`'s, as an operator does before starting another
/// replica on the same database.
fn share_key(root: &Path, from: &str, to: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(to);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["audit.key", "admin.token"] {
        let copy = dir.join(file);
        std::fs::copy(root.join(from).join(file), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// What the database says of every target's lease: its live holder, if any.
fn holders(observer: &PostgresStore) -> BTreeMap<TargetId, String> {
    observer
        .leases()
        .unwrap()
        .into_iter()
        .filter(|l| l.is_live())
        .map(|l| (TargetId::new(&l.service, &l.environment), l.holder))
        .collect()
}

/// Whether every target in `targets` is held, in the database and in its
/// holder's own view, by one of `replicas`; and, when `spread` is set, by
/// the replica `spread::owner` names among them.
fn driven(
    observer: &PostgresStore,
    replicas: &[Replica],
    targets: &BTreeSet<TargetId>,
    spread_too: bool,
) -> (bool, bool) {
    let held = holders(observer);
    let ids: Vec<String> = replicas.iter().map(Replica::id).collect();
    let live: Vec<&str> = ids.iter().map(String::as_str).collect();
    let in_db = targets.iter().all(|t| {
        held.get(t).is_some_and(|h| {
            live.contains(&h.as_str()) && (!spread_too || spread::owner(t, &live) == Some(h))
        })
    });
    let in_views = in_db
        && targets.iter().all(|t| {
            let h = &held[t];
            replicas
                .iter()
                .any(|r| &r.id() == h && r.running.app.drives(t))
        });
    (in_db, in_views)
}

/// Polls until `driven` holds in the database, then in the views; returns
/// both times from `since` (None: not within `limit`).
fn wait_driven(
    observer: &PostgresStore,
    replicas: &[Replica],
    targets: &BTreeSet<TargetId>,
    spread_too: bool,
    since: Instant,
    limit: Duration,
) -> (Option<f64>, Option<f64>) {
    let (mut db, mut views) = (None, None);
    while since.elapsed() < limit {
        let (in_db, in_views) = driven(observer, replicas, targets, spread_too);
        let now = since.elapsed().as_secs_f64();
        if in_db && db.is_none() {
            db = Some(now);
        }
        if in_views {
            views = Some(now);
            break;
        }
        std::thread::sleep(POLL);
    }
    (db, views)
}

/// Deploys `version` to the first `count` targets through `r`'s API.
fn deploy(r: &Replica, count: usize, version: &str) {
    let url = format!("http://{}/api/v1/deployments", r.running.api_addr);
    r.runtime.block_on(async {
        let http = reqwest::Client::new();
        for i in 0..count {
            let body = json!({"service": format!("s{i:05}"), "environment": "staging", "version": version});
            let resp = http
                .post(&url)
                .bearer_auth(&r.running.admin_token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status.as_u16(), 201, "deploying {body}: {text}");
        }
    });
}

/// Waits until `done` holds, for at most `limit`.
fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

fn secs(v: Option<f64>) -> serde_json::Value {
    v.map_or(serde_json::Value::Null, |s| json!(s))
}

/// One case on a new database of `cluster`: returns its figures.
fn run_case(
    cluster: &TestCluster,
    targets: usize,
    replicas: usize,
    canaries: usize,
    lease: Duration,
) -> serde_json::Value {
    let tag = format!("[{targets} targets]");
    let root = tempfile::Builder::new()
        .prefix("zion-takeover-")
        .tempdir_in(bench_dir())
        .unwrap();
    let url = cluster.new_database();
    let observer = PostgresStore::connect(&url).unwrap();
    let (parsed, yaml) = spec(targets);
    let all: BTreeSet<TargetId> = parsed
        .services
        .iter()
        .flat_map(|s| s.targets.keys().map(|e| TargetId::new(&s.name, e)))
        .collect();
    let limit = Duration::from_secs(600);

    // Cold start on an empty database: the first replica alone (it makes
    // the audit log's key, which every replica on one database shares),
    // then the others at once with a copy of it.
    let names: Vec<String> = (0..replicas).map(|i| format!("replica-{i}")).collect();
    let started = Instant::now();
    let mut up = start_replicas(&names[..1], root.path(), &parsed, &yaml, &url, lease);
    let first_up = started.elapsed().as_secs_f64();
    for name in &names[1..] {
        share_key(root.path(), &names[0], name);
    }
    up.extend(start_replicas(
        &names[1..],
        root.path(),
        &parsed,
        &yaml,
        &url,
        lease,
    ));
    let startup = started.elapsed().as_secs_f64();
    let (held_db, held_views) = wait_driven(&observer, &up, &all, false, started, limit);
    let (spread_db, spread_views) = wait_driven(&observer, &up, &all, true, started, limit);
    eprintln!(
        "{tag} cold start: the first replica up in {first_up:.1}s, all in {startup:.1}s, all held {held_db:?}/{held_views:?}s, spread settled {spread_db:?}/{spread_views:?}s (database/views)"
    );
    let spread: BTreeMap<String, usize> = up
        .iter()
        .map(|r| (r.name.clone(), r.running.app.driven_targets()))
        .collect();
    eprintln!("{tag} spread: {spread:?}");

    // Canaries in progress, so that targets change hands mid-rollout.
    if canaries > 0 {
        deploy(&up[0], canaries, "1.0");
        let settled = wait_for(limit, || {
            observer.active_deployments().is_ok_and(|a| a.is_empty())
        });
        assert!(settled, "the first versions did not all succeed");
        deploy(&up[0], canaries, "2.0");
        let progressing = wait_for(limit, || {
            observer
                .active_deployments()
                .is_ok_and(|a| a.len() == canaries)
        });
        assert!(progressing, "the canaries did not all start");
        eprintln!("{tag} {canaries} canaries in progress");
    }

    // Takeover: the first replica killed.
    let victim = up.remove(0);
    let victim_id = victim.id();
    let before = observer.leases().unwrap();
    let theirs: BTreeSet<TargetId> = before
        .iter()
        .filter(|l| l.is_live() && l.holder == victim_id)
        .map(|l| TargetId::new(&l.service, &l.environment))
        .collect();
    // How long its leases had left, by the database's clock.
    let left = before
        .iter()
        .filter(|l| l.is_live() && l.holder == victim_id)
        .map(|l| l.expires_at.duration_since(l.read_at).as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    let killed_targets = theirs.len();
    let killed = Instant::now();
    victim.kill();
    let (take_db, take_views) = wait_driven(
        &observer,
        &up,
        &theirs,
        false,
        killed,
        lease * 5 + Duration::from_secs(60),
    );
    let goal = lease.as_secs_f64() + 2.0;
    eprintln!(
        "{tag} takeover of {} targets: {take_db:?}/{take_views:?}s (database/views), its leases had {left:.2}s left; goal {goal:.1}s",
        theirs.len()
    );
    let (resettled_db, _) = wait_driven(&observer, &up, &all, true, killed, limit);
    let after_kill: BTreeMap<String, usize> = up
        .iter()
        .map(|r| (r.name.clone(), r.running.app.driven_targets()))
        .collect();
    eprintln!("{tag} spread after the kill ({resettled_db:?}s): {after_kill:?}");

    // Join: a new replica takes its share.
    let joined = Instant::now();
    share_key(root.path(), &names[0], &format!("replica-{replicas}"));
    let mut new = start_replicas(
        &[format!("replica-{replicas}")],
        root.path(),
        &parsed,
        &yaml,
        &url,
        lease,
    );
    up.append(&mut new);
    let (join_db, join_views) = wait_driven(&observer, &up, &all, true, joined, limit);
    eprintln!("{tag} join: spread settled in {join_db:?}/{join_views:?}s (database/views)");

    // Hand-over: the replica that joined stops cleanly.
    let leaving = up.pop().unwrap();
    let leaving_id = leaving.id();
    let theirs: BTreeSet<TargetId> = holders(&observer)
        .into_iter()
        .filter(|(_, h)| *h == leaving_id)
        .map(|(t, _)| t)
        .collect();
    let stopping = Instant::now();
    let stop_took = leaving.stop().as_secs_f64();
    let (hand_db, hand_views) = wait_driven(&observer, &up, &theirs, false, stopping, limit);
    eprintln!(
        "{tag} hand-over of {} targets: {hand_db:?}/{hand_views:?}s (database/views), its stop took {stop_took:.2}s",
        theirs.len()
    );

    for r in up {
        r.stop();
    }
    json!({
        "targets": targets,
        "replicas": replicas,
        "canaries": canaries,
        "lease_s": lease.as_secs_f64(),
        "startup_s": startup,
        "first_up_s": first_up,
        "cold_held_s": secs(held_views),
        "cold_held_db_s": secs(held_db),
        "cold_spread_s": secs(spread_views),
        "cold_spread_db_s": secs(spread_db),
        "spread": spread,
        "killed_targets": killed_targets,
        "takeover_s": secs(take_views),
        "takeover_db_s": secs(take_db),
        "left_s": left,
        "goal_s": goal,
        "join_s": secs(join_views),
        "handover_s": secs(hand_views),
        "handover_db_s": secs(hand_db),
        "handover_targets": theirs.len(),
        "stop_s": stop_took,
    })
}

fn f(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let lease = Duration::from_secs_f64(env_or("ZION_TAKEOVER_LEASE", 10.0));
    let targets: usize = env_or("ZION_TAKEOVER_TARGETS", 10_000);
    let replicas: usize = env_or("ZION_TAKEOVER_REPLICAS", 3);
    let canaries: usize = env_or("ZION_TAKEOVER_CANARIES", 0);
    assert!(
        replicas >= 2,
        "ZION_TAKEOVER_REPLICAS: at least 2, so that one survives"
    );
    let cluster = TestCluster::start(&[]).unwrap_or_else(|e| panic!("{e}"));
    let base = run_case(&cluster, 100, replicas, canaries.min(10), lease);
    let large = run_case(&cluster, targets, replicas, canaries, lease);
    let _ = cluster.stop();

    println!(
        "{replicas} replicas, lease {:.1}s; times in seconds (database / each replica's own view)",
        lease.as_secs_f64()
    );
    println!(
        "{:>7} {:>9} {:>15} {:>15} {:>15} {:>15} {:>15} {:>7}  spread",
        "targets",
        "first up",
        "cold: all held",
        "cold: spread",
        "takeover",
        "join",
        "hand-over",
        "stop"
    );
    for r in [&base, &large] {
        println!(
            "{:>7} {:>9.2} {:>7.2}/{:>7.2} {:>7.2}/{:>7.2} {:>7.2}/{:>7.2} {:>15.2} {:>7.2}/{:>7.2} {:>7.2}  {}",
            r["targets"],
            f(r, "first_up_s"),
            f(r, "cold_held_db_s"),
            f(r, "cold_held_s"),
            f(r, "cold_spread_db_s"),
            f(r, "cold_spread_s"),
            f(r, "takeover_db_s"),
            f(r, "takeover_s"),
            f(r, "join_s"),
            f(r, "handover_db_s"),
            f(r, "handover_s"),
            f(r, "stop_s"),
            r["spread"],
        );
    }
    for r in [&base, &large] {
        let take = f(r, "takeover_s");
        let goal = f(r, "goal_s");
        println!(
            "{} targets: takeover {take:.2}s against the goal {goal:.1}s (lease + 2 s): {}; its leases had {:.2}s left at the kill, so the survivors took {:.2}s after they expired",
            r["targets"],
            if take <= goal { "met" } else { "MISSED" },
            f(r, "left_s"),
            take - f(r, "left_s"),
        );
    }
    let ratio = |k: &str| f(&large, k) / f(&base, k);
    println!(
        "{}× the targets: first replica up {:.1}×, cold start (all held) {:.1}×, spread settled {:.1}×, takeover {:.2}×, join {:.1}×, hand-over {:.1}×",
        f(&large, "targets") / f(&base, "targets"),
        ratio("first_up_s"),
        ratio("cold_held_s"),
        ratio("cold_spread_s"),
        ratio("takeover_s"),
        ratio("join_s"),
        ratio("handover_s"),
    );
    println!("RESULT {}", json!({"baseline": base, "large": large}));
}
