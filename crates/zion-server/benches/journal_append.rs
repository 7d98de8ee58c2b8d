//! Durable audit appends per second through the journal, from 64
//! concurrent writers, on both stores: SQLite on a file (WAL, its
//! configured synchronous mode) and PostgreSQL on a throwaway cluster with
//! its durable defaults (`synchronous_commit = on`, fsync on).
//!
//! Each append is complete: the entry, its leaf and tree nodes and a signed
//! checkpoint, committed before its writer is answered. The baseline,
//! measured in the same run, appends one at a time under one lock (a
//! transaction and a checkpoint per append); the journal commits the
//! appends that arrive while a commit is in progress as one group (one
//! transaction, one checkpoint). The goal is ≥ 10,000/s on both stores.
//!
//! Durability is only measured on a real disk: the SQLite database goes
//! under `ZION_BENCH_DIR` (default: the system's temporary folder).
//! Run: `cargo bench -p zion-server --bench journal_append`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use zion_core::audit::{AuditAction, Record};
use zion_server::Clock;
use zion_server::Journal;
use zion_server::audit::AuditLog;
use zion_store::test_cluster::TestCluster;
use zion_store::{PostgresStore, SqliteStore, Store};

const WRITERS: usize = 64;

fn record(writer: usize, i: usize) -> Record {
    Record::new(
        format!("writer-{writer}"),
        AuditAction::SpecApply,
        format!("deployment/{writer}"),
        serde_json::json!({"from": "progressing", "to": "succeeded", "reason": "all 4 steps passed; 1.4.2 is stable", "i": i}),
    )
}

/// Appends/s of `WRITERS` tasks appending `each` entries one at a time
/// under one lock: a transaction and a checkpoint per entry.
async fn one_at_a_time(store: Arc<dyn Store>, dir: &std::path::Path, each: usize) -> f64 {
    let log = Arc::new(AuditLog::open(store.as_ref(), dir, Some("zion/bench")).unwrap());
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, log, lock) = (store.clone(), log.clone(), lock.clone());
            tokio::spawn(async move {
                for i in 0..each {
                    let _l = lock.lock().await;
                    log.append(store.as_ref(), &[record(w, i)], Timestamp::now())
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (WRITERS * each) as f64 / start.elapsed().as_secs_f64()
}

/// Appends/s of `WRITERS` tasks appending `each` entries through the
/// journal (group commit).
async fn grouped(store: Arc<dyn Store>, dir: &std::path::Path, each: usize) -> f64 {
    let log = AuditLog::open(store.as_ref(), dir, Some("zion/bench")).unwrap();
    let journal = Arc::new(Journal::new(store.clone(), log, Clock::system()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let journal = journal.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    journal
                        .record(&[record(w, i)], Timestamp::now())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (WRITERS * each) as f64 / start.elapsed().as_secs_f64()
}

fn bench_dir() -> PathBuf {
    std::env::var_os("ZION_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn report(store: &str, baseline: f64, grouped: f64) {
    println!(
        "{store}, {WRITERS} concurrent writers, durable appends (entry + nodes + signed checkpoint):"
    );
    println!("  one at a time (baseline): {baseline:>9.0} appends/s");
    println!(
        "  journal, group commit:    {grouped:>9.0} appends/s ({:.1}x the baseline; goal 10,000/s)",
        grouped / baseline
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let each_baseline: usize = std::env::var("ZION_BENCH_BASELINE_EACH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let each: usize = std::env::var("ZION_BENCH_EACH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    runtime.block_on(async {
        // SQLite on a file, in a fresh folder per run (the key lives there).
        let root = bench_dir();
        println!("SQLite databases in {}", root.display());
        let run_sqlite = || {
            let dir = tempfile::tempdir_in(&root).unwrap();
            let store: Arc<dyn Store> =
                Arc::new(SqliteStore::open(&dir.path().join("zion.db")).unwrap());
            (dir, store)
        };
        let (dir, store) = run_sqlite();
        let baseline = one_at_a_time(store, dir.path(), each_baseline).await;
        let (dir, store) = run_sqlite();
        let after = grouped(store, dir.path(), each).await;
        report("SQLite (WAL)", baseline, after);

        // PostgreSQL with its durable defaults.
        let cluster = TestCluster::start(&[]).unwrap();
        let run_postgres = || {
            let dir = tempfile::tempdir().unwrap();
            let store: Arc<dyn Store> =
                Arc::new(PostgresStore::connect(&cluster.new_database()).unwrap());
            (dir, store)
        };
        let (dir, store) = run_postgres();
        let baseline = one_at_a_time(store, dir.path(), each_baseline).await;
        let (dir, store) = run_postgres();
        let after = grouped(store, dir.path(), each).await;
        report("PostgreSQL (synchronous_commit on)", baseline, after);
    });
}
