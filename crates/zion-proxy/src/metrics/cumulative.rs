//! Each version's totals since it was first seen: requests, errors and
//! latencies counted in a few fixed buckets. The one-second buckets expire
//! after ten minutes; a Prometheus counter or histogram must only grow, so
//! these are kept beside them, a dozen integers per version, and read in
//! O(versions) per scrape.

use std::sync::PoisonError;

use super::TrafficMetrics;

/// The upper bounds of the latency buckets, in seconds; the core keeps
/// them, since the SLOs' Prometheus rules are written over them.
pub use zion_core::metrics::LATENCY_BOUNDS_SECONDS;

/// The same bounds in microseconds, as requests are recorded.
const BOUNDS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// Latencies since the series began: a count per bucket (not cumulative:
/// a request counts in the first bucket whose bound it does not exceed,
/// the last slot being `+Inf`) and their sum.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct LatencyTotals {
    counts: [u64; BOUNDS_US.len() + 1],
    sum_us: u64,
}

impl LatencyTotals {
    pub(super) fn record(&mut self, latency_us: u64) {
        let slot = BOUNDS_US.partition_point(|&bound| bound < latency_us);
        self.counts[slot] += 1;
        self.sum_us = self.sum_us.saturating_add(latency_us);
    }
}

/// What one version did since its listener first saw it (or since it was
/// forgotten): monotonic counts.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionTotals {
    pub version: String,
    /// Requests answered (in flight ones are not counted yet).
    pub requests: u64,
    /// 5xx answers, failed upstreams and timeouts among them.
    pub errors: u64,
    /// The sum of their latencies, in seconds.
    pub latency_sum_seconds: f64,
    /// How many fell in each bucket of [`LATENCY_BOUNDS_SECONDS`], then
    /// past the last (`+Inf`): one count per bucket, not cumulative.
    pub latency_buckets: [u64; LATENCY_BOUNDS_SECONDS.len() + 1],
}

impl TrafficMetrics {
    /// Every version's totals, sorted by version.
    pub fn version_totals(&self) -> Vec<VersionTotals> {
        let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<VersionTotals> = versions
            .iter()
            .map(|(version, series)| {
                let series = series.lock().unwrap_or_else(PoisonError::into_inner);
                VersionTotals {
                    version: version.clone(),
                    requests: series.total_requests,
                    errors: series.total_errors,
                    latency_sum_seconds: series.total_latency.sum_us as f64 / 1e6,
                    latency_buckets: series.total_latency.counts,
                }
            })
            .collect();
        out.sort_by(|a, b| a.version.cmp(&b.version));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::super::series::RETAIN_SECS;
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn bounds_agree() {
        for (s, us) in LATENCY_BOUNDS_SECONDS.iter().zip(BOUNDS_US) {
            assert_eq!((s * 1e6).round() as u64, us);
        }
    }

    #[test]
    fn totals_bucket_every_latency_and_outlive_the_history() {
        let m = TrafficMetrics::new();
        let ms = Duration::from_millis;
        // On a bound counts in that bucket; past the last, in +Inf only.
        for (latency, error) in [
            (ms(1), false),
            (ms(5), false),
            (ms(6), true),
            (ms(300), false),
            (ms(60_000), true),
        ] {
            m.record("b", error, latency, at(1000));
        }
        m.record("a", false, ms(2), at(1000));
        let totals = m.version_totals();
        assert_eq!(
            totals
                .iter()
                .map(|t| t.version.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let b = &totals[1];
        assert_eq!((b.requests, b.errors), (5, 2));
        assert_eq!(b.latency_buckets, [2, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        assert!(
            (b.latency_sum_seconds - 60.312).abs() < 1e-9,
            "{}",
            b.latency_sum_seconds
        );
        // The seconds expire; the totals never shrink.
        m.record("b", false, ms(1), at(1000 + RETAIN_SECS * 3));
        let w = m.window("b", at(1000 + RETAIN_SECS * 3), Duration::from_secs(3600));
        assert_eq!(w.requests, 1);
        let b = &m.version_totals()[1];
        assert_eq!(b.requests, 6);
        assert_eq!(b.latency_buckets.iter().sum::<u64>(), 6);
    }
}
