//! The notifications outbox: the messages committed audit entries imply,
//! each for one receiver, written by the audit append of the change that
//! caused them (`AuditAppend::outbox`, so in the same transaction), then
//! claimed, delivered or retried by the server's sender. The store decides
//! nothing: which messages, their bodies and when to try again are given.

use jiff::Timestamp;

use crate::StoreError;

/// The outbox's storage.
///
/// Every implementation keeps these:
/// - **Written with their entries.** Rows come with an audit append
///   ([`crate::AuditAppend::outbox`]), in its transaction: an append that
///   is refused writes none of its rows. The one exception is what no
///   entry can record, the log failing its verification
///   ([`OutboxStore::enqueue_outbox`]), written once per receiver, event,
///   subject and index.
/// - **In order per receiver.** [`OutboxStore::claim_outbox`] returns, for
///   each receiver, only its oldest row still open (pending or retrying),
///   and only when that row is due and not claimed: a receiver's later
///   rows wait until the earlier one is delivered or given up.
/// - **One delivery in flight per row.** A claimed row is not claimed again
///   before its claim lapses, by this store or any other on the database.
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due rows (at most one per receiver, the oldest
    /// open one) until `until`: their `next_at` is at or before `now` and
    /// no live claim holds them. Oldest first.
    fn claim_outbox(
        &self,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// Records row `id` delivered at `at`; its claim ends.
    fn outbox_delivered(&self, id: i64, at: Timestamp) -> Result<(), StoreError>;

    /// Records a failed attempt of row `id`: one more attempt, its error,
    /// and when to try again (None: given up, the receiver's next row goes
    /// on). Its claim ends.
    fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// Writes `rows` without an audit entry (the log's own verification
    /// failing: a log found broken takes no entry), each unless a row of
    /// the same receiver, event, subject and audit index is stored already,
    /// so that a failure found again notifies no one twice. Ordered with
    /// the audit appends, as their rows are. How many were written.
    fn enqueue_outbox(&self, rows: &[NewOutboxRow]) -> Result<u64, StoreError>;

    /// The newest `limit` rows, newest first.
    fn outbox(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;

    /// Deletes the rows closed before `before`: delivered then, or given
    /// up after an attempt due then. Open rows (pending, retrying) stay
    /// whatever their age. How many went.
    fn prune_outbox(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// One message to write with an audit append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxRow {
    /// The receiver's name in the spec's `notifications.receivers`.
    pub receiver: String,
    /// How it is delivered (`slack`, `webhook`, `pagerduty`).
    pub channel: String,
    /// The notification event (`deployment.succeeded`…).
    pub event: String,
    /// What it concerns (`deployment/7`), as the entry's subject.
    pub subject: String,
    /// The index of the audit entry that implied it.
    pub audit_index: u64,
    /// The message as sent (JSON text); holds no secret.
    pub body: String,
    /// When it was written; it is due at once.
    pub created_at: Timestamp,
}

impl NewOutboxRow {
    /// What a row written without an entry is written once per
    /// ([`OutboxStore::enqueue_outbox`]): its receiver, event, subject and
    /// audit index.
    pub(crate) fn once_key(&self) -> (&str, &str, &str, u64) {
        (&self.receiver, &self.event, &self.subject, self.audit_index)
    }
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Not tried yet.
    Pending,
    /// Tried and failed; tried again at `next_at`.
    Retrying,
    Delivered,
    /// Failed as many times as allowed; never tried again.
    GivenUp,
}

impl OutboxState {
    pub fn name(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Retrying => "retrying",
            OutboxState::Delivered => "delivered",
            OutboxState::GivenUp => "given_up",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<OutboxState, StoreError> {
        Ok(match name {
            "pending" => OutboxState::Pending,
            "retrying" => OutboxState::Retrying,
            "delivered" => OutboxState::Delivered,
            "given_up" => OutboxState::GivenUp,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "`{other}` is not an outbox state"
                )));
            }
        })
    }
}

/// A row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Grows in commit order; a delivery's idempotency key.
    pub id: i64,
    pub receiver: String,
    pub channel: String,
    pub event: String,
    pub subject: String,
    pub audit_index: u64,
    pub body: String,
    pub created_at: Timestamp,
    pub state: OutboxState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is next due (while open).
    pub next_at: Timestamp,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}
