//! Log lines about what may happen once per request (a client sending broken
//! bodies, a version failing every request) at most once per period, each
//! saying how many happened since the last: a hostile client must not be
//! able to flood the log, and an operator still sees that it happens.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one line per this long, per kind and listener.
const PERIOD: Duration = Duration::from_secs(10);

/// Counts occurrences of one kind of event between log lines.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    pending: u64,
}

impl Throttle {
    /// Counts one occurrence at `now`; Some(occurrences since the last line,
    /// this one included) when a line is due now.
    pub(crate) fn hit(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.pending += 1;
        if s.last.is_some_and(|last| now.duration_since(last) < PERIOD) {
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_counting_the_rest() {
        let t = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(1));
        for k in 1..100 {
            assert_eq!(t.hit(t0 + Duration::from_millis(k * 10)), None);
        }
        assert_eq!(t.hit(t0 + PERIOD), Some(100));
        assert_eq!(t.hit(t0 + PERIOD + Duration::from_secs(1)), None);
    }
}
