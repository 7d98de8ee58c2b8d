//! The notifications outbox as `zion notifications` shows it.

use zion_core::api::NotificationView;
use zion_store::{OutboxRow, OutboxState};

use crate::app::App;
use crate::error::ApiError;

/// Rows shown at most.
const SHOWN: usize = 500;

impl App {
    /// The newest outbox rows, newest first.
    pub fn notifications(&self) -> Result<Vec<NotificationView>, ApiError> {
        Ok(self.store.outbox(SHOWN)?.into_iter().map(view).collect())
    }
}

fn view(r: OutboxRow) -> NotificationView {
    let open = matches!(r.state, OutboxState::Pending | OutboxState::Retrying);
    NotificationView {
        id: r.id,
        receiver: r.receiver,
        channel: r.channel,
        event: r.event,
        subject: r.subject,
        audit_index: r.audit_index,
        state: r.state.name().to_owned(),
        attempts: r.attempts,
        next_attempt_at: open.then_some(r.next_at),
        last_error: r.last_error,
        created_at: r.created_at,
        delivered_at: r.delivered_at,
    }
}
