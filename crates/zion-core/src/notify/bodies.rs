//! Each channel's message body for one event: Slack's Block Kit with its
//! text fallback (and Approve / Reject buttons on an approval request), a
//! webhook's JSON, a PagerDuty Events API v2 event, a GitHub comment.

use serde_json::{Value, json};

use super::{NotifyEvent, Occurrence};

/// The `action_id` of the Approve button; its `value` is the deployment id.
pub const APPROVE_ACTION: &str = "zion_approve";
/// The `action_id` of the Reject button.
pub const REJECT_ACTION: &str = "zion_reject";

/// One line saying what happened, e.g. `web 1.2 in production: succeeded
/// (deployment 7)`.
fn summary(event: NotifyEvent, o: &Occurrence<'_>) -> String {
    if event == NotifyEvent::AuditVerificationFailed {
        let at = match o.details.get("index").and_then(Value::as_u64) {
            Some(i) => format!(" at entry {i}"),
            None => String::new(),
        };
        return format!(
            "the audit log failed its verification{at}: {}",
            o.detail("reason").unwrap_or("no reason given")
        );
    }
    let service = o.detail("service").unwrap_or("?");
    let environment = o.detail("environment").unwrap_or("?");
    let version = o
        .detail("version")
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let what = match event {
        NotifyEvent::DeploymentRequested => "requested".to_owned(),
        NotifyEvent::DeploymentStarted => "started".to_owned(),
        NotifyEvent::DeploymentStep => match o.details.get("step").and_then(Value::as_u64) {
            Some(step) => format!("reached step {step}"),
            None => "moved to its next step".to_owned(),
        },
        NotifyEvent::DeploymentSucceeded => "succeeded".to_owned(),
        NotifyEvent::DeploymentRolledBack => "rolled back".to_owned(),
        NotifyEvent::DeploymentFailed => format!("ended {}", o.detail("to").unwrap_or("failed")),
        NotifyEvent::ApprovalRequested => "waits for approval".to_owned(),
        NotifyEvent::ApprovalDecided => {
            let decision = match o.detail("decision") {
                Some("approve") => "approved",
                Some("reject") => "rejected",
                _ => "decided",
            };
            format!("{decision} by {}", o.actor)
        }
        NotifyEvent::IncidentOpened => "incident opened".to_owned(),
        NotifyEvent::IncidentResolved => "incident resolved".to_owned(),
        NotifyEvent::AlertFiring => "alert firing".to_owned(),
        NotifyEvent::AlertResolved => "alert resolved".to_owned(),
        NotifyEvent::BudgetExhausted => "error budget exhausted".to_owned(),
        NotifyEvent::AuditVerificationFailed => "audit log verification failed".to_owned(),
    };
    let reason = o
        .detail("reason")
        .filter(|r| !r.is_empty())
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!(
        "{service}{version} in {environment}: {what} ({}){reason}",
        o.subject.replace('/', " ")
    )
}

/// The deployment id of `deployment/ID`.
fn deployment_id(o: &Occurrence<'_>) -> Option<i64> {
    o.subject.strip_prefix("deployment/")?.parse().ok()
}

/// A Slack incoming webhook's body: `text` is the fallback notifications
/// show, `blocks` the message.
pub(super) fn slack(event: NotifyEvent, o: &Occurrence<'_>) -> Value {
    let text = summary(event, o);
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": text },
    })];
    if let (NotifyEvent::ApprovalRequested, Some(id)) = (event, deployment_id(o)) {
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("zion_approval_{id}"),
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": { "type": "plain_text", "text": "Approve" },
                    "value": id.to_string(),
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": { "type": "plain_text", "text": "Reject" },
                    "value": id.to_string(),
                },
            ],
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("{} · by {} · audit entry {}", event, o.actor, o.index) }],
    }));
    json!({ "text": text, "blocks": blocks })
}

/// A generic webhook's body: the event and the whole audit entry.
pub(super) fn webhook(event: NotifyEvent, o: &Occurrence<'_>) -> Value {
    json!({
        "event": event,
        "summary": summary(event, o),
        "audit_index": o.index,
        "time": o.time,
        "actor": o.actor,
        "action": o.action,
        "subject": o.subject,
        "details": o.details,
    })
}

/// PagerDuty's deduplication key of `subject`: the trigger and the resolve
/// of one incident (or deployment, or alert) carry the same one.
pub fn dedup_key(subject: &str) -> String {
    format!("zion/{subject}")
}

/// A PagerDuty Events API v2 event, without its `routing_key` (a secret,
/// added at delivery): what ends a trouble resolves, the rest triggers.
pub(super) fn pagerduty(event: NotifyEvent, o: &Occurrence<'_>) -> Value {
    let resolves = matches!(
        event,
        NotifyEvent::IncidentResolved
            | NotifyEvent::AlertResolved
            | NotifyEvent::DeploymentSucceeded
    );
    let mut body = json!({
        "event_action": if resolves { "resolve" } else { "trigger" },
        "dedup_key": dedup_key(o.subject),
    });
    if !resolves {
        let severity = match event {
            NotifyEvent::IncidentOpened
            | NotifyEvent::BudgetExhausted
            | NotifyEvent::AuditVerificationFailed => "critical",
            NotifyEvent::AlertFiring
            | NotifyEvent::DeploymentRolledBack
            | NotifyEvent::DeploymentFailed => "error",
            _ => "info",
        };
        body["payload"] = json!({
            "summary": summary(event, o),
            "source": format!("zion/{}/{}", o.detail("service").unwrap_or("-"), o.detail("environment").unwrap_or("-")),
            "severity": severity,
            "timestamp": o.time,
            "custom_details": o.details,
        });
    }
    body
}

/// A GitHub comment (or issue): its title and Markdown body. An approval
/// request says how to answer it with the `/approve ID` and `/reject ID`
/// comments Zion already accepts (`POST /api/v1/webhooks/github`).
pub(super) fn github(event: NotifyEvent, o: &Occurrence<'_>) -> Value {
    let summary = summary(event, o);
    let mut body = format!("**Zion**: {summary}");
    if let (NotifyEvent::ApprovalRequested, Some(id)) = (event, deployment_id(o)) {
        body.push_str(&format!(
            "\n\nComment `/approve {id}` to approve it, or `/reject {id} <reason>` to reject it."
        ));
    }
    json!({
        "title": summary,
        "body": body,
        "deployment": deployment_id(o),
    })
}
