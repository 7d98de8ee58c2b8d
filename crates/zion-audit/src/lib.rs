//! `zion-audit` is Zion's tamper-evident audit log: an RFC 6962 Merkle tree
//! over canonical JSON entries, inclusion and consistency proofs (RFC 9162),
//! C2SP checkpoints signed with Ed25519 in the signed-note format, a
//! streaming verifier for whole logs and offline verification bundles.
//! It is pure apart from the `bundle` module's file I/O: it does not store
//! anything itself — a store keeps the nodes and implements [`NodeReader`]
//! — and it does not decide what gets recorded.

pub mod archive;
pub mod bundle;
pub mod canonical;
pub mod checkpoint;
pub mod entry;
pub mod hash;
pub mod memory;
pub mod note;
pub mod proof;
pub mod tree;
pub mod verify;

#[cfg(test)]
mod test_support;

pub use archive::bundle_archive;
pub use bundle::{
    Bundle, BundleError, BundleWriter, verify_bundle, verify_bundle_with, write_bundle,
};
pub use canonical::to_canonical_json;
pub use checkpoint::{Checkpoint, CheckpointError};
pub use entry::{Entry, EntryError};
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use memory::{MemoryTree, MissingNode};
pub use note::{KeyError, NoteError, Signer, Verifier};
pub use proof::{
    ProofError, TreeError, consistency_proof, inclusion_proof, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};
pub use tree::{
    Appended, Frontier, FrontierError, Node, NodeId, NodeReader, append, frontier_ids, root_at,
};
pub use verify::{LogVerifier, VerifiedPrefix, VerifyError, VerifyReport, verify_log};
