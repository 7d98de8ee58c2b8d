//! An in-memory node store: one vector of hashes per level. For tests,
//! benchmarks and tools that hold a whole log at once.

use crate::hash::{Hash, leaf_hash};
use crate::proof::{TreeError, consistency_proof, inclusion_proof};
use crate::tree::{Frontier, NodeReader, root_at};

/// A node that is not stored (not complete yet, or beyond the tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node (level {level}, index {index}) is not in the tree")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

/// A Merkle log held in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    /// The empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf's data; returns its index.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(data))
    }

    /// Appends one leaf by its hash; returns its index.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.frontier.size();
        let levels = &mut self.levels;
        self.frontier.push(leaf, |node| {
            let level = usize::from(node.id.level);
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            debug_assert_eq!(levels[level].len() as u64, node.id.index);
            levels[level].push(node.hash);
        });
        index
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The current frontier.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The hash of leaf `index`, if it exists.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.node(0, index).ok()
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError<MissingNode>> {
        if size > self.size() {
            return Err(TreeError::SizeBeyondLog {
                size,
                available: self.size(),
            });
        }
        Ok(())
    }

    /// The root when the log had `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError<MissingNode>> {
        self.check_size(size)?;
        root_at(self, size).map_err(TreeError::Read)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, TreeError<MissingNode>> {
        self.check_size(size)?;
        inclusion_proof(self, index, size)
    }

    /// The consistency proof from the tree of `old` leaves to that of `new`.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, TreeError<MissingNode>> {
        self.check_size(new)?;
        consistency_proof(self, old, new)
    }
}

impl NodeReader for MemoryTree {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(usize::from(level))
            .and_then(|hashes| hashes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
