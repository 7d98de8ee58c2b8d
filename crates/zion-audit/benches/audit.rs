//! Figures for the audit log at 1,000,000 entries, each against a baseline
//! measured in the same run. Run with `cargo bench -p zion-audit`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use zion_audit::{
    Checkpoint, Entry, Frontier, Hash, MemoryTree, Signer, append, leaf_hash, verify_inclusion,
    verify_log,
};

const N: u64 = 1_000_000;

/// xorshift64: reproducible indexes without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn entry(seq: u64) -> Vec<u8> {
    let weight = [5, 25, 50, 100][(seq % 4) as usize];
    Entry::new(
        seq,
        jiff::Timestamp::from_second(1_780_000_000 + seq as i64).unwrap(),
        "alice",
        "deployment.promoted",
        format!("deployment/{}", seq / 7),
        json!({
            "service": "checkout-api",
            "environment": "production",
            "from_version": "1.4.2",
            "to_version": "1.4.3",
            "step": seq % 4,
            "weight": weight,
        }),
    )
    .canonical_json()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    println!("zion-audit benchmarks, {N} entries");

    // Data: realistic canonical entries and their leaf hashes.
    let t = Instant::now();
    let entries: Vec<Vec<u8>> = (0..N).map(entry).collect();
    let bytes: usize = entries.iter().map(Vec::len).sum();
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let mut tree = MemoryTree::new();
    for leaf in &leaves {
        tree.push_leaf_hash(*leaf);
    }
    println!(
        "setup: {:.2} s, mean entry {} bytes",
        secs(t.elapsed()),
        bytes / N as usize
    );

    // (a) One inclusion proof, generated and verified, against recomputing
    // the root from every leaf hash.
    let t = Instant::now();
    let mut f = Frontier::new();
    for leaf in &leaves {
        f.push(*leaf, |_| {});
    }
    let root = black_box(f.root());
    let baseline = t.elapsed();
    assert_eq!(root, tree.root());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let proofs = 10_000u32;
    let t = Instant::now();
    for _ in 0..proofs {
        let index = rng.next() % N;
        let proof = tree.inclusion_proof(index, N).unwrap();
        verify_inclusion(&leaves[index as usize], index, N, &proof, &root).unwrap();
    }
    let per_proof = t.elapsed() / proofs;
    println!(
        "(a) inclusion proof, generate + verify: {:.2} µs mean over {proofs}; \
         root from all leaves: {:.1} ms; ratio {:.0}× faster",
        per_proof.as_secs_f64() * 1e6,
        baseline.as_secs_f64() * 1e3,
        baseline.as_secs_f64() / per_proof.as_secs_f64()
    );

    // (b) The streaming verifier over the whole log (leaf hashes, seq,
    // roots at 101 signed checkpoints, consistency between them) against
    // plain SHA-256 over the same bytes.
    let signer = Signer::from_seed("bench.example/audit", [1; 32]).unwrap();
    let notes: Vec<String> = (1..=100u64)
        .map(|k| k * N / 100)
        .chain([N / 3])
        .map(|size| {
            let cp =
                Checkpoint::new("bench.example/audit", size, tree.root_at(size).unwrap()).unwrap();
            signer.sign(&cp)
        })
        .collect();
    let t = Instant::now();
    let mut acc = [0u8; 32];
    for e in &entries {
        let d: [u8; 32] = Sha256::digest(e).into();
        acc[0] ^= d[0];
    }
    black_box(acc);
    let sha_only = t.elapsed();
    let verifier = signer.verifier();
    let t = Instant::now();
    let rows = entries
        .iter()
        .zip(&leaves)
        .enumerate()
        .map(|(i, (e, h))| (i as u64, e.as_slice(), Some(*h)));
    let report = verify_log(&verifier, &notes, rows).unwrap();
    let verify = t.elapsed();
    assert_eq!(report.entries, N);
    println!(
        "(b) verify {N} entries ({:.0} MB) against {} checkpoints: {:.2} s; \
         SHA-256 over the same bytes: {:.2} s; ratio {:.2}×",
        bytes as f64 / 1e6,
        notes.len(),
        secs(verify),
        secs(sha_only),
        secs(verify) / secs(sha_only)
    );

    // (c) Appends through the pure function, one leaf per call (a
    // transaction per change) and in batches of 100.
    for batch in [1usize, 100] {
        let mut frontier = Frontier::new();
        let mut written = 0usize;
        let t = Instant::now();
        for chunk in leaves.chunks(batch) {
            let out = append(&frontier, chunk);
            written += out.nodes.len();
            frontier = out.frontier;
        }
        let elapsed = t.elapsed();
        assert_eq!(frontier.root(), root);
        println!(
            "(c) append, batches of {batch}: {:.0} leaves/s, {:.2} nodes written per leaf",
            N as f64 / secs(elapsed),
            written as f64 / N as f64
        );
    }
}
