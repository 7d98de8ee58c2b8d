use std::cell::Cell;

use super::*;
use crate::hash::{empty_root, from_hex};
use crate::memory::MemoryTree;
use crate::test_support::{CT_ROOTS, ct_leaves, hx, leaves, mth};

/// Counts node reads, to hold the O(log n) promise.
pub(crate) struct Counting<'a> {
    pub tree: &'a MemoryTree,
    pub reads: Cell<usize>,
}

impl NodeReader for Counting<'_> {
    type Error = crate::memory::MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        self.reads.set(self.reads.get() + 1);
        self.tree.node(level, index)
    }
}

#[test]
fn ct_vector_roots_for_every_size() {
    let mut f = Frontier::new();
    assert_eq!(f.root(), empty_root());
    for (leaf, want) in ct_leaves().into_iter().zip(CT_ROOTS) {
        f.push(leaf, |_| {});
        assert_eq!(f.root(), hx(want), "size {}", f.size());
    }
}

#[test]
fn ct_vector_stored_nodes() {
    // The complete nodes of the 8-leaf tree, level by level, as published
    // with the CT reference implementation.
    let want: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];
    let appended = append(&Frontier::new(), &ct_leaves());
    let mut tree = MemoryTree::new();
    for leaf in ct_leaves() {
        tree.push_leaf_hash(leaf);
    }
    let mut count = 0;
    for (level, hashes) in want.iter().enumerate() {
        for (index, h) in hashes.iter().enumerate() {
            let id = NodeId::new(level as u8, index as u64);
            assert_eq!(tree.node(id.level, id.index), Ok(from_hex(h).unwrap()));
            assert!(appended.nodes.contains(&Node {
                id,
                hash: from_hex(h).unwrap()
            }));
            count += 1;
        }
    }
    assert_eq!(
        appended.nodes.len(),
        count,
        "only complete nodes are emitted"
    );
    assert_eq!(
        tree.node(4, 0),
        Err(crate::memory::MissingNode { level: 4, index: 0 })
    );
}

#[test]
fn every_emitted_node_is_its_subtree_hash_and_each_appears_once() {
    let all = leaves(300);
    let mut f = Frontier::new();
    let mut seen = std::collections::HashSet::new();
    for (i, leaf) in all.iter().enumerate() {
        let mut per_leaf = 0;
        f.push(*leaf, |node| {
            per_leaf += 1;
            let (s, e) = (node.id.start() as usize, node.id.end() as usize);
            assert_eq!(e, i + 1, "a node is emitted when it completes");
            assert_eq!(node.hash, mth(&all[s..e]));
            assert!(seen.insert(node.id), "{:?} emitted twice", node.id);
        });
        // 1 + trailing ones of the old size: O(log n) writes per leaf.
        assert_eq!(per_leaf, 1 + (i as u64).trailing_ones() as usize);
        assert_eq!(f.root(), mth(&all[..=i]));
        assert_eq!(f.hashes().len(), (i + 1).count_ones() as usize);
    }
    let expected: u64 = (0..64).map(|l| 300u64 >> l).sum();
    assert_eq!(seen.len() as u64, expected);
}

#[test]
fn batch_append_equals_one_by_one_and_continues_from_any_frontier() {
    let all = leaves(200);
    let whole = append(&Frontier::new(), &all);
    let mut nodes = Vec::new();
    let mut f = Frontier::new();
    for chunk in [&all[..1], &all[1..7], &all[7..64], &all[64..65], &all[65..]] {
        let step = append(&f, chunk);
        assert_eq!(step.frontier.size(), f.size() + chunk.len() as u64);
        nodes.extend(step.nodes);
        f = step.frontier;
    }
    assert_eq!(f, whole.frontier);
    assert_eq!(nodes, whole.nodes);
    // An empty batch changes nothing.
    assert_eq!(append(&f, &[]).frontier, f);
    assert!(append(&f, &[]).nodes.is_empty());
}

#[test]
fn frontier_ids_cover_the_tree_left_to_right() {
    for size in 0..600u64 {
        let ids = frontier_ids(size);
        assert_eq!(ids.len(), size.count_ones() as usize);
        let mut cur = 0;
        for id in &ids {
            assert_eq!(id.start(), cur);
            cur = id.end();
        }
        assert_eq!(cur, size);
        assert!(ids.windows(2).all(|w| w[0].level > w[1].level));
    }
}

#[test]
fn past_roots_from_stored_nodes_with_popcount_reads() {
    let all = leaves(300);
    let mut tree = MemoryTree::new();
    for leaf in &all {
        tree.push_leaf_hash(*leaf);
    }
    let counting = Counting {
        tree: &tree,
        reads: Cell::new(0),
    };
    for size in 0..=300u64 {
        counting.reads.set(0);
        assert_eq!(
            root_at(&counting, size).unwrap(),
            mth(&all[..size as usize])
        );
        assert_eq!(counting.reads.get(), size.count_ones() as usize);
        assert_eq!(tree.root_at(size).unwrap(), mth(&all[..size as usize]));
        let loaded = Frontier::load(&tree, size).unwrap();
        assert_eq!(loaded.size(), size);
        // A frontier loaded from the store appends like the live one.
        let mut cont = loaded.clone();
        cont.push(all[0], |_| {});
        let mut expect = all[..size as usize].to_vec();
        expect.push(all[0]);
        assert_eq!(cont.root(), mth(&expect));
    }
    assert!(tree.root_at(301).is_err());
}

#[test]
fn frontier_from_parts_checks_the_count() {
    let f = append(&Frontier::new(), &leaves(11)).frontier;
    let back = Frontier::from_parts(11, f.hashes().to_vec()).unwrap();
    assert_eq!(back, f);
    assert_eq!(
        Frontier::from_parts(12, f.hashes().to_vec()),
        Err(FrontierError {
            size: 12,
            expected: 2,
            got: 3
        })
    );
    let ids: Vec<NodeId> = f.nodes().map(|n| n.id).collect();
    assert_eq!(
        ids,
        vec![NodeId::new(3, 0), NodeId::new(1, 4), NodeId::new(0, 10)]
    );
}
