//! Running lifecycle hooks (`services[].hooks`). Which call is due and
//! what its result does are `zion_core::hooks`'; here is only the
//! running: each call (a deployment's hooks at one point and step) runs
//! as one task, its hooks in order up to the first that fails, each
//! attempt within its timeout and tried again after 1 s, 2 s, 4 s… as its
//! `retries` allow. The controller asks [`HookRunner::poll`] for a due
//! call at each reconcile: the first ask starts it, and once it has
//! finished its run is handed to the step (in `Observations::hooks`), like
//! an external check's readings. A finished run wakes its target.
//!
//! Runs live in this replica's memory: a replica of `zion up` that takes
//! over a target mid-hook runs that call again (at least once, not
//! exactly once).

mod exec;
mod http;

/// The `X-Zion-Signature` of a body, shared with the notifications.
pub(crate) use http::sign;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;
use zion_core::deployment::Deployment;
use zion_core::hooks::{HookCall, HookResult, HookRun};
use zion_core::spec::{Hook, HookAction};

use crate::targets::TargetId;

/// The most of a hook's output (or answer) kept in its event.
pub(crate) const OUTPUT_TAIL: usize = 4 * 1024;

/// A call: a deployment and which of its hooks.
type Key = (i64, HookCall);

/// This replica's hook runs, in flight and finished.
#[derive(Default)]
pub(crate) struct HookRunner {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// None while the call runs; its run once finished, until the step
    /// that applied it was committed.
    runs: Mutex<HashMap<Key, Option<HookRun>>>,
    /// Targets with a run finished since the controller last looked.
    finished: Mutex<HashSet<TargetId>>,
    /// Each target's succeeded deployment whose hooks (`post_rollout`…)
    /// run or wait to be recorded: looked up by id even once the target's
    /// next deployment has started.
    after_success: Mutex<HashMap<TargetId, i64>>,
    notify: Notify,
}

/// What a hook is told about the deployment it runs for.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Facts {
    pub deployment_id: i64,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub stable_version: Option<String>,
    pub phase: String,
    /// 1-based, as shown; None before the first canary step.
    pub step: Option<u32>,
    pub hook: String,
    /// Where the new version's healthy replicas listen, so a smoke test
    /// can reach it alone.
    pub new_addresses: Vec<SocketAddr>,
}

impl Facts {
    pub(crate) fn of(d: &Deployment, call: HookCall, new_addresses: Vec<SocketAddr>) -> Facts {
        Facts {
            deployment_id: d.id,
            service: d.service.clone(),
            environment: d.environment.clone(),
            version: d.version.clone(),
            stable_version: d.previous_version.clone(),
            phase: d.phase.name().to_string(),
            step: call.step.or(d.step).map(|s| s + 1),
            hook: call.point.name().to_string(),
            new_addresses,
        }
    }
}

impl HookRunner {
    /// The finished run of `call` for `d`; starts it (in `base_dir`,
    /// told `facts`) when it is neither running nor finished. None while
    /// it runs.
    pub(crate) fn poll(
        &self,
        d: &Deployment,
        call: HookCall,
        hooks: Vec<Hook>,
        facts: Facts,
        base_dir: PathBuf,
    ) -> Option<HookRun> {
        let key = (d.id, call);
        let mut runs = self
            .shared
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = runs.get(&key) {
            return state.clone();
        }
        runs.insert(key, None);
        drop(runs);
        tracing::info!(id = d.id, service = %d.service, environment = %d.environment, hook = %call.point, step = ?call.step, "running hooks");
        let shared = self.shared.clone();
        let target = TargetId::new(&d.service, &d.environment);
        tokio::spawn(async move {
            let mut results = Vec::new();
            for hook in &hooks {
                let result = run_hook(hook, &facts, &base_dir).await;
                let passed = result.passed;
                results.push(result);
                if !passed {
                    break;
                }
            }
            let run = HookRun { call, results };
            shared
                .runs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, Some(run));
            shared
                .finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(target);
            shared.notify.notify_one();
        });
        None
    }

    /// Forgets a run once the step that applied it is committed.
    pub(crate) fn forget(&self, id: i64, call: HookCall) {
        let mut runs = self
            .shared
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        runs.remove(&(id, call));
    }

    /// Forgets the finished runs of a deployment that waits on none any
    /// more (ended, or rolled back while one ran).
    pub(crate) fn forget_deployment(&self, id: i64) {
        let mut runs = self
            .shared
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !runs.is_empty() {
            runs.retain(|(d, _), run| *d != id || run.is_none());
        }
    }

    /// Remembers that `id`, a succeeded deployment of `target`, has a run
    /// to record (`Some`), or no more (`None`).
    pub(crate) fn after_success(&self, target: &TargetId, id: Option<i64>) {
        let mut map = self
            .shared
            .after_success
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match id {
            Some(id) => {
                map.insert(target.clone(), id);
            }
            None => {
                map.remove(target);
            }
        }
    }

    /// The succeeded deployment of `target` with a run to record, if any.
    pub(crate) fn awaiting_record(&self, target: &TargetId) -> Option<i64> {
        let map = self
            .shared
            .after_success
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(target).copied()
    }

    /// The targets with a run finished since the last call: due now.
    pub(crate) fn take_finished(&self) -> HashSet<TargetId> {
        std::mem::take(
            &mut *self
                .shared
                .finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Resolves when a run finishes.
    pub(crate) async fn finished(&self) {
        self.shared.notify.notified().await;
    }
}

/// Runs one hook, trying again as its `retries` allow.
async fn run_hook(hook: &Hook, facts: &Facts, base_dir: &std::path::Path) -> HookResult {
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt = match &hook.action {
            HookAction::Exec(argv) => exec::run(argv, hook.timeout, facts, base_dir).await,
            HookAction::Http(h) => http::call(h, hook.timeout, facts, base_dir).await,
        };
        if attempt.passed || attempts > hook.retries {
            return HookResult {
                hook: hook.describe(),
                passed: attempt.passed,
                detail: attempt.detail,
                attempts,
                output: zion_core::hooks::tail(&attempt.output, OUTPUT_TAIL),
                millis: start.elapsed().as_millis() as u64,
            };
        }
        // 1 s, 2 s, 4 s…, capped at a minute.
        let backoff = Duration::from_secs(1 << (attempts - 1).min(6)).min(Duration::from_secs(60));
        tokio::time::sleep(backoff).await;
    }
}

/// One attempt's outcome.
struct Attempt {
    passed: bool,
    detail: String,
    output: String,
}

#[cfg(test)]
mod tests;
