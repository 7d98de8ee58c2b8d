//! `notifications:` specs, valid and not.

use crate::notify::NotifyEvent;
use crate::spec::validate::test_support::*;
use crate::spec::{NotificationsSpec, Receiver};

fn spec(notifications: &str) -> String {
    format!("{DESIGN_EXAMPLE}\nnotifications:\n{notifications}")
}

#[test]
fn receivers_subscriptions_and_slack_users_are_read() {
    let s = valid(&spec(
        "  receivers:
    chat: { slack: { url_env: ZION_SLACK_WEBHOOK } }
    hook: { webhook: { url: http://127.0.0.1:9000/zion, secret_env: HOOK_SECRET } }
    pager: { pagerduty: { routing_key_env: PD_KEY } }
    repo: { github: { repo: acme/web, token_env: GH_TOKEN } }
  subscriptions:
    - { receiver: chat, events: [approval.requested, deployment.succeeded, alert.firing], environments: [production] }
    - { receiver: pager, events: [incident.opened, incident.resolved], services: [web] }
  slack: { signing_secret_env: SLACK_SIGNING_SECRET, users: { U024BE7LH: alice } }
  max_attempts: 3
  timeout: 2s
  retention: 30d
",
    ))
    .notifications;
    assert_eq!(s.receivers.len(), 4);
    assert_eq!(s.receivers["repo"].channel(), "github");
    assert_eq!(s.receivers["chat"].channel(), "slack");
    let Receiver::Pagerduty(pd) = &s.receivers["pager"] else {
        panic!("{:?}", s.receivers["pager"]);
    };
    assert_eq!(pd.api_url, "https://events.pagerduty.com");
    assert_eq!(
        s.subscriptions[0].events,
        [
            NotifyEvent::ApprovalRequested,
            NotifyEvent::DeploymentSucceeded,
            NotifyEvent::AlertFiring
        ]
    );
    assert_eq!(s.subscriptions[1].services, ["web"]);
    assert_eq!(s.slack.as_ref().unwrap().users["U024BE7LH"], "alice");
    assert_eq!(s.max_attempts, 3);
    assert_eq!(s.timeout, std::time::Duration::from_secs(2));
    assert_eq!(s.retention, std::time::Duration::from_secs(30 * 86_400));
    assert_eq!(
        valid(DESIGN_EXAMPLE).notifications,
        NotificationsSpec::default()
    );
}

#[test]
fn mistakes_name_their_key() {
    assert_error(
        &spec("  receivers: { chat: { slack: {} } }\n"),
        "notifications.receivers.chat.slack.url_env",
        "missing",
    );
    assert_error(
        &spec("  receivers: { chat: { slack: { url_env: A }, webhook: { url: http://x } } }\n"),
        "notifications.receivers.chat",
        "exactly one kind",
    );
    assert_error(
        &spec(
            "  receivers: { hook: { webhook: { url: http://x } } }\n  subscriptions: [{ receiver: hook, events: [deployment.succeded] }]\n",
        ),
        "notifications.subscriptions[0].events[0]",
        "did you mean `deployment.succeeded`",
    );
    assert_error(
        &spec("  subscriptions: [{ receiver: nobody, events: [deployment.succeeded] }]\n"),
        "notifications.subscriptions[0].receiver",
        "unknown receiver `nobody`",
    );
    assert_error(
        &spec(
            "  receivers: { hook: { webhook: { url: http://x } } }\n  subscriptions: [{ receiver: hook, events: [deployment.succeeded], environments: [prod] }]\n",
        ),
        "notifications.subscriptions[0].environments[0]",
        "unknown environment `prod`",
    );
    assert_error(&spec("  retention: 10s\n"), "notifications.retention", "");
    assert_error(
        &spec("  max_attempts: 0\n"),
        "notifications.max_attempts",
        "1 to 100",
    );
    assert_error(
        &spec("  retries: 3\n"),
        "notifications.retries",
        "unknown key",
    );
}
