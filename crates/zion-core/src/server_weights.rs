//! A traffic split as per-server weights, for a router that balances
//! between servers by weight (HAProxy's `weight`, 0 to 256): the new
//! version's servers together get `weight` percent of the total, the
//! stable version's the rest, each version's share spread evenly over its
//! servers.

/// The weights of the stable version's servers and of the new version's,
/// in the order of their counts. Exact: the new version's servers add up to
/// `weight`% of all the weights (when both versions have servers), since the
/// totals are `weight × k` and `(100 − weight) × k` for the largest `k` both
/// versions' servers can hold within `max` each. A version without servers
/// leaves all traffic to the other; a weight above 100 counts as 100.
pub fn split(stable: usize, new: usize, weight: u8, max: u16) -> (Vec<u16>, Vec<u16>) {
    let weight = u64::from(weight.min(100));
    let max = u64::from(max.max(1));
    let (stable_pct, new_pct) = match (stable, new) {
        (0, 0) => return (Vec::new(), Vec::new()),
        (_, 0) => (100, 0),
        (0, _) => (0, 100),
        _ => (100 - weight, weight),
    };
    // The largest k with both totals within their servers' capacity.
    // A version with no share puts no bound on k.
    let room = |servers: usize, pct: u64| -> u64 {
        (max * servers as u64).checked_div(pct).unwrap_or(u64::MAX)
    };
    let k = room(stable, stable_pct).min(room(new, new_pct));
    (spread(stable_pct * k, stable), spread(new_pct * k, new))
}

/// `total` over `servers` as evenly as integers allow (the first ones
/// take the remainder).
fn spread(total: u64, servers: usize) -> Vec<u16> {
    if servers == 0 {
        return Vec::new();
    }
    let n = servers as u64;
    (0..n)
        .map(|i| {
            let w = total / n + u64::from(i < total % n);
            u16::try_from(w).unwrap_or(u16::MAX)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(v: &[u16]) -> u64 {
        v.iter().map(|&w| u64::from(w)).sum()
    }

    #[test]
    fn every_count_and_weight_gives_the_exact_share_within_the_bounds() {
        for stable in 0..=40usize {
            for new in 0..=40usize {
                for weight in 0..=100u8 {
                    let (s, n) = split(stable, new, weight, 256);
                    assert_eq!((s.len(), n.len()), (stable, new));
                    assert!(s.iter().chain(&n).all(|&w| w <= 256));
                    let (ts, tn) = (sum(&s), sum(&n));
                    if stable == 0 && new == 0 {
                        continue;
                    }
                    assert!(ts + tn > 0, "{stable} {new} {weight}: all zero");
                    let share = tn as f64 * 100.0 / (ts + tn) as f64;
                    let want = match (stable, new) {
                        (_, 0) => 0.0,
                        (0, _) => 100.0,
                        _ => f64::from(weight),
                    };
                    assert!(
                        (share - want).abs() < 1e-9,
                        "{stable} stable, {new} new at {weight}%: share {share}"
                    );
                    // Even within a version: no server more than one above another.
                    for v in [&s, &n] {
                        if let (Some(lo), Some(hi)) = (v.iter().min(), v.iter().max()) {
                            assert!(hi - lo <= 1, "{v:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn weights_use_the_range_so_each_server_keeps_a_share() {
        // Two stable and two new servers at 10%: 10 × k and 90 × k with k = 5.
        let (s, n) = split(2, 2, 10, 256);
        assert_eq!((s, n), (vec![225, 225], vec![25, 25]));
        // The ends: the other version's servers all at zero.
        assert_eq!(split(3, 2, 0, 256), (vec![234, 233, 233], vec![0, 0]));
        assert_eq!(split(3, 2, 100, 256), (vec![0, 0, 0], vec![250, 250]));
        // Over 100 is 100.
        assert_eq!(split(1, 1, 200, 256), split(1, 1, 100, 256));
    }
}
