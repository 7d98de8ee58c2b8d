//! Notifications: which messages a committed audit entry implies for the
//! spec's receivers (`notifications.subscriptions`, matched by event,
//! service and environment), each message's body as its channel wants it
//! (`bodies`), and when a failed delivery is tried again (`backoff`).
//! Pure: the server writes the messages to the outbox with the entry and
//! delivers them.

mod backoff;
mod bodies;
mod events;

pub use backoff::{RETRY_BASE, RETRY_CAP, retry_at};
pub use bodies::{APPROVE_ACTION, REJECT_ACTION, dedup_key};
pub use events::{NotifyEvent, event_of};

use jiff::Timestamp;
use serde_json::Value;

use crate::audit::AuditAction;
use crate::spec::{NotificationsSpec, Receiver};

/// What happened: a committed audit entry, as the log numbered it, or the
/// log's own verification failing (which no entry can record).
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    /// Its index in the log (for a failed verification, the first entry
    /// found bad).
    pub index: u64,
    pub time: Timestamp,
    pub actor: &'a str,
    /// The entry's action; None for a failed verification.
    pub action: Option<AuditAction>,
    /// `deployment/7`, `incident/3`.
    pub subject: &'a str,
    pub details: &'a Value,
}

impl Occurrence<'_> {
    fn detail(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(Value::as_str)
    }
}

/// One message for one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub receiver: String,
    /// `slack`, `webhook`, `pagerduty` or `github`.
    pub channel: &'static str,
    pub event: NotifyEvent,
    /// The body as sent, but for what comes from the environment at
    /// delivery (a PagerDuty routing key): never a secret.
    pub body: Value,
}

/// The messages `o` implies: one per receiver whose subscriptions match
/// its event, service and environment (a receiver matched twice gets one).
pub fn messages(spec: &NotificationsSpec, o: &Occurrence<'_>) -> Vec<Message> {
    match o.action.and_then(|a| event_of(a, o.details)) {
        Some(event) => messages_of(spec, event, o, false),
        None => Vec::new(),
    }
}

/// The subject of the messages saying the audit log failed verification.
pub const AUDIT_SUBJECT: &str = "audit";

/// The messages saying the audit log failed its verification at `time`:
/// at entry `index` when one was found bad, for `reason`. A log found
/// broken takes no new entry, so this is the one event that is not an
/// audit entry. It concerns the whole log, so a subscription's service
/// and environment filters do not narrow it.
pub fn verification_failed(
    spec: &NotificationsSpec,
    time: Timestamp,
    index: Option<u64>,
    reason: &str,
) -> Vec<Message> {
    let details = serde_json::json!({ "index": index, "reason": reason });
    let o = Occurrence {
        index: index.unwrap_or(0),
        time,
        actor: "zion",
        action: None,
        subject: AUDIT_SUBJECT,
        details: &details,
    };
    messages_of(spec, NotifyEvent::AuditVerificationFailed, &o, true)
}

/// One message per receiver whose subscriptions name `event` and, unless
/// the event is `log_wide`, match `o`'s service and environment.
fn messages_of(
    spec: &NotificationsSpec,
    event: NotifyEvent,
    o: &Occurrence<'_>,
    log_wide: bool,
) -> Vec<Message> {
    let (service, environment) = (o.detail("service"), o.detail("environment"));
    let mut out: Vec<Message> = Vec::new();
    for s in &spec.subscriptions {
        let matches = s.events.contains(&event)
            && (log_wide
                || s.services.is_empty()
                || service.is_some_and(|x| s.services.iter().any(|y| y == x)))
            && (log_wide
                || s.environments.is_empty()
                || environment.is_some_and(|x| s.environments.iter().any(|y| y == x)));
        if !matches || out.iter().any(|m| m.receiver == s.receiver) {
            continue;
        }
        let Some(receiver) = spec.receivers.get(&s.receiver) else {
            continue;
        };
        let body = match receiver {
            Receiver::Slack(_) => bodies::slack(event, o),
            Receiver::Webhook(_) => bodies::webhook(event, o),
            Receiver::Pagerduty(_) => bodies::pagerduty(event, o),
            Receiver::Github(_) => bodies::github(event, o),
        };
        out.push(Message {
            receiver: s.receiver.clone(),
            channel: receiver.channel(),
            event,
            body,
        });
    }
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
