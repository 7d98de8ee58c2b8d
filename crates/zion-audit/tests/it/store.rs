//! A store-like use of the API: nodes written by `append`, read back
//! through `NodeReader`, checkpoints signed and verified.

use std::collections::HashMap;

use serde_json::json;
use zion_audit::{
    Checkpoint, Entry, Frontier, Hash, NodeId, NodeReader, Signer, Verifier, append,
    consistency_proof, inclusion_proof, leaf_hash, root_at, verify_consistency, verify_inclusion,
    verify_log,
};

/// Rows keyed by (level, index), as a SQL table would hold them.
#[derive(Default)]
struct Table {
    rows: HashMap<NodeId, Hash>,
    reads: std::cell::Cell<usize>,
}

#[derive(Debug)]
struct NoRow;

impl NodeReader for Table {
    type Error = NoRow;
    fn node(&self, level: u8, index: u64) -> Result<Hash, NoRow> {
        self.reads.set(self.reads.get() + 1);
        self.rows
            .get(&NodeId::new(level, index))
            .copied()
            .ok_or(NoRow)
    }
}

fn entry(seq: u64) -> Vec<u8> {
    Entry::new(
        seq,
        jiff::Timestamp::from_second(1_780_000_000).unwrap(),
        "ci",
        "deployment.created",
        format!("deployment/{seq}"),
        json!({"service": "web", "version": format!("1.0.{seq}")}),
    )
    .canonical_json()
}

#[test]
fn a_store_appends_in_batches_and_serves_proofs() {
    let signer = Signer::generate("zion.test/log").unwrap();
    let verifier = Verifier::parse(&signer.verifier_key()).unwrap();
    let mut table = Table::default();
    let mut frontier = Frontier::new();
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    // One transaction per batch: new leaves, their nodes, a checkpoint.
    for batch in [1usize, 3, 1, 10, 7, 1, 40] {
        let start = frontier.size();
        let new: Vec<Vec<u8>> = (start..start + batch as u64).map(entry).collect();
        let hashes: Vec<Hash> = new.iter().map(|e| leaf_hash(e)).collect();
        let appended = append(&frontier, &hashes);
        assert!(appended.nodes.len() <= 2 * batch + 64);
        for node in &appended.nodes {
            assert!(
                table.rows.insert(node.id, node.hash).is_none(),
                "rewrote a node"
            );
        }
        frontier = appended.frontier;
        // The frontier a store would reload from its rows is the same.
        assert_eq!(Frontier::load(&table, frontier.size()).unwrap(), frontier);
        entries.extend(new);
        let cp = Checkpoint::new("zion.test/log", frontier.size(), frontier.root()).unwrap();
        notes.push(signer.sign(&cp));
    }
    let size = frontier.size();
    assert_eq!(size, 63);

    // Proofs for a client holding any two checkpoints.
    let checkpoints: Vec<Checkpoint> = notes.iter().map(|n| verifier.verify(n).unwrap()).collect();
    for pair in checkpoints.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        let proof = consistency_proof(&table, old.size(), new.size()).unwrap();
        verify_consistency(old.size(), new.size(), old.root(), new.root(), &proof).unwrap();
        assert_eq!(root_at(&table, old.size()).unwrap(), *old.root());
    }
    let latest = checkpoints.last().unwrap();
    for (index, e) in entries.iter().enumerate() {
        table.reads.set(0);
        let proof = inclusion_proof(&table, index as u64, size).unwrap();
        assert!(table.reads.get() <= 12, "{} reads", table.reads.get());
        verify_inclusion(&leaf_hash(e), index as u64, size, &proof, latest.root()).unwrap();
    }

    // And the whole log checks out end to end.
    let rows = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u64, e.as_slice(), Some(leaf_hash(e))));
    let report = verify_log(&verifier, &notes, rows).unwrap();
    assert_eq!(report.entries, 63);
    assert_eq!(report.checkpoints, 7);
    assert_eq!(report.latest.as_ref(), Some(latest));
}
