//! Probe SLIs (`sli: probe`): a check of a URL or a TCP address every
//! `interval`, each one event, good when it passes. A probe runs on a task
//! of its own so that a slow one holds up no other SLO; its outcome is
//! collected at the recorder's next pass and lands in the row of that
//! pass's clock minute, as requests do.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use zion_core::slo::Counts;
use zion_core::spec::{ProbeCheck, SloProbe};

/// One SLO's probing on this replica.
#[derive(Default)]
pub(super) struct Prober {
    /// When the next probe starts (now, for a new prober).
    next: Option<Instant>,
    running: Option<JoinHandle<Result<(), String>>>,
}

impl Prober {
    /// The outcome of a probe finished since the last call (one event, or
    /// none), and the next probe started when due.
    pub(super) fn poll(&mut self, slo: &str, probe: &SloProbe) -> Counts {
        let mut seen = Counts::default();
        if self.running.as_ref().is_some_and(JoinHandle::is_finished)
            && let Some(task) = self.running.take()
        {
            // A finished task's output is ready: this does not wait.
            let outcome = futures_util::FutureExt::now_or_never(task)
                .and_then(Result::ok)
                .unwrap_or_else(|| Err("the probe's task was lost".to_owned()));
            seen = match outcome {
                Ok(()) => Counts::new(1, 1),
                Err(why) => {
                    tracing::info!(slo, error = %why, "SLO probe failed");
                    Counts::new(0, 1)
                }
            };
        }
        let now = Instant::now();
        if self.running.is_none() && self.next.is_none_or(|at| at <= now) {
            let owned = probe.clone();
            self.running = Some(tokio::spawn(async move { check(&owned).await }));
            // On a fixed cadence from the first probe, not from the last
            // one's end: a slow probe does not stretch the interval.
            let from = self.next.unwrap_or(now);
            self.next = Some(next_after(from, probe_interval(probe), now));
        }
        seen
    }
}

fn probe_interval(p: &SloProbe) -> Duration {
    p.interval.max(Duration::from_millis(100))
}

/// The first tick of `from + k × interval` after `now`.
fn next_after(from: Instant, interval: Duration, now: Instant) -> Instant {
    let mut at = from + interval;
    while at <= now {
        at += interval;
    }
    at
}

/// One probe, within its timeout: Ok when it passes, or why not.
async fn check(p: &SloProbe) -> Result<(), String> {
    let timeout = p.timeout;
    match &p.check {
        ProbeCheck::Http(url) => {
            let headers = [("user-agent".to_owned(), "zion-slo-probe".to_owned())];
            match crate::sources::http::send("GET", url, &headers, None, timeout).await {
                Ok((status, _)) if (200..400).contains(&status) => Ok(()),
                Ok((status, _)) => Err(format!("GET answered {status}")),
                Err(fault) => Err(fault.to_string()),
            }
        }
        ProbeCheck::Tcp(addr) => {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP connect to {addr}: {e}")),
                Err(_) => Err(format!(
                    "TCP connect to {addr}: no answer within {}",
                    zion_core::duration::format_duration(timeout)
                )),
            }
        }
    }
}
