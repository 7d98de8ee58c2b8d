//! `GET /api/v1/notifications`: the outbox, newest first, as
//! `zion notifications` shows it. Holds no secret: receivers by name.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationView {
    /// The delivery's idempotency key (`X-Zion-Delivery`).
    pub id: i64,
    /// The receiver's name in `notifications.receivers`.
    pub receiver: String,
    /// `slack`, `webhook` or `pagerduty`.
    pub channel: String,
    /// `deployment.succeeded`…
    pub event: String,
    /// `deployment/7`, `incident/3`.
    pub subject: String,
    /// The audit entry that implied it.
    pub audit_index: u64,
    /// `pending`, `retrying`, `delivered` or `given_up`.
    pub state: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is tried next (pending or retrying only).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub delivered_at: Option<Timestamp>,
}
