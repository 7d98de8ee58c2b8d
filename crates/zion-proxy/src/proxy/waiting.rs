//! A forwarded request's wait for its answer, on either path (the relay's
//! or hyper's): the response timeout, the moment it starts counting as in
//! flight, and how its outcome is counted against its version.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use crate::deadlines::Deadline;
use crate::metrics::{InFlight, VersionMetrics};
use crate::upstream::UpstreamError;

/// A request answered within this is counted when answered; one still
/// waiting is counted as in flight from then on (see [`watched`]).
const IN_FLIGHT_AFTER: Duration = Duration::from_millis(500);

/// Counts a request once answered: as one that was in flight, or plainly.
pub(super) fn count(
    metrics: &VersionMetrics,
    flight: Option<InFlight>,
    error: bool,
    latency: Duration,
) {
    match flight {
        Some(flight) => flight.finish(error, latency, SystemTime::now()),
        None => metrics.record(error, latency, SystemTime::now()),
    }
}

/// Why a request got no answer from its replica.
#[derive(Debug, thiserror::Error)]
pub(super) enum Miss {
    #[error(transparent)]
    Failed(UpstreamError),
    #[error("no response head within the target's response timeout")]
    TimedOut,
}

/// Waits for `answer` until `deadline`. A request still unanswered after
/// [`IN_FLIGHT_AFTER`] is counted as in flight from then on, with the time
/// it started, so a version that hangs shows in every window it spans; one
/// answered sooner costs no bookkeeping and is counted when answered. The
/// guard comes back for the caller to finish.
///
/// `timer` is the coarse timer this waits on: a connection that keeps one
/// across its requests arms it again only when it fires before this
/// request's moment (at most once per [`IN_FLIGHT_AFTER`]), not once per
/// request.
pub(super) async fn watched<T>(
    metrics: &VersionMetrics,
    started: Instant,
    deadline: Instant,
    timer: &mut Option<Deadline>,
    answer: impl Future<Output = Result<T, Miss>>,
) -> (Result<T, Miss>, Option<InFlight>) {
    let mut answer = pin!(answer);
    let watch_from = (started + IN_FLIGHT_AFTER).min(deadline);
    if watch_from < started + IN_FLIGHT_AFTER {
        // A response timeout shorter than the watch: on time, not a tick late.
        tokio::select! {
            biased;
            answered = &mut answer => return (answered, None),
            () = tokio::time::sleep_until(watch_from.into()) => {}
        }
    } else {
        // Coarse: a request may start counting in flight a tick late; a
        // timer per request would cost more than the rest of the watch.
        let watch = poll_fn(|cx| {
            let t = timer.get_or_insert_with(|| Deadline::at(watch_from));
            if std::pin::Pin::new(&mut *t).poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= watch_from {
                return Poll::Ready(());
            }
            // Armed for an earlier request's moment: again for this one's.
            *t = Deadline::at(watch_from);
            std::pin::Pin::new(t).poll(cx)
        });
        tokio::select! {
            biased;
            answered = &mut answer => return (answered, None),
            () = watch => {}
        }
    }
    let since = SystemTime::now()
        .checked_sub(started.elapsed())
        .unwrap_or_else(SystemTime::now);
    let flight = metrics.begin(since);
    let answered = tokio::time::timeout_at(deadline.into(), answer)
        .await
        .unwrap_or(Err(Miss::TimedOut));
    (answered, Some(flight))
}
