use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::entry::Entry;
use crate::memory::MemoryTree;
use crate::note::Signer;
use crate::proof::consistency_plan;
use crate::test_support::leaves;
use crate::tree::frontier_ids;

const ORIGIN: &str = "zion.test/audit";

struct Log {
    signer: Signer,
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
}

impl Log {
    fn new(n: u64) -> Self {
        let signer = Signer::from_seed(ORIGIN, [9; 32]).unwrap();
        let mut tree = MemoryTree::new();
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|seq| {
                let e = Entry::new(
                    seq,
                    jiff::Timestamp::from_second(1_780_000_000 + seq as i64).unwrap(),
                    "alice",
                    "deployment.promoted",
                    format!("deployment/{}", seq / 3),
                    json!({"weight": seq % 100, "note": "ünïcode \"quoted\""}),
                );
                e.canonical_json()
            })
            .collect();
        for e in &entries {
            tree.push(e);
        }
        Self {
            signer,
            entries,
            tree,
        }
    }

    fn note(&self, size: u64) -> String {
        let cp = Checkpoint::new(ORIGIN, size, self.tree.root_at(size).unwrap()).unwrap();
        self.signer.sign(&cp)
    }

    fn rows(&self) -> Vec<(u64, Vec<u8>, Option<Hash>)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64, e.clone(), Some(leaf_hash(e))))
            .collect()
    }

    fn verify(
        &self,
        notes: &[String],
        rows: Vec<(u64, Vec<u8>, Option<Hash>)>,
    ) -> Result<VerifyReport, VerifyError> {
        verify_log(&self.signer.verifier(), notes, rows)
    }
}

#[test]
fn an_intact_log_verifies() {
    let log = Log::new(100);
    // Out of order, with a duplicate and the empty tree.
    let notes = vec![
        log.note(64),
        log.note(7),
        log.note(0),
        log.note(64),
        log.note(90),
    ];
    let mut notes = notes;
    notes.push(log.note(100));
    let report = log.verify(&notes, log.rows()).unwrap();
    assert_eq!(report.entries, 100);
    assert_eq!(report.root, log.tree.root());
    assert_eq!(report.checkpoints, 5);
    assert_eq!(report.latest.as_ref().map(Checkpoint::size), Some(100));
    assert_eq!(report.unsigned_entries, 0);
    // Without stored leaf hashes (a bundle) too.
    let rows: Vec<_> = log
        .rows()
        .into_iter()
        .map(|(i, e, _)| (i, e, None))
        .collect();
    assert_eq!(log.verify(&notes, rows.clone()).unwrap(), report);
}

#[test]
fn entries_past_the_latest_checkpoint_fail_unless_allowed() {
    let log = Log::new(100);
    let notes = vec![log.note(7), log.note(90)];
    // Every append is signed, so a tail no checkpoint covers was added
    // behind the log's back: named from its first entry.
    let err = log.verify(&notes, log.rows()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::UnsignedEntries {
            first: 90,
            last: 99
        }
    );
    assert_eq!(err.first_bad_index(), Some(90));
    let none: Vec<String> = vec![];
    assert_eq!(
        log.verify(&none, log.rows()),
        Err(VerifyError::UnsignedEntries { first: 0, last: 99 })
    );
    // A log that signs only now and then may allow it, and is told how
    // many entries no signature covers.
    let mut v = LogVerifier::new(&log.signer.verifier(), &notes).unwrap();
    for (i, e, h) in log.rows() {
        v.push(i, &e, h.as_ref()).unwrap();
    }
    let report = v.finish_allowing_unsigned().unwrap();
    assert_eq!(report.unsigned_entries, 10);
    assert_eq!(report.latest.as_ref().map(Checkpoint::size), Some(90));
}

/// Verifies `rows[from..]` resuming from `prefix`.
fn resumed(
    log: &Log,
    prefix: &VerifiedPrefix,
    notes: &[String],
    rows: &[(u64, Vec<u8>, Option<Hash>)],
) -> Result<(VerifyReport, Option<VerifiedPrefix>), VerifyError> {
    let mut v = LogVerifier::resume(&log.signer.verifier(), prefix, notes)?;
    for (i, e, h) in &rows[prefix.size() as usize..] {
        v.push(*i, e, h.as_ref())?;
    }
    v.finish_resumable()
}

#[test]
fn a_grown_log_is_verified_from_where_the_last_verification_ended() {
    let log = Log::new(100);
    // Verified in full at 40 entries, with checkpoints at 10 and 40.
    let early = vec![log.note(10), log.note(40)];
    let mut v = LogVerifier::new(&log.signer.verifier(), &early).unwrap();
    for (i, e, h) in &log.rows()[..40] {
        v.push(*i, e, h.as_ref()).unwrap();
    }
    let (_, prefix) = v.finish_resumable().unwrap();
    let prefix = prefix.unwrap();
    assert_eq!(prefix.size(), 40);

    // Grown to 100, signed at 70 and 100: only what is past 40 is read,
    // and the result is the full verification's.
    let notes = vec![log.note(10), log.note(40), log.note(70), log.note(100)];
    let full = log.verify(&notes, log.rows()).unwrap();
    let (report, next) = resumed(&log, &prefix, &notes, &log.rows()).unwrap();
    assert_eq!(report.entries, full.entries);
    assert_eq!(report.root, full.root);
    assert_eq!(report.latest, full.latest);
    assert_eq!(next.unwrap().size(), 100);

    // An entry past the prefix altered, or a new checkpoint that forks from
    // the prefix's, is caught; checkpoints below the prefix are not read
    // again (a garbled one there changes nothing).
    let mut rows = log.rows();
    rows[55].1 = b"{\"seq\":55}".to_vec();
    assert_eq!(
        resumed(&log, &prefix, &notes, &rows).unwrap_err(),
        VerifyError::LeafHashMismatch { index: 55 }
    );
    let other = Log::new(100);
    let mut forked_tree = MemoryTree::new();
    for (i, e) in other.entries.iter().enumerate() {
        if i == 3 {
            forked_tree.push(b"forged");
        } else {
            forked_tree.push(e);
        }
    }
    let forked = log
        .signer
        .sign(&Checkpoint::new(ORIGIN, 100, forked_tree.root()).unwrap());
    let r = resumed(&log, &prefix, &[log.note(40), forked], &log.rows());
    assert!(
        matches!(r, Err(VerifyError::RootMismatch { size: 100, .. })),
        "{r:?}"
    );
    let garbled = vec!["not a note\n3\n".to_string(), log.note(100)];
    assert!(resumed(&log, &prefix, &garbled, &log.rows()).is_ok());
    // The same size signed with another root is a fork.
    let mut fork_at_prefix = MemoryTree::new();
    fork_at_prefix.push(b"forged");
    for e in &log.entries[1..40] {
        fork_at_prefix.push(e);
    }
    let forked = log
        .signer
        .sign(&Checkpoint::new(ORIGIN, 40, fork_at_prefix.root()).unwrap());
    assert_eq!(
        resumed(&log, &prefix, &[forked, log.note(100)], &log.rows()).unwrap_err(),
        VerifyError::ConflictingCheckpoints { size: 40 }
    );
}

#[test]
fn an_altered_entry_is_named() {
    let log = Log::new(50);
    let notes = vec![log.note(50)];
    // Bytes changed, stored hash left alone.
    let mut rows = log.rows();
    rows[17].1 = String::from_utf8(rows[17].1.clone())
        .unwrap()
        .replace("alice", "mallory")
        .into_bytes();
    assert_eq!(
        log.verify(&notes, rows.clone()),
        Err(VerifyError::LeafHashMismatch { index: 17 })
    );
    // Stored hash rewritten as well: only the signed root can tell.
    rows[17].2 = Some(leaf_hash(&rows[17].1));
    assert!(matches!(
        log.verify(&notes, rows.clone()),
        Err(VerifyError::RootMismatch { size: 50, .. })
    ));
    // With checkpoints on both sides, the first one after the change names it.
    let notes = vec![log.note(10), log.note(20), log.note(50)];
    assert!(matches!(
        log.verify(&notes, rows),
        Err(VerifyError::RootMismatch { size: 20, .. })
    ));
}

#[test]
fn deleted_entries_are_named() {
    let log = Log::new(40);
    let notes = vec![log.note(40)];
    // A gap in the indexes.
    let mut rows = log.rows();
    rows.remove(12);
    assert_eq!(
        log.verify(&notes, rows.clone()),
        Err(VerifyError::UnexpectedIndex {
            expected: 12,
            found: 13
        })
    );
    // The gap closed by renumbering: the entry's own seq gives it away.
    for (i, row) in rows.iter_mut().enumerate() {
        row.0 = i as u64;
    }
    assert_eq!(
        log.verify(&notes, rows),
        Err(VerifyError::SeqMismatch { index: 12, seq: 13 })
    );
    // The tail cut off.
    let mut rows = log.rows();
    rows.truncate(35);
    assert_eq!(
        log.verify(&notes, rows),
        Err(VerifyError::CheckpointBeyondLog {
            size: 40,
            entries: 35
        })
    );
    assert_eq!(
        VerifyError::CheckpointBeyondLog {
            size: 40,
            entries: 35
        }
        .first_bad_index(),
        Some(35)
    );
}

#[test]
fn reordered_entries_are_named() {
    let log = Log::new(30);
    let notes = vec![log.note(30)];
    let mut rows = log.rows();
    // Swap the contents of rows 8 and 21, hashes and all.
    let (a, b) = (rows[8].clone(), rows[21].clone());
    rows[8] = (8, b.1, b.2);
    rows[21] = (21, a.1, a.2);
    assert_eq!(
        log.verify(&notes, rows),
        Err(VerifyError::SeqMismatch { index: 8, seq: 21 })
    );
    // Rows delivered out of order.
    let mut rows = log.rows();
    rows.swap(3, 4);
    assert_eq!(
        log.verify(&notes, rows),
        Err(VerifyError::UnexpectedIndex {
            expected: 3,
            found: 4
        })
    );
}

#[test]
fn unreadable_entries_are_named() {
    let log = Log::new(5);
    let mut rows = log.rows();
    rows[2].1 = b"not json".to_vec();
    rows[2].2 = Some(leaf_hash(&rows[2].1));
    assert!(matches!(
        log.verify(&[log.note(5)], rows),
        Err(VerifyError::BadEntry { index: 2, .. })
    ));
}

#[test]
fn bad_checkpoints_are_named() {
    let log = Log::new(20);
    // Signed by another key.
    let other = Signer::from_seed(ORIGIN, [1; 32]).unwrap();
    let cp = Checkpoint::new(ORIGIN, 20, log.tree.root()).unwrap();
    let notes = vec![log.note(10), other.sign(&cp)];
    assert!(matches!(
        log.verify(&notes, log.rows()),
        Err(VerifyError::Checkpoint {
            position: 1,
            source: NoteError::NotSigned { .. }
        })
    ));
    // Tampered after signing.
    let notes = vec![log.note(20).replacen("\n20\n", "\n19\n", 1)];
    assert!(matches!(
        log.verify(&notes, log.rows()),
        Err(VerifyError::Checkpoint {
            position: 0,
            source: NoteError::BadSignature { .. }
        })
    ));
    // Another log's checkpoint under the same key.
    let elsewhere = Checkpoint::new("elsewhere", 20, log.tree.root()).unwrap();
    let notes = vec![log.note(20), log.signer.sign(&elsewhere)];
    assert!(matches!(
        log.verify(&notes, log.rows()),
        Err(VerifyError::OriginMismatch { position: 1, .. })
    ));
    // Two signed histories for one size: a fork.
    let forked = Checkpoint::new(ORIGIN, 15, leaf_hash(b"fork")).unwrap();
    let notes = vec![log.note(15), log.signer.sign(&forked)];
    assert_eq!(
        log.verify(&notes, log.rows()),
        Err(VerifyError::ConflictingCheckpoints { size: 15 })
    );
    // A signed root that the entries do not produce.
    let wrong = Checkpoint::new(ORIGIN, 12, log.tree.root_at(11).unwrap()).unwrap();
    let notes = vec![log.signer.sign(&wrong)];
    assert!(matches!(
        log.verify(&notes, log.rows()),
        Err(VerifyError::RootMismatch { size: 12, .. })
    ));
    // The empty tree's checkpoint must carry the empty root.
    let empty = Checkpoint::new(ORIGIN, 0, leaf_hash(b"x")).unwrap();
    assert!(matches!(
        LogVerifier::new(&log.signer.verifier(), &[log.signer.sign(&empty)]),
        Err(VerifyError::RootMismatch { size: 0, .. })
    ));
}

/// Streams `all` past checkpoints at `old` and `new` and returns the
/// consistency proof the verifier assembled from what it captured.
fn streamed_proof(all: &[Hash], old: u64, new: u64) -> Vec<Hash> {
    let mut lv = LogVerifier {
        checkpoints: Vec::new(),
        next: 0,
        frontier: Frontier::new(),
        pending: Pending::default(),
    };
    for size in [old, new] {
        lv.checkpoints
            .push(Checkpoint::new(ORIGIN, size, [0; 32]).unwrap());
    }
    for leaf in &all[..old as usize] {
        lv.frontier.push(*leaf, |_| {});
    }
    lv.next = 1;
    lv.plan_next_consistency();
    for leaf in &all[old as usize..new as usize] {
        let pending = &mut lv.pending;
        lv.frontier.push(*leaf, |node| pending.capture(&node));
    }
    lv.pending_proof()
}

#[test]
fn consistency_nodes_inside_the_old_tree_are_its_frontier() {
    // The streaming verifier relies on this to keep only O(log n) nodes.
    for new in 2..=300u64 {
        for old in 1..new {
            let frontier = frontier_ids(old);
            for id in consistency_plan(old, new).ids {
                assert!(
                    id.end() > old || frontier.contains(&id),
                    "{old}->{new}: {id:?}"
                );
            }
        }
    }
}

#[test]
fn streamed_consistency_proofs_equal_stored_ones() {
    let all = leaves(64);
    let mut tree = MemoryTree::new();
    for leaf in &all {
        tree.push_leaf_hash(*leaf);
    }
    for new in 2..=64u64 {
        for old in 1..new {
            assert_eq!(
                streamed_proof(&all, old, new),
                tree.consistency_proof(old, new).unwrap(),
                "{old}->{new}"
            );
        }
    }
}

#[test]
fn an_inconsistent_pair_is_reported() {
    let log = Log::new(12);
    let all: Vec<Hash> = log.entries.iter().map(|e| leaf_hash(e)).collect();
    let mut lv = LogVerifier::new(&log.signer.verifier(), &[log.note(5), log.note(12)]).unwrap();
    for (i, e) in log.entries.iter().enumerate().take(11) {
        lv.push(i as u64, e, None).unwrap();
    }
    // Feed the last leaf without reaching the checkpoint, then check the
    // real new checkpoint against a forged old one.
    let pending = &mut lv.pending;
    lv.frontier.push(all[11], |node| pending.capture(&node));
    let forged_old = Checkpoint::new(ORIGIN, 5, log.tree.root_at(4).unwrap()).unwrap();
    let new = Checkpoint::new(ORIGIN, 12, log.tree.root()).unwrap();
    assert_eq!(
        lv.check_consistency(&forged_old, &new),
        Err(VerifyError::Inconsistent {
            old: 5,
            new: 12,
            source: ProofError::OldRootMismatch
        })
    );
    let real_old = Checkpoint::new(ORIGIN, 5, log.tree.root_at(5).unwrap()).unwrap();
    assert_eq!(lv.check_consistency(&real_old, &new), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn many_checkpoints_verify_and_any_alteration_is_caught(
        n in 1..=300u64,
        sizes in proptest::collection::vec(any::<u64>(), 0..8),
        victim in any::<u64>(),
    ) {
        let log = Log::new(n);
        let mut sizes: Vec<u64> = sizes.into_iter().map(|s| s % (n + 1)).collect();
        sizes.push(n);
        let notes: Vec<String> = sizes.iter().map(|&s| log.note(s)).collect();
        let report = log.verify(&notes, log.rows()).unwrap();
        prop_assert_eq!(report.entries, n);
        prop_assert_eq!(report.unsigned_entries, 0);

        let victim = victim % n;
        let mut rows = log.rows();
        rows[victim as usize].1.push(b' ');
        prop_assert_eq!(
            log.verify(&notes, rows.clone()),
            Err(VerifyError::LeafHashMismatch { index: victim })
        );
        rows[victim as usize].2 = None;
        let first_covering = sizes.iter().copied().filter(|&s| s > victim).min().unwrap();
        let is_root_mismatch_at_first_covering = matches!(
            log.verify(&notes, rows),
            Err(VerifyError::RootMismatch { size, .. }) if size == first_covering
        );
        prop_assert!(is_root_mismatch_at_first_covering);
    }
}
