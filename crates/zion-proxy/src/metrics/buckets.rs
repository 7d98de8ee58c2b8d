//! One-second buckets as they leave one listener's metrics and join
//! another's: several listeners may serve one target (one per replica of
//! the control plane), each counting what it forwards; one of them judges
//! the target on the sum. Completed buckets are exported with their latency
//! histogram encoded compactly, and a window adds such buckets to the local
//! ones. Nothing here runs on the request path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use zion_core::metrics::WindowMetrics;

use super::{TrafficMetrics, new_histogram, unix_secs};

/// What one listener counted for one version in one second, with its
/// latency histogram encoded by [`encode_latency`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondBucket {
    pub version: String,
    /// Seconds since the Unix epoch.
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    pub latency: Vec<u8>,
}

/// The seconds (first, last, both included) a window of `length` ending
/// at `end` reads: what [`TrafficMetrics::window`] covers, for a caller
/// that fetches the same seconds from elsewhere.
pub fn window_seconds(end: SystemTime, length: Duration) -> (u64, u64) {
    (
        unix_secs(end.checked_sub(length).unwrap_or(UNIX_EPOCH)),
        unix_secs(end),
    )
}

impl TrafficMetrics {
    /// Every bucket of every version whose second is `since` or later and
    /// ended before `before` (a second still filling is not exported: it
    /// would be sent again, different).
    pub fn completed_buckets(&self, since: u64, before: SystemTime) -> Vec<SecondBucket> {
        let until = unix_secs(before);
        let mut out = Vec::new();
        let versions = self.versions.read().unwrap_or_else(|e| e.into_inner());
        for (version, series) in versions.iter() {
            let mut series = series.lock().unwrap_or_else(|e| e.into_inner());
            // An idle version's last seconds are compacted here if no
            // window read them.
            series.settle(until);
            for b in series.between(since, until).filter(|b| b.second < until) {
                out.push(SecondBucket {
                    version: version.clone(),
                    second: b.second,
                    requests: u64::from(b.requests),
                    errors: u64::from(b.errors),
                    // A completed second is compacted already (a copy of
                    // its bytes); one still live is encoded now.
                    latency: b.latency.encoded(),
                });
            }
        }
        out
    }

    /// [`TrafficMetrics::window`] with `others` added: the buckets of the
    /// same version counted elsewhere (those outside the window's seconds
    /// or of another version are left out). Requests and errors are summed
    /// and percentiles read from the merged histograms. A bucket whose
    /// histogram cannot be decoded still counts its requests and errors.
    pub fn window_with(
        &self,
        version: &str,
        end: SystemTime,
        length: Duration,
        others: &[SecondBucket],
    ) -> WindowMetrics {
        let (first, last) = window_seconds(end, length);
        let mut extra: Option<Histogram<u32>> = None;
        let (mut requests, mut errors) = (0, 0);
        for b in others
            .iter()
            .filter(|b| b.version == version && b.second >= first && b.second <= last)
        {
            requests += b.requests;
            errors += b.errors;
            match decode_latency(&b.latency) {
                Ok(h) => add(&mut extra, &h),
                Err(why) => {
                    tracing::warn!(version, second = b.second, %why, "a latency histogram from another listener cannot be read; its requests count without latencies")
                }
            }
        }
        self.window_merged(version, end, length, requests, errors, extra)
    }
}

/// Adds `h` to `into`.
pub(super) fn add(into: &mut Option<Histogram<u32>>, h: &Histogram<u32>) {
    match into.as_mut() {
        Some(into) => into
            .add(h)
            .expect("histograms with equal bounds always merge"),
        None => *into = Some(h.clone()),
    }
}

/// The first byte of an encoded histogram: the format, so that a later one
/// can be told apart.
const FORMAT: u8 = 1;

/// A latency histogram as bytes: the format, the number of non-empty
/// buckets, then for each its value (the distance from the previous one)
/// and its count, as LEB128 varints. A second of traffic with a few dozen
/// distinct latencies takes about a hundred bytes.
pub fn encode_latency(h: &Histogram<u32>) -> Vec<u8> {
    let recorded: Vec<(u64, u64)> = h
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), u64::from(v.count_at_value())))
        .collect();
    let mut out = Vec::with_capacity(2 + recorded.len() * 4);
    out.push(FORMAT);
    put_varint(&mut out, recorded.len() as u64);
    let mut previous = 0;
    for (value, count) in recorded {
        put_varint(&mut out, value - previous);
        put_varint(&mut out, count);
        previous = value;
    }
    out
}

/// Reads back what [`encode_latency`] wrote, into a histogram of the same
/// bounds as the local ones.
pub fn decode_latency(bytes: &[u8]) -> Result<Histogram<u32>, String> {
    let mut h = new_histogram();
    add_encoded(&mut h, bytes)?;
    Ok(h)
}

/// Adds what [`encode_latency`] wrote to `into`, bucket by bucket (no
/// histogram is allocated). On an error, part of it may have been added.
pub(super) fn add_encoded(into: &mut Histogram<u32>, bytes: &[u8]) -> Result<(), String> {
    let mut rest = bytes;
    match rest.split_first() {
        Some((&FORMAT, tail)) => rest = tail,
        Some((other, _)) => return Err(format!("unknown histogram format {other}")),
        None => return Err("an empty histogram".to_owned()),
    }
    let n = take_varint(&mut rest)?;
    let mut value = 0u64;
    for _ in 0..n {
        value = value
            .checked_add(take_varint(&mut rest)?)
            .ok_or("a latency beyond range")?;
        let count = u32::try_from(take_varint(&mut rest)?).unwrap_or(u32::MAX);
        into.saturating_record_n(value, count);
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the histogram", rest.len()));
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first().ok_or("a truncated histogram")?;
        *rest = tail;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a varint longer than 64 bits".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn histograms_round_trip_compactly() {
        let mut h = new_histogram();
        for ms in 1..=40u64 {
            h.record_n(ms * 1000, ms as u32).unwrap();
        }
        h.record(1).unwrap();
        h.saturating_record(u64::MAX);
        let bytes = encode_latency(&h);
        assert!(bytes.len() < 200, "{} bytes", bytes.len());
        let back = decode_latency(&bytes).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q), "{q}");
        }
        assert_eq!(encode_latency(&back), bytes);
        assert_eq!(
            decode_latency(&encode_latency(&new_histogram()))
                .unwrap()
                .len(),
            0
        );
        for bad in [&[][..], &[9, 0], &[FORMAT, 1, 0x80], &[FORMAT, 0, 7]] {
            assert!(decode_latency(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_completed_seconds_are_exported() {
        let m = TrafficMetrics::new();
        m.record("v", false, Duration::from_millis(3), at(10, 100));
        m.record("v", true, Duration::from_millis(9), at(11, 100));
        m.record("w", false, Duration::from_millis(1), at(11, 900));
        m.record("v", false, Duration::from_millis(1), at(12, 0));
        let mut out = m.completed_buckets(11, at(12, 500));
        out.sort_by(|a, b| (&a.version, a.second).cmp(&(&b.version, b.second)));
        let summary: Vec<(&str, u64, u64, u64)> = out
            .iter()
            .map(|b| (b.version.as_str(), b.second, b.requests, b.errors))
            .collect();
        assert_eq!(summary, vec![("v", 11, 1, 1), ("w", 11, 1, 0)]);
        let h = decode_latency(&out[0].latency).unwrap();
        assert_eq!(h.len(), 1);
        assert!((8_900..=9_100).contains(&h.max()), "{}", h.max());
    }

    /// Two listeners of one target: the window of one with the other's
    /// exported buckets added is the window of all their traffic, as if
    /// one listener had counted it.
    #[test]
    fn a_window_with_the_others_buckets_is_the_window_of_all_traffic() {
        let here = TrafficMetrics::new();
        let there = TrafficMetrics::new();
        let all = TrafficMetrics::new();
        for i in 0..200u64 {
            let (m, latency) = if i % 4 == 0 {
                (&there, Duration::from_millis(100 + i))
            } else {
                (&here, Duration::from_millis(1 + i % 10))
            };
            let when = at(100 + i % 5, 10 * (i % 90));
            let error = i % 8 == 0;
            m.record("v", error, latency, when);
            all.record("v", error, latency, when);
        }
        // Another version and seconds outside the window do not count.
        there.record("other", true, Duration::from_millis(5), at(102, 0));
        there.record("v", true, Duration::from_millis(5), at(90, 0));
        let end = at(104, 950);
        let length = Duration::from_secs(4);
        let shipped = there.completed_buckets(0, at(105, 0));
        let merged = here.window_with("v", end, length, &shipped);
        let expected = all.window("v", end, length);
        assert_eq!(merged, expected);
        assert_eq!((merged.requests, merged.errors), (200, 25));
        // Without them, the slow quarter is invisible here.
        let alone = here.window("v", end, length);
        assert_eq!(alone.requests, 150);
        assert!(alone.latency_p99_ms.unwrap() < 20.0);
        assert!(merged.latency_p99_ms.unwrap() > 250.0);
        // A histogram that cannot be read still counts its requests.
        let mut broken = shipped.clone();
        for b in &mut broken {
            b.latency = vec![0];
        }
        let w = here.window_with("v", end, length, &broken);
        assert_eq!((w.requests, w.latency_p99_ms), (200, alone.latency_p99_ms));
    }
}
