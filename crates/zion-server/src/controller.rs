//! The reconcile loop: every tick (or at once when a command wakes it), each
//! target is observed, stepped, persisted, then acted upon.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use tokio::sync::watch;
use zion_core::deployment::{Action, Deployment, Phase};
use zion_core::governance::{GateObservation, window_state};
use zion_core::rollout::{self, Observations, VersionObservation};
use zion_core::spec::ServiceSpec;
use zion_providers::ProcessWorkloads;
use zion_proxy::TrafficMetrics;

use crate::app::App;
use crate::error::ApiError;
use crate::targets::key;

/// How long a version that lost its traffic keeps running before it is
/// stopped, so in-flight requests complete.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs until `shutdown` turns true.
pub(crate) async fn run(app: Arc<App>, tick: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        reconcile(&app).await;
        app.flush_refusals(false).await;
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = app.wake.notified() => {}
            _ = shutdown.changed() => {
                app.flush_refusals(true).await;
                return;
            }
        }
        if *shutdown.borrow() {
            app.flush_refusals(true).await;
            return;
        }
    }
}

/// One controller pass over every target: observe, step, persist, act.
pub(crate) async fn reconcile(app: &App) {
    let spec = app.spec();
    let active = match app.store.active_deployments() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read active deployments");
            return;
        }
    };
    for svc in &spec.services {
        for env in svc.targets.keys() {
            let current = active
                .iter()
                .find(|d| d.service == svc.name && &d.environment == env)
                .cloned();
            if let Err(e) = reconcile_target(app, svc, env, current).await {
                tracing::error!(service = %svc.name, environment = %env, error = %e.message, "reconcile failed");
            }
        }
    }
}

async fn reconcile_target(
    app: &App,
    svc: &ServiceSpec,
    env: &str,
    current: Option<Deployment>,
) -> Result<(), ApiError> {
    let Some(metrics) = app.targets.metrics(&svc.name, env).await else {
        return Ok(());
    };
    let mut active = None;
    if let Some(mut d) = current {
        let production = app.production(env);
        // A phase change may let the next one happen at once (a
        // rollback to a version still running is ready the moment it
        // starts): step again rather than wait for the next tick.
        for _ in 0..3 {
            // Observed without the lock (the checks before traffic may
            // take seconds); stepped and committed under it, on the
            // deployment read again there: if a command changed it
            // meanwhile, these observations are not its, and the next
            // pass observes it afresh.
            let now = app.clock.now();
            let mut obs = observe(&app.workloads, &d, &metrics);
            obs.gate = observe_gate(app, &d, now).await;
            let seen = d.revision;
            let mut stepped = false;
            let before = d.phase;
            d = app
                .journal
                .change(d.id, production, |current| {
                    if current.revision != seen {
                        return Ok(None);
                    }
                    stepped = true;
                    let out = rollout::step(current, &obs, now);
                    for e in &out.events {
                        tracing::info!(id = current.id, service = %current.service, environment = %current.environment, from = %e.from_phase, to = %e.to_phase, weight = e.canary_weight, reason = %e.reason, "transition");
                    }
                    Ok(Some((out, Vec::new())))
                })
                .await?;
            if !stepped || d.phase == before || d.phase.is_terminal() {
                break;
            }
        }
        if !d.phase.is_terminal() {
            active = Some(d);
        }
    }
    let stable = app.store.stable_version(&svc.name, env)?;
    let retained = match active {
        Some(_) => None,
        None => app
            .store
            .succeeded(&svc.name, env, 1)?
            .into_iter()
            .next()
            .and_then(|last| rollout::retained_version(&last, app.clock.now()).map(str::to_string)),
    };
    let running: Vec<String> = {
        let stopping = &app.targets.stopping;
        app.workloads
            .running()
            .into_iter()
            .filter(|k| k.service == svc.name && k.environment == env && !stopping.contains(k))
            .map(|k| k.version)
            .collect()
    };
    let actions = rollout::desired_target(
        stable.as_deref(),
        svc.workload.process.replicas,
        active.as_ref(),
        retained.as_deref(),
        &running,
    );
    for action in actions {
        act(app, svc, env, action).await;
    }
    Ok(())
}

pub(crate) fn observe(
    workloads: &ProcessWorkloads,
    d: &Deployment,
    metrics: &TrafficMetrics,
) -> Observations {
    let interval = d.plan.common().interval;
    // The proxy and the probes stamp traffic and health in real time:
    // their windows end now on the system clock, whatever time the
    // decisions go by (a test's clock may run ahead of it).
    let end = SystemTime::now();
    let one = |version: &str| -> Option<VersionObservation> {
        let key = key(&d.service, &d.environment, version);
        let st = workloads.status(&key)?;
        let mut m = metrics.window(version, end, interval);
        m.health = workloads.health_share(&key, end - interval);
        m.cpu_percent = st.cpu_percent;
        m.memory_mb = st.memory_mb;
        let erring = st.replicas.iter().rev().find(|r| r.last_error.is_some());
        Some(VersionObservation {
            desired: st.desired,
            ready: st.ready,
            ever_ready: st.ever_ready,
            consecutive_probe_failures: st.consecutive_probe_failures,
            running: st.replicas.iter().any(|r| r.pid.is_some()),
            metrics: m,
            last_error: erring.and_then(|r| r.last_error.clone()),
            exits_before_ready: st.exits_before_ready,
            output: erring.map(|r| r.output.clone()).unwrap_or_default(),
        })
    };
    Observations {
        canary: one(&d.version),
        stable: d.previous_version.as_deref().and_then(one),
        gate: None,
    }
}

/// The window and, when the gate asks for them, the before-traffic
/// checks of a deployment that waits to start.
async fn observe_gate(app: &App, d: &Deployment, now: Timestamp) -> Option<GateObservation> {
    if !matches!(d.phase, Phase::Pending | Phase::AwaitingApproval) {
        return None;
    }
    let spec = app.spec();
    let window = spec
        .environment(&d.environment)
        .and_then(|e| e.windows.as_ref())
        .map(|w| window_state(w, now))
        .unwrap_or_default();
    let checks = if d.gate.wants_checks(d.phase, &window) {
        app.checks_before_traffic(&spec, d, now).await
    } else {
        None
    };
    Some(GateObservation { window, checks })
}

async fn act(app: &App, svc: &ServiceSpec, env: &str, action: Action) {
    match action {
        Action::StartVersion { version, replicas } => {
            let key = key(&svc.name, env, &version);
            if app.targets.stopping.contains(&key) {
                return;
            }
            if app.workloads.lower_desired(&key, replicas) {
                // Scaling down: the surplus replicas leave the pool now
                // (the SetTraffic that follows no longer lists them) and
                // stop after the drain.
                app.targets.stopping.insert(key.clone());
                tracing::info!(service = %svc.name, environment = %env, %version, replicas, "scaling down");
                let workloads = app.workloads.clone();
                let stopping = app.targets.stopping.clone();
                let (process, health) = (svc.workload.process.clone(), svc.health.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(DRAIN).await;
                    if let Err(e) = workloads.ensure(&key, &process, &health, replicas).await {
                        tracing::warn!(%key, error = %e, "cannot scale down");
                    }
                    stopping.remove(&key);
                });
                return;
            }
            if let Err(e) = app
                .workloads
                .ensure(&key, &svc.workload.process, &svc.health, replicas)
                .await
            {
                tracing::warn!(service = %svc.name, environment = %env, %version, error = %e, "cannot start version");
            }
        }
        Action::StopVersion { version } => {
            let key = key(&svc.name, env, &version);
            if !app.targets.stopping.insert(key.clone()) {
                return;
            }
            tracing::info!(service = %svc.name, environment = %env, %version, "stopping version");
            let workloads = app.workloads.clone();
            let stopping = app.targets.stopping.clone();
            tokio::spawn(async move {
                // Traffic has already moved away (SetTraffic comes first);
                // let requests still in flight on the old replicas finish
                // before they are signalled.
                tokio::time::sleep(DRAIN).await;
                workloads.stop(&key).await;
                stopping.remove(&key);
            });
        }
        Action::SetTraffic {
            stable,
            canary,
            canary_weight,
            rules,
        } => {
            app.targets
                .set_traffic(svc, env, stable, canary, canary_weight, rules)
                .await;
        }
        Action::SetPreview { version } => {
            app.targets.set_preview(svc, env, version).await;
        }
    }
}
