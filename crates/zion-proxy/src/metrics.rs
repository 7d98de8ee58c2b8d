//! Per-version request metrics in one-second buckets, and the counters of
//! the target's request mirroring. `series` keeps one version's buckets
//! (completed seconds compacted); `buckets` exports completed buckets and
//! adds other listeners' to a window; `cumulative` keeps each version's
//! totals since it was first seen, for a Prometheus scrape.

mod buckets;
mod cumulative;
mod samples;
mod series;

pub use buckets::{SecondBucket, decode_latency, encode_latency, window_seconds};
pub use cumulative::{LATENCY_BOUNDS_SECONDS, VersionTotals};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use zion_core::metrics::WindowMetrics;

use series::Series;
#[cfg(test)]
use series::{LIVE_SECS, RETAIN_SECS};

/// Latency range in microseconds: 1µs to 60s, longer requests count as 60s.
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;
/// Two significant digits (1% error) keep a bucket near 10 KiB.
const SIGFIG: u8 = 2;

/// Request counts, errors and latencies of a target, per version, over time.
/// Shared by the target's listener (which records) and the controller (which
/// reads windows).
///
/// Mirrored copies count under the canary's version like the requests it
/// serves: the analysis judges both alike.
///
/// Requests still waiting for their answer count too: a window holds every
/// request in flight at its end, with the time it has waited so far as its
/// latency. A version that hangs on every request completes none, so
/// without them its rounds would see no traffic at all and never judge it.
#[derive(Debug, Default)]
pub struct TrafficMetrics {
    /// Looked up on every request. Keyed by the spec's version names (no
    /// client chooses them), so a fast hash without flooding protection
    /// serves: SipHash cost more than the rest of the lookup.
    versions: RwLock<HashMap<String, Arc<Mutex<Series>>, foldhash::fast::RandomState>>,
    mirror: MirrorCounters,
}

/// What mirroring did on a target since its metrics were created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Copies sent to the canary (their outcomes are in the canary's metrics).
    pub mirrored: u64,
    /// Copies not sent because as many as allowed were already in flight.
    pub dropped: u64,
    /// Requests due for a copy whose body was too large or of unknown
    /// length to be buffered, so not copied.
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct MirrorCounters {
    mirrored: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
}

/// Why a request due for mirroring was or was not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MirrorOutcome {
    Mirrored,
    Dropped,
    Skipped,
}

/// One request on its way to a version, counted in that version's windows
/// while it waits. [`InFlight::finish`] records its outcome; dropped
/// unfinished (the client went away, or the request was the client's
/// fault), it just stops counting.
#[derive(Debug)]
pub struct InFlight {
    series: Arc<Mutex<Series>>,
    started_ms: u64,
    done: bool,
}

impl InFlight {
    /// Records the request's outcome: `error` for 5xx answers, failed
    /// upstreams and timeouts; `latency` until the response head.
    pub fn finish(mut self, error: bool, latency: Duration, at: SystemTime) {
        self.done = true;
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.land(self.started_ms);
        series.record(unix_secs(at), error, latency_us);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.series
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .land(self.started_ms);
        }
    }
}

/// One version's metrics, resolved once: what the request path records
/// into, so an answered request costs no map lookup.
#[derive(Debug, Clone)]
pub(crate) struct VersionMetrics(Arc<Mutex<Series>>);

impl VersionMetrics {
    /// As [`TrafficMetrics::record`], for this version.
    pub(crate) fn record(&self, error: bool, latency: Duration, at: SystemTime) {
        record_into(&self.0, error, latency, at);
    }

    /// As [`TrafficMetrics::begin`], for this version.
    pub(crate) fn begin(&self, at: SystemTime) -> InFlight {
        let started_ms = unix_millis(at);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take_off(started_ms);
        InFlight {
            series: Arc::clone(&self.0),
            started_ms,
            done: false,
        }
    }
}

fn record_into(series: &Mutex<Series>, error: bool, latency: Duration, at: SystemTime) {
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    series
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record(unix_secs(at), error, latency_us);
}

fn new_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .expect("constant histogram bounds are valid")
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl TrafficMetrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request of `version` that got its response headers after
    /// `latency`, at time `at`; `error` for 5xx answers and failed upstreams.
    pub fn record(&self, version: &str, error: bool, latency: Duration, at: SystemTime) {
        {
            // The common case: no Arc to count.
            let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = versions.get(version) {
                record_into(series, error, latency, at);
                return;
            }
        }
        record_into(&self.series(version), error, latency, at);
    }

    /// Counts `requests` of `version` answered in the second of `at`,
    /// `errors` of them failed, without latencies: for a router whose
    /// statistics give counts only (HAProxy's).
    pub fn record_counts(&self, version: &str, requests: u64, errors: u64, at: SystemTime) {
        let requests = u32::try_from(requests).unwrap_or(u32::MAX);
        let errors = u32::try_from(errors).unwrap_or(u32::MAX).min(requests);
        self.series(version)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .count(unix_secs(at), requests, errors);
    }

    /// Counts a request of `version` sent at `at` as in flight until the
    /// returned guard is finished or dropped.
    pub fn begin(&self, version: &str, at: SystemTime) -> InFlight {
        self.version(version).begin(at)
    }

    /// A handle recording under `version` with no lookup, for a route to
    /// keep beside the pool it picks (the series created on first use).
    pub(crate) fn version(&self, version: &str) -> VersionMetrics {
        VersionMetrics(self.series(version))
    }

    /// The series of `version`, created on first use.
    fn series(&self, version: &str) -> Arc<Mutex<Series>> {
        {
            let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = versions.get(version) {
                return Arc::clone(series);
            }
        }
        let mut versions = self
            .versions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(versions.entry(version.to_owned()).or_default())
    }

    /// What `version` did over at least the last `length` before `end`:
    /// every one-second bucket that overlaps [`end` - `length`, `end`], the
    /// current partial second included so a fault shows at once, and the
    /// partial second at the start included so a short window never holds
    /// only a sliver of a second. `window_secs` is the span really covered.
    pub fn window(&self, version: &str, end: SystemTime, length: Duration) -> WindowMetrics {
        self.window_merged(version, end, length, 0, 0, None)
    }

    /// [`Self::window`] plus `requests`, `errors` and the `latency_us`
    /// histogram counted elsewhere over the same seconds.
    fn window_merged(
        &self,
        version: &str,
        end: SystemTime,
        length: Duration,
        requests: u64,
        errors: u64,
        latency_us: Option<Histogram<u32>>,
    ) -> WindowMetrics {
        let (first, last) = buckets::window_seconds(end, length);
        let covered = end
            .duration_since(UNIX_EPOCH + Duration::from_secs(first))
            .unwrap_or(length)
            .max(length);
        let mut out = WindowMetrics {
            window_secs: covered.as_secs_f64(),
            requests,
            errors,
            ..WindowMetrics::default()
        };
        let mut merged = latency_us;
        let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = versions.get(version) {
            let mut series = series.lock().unwrap_or_else(PoisonError::into_inner);
            // Reading is the only activity an idle version sees; expire here too.
            series.settle(last);
            for bucket in series.between(first, last) {
                out.requests += u64::from(bucket.requests);
                out.errors += u64::from(bucket.errors);
                bucket.latency.add_to(&mut merged);
            }
            // Still waiting at the window's end: requests of this window, as
            // slow as they have been so far.
            let end_ms = unix_millis(end);
            for (&started_ms, &n) in series.in_flight.range(..=end_ms) {
                out.requests += u64::from(n);
                let waited_us = (end_ms - started_ms).saturating_mul(1000);
                merged
                    .get_or_insert_with(new_histogram)
                    .saturating_record_n(waited_us, n);
            }
        }
        drop(versions);
        if let Some(h) = merged.filter(|h| !h.is_empty()) {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            out.latency_p50_ms = Some(ms(0.50));
            out.latency_p95_ms = Some(ms(0.95));
            out.latency_p99_ms = Some(ms(0.99));
        }
        out
    }

    /// Requests and errors of `version` since it was first seen (or forgotten).
    pub fn totals(&self, version: &str) -> (u64, u64) {
        let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        versions.get(version).map_or((0, 0), |series| {
            let series = series.lock().unwrap_or_else(PoisonError::into_inner);
            (series.total_requests, series.total_errors)
        })
    }

    /// Counts what became of one request due for mirroring.
    pub(crate) fn count_mirror(&self, outcome: MirrorOutcome) {
        let counter = match outcome {
            MirrorOutcome::Mirrored => &self.mirror.mirrored,
            MirrorOutcome::Dropped => &self.mirror.dropped,
            MirrorOutcome::Skipped => &self.mirror.skipped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The mirroring counters so far.
    pub fn mirror_stats(&self) -> MirrorStats {
        MirrorStats {
            mirrored: self.mirror.mirrored.load(Ordering::Relaxed),
            dropped: self.mirror.dropped.load(Ordering::Relaxed),
            skipped: self.mirror.skipped.load(Ordering::Relaxed),
        }
    }

    /// Drops everything recorded for `version` (it left the target). A
    /// route's pool resolves its version's metrics once, at its first
    /// request: forget a version only once no route of the listener serves it.
    pub fn forget(&self, version: &str) {
        self.versions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    const MS: Duration = Duration::from_millis(1);

    /// How many buckets `version` keeps, and how many of them live.
    fn kept(m: &TrafficMetrics, version: &str) -> (usize, usize) {
        m.versions.read().unwrap()[version].lock().unwrap().kept()
    }

    #[test]
    fn unknown_version_is_empty_window() {
        let m = TrafficMetrics::new();
        let w = m.window("1.0", at(1000, 0), Duration::from_secs(5));
        assert_eq!(w.requests, 0);
        assert_eq!(w.window_secs, 5.0);
        assert_eq!(w.latency_p95_ms, None);
        assert_eq!(m.totals("1.0"), (0, 0));
    }

    #[test]
    fn window_covers_every_second_it_overlaps() {
        let m = TrafficMetrics::new();
        // One request in each second 990..=1000.
        for s in 990..=1000 {
            m.record("v", s % 2 == 0, MS, at(s, 500));
        }
        // [995.3, 1000.3] overlaps seconds 995..=1000: 5.3 s covered.
        let w = m.window("v", at(1000, 300), Duration::from_secs(5));
        assert_eq!(w.requests, 6);
        assert_eq!(w.errors, 3); // 996, 998, 1000
        assert!((w.window_secs - 5.3).abs() < 1e-9, "{}", w.window_secs);
        // Both partial seconds count: a 1 s window never holds a sliver.
        let w = m.window("v", at(1000, 0), Duration::from_secs(1));
        assert_eq!(w.requests, 2);
        assert_eq!(w.window_secs, 1.0);
        // Nothing in the future of `end`.
        let w = m.window("v", at(993, 999), Duration::from_secs(2));
        assert_eq!(w.requests, 3);
    }

    #[test]
    fn percentiles_follow_latencies() {
        let m = TrafficMetrics::new();
        for i in 1..=100u64 {
            m.record("v", false, Duration::from_millis(i), at(50, 0));
        }
        let w = m.window("v", at(50, 900), Duration::from_secs(10));
        let p50 = w.latency_p50_ms.unwrap();
        let p95 = w.latency_p95_ms.unwrap();
        let p99 = w.latency_p99_ms.unwrap();
        assert!((49.0..=51.5).contains(&p50), "p50 {p50}");
        assert!((94.0..=96.5).contains(&p95), "p95 {p95}");
        assert!((98.0..=100.5).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn extreme_latencies_saturate() {
        let m = TrafficMetrics::new();
        m.record("v", false, Duration::ZERO, at(10, 0));
        m.record("v", false, Duration::from_secs(3600), at(10, 0));
        let w = m.window("v", at(10, 0), Duration::from_secs(1));
        assert_eq!(w.requests, 2);
        let p99 = w.latency_p99_ms.unwrap();
        assert!((59_000.0..=61_000.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn history_is_bounded() {
        let m = TrafficMetrics::new();
        for s in 0..(RETAIN_SECS * 2) {
            m.record("v", false, MS, at(10_000 + s, 0));
        }
        let (kept, live) = kept(&m, "v");
        assert_eq!(kept as u64, RETAIN_SECS);
        assert_eq!(live as u64, LIVE_SECS);
        assert_eq!(m.totals("v"), (RETAIN_SECS * 2, 0));
        // A record older than the retained history counts in totals only.
        m.record("v", true, MS, at(10_000, 0));
        assert_eq!(m.totals("v"), (RETAIN_SECS * 2 + 1, 1));
        let w = m.window(
            "v",
            at(10_000 + RETAIN_SECS * 2 - 1, 0),
            Duration::from_secs(3600),
        );
        assert_eq!(w.requests, RETAIN_SECS);
        assert_eq!(w.errors, 0);
    }

    #[test]
    fn window_expires_idle_history() {
        let m = TrafficMetrics::new();
        m.record("v", false, MS, at(100, 0));
        let w = m.window("v", at(100 + RETAIN_SECS + 5, 0), Duration::from_secs(3600));
        assert_eq!(w.requests, 0);
        assert_eq!(kept(&m, "v"), (0, 0));
        assert_eq!(m.totals("v"), (1, 0));
    }

    #[test]
    fn out_of_order_records_land_in_their_second() {
        let m = TrafficMetrics::new();
        m.record("v", false, MS, at(20, 0));
        m.record("v", false, MS, at(18, 0));
        m.record("v", true, MS, at(19, 0));
        m.record("v", false, MS, at(20, 0));
        let w = m.window("v", at(19, 999), Duration::from_secs(1));
        assert_eq!((w.requests, w.errors), (2, 1));
        let w = m.window("v", at(20, 0), Duration::from_secs(3));
        assert_eq!((w.requests, w.errors), (4, 1));
    }

    #[test]
    fn in_flight_requests_count_until_they_land() {
        let m = TrafficMetrics::new();
        let hanging = m.begin("v", at(100, 0));
        let gone = m.begin("v", at(101, 0));
        // Each window they span holds them, as slow as they have been so far.
        let w = m.window("v", at(103, 0), Duration::from_secs(1));
        assert_eq!((w.requests, w.errors), (2, 0));
        let p99 = w.latency_p99_ms.unwrap();
        assert!((2_950.0..=3_050.0).contains(&p99), "p99 {p99}");
        // Not yet started at the window's end: not in it.
        assert_eq!(m.window("v", at(99, 0), Duration::from_secs(1)).requests, 0);
        // The client went away: no longer counted, nothing recorded.
        drop(gone);
        assert_eq!(
            m.window("v", at(104, 0), Duration::from_secs(1)).requests,
            1
        );
        hanging.finish(true, Duration::from_secs(5), at(105, 0));
        assert_eq!(m.totals("v"), (1, 1));
        let w = m.window("v", at(105, 500), Duration::from_secs(1));
        assert_eq!((w.requests, w.errors), (1, 1));
    }

    #[test]
    fn versions_are_separate_and_forgettable() {
        let m = TrafficMetrics::new();
        m.record("a", false, MS, at(5, 0));
        m.record("b", true, MS, at(5, 0));
        m.record("b", false, MS, at(5, 0));
        assert_eq!(m.totals("a"), (1, 0));
        assert_eq!(m.totals("b"), (2, 1));
        m.forget("b");
        assert_eq!(m.totals("b"), (0, 0));
        assert_eq!(m.window("b", at(5, 0), Duration::from_secs(1)).requests, 0);
        assert_eq!(m.totals("a"), (1, 0));
    }

    /// A latency between 1 µs and about 4 s, spread over the scale.
    fn spread(n: u64) -> Duration {
        let x = n
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        Duration::from_micros(1 + (x >> 40) % (1 << ((x >> 20) % 22)))
    }

    /// Windows read the same counts and percentiles whether their seconds
    /// are compacted, live, or both, as one histogram of all their
    /// requests would give: compaction loses nothing.
    #[test]
    fn compacted_and_live_seconds_read_as_one_histogram() {
        let m = TrafficMetrics::new();
        let mut all: Vec<(u64, bool, Duration)> = Vec::new();
        let mut n = 0;
        for s in 1_000..1_100u64 {
            for i in 0..(s % 7) * 13 + 1 {
                n += 1;
                let (error, latency) = (n % 9 == 0, spread(n));
                m.record("v", error, latency, at(s, (i * 7) % 1_000));
                all.push((s, error, latency));
            }
            if s % 10 == 0 {
                // Late, into a second compacted already.
                m.record("v", true, spread(s), at(s - 4, 0));
                all.push((s - 4, true, spread(s)));
            }
        }
        assert!(kept(&m, "v").1 as u64 <= LIVE_SECS);
        for end in [at(1_099, 500), at(1_099, 999), at(1_050, 0), at(1_003, 10)] {
            for secs in [1, 3, 10, 60, 200] {
                let length = Duration::from_secs(secs);
                let (first, last) = window_seconds(end, length);
                let mut h = new_histogram();
                let (mut requests, mut errors) = (0, 0);
                for (s, error, latency) in &all {
                    if (first..=last).contains(s) {
                        requests += 1;
                        errors += u64::from(*error);
                        h.saturating_record(latency.as_micros() as u64);
                    }
                }
                let w = m.window("v", end, length);
                let ms = |q: f64| Some(h.value_at_quantile(q) as f64 / 1000.0);
                let expected = (requests, errors, ms(0.5), ms(0.95), ms(0.99));
                let got = (
                    w.requests,
                    w.errors,
                    w.latency_p50_ms,
                    w.latency_p95_ms,
                    w.latency_p99_ms,
                );
                assert_eq!(got, expected, "{secs}s to {end:?}");
            }
        }
    }

    #[test]
    fn a_late_record_reopens_its_compacted_second_until_the_next_one() {
        let m = TrafficMetrics::new();
        for s in 10..=13 {
            m.record("v", false, MS * 10, at(s, 0));
        }
        // 12 and 13 are still filling; 10 and 11 are compacted.
        assert_eq!(kept(&m, "v"), (4, 2));
        m.record("v", true, MS * 30, at(10, 900));
        assert_eq!(kept(&m, "v"), (4, 3));
        let w = m.window("v", at(10, 999), Duration::from_millis(500));
        assert_eq!((w.requests, w.errors), (2, 1));
        let p99 = w.latency_p99_ms.unwrap();
        assert!((29.5..=30.5).contains(&p99), "p99 {p99}");
        // The next second compacts every completed one again.
        m.record("v", false, MS, at(14, 0));
        assert_eq!(kept(&m, "v"), (5, 2));
        let w = m.window("v", at(14, 999), Duration::from_secs(5));
        assert_eq!((w.requests, w.errors), (6, 1));
        assert_eq!(m.totals("v"), (6, 1));
    }

    /// Ten minutes of steady traffic (20 requests a second, latencies of
    /// 20 to 22 ms as the simulated versions answer) keep a few dozen bytes
    /// per completed second, against a live histogram's 10 KiB; once the
    /// version is idle, a read compacts its last seconds too.
    #[test]
    fn memory_per_completed_second_is_bounded() {
        let m = TrafficMetrics::new();
        let histogram_bytes = new_histogram().distinct_values() * 4;
        assert!(histogram_bytes > 8_000, "{histogram_bytes}");
        let mut n = 0u64;
        for s in 0..RETAIN_SECS {
            for i in 0..20 {
                n += 1;
                let latency = MS * 20 + MS * 20 * u32::try_from(n % 11).unwrap() / 100;
                m.record("v", false, latency, at(50_000 + s, i * 50));
            }
        }
        let bytes =
            |m: &TrafficMetrics| m.versions.read().unwrap()["v"].lock().unwrap().heap_bytes();
        let (kept_now, live) = kept(&m, "v");
        assert_eq!((kept_now as u64, live as u64), (RETAIN_SECS, LIVE_SECS));
        let compacted = bytes(&m) - live * histogram_bytes;
        let per_second = compacted / (kept_now - live);
        assert!(per_second < 100, "{per_second} bytes per completed second");
        // Idle: the next read compacts the last seconds and frees their
        // histograms, and what was recorded reads the same.
        let end = at(50_000 + RETAIN_SECS + 5, 0);
        let w = m.window("v", end, Duration::from_secs(RETAIN_SECS - 10));
        assert_eq!(w.requests, (RETAIN_SECS - 15) * 20);
        assert_eq!(kept(&m, "v").1, 0);
        assert!(bytes(&m) < (RETAIN_SECS as usize) * 100, "{}", bytes(&m));
    }
}
