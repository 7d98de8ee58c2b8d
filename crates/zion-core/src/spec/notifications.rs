//! `notifications:`: where Zion sends what happens (receivers), which
//! events go where (subscriptions), and who a Slack user is when they
//! press Approve. Secrets are never in the spec: a Slack webhook's URL, a
//! webhook's signing secret, a PagerDuty routing key and Slack's signing
//! secret are read from the environment variables named here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::notify::NotifyEvent;

/// `notifications:`; empty when the spec has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationsSpec {
    /// `receivers.<name>`.
    pub receivers: BTreeMap<String, Receiver>,
    pub subscriptions: Vec<Subscription>,
    /// `slack:`: interactive approvals.
    pub slack: Option<SlackApprovals>,
    /// Attempts of one message before it is given up. Default 10.
    pub max_attempts: u32,
    /// How long one attempt may take. Default 5s.
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
    /// How long a delivered or given-up row stays in the outbox (and in
    /// `zion notifications`). Default 7 days. Written in a recorded spec
    /// only when set otherwise, so a spec without it reads back as before.
    #[serde(
        with = "crate::duration::serde_duration",
        default = "NotificationsSpec::default_retention",
        skip_serializing_if = "NotificationsSpec::is_default_retention"
    )]
    pub retention: Duration,
}

impl NotificationsSpec {
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

    fn default_retention() -> Duration {
        Self::DEFAULT_RETENTION
    }

    fn is_default_retention(d: &Duration) -> bool {
        *d == Self::DEFAULT_RETENTION
    }

    /// True when nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty() && self.subscriptions.is_empty() && self.slack.is_none()
    }
}

impl Default for NotificationsSpec {
    fn default() -> Self {
        NotificationsSpec {
            receivers: BTreeMap::new(),
            subscriptions: Vec::new(),
            slack: None,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            timeout: Self::DEFAULT_TIMEOUT,
            retention: Self::DEFAULT_RETENTION,
        }
    }
}

/// One receiver, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receiver {
    /// A Slack incoming webhook.
    Slack(SlackReceiver),
    /// Any HTTP endpoint taking JSON.
    Webhook(WebhookReceiver),
    /// PagerDuty's Events API v2.
    Pagerduty(PagerdutyReceiver),
    /// A GitHub repository: a comment on the pull request of the
    /// deployment's commit, or a new issue.
    Github(GithubReceiver),
}

impl Receiver {
    /// The channel's name, as the outbox records it.
    pub fn channel(&self) -> &'static str {
        match self {
            Receiver::Slack(_) => "slack",
            Receiver::Webhook(_) => "webhook",
            Receiver::Pagerduty(_) => "pagerduty",
            Receiver::Github(_) => "github",
        }
    }
}

/// `receivers.<name>.slack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackReceiver {
    /// The variable holding the incoming webhook's URL (a secret).
    pub url_env: String,
}

/// `receivers.<name>.webhook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookReceiver {
    /// `http://host:port/path`.
    pub url: String,
    /// The variable holding the HMAC secret `X-Zion-Signature` is made
    /// with; None: unsigned.
    pub secret_env: Option<String>,
}

/// `receivers.<name>.pagerduty`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerdutyReceiver {
    /// The variable holding the integration's routing key.
    pub routing_key_env: String,
    /// Where the Events API is. Default [`PagerdutyReceiver::DEFAULT_API_URL`].
    pub api_url: String,
}

impl PagerdutyReceiver {
    pub const DEFAULT_API_URL: &'static str = "https://events.pagerduty.com";
}

/// `receivers.<name>.github`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubReceiver {
    /// `owner/name`.
    pub repo: String,
    /// The variable holding a token that may comment and open issues.
    pub token_env: String,
    /// Where GitHub's REST API is. Default [`GithubReceiver::DEFAULT_API_URL`].
    pub api_url: String,
}

impl GithubReceiver {
    pub const DEFAULT_API_URL: &'static str = "https://api.github.com";
}

/// `subscriptions[i]`: these events of these services in these
/// environments go to `receiver` (no services or environments: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub receiver: String,
    pub events: Vec<NotifyEvent>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
}

/// `notifications.slack`: approving from Slack's buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackApprovals {
    /// The variable holding the Slack app's signing secret.
    pub signing_secret_env: String,
    /// Slack user id → the principal (token name) they act as.
    pub users: BTreeMap<String, String>,
}
