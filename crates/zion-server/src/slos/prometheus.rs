//! Prometheus SLIs (`sli: prometheus`): each completed minute of the
//! server's clock, the good (or bad) and total queries with `{{.window}}`
//! filled with `1m`, asked as of the minute's end, once
//! [`AFTER_MINUTE`] has passed so that the minute's last scrapes have
//! landed. Both rates become the minute's counts
//! (`zion_core::slo::prometheus::minute_counts`). A minute whose queries
//! fail (Prometheus unreachable, an error, no data) records nothing: it is
//! reported, never counted good. The queries run on a task of their own so
//! that a slow Prometheus holds up no other SLO.

use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::task::JoinHandle;
use zion_core::slo::Counts;
use zion_core::slo::prometheus::{MINUTE_WINDOW, fill, minute_counts};
use zion_core::sources::Outcome;
use zion_core::spec::{PrometheusProvider, SloEvents, SloPrometheus};

use crate::sources::prometheus::query_at;

/// How long after a minute's end it is measured.
pub(super) const AFTER_MINUTE: Duration = Duration::from_secs(10);

/// How far back a new driver measures the minutes its predecessor left
/// (after a restart or a takeover); Prometheus still has them.
const CATCH_UP: SignedDuration = SignedDuration::from_mins(60);

/// One minute's outcome: its start, and its counts or why none.
pub(super) type Minute = (Timestamp, Result<Counts, String>);

/// One SLO's measuring on this replica.
#[derive(Default)]
pub(super) struct Minutes {
    /// The start of the next minute to measure; None before the first poll.
    next: Option<Timestamp>,
    running: Option<JoinHandle<Minute>>,
}

impl Minutes {
    /// The outcome of a minute measured since the last call, if any, and
    /// the next minute's queries started when it is due. `last_recorded` is
    /// the start of the SLO's last one-minute row, read on the first call.
    pub(super) fn poll(
        &mut self,
        q: &SloPrometheus,
        provider: Option<&PrometheusProvider>,
        base_dir: &std::path::Path,
        now: Timestamp,
        last_recorded: impl FnOnce() -> Option<Timestamp>,
    ) -> Option<Minute> {
        let mut done = None;
        if self.running.as_ref().is_some_and(JoinHandle::is_finished)
            && let Some(task) = self.running.take()
        {
            // A finished task's output is ready: this does not wait.
            done = futures_util::FutureExt::now_or_never(task).and_then(Result::ok);
        }
        let this_minute = zion_core::slo::rows::floor(now, 60);
        let next = *self.next.get_or_insert_with(|| {
            // The minute after the last recorded one (within the catch-up),
            // or the first whole minute from now.
            let earliest = this_minute.checked_sub(CATCH_UP).unwrap_or(this_minute);
            match last_recorded() {
                Some(m) if m >= earliest => m + SignedDuration::from_secs(60),
                _ => this_minute + SignedDuration::from_secs(60),
            }
        });
        let due = next
            + SignedDuration::from_secs(60)
            + SignedDuration::try_from(AFTER_MINUTE).unwrap_or_default();
        if self.running.is_none() && now >= due {
            let minute = next;
            self.next = Some(minute + SignedDuration::from_secs(60));
            let provider = provider.cloned();
            let q = q.clone();
            let base_dir = base_dir.to_path_buf();
            self.running = Some(tokio::spawn(async move {
                (minute, measure(provider, &q, base_dir, minute).await)
            }));
        }
        done
    }
}

/// The counts of the minute starting at `minute`.
async fn measure(
    provider: Option<PrometheusProvider>,
    q: &SloPrometheus,
    base_dir: PathBuf,
    minute: Timestamp,
) -> Result<Counts, String> {
    let Some(p) = provider else {
        return Err(format!(
            "the provider `{}` is not a prometheus provider of the spec",
            q.provider
        ));
    };
    let end = (minute + SignedDuration::from_secs(60)).as_second() as f64;
    let events = match &q.events {
        SloEvents::Good(e) | SloEvents::Bad(e) => fill(e, MINUTE_WINDOW),
    };
    let total = fill(&q.total, MINUTE_WINDOW);
    let (events_rate, total_rate) = tokio::join!(
        query_at(&p, &base_dir, &events, end),
        query_at(&p, &base_dir, &total, end)
    );
    let events_rate = value(events_rate)?;
    let total_rate = value(total_rate)?;
    minute_counts(&q.events, events_rate, total_rate).ok_or_else(|| {
        format!(
            "the queries answered rates that are not counts of events ({events_rate} of \
             {total_rate} per second): each must be a rate per second, e.g. \
             `sum(rate(http_requests_total[{{{{.window}}}}]))`"
        )
    })
}

fn value(outcome: Outcome) -> Result<f64, String> {
    match outcome {
        Outcome::Value(v) => Ok(v),
        Outcome::NoData(why) | Outcome::Unavailable(why) | Outcome::Error(why) => Err(why),
    }
}
