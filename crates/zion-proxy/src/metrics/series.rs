//! One version's history: a bucket per second that saw a request. The
//! newest seconds, still filling, keep a live latency histogram that a
//! request records into by incrementing a counter; a completed second keeps
//! only its non-empty histogram buckets, encoded as [`encode_latency`]
//! writes them (a few dozen bytes instead of a histogram's 10 KiB), so ten
//! minutes of history cost little. A window adds a compacted second's
//! latencies straight into its merged histogram: the counts, and so the
//! percentiles, are the same as if the second had stayed live.

use std::collections::{BTreeMap, VecDeque};

use hdrhistogram::Histogram;

use super::buckets::{add_encoded, encode_latency};
use super::new_histogram;

/// Seconds of history kept per version; older buckets are dropped, so a
/// busy version costs bounded memory.
pub(super) const RETAIN_SECS: u64 = 600;

/// Seconds still filling, whose histograms stay live: the newest one a
/// request arrived in and the one before it. A request finishing as a
/// second turns may take its lock just after one of the next second; a
/// record older still (its thread stalled for more than a second) finds
/// its second compacted and turns it live again, once.
pub(super) const LIVE_SECS: u64 = 2;

/// One version's buckets, sorted by second, newest last, and allocated only
/// when a request arrives in that second; with its totals and the requests
/// still in flight.
#[derive(Debug, Default)]
pub(super) struct Series {
    buckets: VecDeque<Bucket>,
    /// How many of `buckets` are live (they are among the newest, but a
    /// late record may turn an older one live again).
    live: usize,
    pub(super) total_requests: u64,
    pub(super) total_errors: u64,
    /// Every answered request's latency since the series began, in the
    /// fixed buckets of [`super::cumulative`]: what a Prometheus histogram
    /// exposes (monotonic, unlike the seconds kept above, which expire).
    pub(super) total_latency: super::cumulative::LatencyTotals,
    /// Requests sent and not yet answered, by the millisecond they started.
    pub(super) in_flight: BTreeMap<u64, u32>,
}

/// What one version did in one second.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) second: u64,
    pub(super) requests: u32,
    pub(super) errors: u32,
    pub(super) latency: Latency,
}

/// A second's latencies, in microseconds.
#[derive(Debug)]
pub(super) enum Latency {
    /// A second still filling: a request records into it directly.
    Live(Box<Histogram<u32>>),
    /// A completed second: its histogram encoded by [`encode_latency`].
    Compact(Box<[u8]>),
}

impl Latency {
    /// Adds these latencies to `into`, created on first use.
    pub(super) fn add_to(&self, into: &mut Option<Histogram<u32>>) {
        match self {
            Latency::Live(h) => super::buckets::add(into, h),
            Latency::Compact(bytes) => {
                add_encoded(into.get_or_insert_with(new_histogram), bytes)
                    .expect("a second compacted here always decodes");
            }
        }
    }

    /// These latencies as [`encode_latency`] writes them.
    pub(super) fn encoded(&self) -> Vec<u8> {
        match self {
            Latency::Live(h) => encode_latency(h),
            Latency::Compact(bytes) => bytes.to_vec(),
        }
    }
}

impl Series {
    pub(super) fn take_off(&mut self, started_ms: u64) {
        *self.in_flight.entry(started_ms).or_default() += 1;
    }

    pub(super) fn land(&mut self, started_ms: u64) {
        if let Some(n) = self.in_flight.get_mut(&started_ms) {
            *n -= 1;
            if *n == 0 {
                self.in_flight.remove(&started_ms);
            }
        }
    }

    /// Counts one request answered in `second`.
    pub(super) fn record(&mut self, second: u64, error: bool, latency_us: u64) {
        self.total_requests += 1;
        self.total_errors += u64::from(error);
        self.total_latency.record(latency_us);
        if second + RETAIN_SECS <= self.newest().unwrap_or(0) {
            // Too old to ever fall inside a window we still answer for.
            return;
        }
        let idx = self.bucket_for(second);
        if let Latency::Compact(bytes) = &self.buckets[idx].latency {
            // A late record: the second was completed already.
            let mut h = new_histogram();
            add_encoded(&mut h, bytes).expect("a second compacted here always decodes");
            self.buckets[idx].latency = Latency::Live(Box::new(h));
            self.live += 1;
        }
        let bucket = &mut self.buckets[idx];
        bucket.requests = bucket.requests.saturating_add(1);
        bucket.errors = bucket.errors.saturating_add(u32::from(error));
        if let Latency::Live(h) = &mut bucket.latency {
            h.saturating_record(latency_us);
        }
    }

    /// Counts `requests` of which `errors` failed in `second`, without
    /// latencies (a router that reports counts only).
    pub(super) fn count(&mut self, second: u64, requests: u32, errors: u32) {
        self.total_requests += u64::from(requests);
        self.total_errors += u64::from(errors);
        if second + RETAIN_SECS <= self.newest().unwrap_or(0) {
            return;
        }
        let idx = self.bucket_for(second);
        let bucket = &mut self.buckets[idx];
        bucket.requests = bucket.requests.saturating_add(requests);
        bucket.errors = bucket.errors.saturating_add(errors);
    }

    /// The second of the newest bucket.
    pub(super) fn newest(&self) -> Option<u64> {
        self.buckets.back().map(|b| b.second)
    }

    /// The index of the bucket of `second`, created in order if missing.
    fn bucket_for(&mut self, second: u64) -> usize {
        // Records arrive almost in time order, so search from the back.
        let mut idx = self.buckets.len();
        while idx > 0 && self.buckets[idx - 1].second > second {
            idx -= 1;
        }
        if idx > 0 && self.buckets[idx - 1].second == second {
            return idx - 1;
        }
        let newest = self.newest().map_or(second, |n| n.max(second));
        self.prune(newest);
        // The histogram of a second that just completed serves the new one.
        let latency = match self.compact(newest) {
            Some(mut h) => {
                h.reset();
                h
            }
            None => Box::new(new_histogram()),
        };
        // Pruning only removes from the front, so recompute the position.
        let idx = self.buckets.partition_point(|b| b.second < second);
        self.buckets.insert(
            idx,
            Bucket {
                second,
                requests: 0,
                errors: 0,
                latency: Latency::Live(latency),
            },
        );
        self.live += 1;
        idx
    }

    /// Drops the buckets too old for `newest`.
    fn prune(&mut self, newest: u64) {
        while let Some(front) = self.buckets.front() {
            if front.second + RETAIN_SECS > newest {
                break;
            }
            if let Some(Bucket {
                latency: Latency::Live(_),
                ..
            }) = self.buckets.pop_front()
            {
                self.live -= 1;
            }
        }
        if self.buckets.is_empty() {
            // An idle version should cost almost nothing once its history expired.
            self.buckets.shrink_to_fit();
        }
    }

    /// Compacts the live buckets completed by `newest`; returns one of
    /// their histograms, for reuse.
    fn compact(&mut self, newest: u64) -> Option<Box<Histogram<u32>>> {
        let mut freed = None;
        let mut seen = 0;
        let live = self.live;
        for bucket in self.buckets.iter_mut().rev() {
            if seen == live {
                break;
            }
            let Latency::Live(h) = &bucket.latency else {
                continue;
            };
            seen += 1;
            if bucket.second + LIVE_SECS > newest {
                continue;
            }
            let bytes = encode_latency(h).into_boxed_slice();
            if let Latency::Live(h) =
                std::mem::replace(&mut bucket.latency, Latency::Compact(bytes))
            {
                freed = Some(h);
            }
            self.live -= 1;
        }
        freed
    }

    /// Brings the history up to `now` (a second) with no request
    /// recorded: drops what expired and compacts the seconds completed by
    /// then, freeing their histograms. Reading is the only activity an
    /// idle version sees.
    pub(super) fn settle(&mut self, now: u64) {
        let Some(newest) = self.newest() else { return };
        let now = now.max(newest);
        self.prune(now);
        if newest + LIVE_SECS <= now {
            // No request for a while: nothing would reuse a histogram.
            self.compact(now);
        }
    }

    /// The buckets of the seconds `first` to `last`, both included.
    pub(super) fn between(&self, first: u64, last: u64) -> impl Iterator<Item = &Bucket> {
        let from = self.buckets.partition_point(|b| b.second < first);
        self.buckets
            .range(from..)
            .take_while(move |b| b.second <= last)
    }

    /// How many buckets are kept, and how many of them live.
    #[cfg(test)]
    pub(super) fn kept(&self) -> (usize, usize) {
        (self.buckets.len(), self.live)
    }

    /// The heap bytes of the buckets: their slots and what they own.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        let owned: usize = self
            .buckets
            .iter()
            .map(|b| match &b.latency {
                Latency::Live(h) => std::mem::size_of_val(&**h) + h.distinct_values() * 4,
                Latency::Compact(bytes) => bytes.len(),
            })
            .sum();
        self.buckets.capacity() * std::mem::size_of::<Bucket>() + owned
    }
}
