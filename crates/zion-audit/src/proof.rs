//! Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4).
//!
//! Generation follows the RFC's recursive PATH and SUBPROOF definitions, but
//! only plans which stored nodes each proof hash is made of, then reads them
//! in one batch: O(log n) reads, never a walk over the leaves. Verification
//! is the RFC's iterative algorithm, word for word.

use crate::hash::{Hash, empty_root, node_hash, to_hex};
use crate::tree::{NodeId, NodeReader, fold_right, push_range_ids};

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError<E> {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("tree size {size} is beyond the {available} leaves in the log")]
    SizeBeyondLog { size: u64, available: u64 },
    #[error("cannot read the tree: {0}")]
    Read(#[source] E),
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("the proof has {got} hashes; these tree sizes need exactly {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error(
        "the proof leads to root {}, not to the expected root {}",
        to_hex(.computed),
        to_hex(.expected)
    )]
    RootMismatch { computed: Hash, expected: Hash },
    #[error("the proof does not lead to the old root: the old tree is not a prefix of the new one")]
    OldRootMismatch,
    #[error("the proof does not lead to the new root: the new tree does not extend the old one")]
    NewRootMismatch,
}

/// The stored nodes behind each hash of a proof: hash i is the right fold of
/// `ids[elements[i].0 .. elements[i].1]`.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) ids: Vec<NodeId>,
    pub(crate) elements: Vec<(usize, usize)>,
}

impl Plan {
    fn push_range(&mut self, start: u64, end: u64) {
        let from = self.ids.len();
        push_range_ids(&mut self.ids, start, end);
        self.elements.push((from, self.ids.len()));
    }

    /// The proof hashes, given the hashes of `ids` in order.
    fn assemble(&self, hashes: &[Hash]) -> Vec<Hash> {
        self.elements
            .iter()
            .map(|&(from, to)| fold_right(&hashes[from..to]))
            .collect()
    }

    fn read<R: NodeReader>(&self, reader: &R) -> Result<Vec<Hash>, TreeError<R::Error>> {
        let hashes = reader.nodes(&self.ids).map_err(TreeError::Read)?;
        Ok(self.assemble(&hashes))
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): RFC 6962's split.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, as node ranges.
fn inclusion_plan(index: u64, size: u64) -> Plan {
    let mut plan = Plan::default();
    let (mut lo, mut hi) = (0, size);
    // Walk down from the root; the RFC appends each level's sibling after
    // the deeper ones, so the list is reversed at the end.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index - lo < k {
            plan.push_range(lo + k, hi);
            hi = lo + k;
        } else {
            plan.push_range(lo, lo + k);
            lo += k;
        }
    }
    plan.elements.reverse();
    plan
}

/// PROOF(old, D[0:new]) = SUBPROOF(old, D[0:new], true) of RFC 9162
/// §2.1.4.1, as node ranges; for 0 < old < new.
pub(crate) fn consistency_plan(old: u64, new: u64) -> Plan {
    let mut plan = Plan::default();
    let (mut lo, mut hi) = (0, new);
    // `whole` is the RFC's flag b: still on the path of the old root itself,
    // whose hash the verifier already has.
    let mut whole = true;
    loop {
        if old == hi {
            if !whole {
                plan.push_range(lo, hi);
            }
            break;
        }
        let k = split(hi - lo);
        if old - lo <= k {
            plan.push_range(lo + k, hi);
            hi = lo + k;
        } else {
            plan.push_range(lo, lo + k);
            lo += k;
            whole = false;
        }
    }
    plan.elements.reverse();
    plan
}

/// The number of hashes in the inclusion proof of `index` in a tree of
/// `size` leaves (index < size).
fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// The number of hashes in the consistency proof from `old` to `new`.
fn consistency_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        0
    } else {
        consistency_plan(old, new).elements.len()
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves: at
/// most ⌈log₂ size⌉ hashes, leaf level first.
pub fn inclusion_proof<R: NodeReader>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    inclusion_plan(index, size).read(reader)
}

/// The consistency proof that the tree of `old` leaves is a prefix of the
/// tree of `new` leaves: at most ⌈log₂ new⌉ + 1 hashes. Empty when
/// `old` is 0 or equal to `new`.
pub fn consistency_proof<R: NodeReader>(
    reader: &R,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if old > new {
        return Err(TreeError::SizeOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    consistency_plan(old, new).read(reader)
}

/// The root that an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1–4).
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                expected,
                got: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    Ok(r)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf_hash, index, size, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of
/// the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    let expected = consistency_len(old, new);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    if old == 0 {
        // Every tree extends the empty one, whose root is fixed.
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(ProofError::OldRootMismatch)
        };
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    let too_short = || ProofError::WrongLength {
        expected,
        got: proof.len(),
    };
    // Step 2: a power-of-two old tree is itself a node of the new tree, so
    // the proof leaves its root out.
    let (first, rest) = if old.is_power_of_two() {
        (*old_root, proof)
    } else {
        let (first, rest) = proof.split_first().ok_or_else(too_short)?;
        (*first, rest)
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if snode == 0 {
            return Err(too_short());
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(too_short());
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
#[path = "proof_tests.rs"]
mod tests;
