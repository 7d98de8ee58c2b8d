//! Which replica of Zion drives each target when several `zion up` share
//! one database. Every replica decides alone, from the same list of live
//! replicas, and they all agree: rendezvous (highest random weight)
//! hashing. Each (target, replica) pair gets a score; the live replica with
//! the highest score drives the target. Targets spread evenly, and when a
//! replica joins or leaves only the targets that must move do: those the
//! newcomer now scores highest on, or those the leaver drove.

use crate::target::TargetId;

/// The live replica that should drive `target`; None when none is live.
/// `live` need not be sorted; ties (practically impossible) go to the
/// smaller id so that every replica still agrees.
pub fn owner<'a>(target: &TargetId, live: &[&'a str]) -> Option<&'a str> {
    live.iter()
        .map(|replica| (score(target, replica), *replica))
        .max_by(|(a, x), (b, y)| a.cmp(b).then_with(|| y.cmp(x)))
        .map(|(_, replica)| replica)
}

/// A stable 64-bit score of the pair: FNV-1a over the names (with
/// separators, so that `a/bc` and `ab/c` differ), then SplitMix64's
/// finalizer, which FNV's weak high bits need to spread well. It must
/// never change between releases: replicas of two versions during an
/// upgrade would disagree about who drives what.
fn score(target: &TargetId, replica: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in [
        target.service.as_bytes(),
        target.environment.as_bytes(),
        replica.as_bytes(),
    ] {
        for &b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn targets(n: usize) -> Vec<TargetId> {
        (0..n)
            .map(|i| {
                TargetId::new(
                    format!("svc-{i}"),
                    if i % 2 == 0 { "production" } else { "staging" },
                )
            })
            .collect()
    }

    fn spread<'a>(ts: &[TargetId], live: &[&'a str]) -> BTreeMap<&'a str, usize> {
        let mut counts = BTreeMap::new();
        for t in ts {
            *counts.entry(owner(t, live).unwrap()).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn no_live_replica_owns_nothing_and_one_owns_everything() {
        let t = TargetId::new("web", "production");
        assert_eq!(owner(&t, &[]), None);
        assert_eq!(owner(&t, &["a"]), Some("a"));
    }

    #[test]
    fn every_replica_agrees_whatever_the_order_of_its_list() {
        for t in targets(500) {
            assert_eq!(owner(&t, &["a", "b", "c"]), owner(&t, &["c", "a", "b"]));
        }
    }

    #[test]
    fn ten_thousand_targets_spread_within_five_percent_of_even() {
        let ts = targets(10_000);
        let counts = spread(&ts, &["zion-1", "zion-2", "zion-3"]);
        assert_eq!(counts.len(), 3);
        eprintln!("10,000 targets over 3 replicas: {counts:?}");
        for (replica, n) in counts {
            assert!(
                (3_167..=3_500).contains(&n),
                "{replica} drives {n} of 10,000"
            );
        }
    }

    #[test]
    fn a_replica_that_joins_takes_only_from_others_and_one_that_leaves_gives_only_its_own() {
        let ts = targets(3_000);
        let before: Vec<&str> = ts
            .iter()
            .map(|t| owner(t, &["a", "b", "c"]).unwrap())
            .collect();
        let joined: Vec<&str> = ts
            .iter()
            .map(|t| owner(t, &["a", "b", "c", "d"]).unwrap())
            .collect();
        let moved = before.iter().zip(&joined).filter(|(x, y)| x != y);
        let mut n = 0;
        for (_, to) in moved {
            assert_eq!(*to, "d", "a target moved between two replicas that stayed");
            n += 1;
        }
        assert!((600..=900).contains(&n), "the newcomer took {n} of 3,000");
        let left: Vec<&str> = ts.iter().map(|t| owner(t, &["a", "c"]).unwrap()).collect();
        for (x, y) in before.iter().zip(&left) {
            if *x != "b" {
                assert_eq!(x, y, "a target of a replica that stayed moved");
            }
        }
    }
}
