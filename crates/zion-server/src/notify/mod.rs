//! The notifications' delivery: the rows the journal wrote to the outbox
//! with the audit entries that imply them (`zion_core::notify` decides
//! which, and their bodies) are claimed here, sent, and recorded as
//! delivered or failed, beside the controller and never in its way.
//!
//! Each receiver gets its messages in order: the store hands out only a
//! receiver's oldest open row, so the next waits until the earlier one is
//! delivered or given up (after `notifications.max_attempts`, tried again
//! after `zion_core::notify::retry_at`). Every delivery carries
//! `X-Zion-Delivery: <outbox id>`, the same on every attempt, so that a
//! receiver drops a duplicate sent again after a crash between the send
//! and its record. One module per channel builds its request
//! (`webhook.rs`, `slack.rs`, `pagerduty.rs`; `github.rs` finds the pull
//! request first); `send.rs` sends it.

mod github;
mod pagerduty;
mod send;
mod slack;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zion_core::notify::retry_at;
use zion_core::spec::{NotificationsSpec, Receiver};
use zion_store::OutboxRow;

use crate::app::App;
use crate::ticker::Ticker;
use send::{Failure, Request};

/// How often the outbox is read for due rows.
const POLL: Duration = Duration::from_millis(200);
/// Rows claimed at once (each for a different receiver).
const CLAIM_LIMIT: usize = 64;
/// How often delivered and given-up rows older than
/// `notifications.retention` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// How long a claim outlives an attempt's timeout: the time to record
/// its result. A sender that died lets its rows go after that.
const CLAIM_MARGIN: Duration = Duration::from_secs(2);

/// Delivers due outbox rows until shutdown.
pub(crate) async fn run(app: Arc<App>, shutdown: watch::Receiver<bool>) {
    let mut ticker = Ticker::new(POLL, shutdown);
    let mut pruned: Option<std::time::Instant> = None;
    while ticker.tick().await {
        let spec = Arc::new(app.spec().notifications.clone());
        let now = app.clock.now();
        let hold = jiff::SignedDuration::try_from(spec.timeout + CLAIM_MARGIN)
            .unwrap_or(jiff::SignedDuration::MAX);
        let until = now.saturating_add(hold).unwrap_or(jiff::Timestamp::MAX);
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            prune(&app, &spec, now);
        }
        let rows = match app.store.claim_outbox(now, until, CLAIM_LIMIT) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the notifications outbox");
                continue;
            }
        };
        for row in rows {
            tokio::spawn(deliver(app.clone(), spec.clone(), row));
        }
    }
}

/// Deletes the rows closed (delivered or given up) more than
/// `notifications.retention` ago; open rows stay whatever their age.
fn prune(app: &App, spec: &NotificationsSpec, now: jiff::Timestamp) {
    let keep = jiff::SignedDuration::try_from(spec.retention).unwrap_or(jiff::SignedDuration::MAX);
    let before = now.checked_sub(keep).unwrap_or(jiff::Timestamp::MIN);
    match app.store.prune_outbox(before) {
        Ok(0) => {}
        Ok(gone) => {
            tracing::info!(rows = gone, %before, "old notifications pruned from the outbox")
        }
        Err(e) => tracing::warn!(error = %e, "cannot prune the notifications outbox"),
    }
}

/// Sends one row and records what came of it.
async fn deliver(app: Arc<App>, spec: Arc<NotificationsSpec>, row: OutboxRow) {
    let outcome = match spec.receivers.get(&row.receiver) {
        None => Err(Failure::Permanent(format!(
            "receiver `{}` is no longer in the spec's notifications.receivers",
            row.receiver
        ))),
        Some(Receiver::Github(g)) => github::deliver(&app, g, &row, spec.timeout).await,
        Some(receiver) => match request(&row.receiver, receiver, &row) {
            Ok(request) => send::send(&row.receiver, request, spec.timeout).await,
            Err(failure) => Err(failure),
        },
    };
    let now = app.clock.now();
    let recorded = match &outcome {
        Ok(()) => {
            tracing::info!(id = row.id, receiver = %row.receiver, event = %row.event, "notification delivered");
            app.store.outbox_delivered(row.id, now)
        }
        Err(failure) => {
            let failures = row.attempts + 1;
            let retry = match failure {
                Failure::Permanent(_) => None,
                Failure::Transient(_) => retry_at(failures, spec.max_attempts, now),
            };
            let error = failure.message();
            match retry {
                Some(at) => {
                    tracing::warn!(id = row.id, receiver = %row.receiver, event = %row.event, attempt = failures, %error, next = %at, "notification not delivered; will try again")
                }
                None => {
                    tracing::error!(id = row.id, receiver = %row.receiver, event = %row.event, attempt = failures, %error, "notification given up")
                }
            }
            app.store.outbox_failed(row.id, error, retry)
        }
    };
    if let Err(e) = recorded {
        // The claim lapses and the row is sent again: the receiver drops
        // it by its X-Zion-Delivery if it got it.
        tracing::warn!(id = row.id, error = %e, "cannot record a notification's delivery");
    }
}

/// The request of `row` for its receiver, from its channel's module.
fn request(name: &str, receiver: &Receiver, row: &OutboxRow) -> Result<Request, Failure> {
    let mut request = match receiver {
        Receiver::Slack(s) => slack::request(name, s, row)?,
        Receiver::Webhook(w) => webhook::request(w, row)?,
        Receiver::Pagerduty(p) => pagerduty::request(name, p, row)?,
        Receiver::Github(_) => {
            return Err(Failure::Permanent(
                "a GitHub receiver is delivered by github::deliver".to_owned(),
            ));
        }
    };
    request.headers.extend(delivery_headers(row));
    Ok(request)
}

/// The headers every delivery of `row` carries: its idempotency key, the
/// same on every attempt, and its event.
fn delivery_headers(row: &OutboxRow) -> [(String, String); 2] {
    [
        ("x-zion-delivery".to_owned(), row.id.to_string()),
        ("x-zion-event".to_owned(), row.event.clone()),
    ]
}

/// The value of the environment variable `var`, which a receiver names
/// for a secret.
fn secret(name: &str, key: &str, var: &str) -> Result<String, Failure> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(Failure::Transient(format!(
            "receiver `{name}`: the environment variable {var} ({key}) is not set in the environment of `zion up`"
        ))),
    }
}
