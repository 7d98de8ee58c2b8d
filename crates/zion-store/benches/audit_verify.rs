//! Reading a large audit log back from the SQLite store: verifying all of
//! it, and proving single entries.
//!
//! A log of 1,000,000 entries is appended as the control plane appends it
//! (canonical JSON entries, their leaf hashes, the new tree nodes and a
//! signed checkpoint per append), spread over a year. The server signs a
//! checkpoint per change and the store keeps the first of each hour and the
//! latest, so a year of changes leaves at most 8,761 checkpoints whatever
//! the number of changes: the log is written as 8,772 appends of 114
//! entries, one an hour, which leaves exactly the checkpoints that a
//! million single changes spread evenly over the year would. Then the store
//! is reopened and:
//!
//! - the whole log is verified the way `GET /api/v1/audit/verify` does it
//!   (every checkpoint's signature, every entry against its stored leaf
//!   hash and its `seq`, every checkpoint's root and consistency with the
//!   one before). Goal: under 3 s. Baseline: scanning the same rows and
//!   doing nothing with them, which no verification can beat.
//! - inclusion proofs of 1,000 pseudo-random entries in the tree of
//!   1,000,000 are read from the store's nodes and checked against the
//!   latest signed root. Goal: under 1 ms each. Baseline: the same proofs
//!   from a `MemoryTree` holding the same leaf hashes.
//!
//! Verification and the scan are run several times, alternating, and the
//! best of each is compared, so that neither is favoured by a warmer cache.
//! Run: `cargo bench -p zion-store --bench audit_verify`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use zion_audit::{
    Checkpoint, Entry, Frontier, Hash, LogVerifier, MemoryTree, NodeId, NodeReader, Signer, append,
    inclusion_proof, verify_inclusion,
};
use zion_store::{
    AuditAppend, AuditCheckpoint, AuditNode, AuditRow, AuditStore, SqliteStore, Store,
};

const ORIGIN: &str = "zion/bench";
const ENTRIES: u64 = 1_000_000;
/// Entries per hour: a million over a year.
const BATCH: u64 = 114;
/// Between appends: each one's checkpoint is the first of its hour.
const EVERY: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);
const PROOFS: usize = 1_000;
const ROUNDS: usize = 3;

/// Appends [`ENTRIES`] entries in batches of [`BATCH`]; returns every leaf
/// hash, in order, and the mean entry size in bytes.
fn build(path: &Path, signer: &Signer) -> (Vec<Hash>, f64) {
    let store = SqliteStore::open(path).unwrap();
    let mut frontier = Frontier::new();
    let mut all_leaves = Vec::with_capacity(ENTRIES as usize);
    let mut bytes = 0usize;
    let mut next = 0;
    let mut now = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 366);
    while next < ENTRIES {
        let end = (next + BATCH).min(ENTRIES);
        now = now.checked_add(EVERY).unwrap();
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
        let leaves: Vec<Hash> = entries.iter().map(Entry::leaf_hash).collect();
        let grown = append(&frontier, &leaves);
        let checkpoint = Checkpoint::new(ORIGIN, end, grown.frontier.root()).unwrap();
        let rows: Vec<AuditRow> = entries
            .iter()
            .map(|e| AuditRow {
                index: e.seq,
                time: now,
                action: e.action.clone(),
                subject: e.subject.clone(),
                entry: e.canonical_json(),
            })
            .collect();
        bytes += rows.iter().map(|r| r.entry.len()).sum::<usize>();
        let batch_rows = AuditAppend {
            outbox: Vec::new(),
            rows,
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
        all_leaves.extend_from_slice(&leaves);
        frontier = grown.frontier;
        next = end;
    }
    assert_eq!(store.audit_size().unwrap(), ENTRIES);
    (all_leaves, bytes as f64 / ENTRIES as f64)
}

/// What the server's verification established.
struct Verified {
    entries: u64,
    root: Hash,
    checkpoints: usize,
    latest_size: Option<u64>,
}

/// The server's verification, line for line: in one read snapshot, the
/// checkpoints' notes, a [`LogVerifier`], one scan feeding every entry with
/// its stored leaf hash, and `finish`.
fn verify(store: &dyn Store, signer: &Signer) -> Verified {
    let mut out = None;
    store
        .audit_snapshot(&mut |snap| {
            let notes: Vec<String> = snap.checkpoints()?.into_iter().map(|c| c.note).collect();
            let mut v = LogVerifier::new(&signer.verifier(), &notes).unwrap();
            let mut failure = None;
            snap.scan(
                0,
                &mut |e, leaf| match v.push(e.index, &e.entry, leaf.as_ref()) {
                    Ok(()) => true,
                    Err(err) => {
                        failure = Some((err, e.index));
                        false
                    }
                },
            )?;
            if let Some((err, index)) = failure {
                panic!("verification failed at entry {index}: {err}");
            }
            let report = v.finish().unwrap();
            out = Some(Verified {
                entries: report.entries,
                root: report.root,
                checkpoints: report.checkpoints,
                latest_size: report.latest.as_ref().map(Checkpoint::size),
            });
            Ok(())
        })
        .unwrap();
    out.unwrap()
}

/// The baseline: the same scan, only counting the rows.
fn scan_only(store: &dyn Store) -> u64 {
    let mut count = 0u64;
    store
        .scan_audit(0, &mut |_, _| {
            count += 1;
            true
        })
        .unwrap();
    count
}

/// The store's nodes, all of a proof's asked for in one call (as the
/// server's reader does).
struct Nodes<'a>(&'a dyn Store);

impl NodeReader for Nodes<'_> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        self.nodes(&[NodeId::new(level, index)])
            .map(|mut found| found.remove(0))
    }

    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, String> {
        let asked: Vec<(u8, u64)> = ids.iter().map(|id| (id.level, id.index)).collect();
        let found = self.0.audit_nodes(&asked).map_err(|e| e.to_string())?;
        found
            .into_iter()
            .zip(&asked)
            .map(|(h, (level, index))| {
                h.ok_or_else(|| format!("tree node ({level}, {index}) is missing"))
            })
            .collect()
    }
}

/// xorshift64: the same indexes on every run.
fn indexes(count: usize, below: u64) -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        })
        .collect()
}

/// Times `prove` on every index: (mean, p99) per proof, and the proofs.
fn time_proofs(
    indexes: &[u64],
    mut prove: impl FnMut(u64) -> Vec<Hash>,
) -> (Duration, Duration, Vec<Vec<Hash>>) {
    let mut took = Vec::with_capacity(indexes.len());
    let mut proofs = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let start = Instant::now();
        let proof = prove(index);
        took.push(start.elapsed());
        proofs.push(proof);
    }
    let mean = took.iter().sum::<Duration>() / took.len() as u32;
    took.sort();
    // Nearest rank: the smallest time at or above 99 % of the samples.
    let p99 = took[(took.len() * 99).div_ceil(100) - 1];
    (mean, p99, proofs)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    let signer = Signer::generate(ORIGIN).unwrap();

    let start = Instant::now();
    let (leaves, entry_bytes) = build(&path, &signer);
    let built = start.elapsed();
    println!(
        "audit log of {ENTRIES} entries ({entry_bytes:.0} bytes each on average) in SQLite, \
         appended {BATCH} an hour over a year, with nodes and a signed checkpoint each; {} checkpoints kept",
        SqliteStore::open(&path)
            .unwrap()
            .audit_checkpoints()
            .unwrap()
            .len()
    );
    println!(
        "  building: {:.1} s ({:.0} entries/s)",
        built.as_secs_f64(),
        ENTRIES as f64 / built.as_secs_f64()
    );

    let mut memory = MemoryTree::new();
    for leaf in &leaves {
        memory.push_leaf_hash(*leaf);
    }

    // Everything below reads a freshly opened store, as a restarted server
    // would.
    let store = SqliteStore::open(&path).unwrap();

    let mut scans = Vec::with_capacity(ROUNDS);
    let mut verifies = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let count = scan_only(&store);
        scans.push(start.elapsed());
        assert_eq!(count, ENTRIES);

        let start = Instant::now();
        let verified = verify(&store, &signer);
        verifies.push(start.elapsed());
        assert_eq!(verified.entries, ENTRIES);
        assert_eq!(verified.checkpoints, ENTRIES.div_ceil(BATCH) as usize);
        assert_eq!(verified.latest_size, Some(ENTRIES));
        assert_eq!(verified.root, memory.root());
    }
    let scan = *scans.iter().min().unwrap();
    let full = *verifies.iter().min().unwrap();
    let list = |ds: &[Duration]| {
        ds.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  full verification (checkpoints, LogVerifier, scan_audit, finish), best of {ROUNDS}:"
    );
    println!(
        "    baseline, scan only:  {:>6.2} s (runs: {} s)",
        scan.as_secs_f64(),
        list(&scans)
    );
    println!(
        "    verification:         {:>6.2} s (runs: {} s; {:.0} entries/s; {:.2}× the scan; goal under 3 s)",
        full.as_secs_f64(),
        list(&verifies),
        ENTRIES as f64 / full.as_secs_f64(),
        full.as_secs_f64() / scan.as_secs_f64()
    );

    // The root every proof is checked against: the latest signed one.
    let latest = store.audit_checkpoints().unwrap().pop().unwrap();
    let latest = signer.verifier().verify(&latest.note).unwrap();
    assert_eq!(latest.size(), ENTRIES);
    let root = *latest.root();
    assert_eq!(root, memory.root());

    let picks = indexes(PROOFS, ENTRIES);
    let reader = Nodes(&store);
    let (store_mean, store_p99, store_proofs) = time_proofs(&picks, |index| {
        let proof = inclusion_proof(&reader, index, ENTRIES).unwrap();
        let leaf = store.audit_nodes(&[(0, index)]).unwrap()[0].unwrap();
        verify_inclusion(&leaf, index, ENTRIES, &proof, &root).unwrap();
        proof
    });
    let (memory_mean, memory_p99, memory_proofs) = time_proofs(&picks, |index| {
        let proof = memory.inclusion_proof(index, ENTRIES).unwrap();
        let leaf = memory.leaf_hash(index).unwrap();
        verify_inclusion(&leaf, index, ENTRIES, &proof, &root).unwrap();
        proof
    });
    assert_eq!(store_proofs, memory_proofs);
    let hashes = store_proofs.iter().map(Vec::len).sum::<usize>() as f64 / PROOFS as f64;
    println!(
        "  inclusion proofs at size {ENTRIES}, {PROOFS} random entries ({hashes:.1} hashes each), generated and verified against the latest signed root:"
    );
    println!(
        "    baseline, MemoryTree: mean {:>7.1} µs, p99 {:>7.1} µs",
        micros(memory_mean),
        micros(memory_p99)
    );
    println!(
        "    from the store:       mean {:>7.1} µs, p99 {:>7.1} µs ({:.1}× the baseline's mean; goal under 1,000 µs)",
        micros(store_mean),
        micros(store_p99),
        store_mean.as_secs_f64() / memory_mean.as_secs_f64()
    );
}
