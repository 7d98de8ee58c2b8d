//! When a failed delivery is tried again: exponential backoff from
//! [`RETRY_BASE`], doubled at each failure up to [`RETRY_CAP`], until the
//! receiver's `max_attempts` are spent.

use std::time::Duration;

use jiff::Timestamp;

/// The wait after the first failure.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
pub const RETRY_CAP: Duration = Duration::from_secs(300);

/// When to try again after `failures` failed attempts (counting the one
/// that just failed), or None when `max_attempts` are spent: give up.
pub fn retry_at(failures: u32, max_attempts: u32, now: Timestamp) -> Option<Timestamp> {
    if failures == 0 || failures >= max_attempts {
        return None;
    }
    let doublings = (failures - 1).min(20);
    let wait = RETRY_BASE.saturating_mul(1u32 << doublings).min(RETRY_CAP);
    let wait = jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::MAX);
    Some(now.saturating_add(wait).unwrap_or(Timestamp::MAX))
}
