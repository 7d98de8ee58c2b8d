//! A version's samples over a window, for the statistical judge: one
//! latency per request and the per-second counts, read from the same
//! one-second buckets (this listener's and the other listeners') that
//! [`TrafficMetrics::window`] sums.
//!
//! A request's latency is the value its histogram bucket stands for (the
//! highest value equivalent to it: two significant digits, so latencies
//! within 1% of each other tie, which the test's tie correction accounts
//! for). Requests still waiting at the window's end count with the time
//! they have waited, as in the window's percentiles.

use std::collections::BTreeMap;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use zion_core::judge::Samples;

use super::buckets::{SecondBucket, add, decode_latency, window_seconds};
use super::{TrafficMetrics, new_histogram, unix_millis};

impl TrafficMetrics {
    /// The samples of `version` over the `length` before `end`, with the
    /// buckets of the same version counted elsewhere (`others`) added.
    pub fn samples_with(
        &self,
        version: &str,
        end: SystemTime,
        length: Duration,
        others: &[SecondBucket],
    ) -> Samples {
        let (first, last) = window_seconds(end, length);
        let mut seconds: BTreeMap<u64, (u64, u64)> = (first..=last).map(|s| (s, (0, 0))).collect();
        let mut merged: Option<Histogram<u32>> = None;
        for b in others
            .iter()
            .filter(|b| b.version == version && b.second >= first && b.second <= last)
        {
            let counts = seconds.entry(b.second).or_default();
            counts.0 += b.requests;
            counts.1 += b.errors;
            if let Ok(h) = decode_latency(&b.latency) {
                add(&mut merged, &h);
            }
        }
        let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = versions.get(version) {
            let mut series = series.lock().unwrap_or_else(PoisonError::into_inner);
            series.settle(last);
            for bucket in series.between(first, last) {
                let counts = seconds.entry(bucket.second).or_default();
                counts.0 += u64::from(bucket.requests);
                counts.1 += u64::from(bucket.errors);
                bucket.latency.add_to(&mut merged);
            }
            let end_ms = unix_millis(end);
            for (&started_ms, &n) in series.in_flight.range(..=end_ms) {
                let waited_us = (end_ms - started_ms).saturating_mul(1000);
                merged
                    .get_or_insert_with(new_histogram)
                    .saturating_record_n(waited_us, n);
            }
        }
        drop(versions);
        let latency_ms = merged.map_or_else(Vec::new, |h| latencies_ms(&h));
        let counts: Vec<(u64, u64)> = seconds.into_values().collect();
        Samples::from_seconds(&counts, latency_ms)
    }

    /// [`Self::samples_with`] of this listener's buckets alone.
    pub fn samples(&self, version: &str, end: SystemTime, length: Duration) -> Samples {
        self.samples_with(version, end, length, &[])
    }
}

/// One value per recorded request, in milliseconds.
fn latencies_ms(h: &Histogram<u32>) -> Vec<f64> {
    let mut out = Vec::with_capacity(usize::try_from(h.len()).unwrap_or(0));
    for v in h.iter_recorded() {
        let ms = v.value_iterated_to() as f64 / 1000.0;
        let n = usize::try_from(v.count_at_value()).unwrap_or(0);
        out.extend(std::iter::repeat_n(ms, n));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn one_latency_per_request_and_counts_per_second() {
        let here = TrafficMetrics::new();
        let there = TrafficMetrics::new();
        here.record("v", false, Duration::from_millis(10), at(100, 0));
        here.record("v", true, Duration::from_millis(20), at(100, 500));
        here.record("v", false, Duration::from_millis(30), at(102, 0));
        there.record("v", true, Duration::from_millis(40), at(101, 0));
        // Another version does not count.
        here.record("w", true, Duration::from_millis(50), at(101, 0));
        let others = there.completed_buckets(0, at(200, 0));
        let s = here.samples_with("v", at(103, 0), Duration::from_secs(3), &others);
        let mut latency = s.latency_ms.clone();
        latency.sort_by(f64::total_cmp);
        assert_eq!(latency.len(), 4);
        for (got, want) in latency.iter().zip([10.0, 20.0, 30.0, 40.0]) {
            assert!((got - want).abs() <= want * 0.01, "{got} for {want}");
        }
        // Seconds 100, 101, 102 and the second at the window's end.
        assert_eq!(s.request_rate, vec![2.0, 1.0, 1.0, 0.0]);
        assert_eq!(s.error_rate, vec![0.5, 1.0, 0.0]);
        assert_eq!(
            here.samples("none", at(103, 0), Duration::from_secs(3))
                .latency_ms,
            Vec::<f64>::new()
        );
    }
}
