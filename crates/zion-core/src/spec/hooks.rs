//! `services[].hooks:`: commands and web calls run at points of a
//! deployment's life (before traffic moves, around each canary step,
//! before full promotion, after success, on rollback). Which are due and
//! what their results do is `crate::hooks`; running them is the server's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretSource;
use crate::hooks::HookPoint;

/// A service's hooks, by point; each list runs in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HooksSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_rollout: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_step: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_step: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirm_promotion: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_rollout: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_rollback: Vec<Hook>,
}

impl HooksSpec {
    /// The hooks run at `point`.
    pub fn at(&self, point: HookPoint) -> &[Hook] {
        match point {
            HookPoint::PreRollout => &self.pre_rollout,
            HookPoint::PreStep => &self.pre_step,
            HookPoint::PostStep => &self.post_step,
            HookPoint::ConfirmPromotion => &self.confirm_promotion,
            HookPoint::PostRollout => &self.post_rollout,
            HookPoint::OnRollback => &self.on_rollback,
        }
    }

    /// The list at `point`, to fill.
    pub fn at_mut(&mut self, point: HookPoint) -> &mut Vec<Hook> {
        match point {
            HookPoint::PreRollout => &mut self.pre_rollout,
            HookPoint::PreStep => &mut self.pre_step,
            HookPoint::PostStep => &mut self.post_step,
            HookPoint::ConfirmPromotion => &mut self.confirm_promotion,
            HookPoint::PostRollout => &mut self.post_rollout,
            HookPoint::OnRollback => &mut self.on_rollback,
        }
    }

    /// Whether no point has a hook.
    pub fn is_empty(&self) -> bool {
        HookPoint::ALL.iter().all(|p| self.at(*p).is_empty())
    }
}

/// One hook: what to run, how long it may take, how often to try again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    #[serde(flatten)]
    pub action: HookAction,
    /// Per attempt. Default [`Hook::DEFAULT_TIMEOUT`].
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
    /// Attempts after a failed one, 1s, 2s, 4s… apart. Default 0.
    #[serde(default)]
    pub retries: u32,
}

impl Hook {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// `exec ./smoke.sh a b` or `POST http://…`, for events.
    pub fn describe(&self) -> String {
        match &self.action {
            HookAction::Exec(argv) => format!("exec {}", argv.join(" ")),
            HookAction::Http(h) => format!("{} {}", h.method, h.url),
        }
    }
}

/// What a hook runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookAction {
    /// A program and its arguments, run in the spec file's folder; exit 0
    /// passes.
    Exec(Vec<String>),
    /// A JSON POST (or `method`) to a URL; a 2xx answer passes.
    Http(HttpHook),
}

/// `http: { url, method, secret_env | secret_file }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpHook {
    pub url: String,
    /// Default POST.
    pub method: String,
    /// The key the payload is signed with (`X-Zion-Signature`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretSource>,
}
