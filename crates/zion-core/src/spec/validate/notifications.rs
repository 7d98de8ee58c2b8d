//! `notifications:`: receivers by kind, subscriptions naming declared
//! receivers, events, services and environments, and Slack's approvers.

use std::collections::BTreeMap;

use super::providers::{env_var, http_url};
use super::{Report, at, text};
use crate::notify::NotifyEvent;
use crate::spec::raw::{RawNotifications, RawReceiver, RawSubscription, Text, keys};
use crate::spec::{
    GithubReceiver, NotificationsSpec, PagerdutyReceiver, Receiver, SlackApprovals, SlackReceiver,
    Subscription, WebhookReceiver, ranges,
};

/// `notifications:`, given the declared services and environments.
pub(super) fn notifications(
    r: &mut Report,
    raw: &RawNotifications,
    services: &[String],
    environments: &[String],
) -> NotificationsSpec {
    const P: &str = "notifications";
    r.unknown(P, &raw.unknown, keys::NOTIFICATIONS);
    let mut receivers = BTreeMap::new();
    for (name, raw) in raw.receivers.iter().flatten() {
        if let Some(receiver) = receiver(r, &at(P, &format!("receivers.{name}")), raw) {
            receivers.insert(name.clone(), receiver);
        }
    }
    let declared: Vec<String> = raw
        .receivers
        .iter()
        .flatten()
        .map(|(name, _)| name.clone())
        .collect();
    let subscriptions = raw
        .subscriptions
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, s)| {
            subscription(
                r,
                &format!("{P}.subscriptions[{i}]"),
                s,
                (&declared, services, environments),
            )
        })
        .collect();
    let slack = raw.slack.as_ref().and_then(|s| {
        let p = at(P, "slack");
        r.unknown(&p, &s.unknown, keys::SLACK_APPROVALS);
        let secret = required_env(r, &p, "signing_secret_env", s.signing_secret_env.as_ref());
        let mut users = BTreeMap::new();
        for (id, principal) in s.users.iter().flatten() {
            let principal = principal.as_str().trim();
            if principal.is_empty() {
                r.add(
                    format!("{p}.users.{id}"),
                    "is empty: name the principal (a token's name) this Slack user acts as",
                );
            } else {
                users.insert(id.clone(), principal.to_owned());
            }
        }
        Some(SlackApprovals {
            signing_secret_env: secret?,
            users,
        })
    });
    let max_attempts = match text(raw.max_attempts.as_ref()) {
        None => NotificationsSpec::DEFAULT_MAX_ATTEMPTS,
        Some(n) => match n.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                r.add(
                    at(P, "max_attempts"),
                    format!("`{n}` is not a number of attempts: use 1 to 100 (default 10)"),
                );
                NotificationsSpec::DEFAULT_MAX_ATTEMPTS
            }
        },
    };
    let timeout = r.duration(
        &at(P, "timeout"),
        raw.timeout.as_ref(),
        NotificationsSpec::DEFAULT_TIMEOUT,
        ranges::NOTIFY_TIMEOUT,
    );
    let retention = r.duration(
        &at(P, "retention"),
        raw.retention.as_ref(),
        NotificationsSpec::DEFAULT_RETENTION,
        ranges::NOTIFY_RETENTION,
    );
    NotificationsSpec {
        receivers,
        subscriptions,
        slack,
        max_attempts,
        timeout,
        retention,
    }
}

/// An environment variable's name that must be given.
fn required_env(r: &mut Report, p: &str, key: &str, value: Option<&Text>) -> Option<String> {
    match text(value).map(str::trim) {
        None | Some("") => {
            r.add(
                at(p, key),
                format!(
                    "missing: name the environment variable holding it, e.g. `{key}: ZION_SECRET`"
                ),
            );
            None
        }
        Some(var) => env_var(r, &at(p, key), var),
    }
}

fn receiver(r: &mut Report, p: &str, raw: &RawReceiver) -> Option<Receiver> {
    r.unknown(p, &raw.unknown, keys::RECEIVER);
    let kinds = [
        raw.slack.is_some(),
        raw.webhook.is_some(),
        raw.pagerduty.is_some(),
        raw.github.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        r.add(
            p,
            "name exactly one kind: `slack: { url_env: ZION_SLACK_WEBHOOK }`, \
             `webhook: { url: http://127.0.0.1:9000/zion }`, \
             `pagerduty: { routing_key_env: ZION_PAGERDUTY_KEY }` or \
             `github: { repo: owner/name, token_env: ZION_GITHUB_TOKEN }`",
        );
        return None;
    }
    if let Some(s) = &raw.slack {
        let p = at(p, "slack");
        r.unknown(&p, &s.unknown, keys::SLACK_RECEIVER);
        let url_env = required_env(r, &p, "url_env", s.url_env.as_ref())?;
        return Some(Receiver::Slack(SlackReceiver { url_env }));
    }
    if let Some(w) = &raw.webhook {
        let p = at(p, "webhook");
        r.unknown(&p, &w.unknown, keys::WEBHOOK_RECEIVER);
        let url = http_url(
            r,
            &at(&p, "url"),
            w.url.as_ref(),
            "http://127.0.0.1:9000/zion",
        );
        let secret_env = match text(w.secret_env.as_ref()) {
            None => None,
            Some(var) => Some(env_var(r, &at(&p, "secret_env"), var.trim())?),
        };
        return Some(Receiver::Webhook(WebhookReceiver {
            url: url?,
            secret_env,
        }));
    }
    if let Some(g) = &raw.github {
        let p = at(p, "github");
        r.unknown(&p, &g.unknown, keys::GITHUB_RECEIVER);
        let repo = match text(g.repo.as_ref()).map(str::trim) {
            Some(repo)
                if repo.split('/').count() == 2
                    && repo.split('/').all(|part| {
                        !part.is_empty()
                            && part
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    }) =>
            {
                Some(repo.to_owned())
            }
            other => {
                r.add(
                    at(&p, "repo"),
                    format!(
                        "`{}` is not a repository: write `owner/name`, e.g. `acme/web`",
                        other.unwrap_or("")
                    ),
                );
                None
            }
        };
        let token_env = required_env(r, &p, "token_env", g.token_env.as_ref());
        let api_url = match &g.api_url {
            None => Some(GithubReceiver::DEFAULT_API_URL.to_owned()),
            Some(url) => http_url(r, &at(&p, "api_url"), Some(url), "http://127.0.0.1:9000"),
        };
        return Some(Receiver::Github(GithubReceiver {
            repo: repo?,
            token_env: token_env?,
            api_url: api_url?,
        }));
    }
    let d = raw.pagerduty.as_ref()?;
    let p = at(p, "pagerduty");
    r.unknown(&p, &d.unknown, keys::PAGERDUTY_RECEIVER);
    let routing_key_env = required_env(r, &p, "routing_key_env", d.routing_key_env.as_ref());
    let api_url = match &d.api_url {
        None => Some(PagerdutyReceiver::DEFAULT_API_URL.to_owned()),
        Some(url) => http_url(r, &at(&p, "api_url"), Some(url), "http://127.0.0.1:9000"),
    };
    Some(Receiver::Pagerduty(PagerdutyReceiver {
        routing_key_env: routing_key_env?,
        api_url: api_url?,
    }))
}

fn subscription(
    r: &mut Report,
    p: &str,
    raw: &RawSubscription,
    (receivers, services, environments): (&[String], &[String], &[String]),
) -> Option<Subscription> {
    r.unknown(p, &raw.unknown, keys::SUBSCRIPTION);
    let receiver = match text(raw.receiver.as_ref()) {
        None => {
            r.add(
                at(p, "receiver"),
                "missing: name one of notifications.receivers",
            );
            None
        }
        Some(name) => r
            .reference(&at(p, "receiver"), name, receivers, "receiver")
            .then(|| name.to_owned()),
    };
    let mut events = Vec::new();
    match &raw.events {
        None => r.add(
            at(p, "events"),
            format!(
                "missing: list the events to send, e.g. `events: [deployment.succeeded]`; the events are {}",
                event_names()
            ),
        ),
        Some(list) => {
            for (i, e) in list.iter().enumerate() {
                let options: Vec<(&str, NotifyEvent)> =
                    NotifyEvent::ALL.iter().map(|e| (e.as_str(), *e)).collect();
                if let Some(e) =
                    r.choice(&format!("{p}.events[{i}]"), e.as_str(), "notification event", &options)
                    && !events.contains(&e)
                {
                    events.push(e);
                }
            }
        }
    }
    let services = r.name_list(
        &at(p, "services"),
        raw.services.as_deref().unwrap_or(&[]),
        "",
        services,
        ("service", "name", "services"),
    );
    let environments = r.name_list(
        &at(p, "environments"),
        raw.environments.as_deref().unwrap_or(&[]),
        "",
        environments,
        ("environment", "name", "environments"),
    );
    Some(Subscription {
        receiver: receiver?,
        events,
        services,
        environments,
    })
}

fn event_names() -> String {
    NotifyEvent::ALL
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "notifications_tests.rs"]
mod tests;
