//! Streaming verification of a whole log against its signed checkpoints.
//!
//! Entries are fed in order and folded into a frontier, so memory stays
//! O(log n) and time is one leaf hash plus about one node hash per entry.
//! At each checkpoint's size the recomputed root must equal the signed
//! one, and each checkpoint must be provably consistent with the one
//! before it: the consistency proof is rebuilt from nodes captured while
//! streaming and checked with the RFC 9162 algorithm.

use serde::Deserialize;

use crate::checkpoint::Checkpoint;
use crate::hash::{Hash, leaf_hash, to_hex};
use crate::note::{NoteError, Verifier};
use crate::proof::{ProofError, consistency_plan, verify_consistency};
use crate::tree::{Frontier, Node, NodeId, fold_right};

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("checkpoint #{position} does not verify: {source}")]
    Checkpoint {
        /// Its position in the list given.
        position: usize,
        source: NoteError,
    },
    #[error("checkpoint #{position} is for log {found:?}, the others for {expected:?}")]
    OriginMismatch {
        position: usize,
        expected: String,
        found: String,
    },
    #[error("two signed checkpoints give different roots for size {size}: the log forked")]
    ConflictingCheckpoints { size: u64 },
    #[error(
        "expected entry {expected} but got entry {found}: entries are missing, repeated or out of order"
    )]
    UnexpectedIndex { expected: u64, found: u64 },
    #[error("entry {index} was altered: its bytes do not hash to the stored leaf hash")]
    LeafHashMismatch { index: u64 },
    #[error("entry {index} is unreadable: {reason}")]
    BadEntry { index: u64, reason: String },
    #[error("entry {index} says it is entry {seq}: entries were moved or renumbered")]
    SeqMismatch { index: u64, seq: u64 },
    #[error(
        "the first {size} entries hash to root {}, but the signed checkpoint says {}: entries before {size} were altered, added or removed",
        to_hex(.computed),
        to_hex(.signed)
    )]
    RootMismatch {
        size: u64,
        computed: Hash,
        signed: Hash,
    },
    #[error("checkpoint at size {new} is not consistent with checkpoint at size {old}: {source}")]
    Inconsistent {
        old: u64,
        new: u64,
        source: ProofError,
    },
    #[error(
        "checkpoint at size {size} covers entries that are missing: the log has only {entries}, so entries from {entries} on were removed"
    )]
    CheckpointBeyondLog { size: u64, entries: u64 },
    /// Every append is signed in the transaction that writes it, so entries
    /// past the latest checkpoint were not written by the log (or the
    /// checkpoint that covered them was removed).
    #[error(
        "entries {first} to {last} are covered by no signed checkpoint (the latest covers {first}): they were added outside the log, or their checkpoint was removed"
    )]
    UnsignedEntries { first: u64, last: u64 },
}

impl VerifyError {
    /// The first entry the failure points at, when it names one.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            VerifyError::UnexpectedIndex { expected, .. } => Some(*expected),
            VerifyError::LeafHashMismatch { index }
            | VerifyError::BadEntry { index, .. }
            | VerifyError::SeqMismatch { index, .. } => Some(*index),
            VerifyError::CheckpointBeyondLog { entries, .. } => Some(*entries),
            VerifyError::UnsignedEntries { first, .. } => Some(*first),
            VerifyError::Checkpoint { .. }
            | VerifyError::OriginMismatch { .. }
            | VerifyError::ConflictingCheckpoints { .. }
            | VerifyError::RootMismatch { .. }
            | VerifyError::Inconsistent { .. } => None,
        }
    }
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The root of all of them.
    pub root: Hash,
    /// Distinct checkpoints matched (equal duplicates count once).
    pub checkpoints: usize,
    /// The largest checkpoint, if any was given.
    pub latest: Option<Checkpoint>,
    /// Entries after the latest checkpoint: intact as far as their stored
    /// hashes go, but not covered by a signature. Only
    /// [`LogVerifier::finish_allowing_unsigned`] reports any.
    pub unsigned_entries: u64,
}

/// A verified prefix of a log: its latest checkpoint and the frontier the
/// verifier computed there from the entries themselves (never read from a
/// store). [`LogVerifier::resume`] continues from it, so a log that only
/// grew is verified again at the cost of what was added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPrefix {
    frontier: Frontier,
    checkpoint: Checkpoint,
}

impl VerifiedPrefix {
    /// Entries verified.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
}

/// The nodes a pending consistency proof needs, with the hashes found so far.
#[derive(Debug, Default)]
struct Pending {
    ids: Vec<NodeId>,
    hashes: Vec<Option<Hash>>,
    elements: Vec<(usize, usize)>,
    /// Positions into `ids` in the order the nodes complete while streaming.
    order: Vec<usize>,
    next: usize,
}

impl Pending {
    fn capture(&mut self, node: &Node) {
        // Nodes complete in (end, level) order, which is how `order` is
        // sorted, so only the head needs a look.
        while let Some(&at) = self.order.get(self.next) {
            if self.ids[at] != node.id {
                return;
            }
            self.hashes[at] = Some(node.hash);
            self.next += 1;
        }
    }
}

/// Verifies a log entry by entry.
#[derive(Debug)]
pub struct LogVerifier {
    checkpoints: Vec<Checkpoint>,
    /// The next checkpoint to reach.
    next: usize,
    frontier: Frontier,
    /// The consistency proof from the last reached checkpoint to `next`.
    pending: Pending,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

impl LogVerifier {
    /// Checks every checkpoint note's signature with `verifier` and prepares
    /// to stream the log from entry 0.
    pub fn new<S: AsRef<str>>(verifier: &Verifier, notes: &[S]) -> Result<Self, VerifyError> {
        Self::start(verifier, notes, None)
    }

    /// Prepares to stream the log from where `prefix` ends: only checkpoints
    /// past it are read (their signatures checked), the first of them must
    /// be consistent with the prefix's checkpoint, and the entries pushed
    /// start at `prefix.size()`. Checkpoints at or below the prefix were
    /// verified with it and are skipped.
    pub fn resume<S: AsRef<str>>(
        verifier: &Verifier,
        prefix: &VerifiedPrefix,
        notes: &[S],
    ) -> Result<Self, VerifyError> {
        Self::start(verifier, notes, Some(prefix))
    }

    fn start<S: AsRef<str>>(
        verifier: &Verifier,
        notes: &[S],
        prefix: Option<&VerifiedPrefix>,
    ) -> Result<Self, VerifyError> {
        let mut checkpoints: Vec<Checkpoint> =
            prefix.map(|p| p.checkpoint.clone()).into_iter().collect();
        let floor = prefix.map_or(0, VerifiedPrefix::size);
        for (position, note) in notes.iter().enumerate() {
            // Cheap to read without the signature: a signed note's size
            // line decides whether it is past the prefix at all.
            if prefix.is_some() && note_size(note.as_ref()).is_some_and(|n| n < floor) {
                continue;
            }
            let cp = verifier
                .verify(note.as_ref())
                .map_err(|source| VerifyError::Checkpoint { position, source })?;
            let other_origin = checkpoints
                .first()
                .map(Checkpoint::origin)
                .filter(|first| *first != cp.origin());
            if let Some(first) = other_origin {
                return Err(VerifyError::OriginMismatch {
                    position,
                    expected: first.to_string(),
                    found: cp.origin().to_string(),
                });
            }
            checkpoints.push(cp);
        }
        checkpoints.sort_by_key(Checkpoint::size);
        // One size, two roots: the log showed different histories.
        for pair in checkpoints.windows(2) {
            if pair[0].size() == pair[1].size() && pair[0].root() != pair[1].root() {
                return Err(VerifyError::ConflictingCheckpoints {
                    size: pair[0].size(),
                });
            }
        }
        checkpoints.dedup();
        let mut verifier = Self {
            checkpoints,
            next: 0,
            frontier: prefix.map(|p| p.frontier.clone()).unwrap_or_default(),
            pending: Pending::default(),
        };
        if prefix.is_some() {
            // The prefix's own checkpoint is reached already.
            verifier.next = 1;
            verifier.plan_next_consistency();
        } else {
            verifier.reach_checkpoints()?;
        }
        Ok(verifier)
    }

    /// Ends the stream like [`Self::finish`], and returns what it verified,
    /// to [`Self::resume`] from next time.
    pub fn finish_resumable(self) -> Result<(VerifyReport, Option<VerifiedPrefix>), VerifyError> {
        let frontier = self.frontier.clone();
        let report = self.finish()?;
        let prefix = report.latest.clone().map(|checkpoint| VerifiedPrefix {
            frontier,
            checkpoint,
        });
        Ok((report, prefix))
    }

    /// The number of entries checked so far.
    pub fn entries(&self) -> u64 {
        self.frontier.size()
    }

    /// Checks the next entry: its position, that `data` hashes to the stored
    /// leaf hash (when the store keeps one) and that its `seq` is `index`.
    pub fn push(
        &mut self,
        index: u64,
        data: &[u8],
        stored_leaf_hash: Option<&Hash>,
    ) -> Result<(), VerifyError> {
        let expected = self.frontier.size();
        if index != expected {
            return Err(VerifyError::UnexpectedIndex {
                expected,
                found: index,
            });
        }
        let leaf = leaf_hash(data);
        if stored_leaf_hash.is_some_and(|stored| *stored != leaf) {
            return Err(VerifyError::LeafHashMismatch { index });
        }
        let seq = serde_json::from_slice::<SeqOnly>(data)
            .map_err(|e| VerifyError::BadEntry {
                index,
                reason: e.to_string(),
            })?
            .seq;
        if seq != index {
            return Err(VerifyError::SeqMismatch { index, seq });
        }
        let pending = &mut self.pending;
        self.frontier.push(leaf, |node| pending.capture(&node));
        self.reach_checkpoints()
    }

    /// Ends the stream: every checkpoint must have been reached, and every
    /// entry must be covered by one (Zion signs each append).
    pub fn finish(self) -> Result<VerifyReport, VerifyError> {
        let report = self.finish_allowing_unsigned()?;
        if report.unsigned_entries > 0 {
            return Err(VerifyError::UnsignedEntries {
                first: report.entries - report.unsigned_entries,
                last: report.entries - 1,
            });
        }
        Ok(report)
    }

    /// Ends the stream like [`Self::finish`], but accepts entries past the
    /// latest checkpoint (a log that signs only now and then), counting
    /// them in [`VerifyReport::unsigned_entries`].
    pub fn finish_allowing_unsigned(self) -> Result<VerifyReport, VerifyError> {
        let entries = self.frontier.size();
        if let Some(cp) = self.checkpoints.get(self.next) {
            return Err(VerifyError::CheckpointBeyondLog {
                size: cp.size(),
                entries,
            });
        }
        let latest = self.checkpoints.last().cloned();
        Ok(VerifyReport {
            entries,
            root: self.frontier.root(),
            checkpoints: self.checkpoints.len(),
            unsigned_entries: entries - latest.as_ref().map_or(0, Checkpoint::size),
            latest,
        })
    }

    /// Checks every checkpoint whose size the stream has just reached.
    fn reach_checkpoints(&mut self) -> Result<(), VerifyError> {
        let size = self.frontier.size();
        while let Some(cp) = self.checkpoints.get(self.next) {
            if cp.size() != size {
                return Ok(());
            }
            let computed = self.frontier.root();
            if computed != *cp.root() {
                return Err(VerifyError::RootMismatch {
                    size,
                    computed,
                    signed: *cp.root(),
                });
            }
            if self.next > 0 {
                let old = &self.checkpoints[self.next - 1];
                self.check_consistency(old, cp)?;
            }
            self.next += 1;
            self.plan_next_consistency();
        }
        Ok(())
    }

    /// The consistency proof planned at the last checkpoint, once the stream
    /// has reached the next one.
    fn pending_proof(&self) -> Vec<Hash> {
        // Every planned node is complete by the new size, so all were seen.
        let hashes: Vec<Hash> = self
            .pending
            .hashes
            .iter()
            .map(|h| h.expect("all nodes of a consistency proof complete by its new size"))
            .collect();
        self.pending
            .elements
            .iter()
            .map(|&(from, to)| fold_right(&hashes[from..to]))
            .collect()
    }

    fn check_consistency(&self, old: &Checkpoint, new: &Checkpoint) -> Result<(), VerifyError> {
        let proof = self.pending_proof();
        verify_consistency(old.size(), new.size(), old.root(), new.root(), &proof).map_err(
            |source| VerifyError::Inconsistent {
                old: old.size(),
                new: new.size(),
                source,
            },
        )
    }

    /// Plans the consistency proof from the checkpoint just reached to the
    /// next one. Nodes inside the old tree are its frontier, known now; the
    /// rest are captured as the stream completes them.
    fn plan_next_consistency(&mut self) {
        self.pending = Pending::default();
        let old = self.frontier.size();
        let Some(new) = self.checkpoints.get(self.next).map(Checkpoint::size) else {
            return;
        };
        if old == 0 || old == new {
            return;
        }
        let plan = consistency_plan(old, new);
        let known: Vec<Node> = self.frontier.nodes().collect();
        let hashes: Vec<Option<Hash>> = plan
            .ids
            .iter()
            .map(|id| known.iter().find(|n| n.id == *id).map(|n| n.hash))
            .collect();
        let mut order: Vec<usize> = (0..plan.ids.len())
            .filter(|&i| hashes[i].is_none())
            .collect();
        order.sort_by_key(|&i| (plan.ids[i].end(), plan.ids[i].level));
        self.pending = Pending {
            ids: plan.ids,
            hashes,
            elements: plan.elements,
            order,
            next: 0,
        };
    }
}

/// The tree size a checkpoint note states (its second line), unverified.
fn note_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.parse().ok()
}

/// Verifies a whole log: entries as (index, canonical bytes, stored leaf
/// hash if the store keeps one), in order, against the signed checkpoint
/// notes.
pub fn verify_log<S, I, B>(
    verifier: &Verifier,
    notes: &[S],
    entries: I,
) -> Result<VerifyReport, VerifyError>
where
    S: AsRef<str>,
    I: IntoIterator<Item = (u64, B, Option<Hash>)>,
    B: AsRef<[u8]>,
{
    let mut log = LogVerifier::new(verifier, notes)?;
    for (index, data, stored) in entries {
        log.push(index, data.as_ref(), stored.as_ref())?;
    }
    log.finish()
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
