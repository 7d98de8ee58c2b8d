//! The log's Merkle tree as stored nodes, and appends that touch O(log n)
//! of them.
//!
//! Node (level, index) is the hash of the perfect subtree over leaves
//! [index·2^level, (index+1)·2^level); level 0 holds the leaf hashes. Only
//! complete nodes are ever stored, so a stored node never changes and the
//! nodes of every past tree size are still there. The incomplete right edge
//! of a tree is rebuilt on demand from the complete nodes that cover it.

use crate::hash::{Hash, empty_root, node_hash};

/// The position of one stored node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// 0 for leaves, k for a perfect subtree of 2^k leaves.
    pub level: u8,
    /// The subtree's position among the nodes of its level.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The first leaf the node covers.
    pub const fn start(&self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf the node covers: the tree size at which the
    /// node becomes complete.
    pub const fn end(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// A node and its hash, as an append hands it to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub hash: Hash,
}

/// Read access to the stored complete nodes. A store implements this over
/// its own table; every proof and past root is built from these reads.
pub trait NodeReader {
    /// The store's error (I/O, a missing row).
    type Error;

    /// The hash of the complete node (level, index).
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;

    /// Several nodes, in the order asked. Proof generation asks for all the
    /// nodes it needs in one call, so a database can answer with one query.
    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        ids.iter().map(|id| self.node(id.level, id.index)).collect()
    }
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    type Error = R::Error;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }

    fn nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).nodes(ids)
    }
}

/// The perfect subtrees covering [start, end), left to right.
///
/// For the ranges a Merkle tree of RFC 6962 shape uses (start aligned to a
/// power of two at least end − start), folding their hashes from the right
/// gives the range's tree hash.
pub(crate) fn push_range_ids(out: &mut Vec<NodeId>, start: u64, end: u64) {
    let mut cur = start;
    while cur < end {
        // The largest subtree that starts at `cur` (aligned) and fits.
        let level = (63 - (end - cur).leading_zeros()).min(cur.trailing_zeros());
        out.push(NodeId::new(level as u8, cur >> level));
        cur += 1 << level;
    }
}

/// Folds subtree hashes from the right, as RFC 6962 joins an incomplete
/// right edge. An empty list is the empty tree.
pub(crate) fn fold_right(hashes: &[Hash]) -> Hash {
    let Some((last, rest)) = hashes.split_last() else {
        return empty_root();
    };
    rest.iter()
        .rev()
        .fold(*last, |acc, left| node_hash(left, &acc))
}

/// The ids of the frontier of a tree of `size` leaves, largest first.
pub fn frontier_ids(size: u64) -> Vec<NodeId> {
    let mut ids = Vec::with_capacity(size.count_ones() as usize);
    push_range_ids(&mut ids, 0, size);
    ids
}

/// A frontier's hash count does not match its tree size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree of {size} leaves has {expected} frontier hashes, not {got}")]
pub struct FrontierError {
    pub size: u64,
    pub expected: usize,
    pub got: usize,
}

/// The compact range of a tree: the hashes of the perfect subtrees covering
/// [0, size), largest first — one per set bit of `size`, so at most 64.
/// It is all an append needs, and it gives the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from a stored size and its hashes (largest subtree first).
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(FrontierError {
                size,
                expected,
                got: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// The frontier of the tree of `size` leaves, from stored nodes:
    /// popcount(size) reads.
    pub fn load<R: NodeReader>(reader: &R, size: u64) -> Result<Self, R::Error> {
        let hashes = reader.nodes(&frontier_ids(size))?;
        Ok(Self { size, hashes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The subtrees with their positions, largest first.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        frontier_ids(self.size)
            .into_iter()
            .zip(&self.hashes)
            .map(|(id, hash)| Node { id, hash: *hash })
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        fold_right(&self.hashes)
    }

    /// Appends one leaf hash, handing every node it completes to `emit`
    /// (the leaf itself first, then each parent it closes, lowest first).
    ///
    /// # Panics
    /// When the tree already holds u64::MAX leaves.
    pub fn push(&mut self, leaf: Hash, mut emit: impl FnMut(Node)) {
        let index = self.size;
        let size = index.checked_add(1).expect("tree size overflows u64");
        let mut id = NodeId::new(0, index);
        let mut hash = leaf;
        emit(Node { id, hash });
        // Each set low bit of the old size is a complete left sibling that
        // the new leaf's subtree now closes.
        while (index >> id.level) & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("frontier holds a hash per set bit");
            hash = node_hash(&left, &hash);
            id = NodeId::new(id.level + 1, id.index >> 1);
            emit(Node { id, hash });
        }
        self.hashes.push(hash);
        self.size = size;
    }
}

/// What appending a batch of leaves produces: the nodes to store and the
/// frontier after the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Every node completed by the batch, in completion order. About two per
    /// leaf; never more than 1 + log2(size) for one leaf.
    pub nodes: Vec<Node>,
    /// The frontier of the grown tree.
    pub frontier: Frontier,
}

/// Appends `leaf_hashes` to the tree whose frontier is given, without
/// touching any other stored node.
pub fn append(frontier: &Frontier, leaf_hashes: &[Hash]) -> Appended {
    let mut next = frontier.clone();
    let mut nodes = Vec::with_capacity(leaf_hashes.len() * 2 + 64);
    for leaf in leaf_hashes {
        next.push(*leaf, |node| nodes.push(node));
    }
    Appended {
        nodes,
        frontier: next,
    }
}

/// The root of the tree when it had `size` leaves, from stored nodes:
/// popcount(size) reads, whatever the tree's current size.
pub fn root_at<R: NodeReader>(reader: &R, size: u64) -> Result<Hash, R::Error> {
    Ok(Frontier::load(reader, size)?.root())
}

#[cfg(test)]
#[path = "tree_tests.rs"]
pub(crate) mod tests;
