//! The log's scheduled verification. While a subscription asks for
//! `audit.verification_failed`, each replica verifies what was appended
//! since its last verification whenever the server clock's minute
//! changes, and the whole log every hour of that clock, so that a row
//! altered below the verified part is found too. A failure is told through
//! the outbox (`operations::audit`), once per failure whichever replica
//! finds it. `zion audit verify` always reads the whole log.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zion_core::notify::NotifyEvent;

use crate::app::App;
use crate::ticker::Ticker;

/// How often the clock's minute is looked at.
const TICK: Duration = Duration::from_secs(1);
/// Whole verifications are this many minutes apart.
const WHOLE_EVERY_MINUTES: i64 = 60;

/// Runs until shutdown.
pub(crate) async fn run(app: Arc<App>, shutdown: watch::Receiver<bool>) {
    let mut ticker = Ticker::new(TICK, shutdown);
    let mut checked_minute: Option<i64> = None;
    let mut whole_minute: Option<i64> = None;
    while ticker.tick().await {
        if !app
            .journal
            .audit
            .subscribed(NotifyEvent::AuditVerificationFailed)
        {
            continue;
        }
        let minute = app.clock.now().as_second().div_euclid(60);
        if checked_minute == Some(minute) {
            continue;
        }
        checked_minute = Some(minute);
        let whole = whole_minute.is_none_or(|m| minute - m >= WHOLE_EVERY_MINUTES || minute < m);
        if whole {
            whole_minute = Some(minute);
        }
        let a = app.clone();
        let verified = tokio::task::spawn_blocking(move || {
            if whole {
                a.verify_audit()
            } else {
                a.verify_audit_grown()
            }
        })
        .await;
        // A failure found is told by the verification itself; what is left
        // is a verification that could not run (the store unreachable).
        match verified {
            Ok(Err(e)) => {
                tracing::warn!(error = %e.message, "the scheduled audit verification could not run")
            }
            Err(e) => tracing::warn!(error = %e, "the scheduled audit verification stopped"),
            Ok(Ok(_)) => {}
        }
    }
}
