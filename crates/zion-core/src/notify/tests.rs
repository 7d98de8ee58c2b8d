use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::spec::{
    GithubReceiver, NotificationsSpec, PagerdutyReceiver, Receiver, SlackReceiver, Subscription,
    WebhookReceiver,
};

fn spec(subscriptions: Vec<Subscription>) -> NotificationsSpec {
    let mut receivers = BTreeMap::new();
    receivers.insert(
        "chat".to_owned(),
        Receiver::Slack(SlackReceiver {
            url_env: "SLACK_URL".into(),
        }),
    );
    receivers.insert(
        "hook".to_owned(),
        Receiver::Webhook(WebhookReceiver {
            url: "http://127.0.0.1:9/x".into(),
            secret_env: None,
        }),
    );
    receivers.insert(
        "pager".to_owned(),
        Receiver::Pagerduty(PagerdutyReceiver {
            routing_key_env: "PD".into(),
            api_url: "http://127.0.0.1:9".into(),
        }),
    );
    receivers.insert(
        "repo".to_owned(),
        Receiver::Github(GithubReceiver {
            repo: "acme/web".into(),
            token_env: "GH".into(),
            api_url: "http://127.0.0.1:9".into(),
        }),
    );
    NotificationsSpec {
        receivers,
        subscriptions,
        ..NotificationsSpec::default()
    }
}

fn sub(receiver: &str, events: &[NotifyEvent], services: &[&str], envs: &[&str]) -> Subscription {
    Subscription {
        receiver: receiver.into(),
        events: events.to_vec(),
        services: services.iter().map(|s| s.to_string()).collect(),
        environments: envs.iter().map(|s| s.to_string()).collect(),
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_750_000_000 + secs).unwrap()
}

fn transition(from: &str, to: &str, env: &str) -> serde_json::Value {
    json!({"service": "web", "environment": env, "version": "1.2", "from": from, "to": to, "step": 2, "reason": "why"})
}

fn occurrence<'a>(
    action: AuditAction,
    subject: &'a str,
    details: &'a serde_json::Value,
) -> Occurrence<'a> {
    Occurrence {
        index: 41,
        time: at(0),
        actor: "controller",
        action: Some(action),
        subject,
        details,
    }
}

#[test]
fn every_audit_action_maps_to_its_event() {
    let t = |from, to| {
        event_of(
            AuditAction::DeploymentTransition,
            &transition(from, to, "p"),
        )
    };
    assert_eq!(
        t("pending", "awaiting_approval"),
        Some(NotifyEvent::ApprovalRequested)
    );
    assert_eq!(
        t("awaiting_approval", "progressing"),
        Some(NotifyEvent::DeploymentStarted)
    );
    assert_eq!(
        t("pending", "progressing"),
        Some(NotifyEvent::DeploymentStarted)
    );
    assert_eq!(
        t("progressing", "progressing"),
        Some(NotifyEvent::DeploymentStep)
    );
    assert_eq!(
        t("progressing", "succeeded"),
        Some(NotifyEvent::DeploymentSucceeded)
    );
    assert_eq!(
        t("rolling_back", "rolled_back"),
        Some(NotifyEvent::DeploymentRolledBack)
    );
    assert_eq!(t("pending", "failed"), Some(NotifyEvent::DeploymentFailed));
    assert_eq!(
        t("awaiting_approval", "rejected"),
        Some(NotifyEvent::DeploymentFailed)
    );
    assert_eq!(t("progressing", "paused"), None);
    assert_eq!(t("progressing", "rolling_back"), None);
    let none = json!({});
    assert_eq!(
        event_of(AuditAction::DeploymentCreate, &none),
        Some(NotifyEvent::DeploymentRequested)
    );
    assert_eq!(
        event_of(AuditAction::ApprovalReject, &none),
        Some(NotifyEvent::ApprovalDecided)
    );
    assert_eq!(
        event_of(AuditAction::IncidentOpen, &none),
        Some(NotifyEvent::IncidentOpened)
    );
    assert_eq!(event_of(AuditAction::TokenCreate, &none), None);
    for e in NotifyEvent::ALL {
        assert_eq!(NotifyEvent::parse(e.as_str()), Some(*e));
    }
}

#[test]
fn subscriptions_match_by_event_service_and_environment_once_per_receiver() {
    let s = spec(vec![
        sub(
            "chat",
            &[NotifyEvent::DeploymentSucceeded],
            &[],
            &["production"],
        ),
        sub("chat", &[NotifyEvent::DeploymentSucceeded], &["web"], &[]),
        sub("hook", &[NotifyEvent::DeploymentSucceeded], &["api"], &[]),
        sub("pager", &[NotifyEvent::DeploymentRolledBack], &[], &[]),
    ]);
    let prod = transition("progressing", "succeeded", "production");
    let out = messages(
        &s,
        &occurrence(AuditAction::DeploymentTransition, "deployment/7", &prod),
    );
    let to: Vec<&str> = out.iter().map(|m| m.receiver.as_str()).collect();
    assert_eq!(to, ["chat"], "chat once, not hook (api only) nor pager");
    assert_eq!(out[0].channel, "slack");
    assert_eq!(out[0].event, NotifyEvent::DeploymentSucceeded);
    let staging = transition("progressing", "succeeded", "staging");
    assert_eq!(
        messages(
            &s,
            &occurrence(AuditAction::DeploymentTransition, "deployment/7", &staging)
        )
        .len(),
        1,
        "the second subscription takes web anywhere"
    );
    let paused = transition("progressing", "paused", "production");
    assert!(
        messages(
            &s,
            &occurrence(AuditAction::DeploymentTransition, "deployment/7", &paused)
        )
        .is_empty()
    );
}

#[test]
fn an_approval_request_in_slack_carries_approve_and_reject_for_its_deployment() {
    let s = spec(vec![sub(
        "chat",
        &[NotifyEvent::ApprovalRequested],
        &[],
        &[],
    )]);
    let d = transition("pending", "awaiting_approval", "production");
    let out = messages(
        &s,
        &occurrence(AuditAction::DeploymentTransition, "deployment/7", &d),
    );
    let body = &out[0].body;
    assert_eq!(
        body["text"],
        "web 1.2 in production: waits for approval (deployment 7): why"
    );
    let actions = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("an actions block");
    let ids: Vec<(&str, &str)> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action_id"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids, [(APPROVE_ACTION, "7"), (REJECT_ACTION, "7")]);
}

#[test]
fn pagerduty_triggers_and_resolves_an_incident_under_one_dedup_key() {
    let s = spec(vec![sub(
        "pager",
        &[NotifyEvent::IncidentOpened, NotifyEvent::IncidentResolved],
        &[],
        &[],
    )]);
    let open = json!({"service": "web", "environment": "production", "reason": "rolled back"});
    let trigger = &messages(
        &s,
        &occurrence(AuditAction::IncidentOpen, "incident/3", &open),
    )[0]
    .body;
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "zion/incident/3");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "zion/web/production");
    assert!(
        trigger.get("routing_key").is_none(),
        "the key is added at delivery"
    );
    let resolve = &messages(
        &s,
        &occurrence(AuditAction::IncidentResolve, "incident/3", &open),
    )[0]
    .body;
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], "zion/incident/3");
}

#[test]
fn a_webhook_gets_the_event_and_the_whole_entry() {
    let s = spec(vec![sub(
        "hook",
        &[NotifyEvent::DeploymentRequested],
        &[],
        &[],
    )]);
    let d = json!({"service": "web", "environment": "staging", "version": "2"});
    let body = &messages(
        &s,
        &occurrence(AuditAction::DeploymentCreate, "deployment/9", &d),
    )[0]
    .body;
    assert_eq!(body["event"], "deployment.requested");
    assert_eq!(body["audit_index"], 41);
    assert_eq!(body["action"], "deployment.create");
    assert_eq!(body["subject"], "deployment/9");
    assert_eq!(body["details"], d);
}

#[test]
fn retries_back_off_exponentially_up_to_the_cap_then_give_up() {
    let now = at(0);
    let wait = |failures| retry_at(failures, 30, now).map(|t| t.duration_since(now).as_millis());
    assert_eq!(wait(1), Some(500));
    assert_eq!(wait(2), Some(1_000));
    assert_eq!(wait(3), Some(2_000));
    assert_eq!(wait(12), Some(300_000), "capped");
    assert_eq!(wait(29), Some(300_000));
    assert_eq!(wait(30), None, "max attempts spent");
    assert_eq!(retry_at(1, 1, now), None);
}

#[test]
fn a_github_approval_request_says_how_to_answer_it() {
    let s = spec(vec![sub(
        "repo",
        &[NotifyEvent::ApprovalRequested],
        &[],
        &[],
    )]);
    let d = transition("pending", "awaiting_approval", "production");
    let out = messages(
        &s,
        &occurrence(AuditAction::DeploymentTransition, "deployment/7", &d),
    );
    assert_eq!(out[0].channel, "github");
    let body = &out[0].body;
    assert_eq!(body["deployment"], 7);
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains("`/approve 7`") && text.contains("`/reject 7 <reason>`"),
        "{text}"
    );
}

#[test]
fn a_failed_verification_reaches_every_subscriber_of_it_whatever_their_filters() {
    let s = spec(vec![
        sub(
            "hook",
            &[NotifyEvent::AuditVerificationFailed],
            &["web"],
            &["p"],
        ),
        sub("pager", &[NotifyEvent::AuditVerificationFailed], &[], &[]),
        sub("chat", &[NotifyEvent::DeploymentSucceeded], &[], &[]),
    ]);
    let got = verification_failed(&s, at(5), Some(3), "entry 3's hash differs");
    let receivers: Vec<&str> = got.iter().map(|m| m.receiver.as_str()).collect();
    assert_eq!(receivers, ["hook", "pager"]);
    let hook = &got[0].body;
    assert_eq!(hook["event"], "audit.verification_failed");
    assert_eq!(hook["audit_index"], 3);
    assert_eq!(hook["subject"], AUDIT_SUBJECT);
    assert_eq!(hook["action"], serde_json::Value::Null);
    assert_eq!(
        hook["summary"],
        "the audit log failed its verification at entry 3: entry 3's hash differs"
    );
    let pager = &got[1].body;
    assert_eq!(pager["event_action"], "trigger");
    assert_eq!(pager["payload"]["severity"], "critical");
    assert_eq!(pager["dedup_key"], "zion/audit");
    // No entry was found bad (a checkpoint did not verify): no index.
    let got = verification_failed(&s, at(5), None, "the latest checkpoint does not verify");
    assert_eq!(
        got[0].body["summary"],
        "the audit log failed its verification: the latest checkpoint does not verify"
    );
}
