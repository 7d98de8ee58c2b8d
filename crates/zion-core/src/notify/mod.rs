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

/// A committed audit entry, as the log numbered it.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    /// Its index in the log.
    pub index: u64,
    pub time: Timestamp,
    pub actor: &'a str,
    pub action: AuditAction,
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
    let Some(event) = event_of(o.action, o.details) else {
        return Vec::new();
    };
    let (service, environment) = (o.detail("service"), o.detail("environment"));
    let mut out: Vec<Message> = Vec::new();
    for s in &spec.subscriptions {
        let matches = s.events.contains(&event)
            && (s.services.is_empty()
                || service.is_some_and(|x| s.services.iter().any(|y| y == x)))
            && (s.environments.is_empty()
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
