use std::cell::Cell;

use proptest::prelude::*;

use super::*;
use crate::hash::{empty_root, leaf_hash};
use crate::memory::MemoryTree;
use crate::test_support::{ct_leaves, hx, leaves, mth, path, subproof};
use crate::tree::tests::Counting;

fn tree_of(hashes: &[Hash]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for h in hashes {
        t.push_leaf_hash(*h);
    }
    t
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

#[test]
fn seven_leaf_reference_vectors() {
    // D[0..7) of the CT test data; h(i) its leaf hashes, MTH(D[a:b]) by the
    // recursive definition.
    let d = &ct_leaves()[..7];
    let h = |i: usize| d[i];
    let m = |a: usize, b: usize| mth(&d[a..b]);
    let tree = tree_of(d);
    let root7 = hx("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c");
    assert_eq!(tree.root(), root7);

    let incl0 = inclusion_proof(&tree, 0, 7).unwrap();
    assert_eq!(incl0, vec![h(1), m(2, 4), m(4, 7)]);
    verify_inclusion(&h(0), 0, 7, &incl0, &root7).unwrap();

    let c37 = consistency_proof(&tree, 3, 7).unwrap();
    assert_eq!(c37, vec![h(2), h(3), m(0, 2), m(4, 7)]);
    verify_consistency(3, 7, &m(0, 3), &root7, &c37).unwrap();

    let c67 = consistency_proof(&tree, 6, 7).unwrap();
    assert_eq!(c67, vec![m(4, 6), h(6), m(0, 4)]);
    verify_consistency(6, 7, &m(0, 6), &root7, &c67).unwrap();

    // Every bit of every hash of these proofs matters.
    for (i, p) in incl0.iter().enumerate() {
        for bit in 0..256 {
            let mut bad = incl0.clone();
            bad[i] = flip(p, bit);
            assert!(verify_inclusion(&h(0), 0, 7, &bad, &root7).is_err());
        }
    }
    for (i, p) in c37.iter().enumerate() {
        for bit in 0..256 {
            let mut bad = c37.clone();
            bad[i] = flip(p, bit);
            assert!(verify_consistency(3, 7, &m(0, 3), &root7, &bad).is_err());
        }
    }
}

#[test]
fn ct_published_inclusion_proofs() {
    let tree = tree_of(&ct_leaves());
    // (0-based index, size, proof) as published with the CT reference code.
    let cases: [(u64, u64, &[&str]); 7] = [
        (0, 1, &[]),
        (
            0,
            2,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            1,
            2,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, size, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| hx(s)).collect();
        assert_eq!(tree.inclusion_proof(index, size).unwrap(), want);
        let root = tree.root_at(size).unwrap();
        verify_inclusion(&ct_leaves()[index as usize], index, size, &want, &root).unwrap();
    }
}

#[test]
fn ct_published_consistency_proofs() {
    let tree = tree_of(&ct_leaves());
    let cases: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old, new, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| hx(s)).collect();
        assert_eq!(
            tree.consistency_proof(old, new).unwrap(),
            want,
            "{old}->{new}"
        );
        let (r1, r2) = (tree.root_at(old).unwrap(), tree.root_at(new).unwrap());
        verify_consistency(old, new, &r1, &r2, &want).unwrap();
    }
}

#[test]
fn matches_the_recursive_definitions_exhaustively_up_to_64() {
    let all = leaves(64);
    let tree = tree_of(&all);
    for n in 1..=64usize {
        for m in 0..n {
            assert_eq!(
                tree.inclusion_proof(m as u64, n as u64).unwrap(),
                path(m, &all[..n]),
                "PATH({m}, D[{n}])"
            );
        }
        for m in 1..n {
            assert_eq!(
                tree.consistency_proof(m as u64, n as u64).unwrap(),
                subproof(m, &all[..n], true),
                "PROOF({m}, D[{n}])"
            );
        }
    }
}

#[test]
fn proof_generation_reads_logarithmically_many_nodes() {
    let n = 5000u64;
    let tree = tree_of(&leaves(n as usize));
    let counting = Counting {
        tree: &tree,
        reads: Cell::new(0),
    };
    let log2 = 64 - (n - 1).leading_zeros() as usize;
    for (index, size) in [(0, n), (n - 1, n), (1234, n), (4095, 4097), (17, 4095)] {
        counting.reads.set(0);
        let proof = inclusion_proof(&counting, index, size).unwrap();
        assert!(proof.len() <= log2);
        assert!(
            counting.reads.get() <= 2 * log2,
            "{} reads",
            counting.reads.get()
        );
    }
    for (old, new) in [(1, n), (n - 1, n), (1234, n), (4095, 4097), (2049, 4095)] {
        counting.reads.set(0);
        let proof = consistency_proof(&counting, old, new).unwrap();
        assert!(proof.len() <= log2 + 1);
        assert!(
            counting.reads.get() <= 2 * log2 + 1,
            "{} reads",
            counting.reads.get()
        );
    }
}

#[test]
fn request_errors() {
    let tree = tree_of(&leaves(10));
    assert_eq!(
        tree.inclusion_proof(10, 10),
        Err(TreeError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        tree.inclusion_proof(0, 11),
        Err(TreeError::SizeBeyondLog {
            size: 11,
            available: 10
        })
    );
    assert_eq!(
        tree.consistency_proof(5, 4),
        Err(TreeError::SizeOrder { old: 5, new: 4 })
    );
    assert_eq!(tree.consistency_proof(0, 10), Ok(vec![]));
    assert_eq!(tree.consistency_proof(10, 10), Ok(vec![]));
    // A reader without the nodes reports its own error.
    let empty = MemoryTree::new();
    assert!(matches!(
        inclusion_proof(&empty, 3, 8),
        Err(TreeError::Read(crate::memory::MissingNode { .. }))
    ));
}

#[test]
fn verification_edge_cases() {
    let all = leaves(8);
    let tree = tree_of(&all);
    let root = tree.root();
    assert_eq!(
        verify_inclusion(&all[0], 8, 8, &[], &root),
        Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        verify_inclusion(&all[0], 0, 0, &[], &empty_root()),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    // One leaf: the root is the leaf hash and the proof is empty.
    verify_inclusion(&all[0], 0, 1, &[], &all[0]).unwrap();
    assert!(verify_inclusion(&all[0], 0, 1, &[], &all[1]).is_err());

    let proof = tree.inclusion_proof(3, 8).unwrap();
    let mut longer = proof.clone();
    longer.push(root);
    assert_eq!(
        verify_inclusion(&all[3], 3, 8, &longer, &root),
        Err(ProofError::WrongLength {
            expected: 3,
            got: 4
        })
    );
    let mut front = vec![root];
    front.extend(&proof);
    assert!(verify_inclusion(&all[3], 3, 8, &front, &root).is_err());
    assert!(verify_inclusion(&all[3], 3, 8, &proof[..2], &root).is_err());
    assert!(verify_inclusion(&leaf_hash(b"WrongLeaf"), 3, 8, &proof, &root).is_err());

    let r5 = tree.root_at(5).unwrap();
    assert_eq!(
        verify_consistency(6, 5, &r5, &root, &[]),
        Err(ProofError::SizeOrder { old: 6, new: 5 })
    );
    // From the empty tree: no proof, and the old root must be the empty root.
    verify_consistency(0, 8, &empty_root(), &root, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 8, &r5, &root, &[]),
        Err(ProofError::OldRootMismatch)
    );
    assert!(verify_consistency(0, 8, &empty_root(), &root, &[root]).is_err());
    // Equal sizes: equal roots, no proof.
    verify_consistency(8, 8, &root, &root, &[]).unwrap();
    assert_eq!(
        verify_consistency(8, 8, &root, &r5, &[]),
        Err(ProofError::NewRootMismatch)
    );
    assert!(verify_consistency(8, 8, &root, &root, &[root]).is_err());
    // A real proof checked against swapped or foreign roots.
    let c = tree.consistency_proof(5, 8).unwrap();
    verify_consistency(5, 8, &r5, &root, &c).unwrap();
    assert_eq!(
        verify_consistency(5, 8, &root, &root, &c),
        Err(ProofError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(5, 8, &r5, &r5, &c),
        Err(ProofError::NewRootMismatch)
    );
    assert!(verify_consistency(5, 8, &r5, &root, &[]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails(
        size in 1..=300u64,
        pick in any::<u64>(),
        bit in 0..256usize,
    ) {
        let all = leaves(size as usize);
        let tree = tree_of(&all);
        let root = tree.root();
        for index in 0..size {
            let leaf = all[index as usize];
            let proof = tree.inclusion_proof(index, size).unwrap();
            prop_assert!(proof.len() <= 64 - (size - 1).leading_zeros() as usize);
            prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        }
        let index = pick % size;
        let leaf = all[index as usize];
        let proof = tree.inclusion_proof(index, size).unwrap();
        // A flipped bit anywhere: leaf, any proof hash, root.
        prop_assert!(verify_inclusion(&flip(&leaf, bit), index, size, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root, bit)).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        // Another index in the same tree.
        for other in [index.wrapping_sub(1), index + 1, index ^ 2] {
            if other != index {
                prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            }
        }
        // Another size. The proof alone does not fix the size (for leaf 0
        // of 9 or 10 leaves it has the same shape): the signed checkpoint
        // binds size and root. So: another tree's own root never verifies,
        // and with this root, sizes whose proof shape differs never do.
        for other in [size - 1, size + 1, size * 2, size / 2] {
            if other > index && other != size {
                let other_root = mth(&leaves(other as usize));
                prop_assert!(verify_inclusion(&leaf, index, other, &proof, &other_root).is_err());
            }
        }
        for other in [size * 2, size / 2] {
            if other > index && other != size {
                prop_assert!(verify_inclusion(&leaf, index, other, &proof, &root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_tampering_fails(
        new in 1..=300u64,
        picks in proptest::collection::vec(any::<u64>(), 4),
        bit in 0..256usize,
    ) {
        let all = leaves(new as usize);
        let tree = tree_of(&all);
        let new_root = tree.root();
        for pick in picks {
            let old = pick % (new + 1);
            let old_root = mth(&all[..old as usize]);
            let proof = tree.consistency_proof(old, new).unwrap();
            prop_assert!(proof.len() <= 64 - new.leading_zeros() as usize + 1);
            if old > 0 && old < new {
                prop_assert_eq!(&proof, &subproof(old as usize, &all, true));
            }
            prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
            // Every tree extends the empty one, whatever its root.
            if old > 0 {
                prop_assert!(
                    verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof).is_err()
                );
            }
            prop_assert!(verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof).is_err());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i], bit);
                prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            }
            // A different old size with the same proof and roots.
            if old > 1 && old < new {
                prop_assert!(verify_consistency(old - 1, new, &old_root, &new_root, &proof).is_err());
            }
            if old + 1 < new {
                prop_assert!(verify_consistency(old + 1, new, &old_root, &new_root, &proof).is_err());
            }
            // A diverging history: the new tree with one old leaf changed.
            if old > 0 && old < new {
                let mut forged = all.clone();
                forged[(pick as usize / 7) % old as usize] = leaf_hash(b"forged");
                let forged_root = mth(&forged);
                prop_assert!(verify_consistency(old, new, &old_root, &forged_root, &proof).is_err());
                let forged_proof = tree_of(&forged).consistency_proof(old, new).unwrap();
                prop_assert!(
                    verify_consistency(old, new, &old_root, &forged_root, &forged_proof).is_err()
                );
            }
        }
    }
}
