//! Durable audit appends per second on the SQLite store (WAL,
//! `synchronous = FULL`: each commit is on disk when it returns).
//!
//! Each append is complete: the entry's canonical JSON, its leaf hash, the
//! new tree nodes (zion-audit's O(log n) append from the frontier) and a
//! signed checkpoint of the new size, all in one transaction per batch.
//! The baseline, measured in the same run, is one transaction per entry
//! (what an unbatched log would do); the goal is ≥ 10,000/s.
//!
//! Durability is only measured on a real disk: on tmpfs an fsync costs
//! nothing. The database goes under `ZION_BENCH_DIR` (default: the system's
//! temporary folder), and the benchmark prints that folder's filesystem.
//! Run: `cargo bench -p zion-store --bench audit_append`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use zion_audit::{Checkpoint, Entry, Frontier, Signer, append};
use zion_store::{AuditAppend, AuditCheckpoint, AuditNode, AuditRow, AuditStore, SqliteStore};

/// Appends `total` entries in batches of `batch`; returns entries/s.
fn run(total: u64, batch: u64) -> f64 {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let store = SqliteStore::open(&dir.path().join("zion.db")).unwrap();
    let signer = Signer::generate("zion/bench").unwrap();
    let mut frontier = Frontier::new();
    let start = Instant::now();
    let mut next = 0;
    while next < total {
        let end = (next + batch).min(total);
        let now = jiff::Timestamp::now();
        let entries: Vec<Entry> = (next..end)
            .map(|seq| {
                Entry::new(
                    seq,
                    now,
                    "controller",
                    "deployment.transition",
                    format!("deployment/{}", seq / 7),
                    json!({"from": "progressing", "to": "succeeded", "reason": "all 4 steps passed; 1.4.2 is stable", "step": 4, "canary_weight": 100}),
                )
            })
            .collect();
        let leaves: Vec<[u8; 32]> = entries.iter().map(Entry::leaf_hash).collect();
        let grown = append(&frontier, &leaves);
        let checkpoint = Checkpoint::new("zion/bench", end, grown.frontier.root()).unwrap();
        let batch_rows = AuditAppend {
            outbox: Vec::new(),
            rows: entries
                .iter()
                .map(|e| AuditRow {
                    index: e.seq,
                    time: now,
                    action: e.action.clone(),
                    subject: e.subject.clone(),
                    entry: e.canonical_json(),
                })
                .collect(),
            nodes: grown
                .nodes
                .iter()
                .map(|n| AuditNode {
                    level: n.id.level,
                    index: n.id.index,
                    hash: n.hash,
                })
                .collect(),
            checkpoint: Some(AuditCheckpoint {
                size: end,
                note: signer.sign(&checkpoint),
                signed_at: now,
            }),
        };
        store.append_audit(&batch_rows).unwrap();
        frontier = grown.frontier;
        next = end;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(store.audit_size().unwrap(), total);
    total as f64 / secs
}

/// Where the benchmark's databases go.
fn bench_dir() -> PathBuf {
    std::env::var_os("ZION_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// The filesystem type of the mount holding `dir`, from /proc/mounts (the
/// longest mount point that is a prefix of its canonical path).
fn filesystem(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, fstype) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(point)
                .then(|| (point.len(), fstype.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown".to_owned(), |(_, fstype)| fstype)
}

fn main() {
    let dir = bench_dir();
    let fs = filesystem(&dir);
    println!("databases in {} ({fs})", dir.display());
    if fs == "tmpfs" || fs == "ramfs" {
        println!(
            "  warning: {fs} keeps files in memory, so fsync is free and these figures say nothing about durability; set ZION_BENCH_DIR to a folder on a disk"
        );
    }
    let baseline = run(2_000, 1);
    println!(
        "audit appends, durable (WAL, synchronous=FULL), entry + nodes + signed checkpoint per commit"
    );
    println!("  baseline, one commit per entry: {baseline:>9.0} entries/s");
    for batch in [100, 1_000] {
        let rate = run(200_000, batch);
        println!(
            "  batches of {batch:>5}:             {rate:>9.0} entries/s ({:.1}× the baseline; goal 10,000/s)",
            rate / baseline,
        );
    }
}
