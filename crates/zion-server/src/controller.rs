//! The reconcile loop: every tick (or at once when a command wakes it), each
//! target is observed, stepped, persisted, then acted upon.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;

/// Runs until `shutdown` turns true.
pub(crate) async fn run(app: Arc<App>, tick: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        app.reconcile().await;
        app.flush_refusals(false).await;
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = app.wake.notified() => {}
            _ = shutdown.changed() => {
                app.flush_refusals(true).await;
                return;
            }
        }
        if *shutdown.borrow() {
            app.flush_refusals(true).await;
            return;
        }
    }
}
