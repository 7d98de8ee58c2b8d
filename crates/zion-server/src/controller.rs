//! The reconcile loop. Each target is reconciled (observed, stepped,
//! committed, then acted upon) when it is due: when what it last returned
//! (`zion_core::rollout::requeue`: every tick while a deployment moves, a
//! healthy canary at its next round or step's end, at an approval's expiry
//! or the end of a `scale_down_delay`, else only on a change) says so,
//! when a change made through the API wakes the controller, or when its
//! versions' replicas changed (one became healthy, failed its probe,
//! started or stopped), which its routes follow. Due targets are
//! reconciled several at once. Every
//! tick looks at each target's due time and replicas, which costs no store
//! read; a test's clock moved forward makes a due time come at the next
//! tick.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, stream};
use jiff::Timestamp;
use tokio::sync::{Notify, watch};
use zion_core::deployment::{Action, Deployment, Phase};
use zion_core::governance::{GateObservation, window_state};
use zion_core::hooks::HookCall;
use zion_core::rollout::{self, Observations, Requeue, VersionObservation};
use zion_core::spec::ServiceSpec;
use zion_store::Fence;

use crate::app::App;
use crate::data_plane::TargetTraffic;
use crate::error::ApiError;
use crate::journal::FENCED;
use crate::targets::{TargetId, key};
use crate::workloads::Workloads;

/// How long a version that lost its traffic keeps running before it is
/// stopped, so in-flight requests complete.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// Wakes the controller at once: a change made through the API (a
/// deployment created, a command, a decision, a spec applied) makes every
/// target due.
#[derive(Default)]
pub(crate) struct Wake {
    notify: Notify,
    changed: AtomicBool,
}

impl Wake {
    /// Something changed: reconcile every target now.
    pub(crate) fn notify_one(&self) {
        self.changed.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Whether a change was announced since the last call.
    fn take(&self) -> bool {
        self.changed.swap(false, Ordering::SeqCst)
    }
}

/// How many times the controller reconciled each target since start.
#[derive(Default)]
pub(crate) struct Counts(Mutex<HashMap<TargetId, u64>>);

impl Counts {
    fn add(&self, id: &TargetId) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(id.clone()).or_insert(0) += 1;
    }

    pub(crate) fn get(&self, service: &str, environment: &str) -> u64 {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .get(&TargetId::new(service, environment))
            .copied()
            .unwrap_or(0)
    }
}

/// What the controller saw of one version of a target.
#[derive(Debug, PartialEq)]
struct VersionSeen {
    version: String,
    desired: u32,
    /// The route's pool.
    healthy: Vec<SocketAddr>,
    stopping: bool,
    /// A canary between its rounds is judged again only when this changes
    /// (an immediate rollback counts the failures in a row).
    probe_failures: u32,
}

/// What the controller saw of a target's versions. When it changes, the
/// target is reconciled: its routes and versions are brought in line
/// again, and a deployment between its rounds looks at its health.
type Replicas = Vec<VersionSeen>;

fn replicas(app: &App, service: &str, environment: &str) -> Replicas {
    app.workloads
        .running_in(service, environment)
        .into_iter()
        .map(|k| {
            let st = app.workloads.status(&k);
            let stopping = app.targets.stopping.contains(&k);
            let (desired, healthy, probe_failures) = st.map_or((0, Vec::new(), 0), |s| {
                (s.desired, s.healthy_endpoints, s.consecutive_probe_failures)
            });
            VersionSeen {
                version: k.version,
                desired,
                healthy,
                stopping,
                probe_failures,
            }
        })
        .collect()
}

/// When each target is next due, and its replicas as last reconciled.
#[derive(Default)]
struct Schedule(BTreeMap<TargetId, (Requeue, Replicas)>);

/// Runs until `shutdown` turns true.
pub(crate) async fn run(app: Arc<App>, tick: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut schedule = Schedule::default();
    loop {
        reconcile(&app, &mut schedule).await;
        app.flush_refusals(false).await;
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = app.wake.notify.notified() => {}
            _ = app.hooks.finished() => {}
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

/// One controller pass: every target that is due is observed, stepped,
/// persisted and acted upon.
async fn reconcile(app: &App, schedule: &mut Schedule) {
    let spec = app.spec();
    let woken = app.wake.take();
    let hooked = app.hooks.take_finished();
    let now = app.clock.now();
    let mut due = Vec::new();
    let mut seen = BTreeMap::new();
    for (index, svc) in spec.services.iter().enumerate() {
        for env in svc.targets.keys() {
            let id = TargetId::new(&svc.name, env);
            if !app.leases.drives(&id) {
                // Another replica drives it (or no one yet): forgotten
                // here, so that it is due at once if this one takes it.
                continue;
            }
            let now_replicas = replicas(app, &svc.name, env);
            let is_due = woken
                || hooked.contains(&id)
                || schedule
                    .0
                    .get(&id)
                    .is_none_or(|(next, last)| next.is_due(now) || *last != now_replicas);
            if is_due {
                due.push((index, env.clone()));
            } else if let Some(entry) = schedule.0.remove(&id) {
                seen.insert(id, entry);
            }
        }
    }
    if due.is_empty() {
        schedule.0 = seen;
        return;
    }
    let active = match app.store.active_deployments() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read active deployments");
            // The due targets stay due: looked at again on the next tick.
            schedule.0.extend(seen);
            return;
        }
    };
    // Each target's first active deployment, found by key: a search of the
    // list per due target is quadratic in targets.
    let mut active_by_target: HashMap<TargetId, Deployment> = HashMap::new();
    for d in active {
        active_by_target
            .entry(TargetId::new(&d.service, &d.environment))
            .or_insert(d);
    }
    let due: Vec<_> = due
        .into_iter()
        .map(|(index, env)| {
            let id = TargetId::new(&spec.services[index].name, &env);
            let current = active_by_target.remove(&id);
            (index, env, current)
        })
        .collect();
    // Several at once: each waits mostly for its change's group commit,
    // so that one commit carries many targets' changes instead of one
    // (with 1,000 canaries on PostgreSQL, one by one left the last of a
    // second's hundred verdicts more than a second late).
    let done: Vec<_> = stream::iter(due)
        // By index and owned environment: futures over borrowed items
        // trip the compiler's higher-ranked lifetimes in a spawned task.
        .map(|(index, env, current)| reconcile_one(app, &spec.services[index], env, current))
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    seen.extend(done.into_iter().flatten());
    schedule.0 = seen;
}

/// How many targets the controller reconciles at once.
const CONCURRENT: usize = 64;

/// Reconciles one due target while the lease says this replica drives
/// it; returns its next due time and replicas as reconciled, or None when
/// it is no longer this replica's.
async fn reconcile_one(
    app: &App,
    svc: &ServiceSpec,
    env: String,
    current: Option<Deployment>,
) -> Option<(TargetId, (Requeue, Replicas))> {
    let env = env.as_str();
    let id = TargetId::new(&svc.name, env);
    // No target changes hands in the middle of its reconcile.
    let _driving = app.leases.driving(&id).await;
    let fence = app.leases.fence(&id)?;
    app.reconciled.add(&id);
    let next = match reconcile_target(app, svc, env, current, fence).await {
        Ok(next) => next,
        Err(e) if e.code == FENCED => {
            // Another replica took the target over while this one could
            // not tell (a pause longer than the lease): nothing was
            // written, and it stops acting on the target now.
            tracing::warn!(service = %svc.name, environment = %env, error = %e.message, "the target's lease was taken over; no longer driving it");
            crate::leases::drop_target_locked(app, &id).await;
            return None;
        }
        Err(e) => {
            tracing::error!(service = %svc.name, environment = %env, error = %e.message, "reconcile failed");
            Requeue::NextTick
        }
    };
    let replicas = replicas(app, &svc.name, env);
    Some((id, (next, replicas)))
}

/// Reconciles one target; returns when it is next due.
async fn reconcile_target(
    app: &App,
    svc: &ServiceSpec,
    env: &str,
    current: Option<Deployment>,
    fence: Fence<'_>,
) -> Result<Requeue, ApiError> {
    let Some(metrics) = app.targets.traffic(&svc.name, env).await else {
        return Ok(Requeue::OnChange);
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
            let mut obs = observe(&app.workloads, &d, &metrics, now);
            obs.gate = observe_gate(app, &d, now).await;
            obs.router_error = app.targets.router_error(&svc.name, env).await;
            read_sources(app, &d, now, &mut obs).await;
            let hook = poll_hooks(app, &d, now, &mut obs);
            let seen = d.revision;
            let mut stepped = false;
            let before = d.phase;
            d = app
                .journal
                .change(d.id, production, Some(fence), |current| {
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
            if stepped && let Some(call) = hook {
                app.hooks.forget(d.id, call);
            }
            if !stepped || d.phase == before || d.phase.is_terminal() {
                break;
            }
        }
        if !d.phase.is_terminal() {
            active = Some(d);
        } else if zion_core::hooks::pending(&d, app.clock.now()).is_none() {
            app.hooks.forget_deployment(d.id);
        }
    }
    if !app.leases.drives(&TargetId::new(&svc.name, env)) {
        // The lease lapsed on this replica's clock while it observed: it
        // must not start, stop or route anything of the target now.
        return Ok(Requeue::NextTick);
    }
    let stable = app.store.stable_version(&svc.name, env)?;
    let mut last = match active {
        Some(_) => None,
        None => app.store.succeeded(&svc.name, env, 1)?.into_iter().next(),
    };
    if let Some(done) = last.take() {
        last = Some(record_after_success(app, done, fence).await?);
    } else if let Some(id) = app.hooks.awaiting_record(&TargetId::new(&svc.name, env)) {
        // The next deployment started while the last one's post_rollout ran.
        if let Some(done) = app.store.deployment(id)? {
            record_after_success(app, done, fence).await?;
        }
    }
    let retained = last
        .as_ref()
        .and_then(|last| rollout::retained_version(last, app.clock.now()).map(str::to_string));
    let running: Vec<String> = {
        let stopping = &app.targets.stopping;
        app.workloads
            .running_in(&svc.name, env)
            .into_iter()
            .filter(|k| !stopping.contains(k))
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
    // A version that could not be started (or is still being scaled
    // down) is tried again at the next tick, whatever the state says.
    let mut settled = true;
    let mut traffic_refused = false;
    for action in actions {
        if traffic_refused && !rollout::runs_while_traffic_refused(&action) {
            continue;
        }
        if let Action::StartVersion { version, replicas } = &action {
            let key = key(&svc.name, env, version);
            settled &= !app.targets.stopping.contains(&key);
            act(app, svc, env, action.clone()).await;
            settled &= app
                .workloads
                .status(&key)
                .is_some_and(|st| st.desired == *replicas);
        } else {
            // A router that refused keeps the target due: tried again at
            // the next tick, its reason on the target's status.
            let is_traffic = matches!(action, Action::SetTraffic { .. });
            let done = act(app, svc, env, action).await;
            traffic_refused |= is_traffic && !done;
            settled &= done;
        }
    }
    if !settled {
        return Ok(Requeue::NextTick);
    }
    Ok(rollout::requeue(active.as_ref(), last.as_ref()))
}

pub(crate) fn observe(
    workloads: &Workloads,
    d: &Deployment,
    metrics: &TargetTraffic,
    now: Timestamp,
) -> Observations {
    let interval = d.plan.common().interval;
    // The statistical judge's samples, only for a round about to run.
    let judged = d.plan.common().judge.mann_whitney().is_some() && rollout::round_due(d, now);
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
            readings: Vec::new(),
            samples: if judged {
                metrics.samples(version, end, interval)
            } else {
                Default::default()
            },
        })
    };
    Observations {
        new_version: one(&d.version),
        stable: d.previous_version.as_deref().and_then(one),
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    }
}

/// Asks the external checks' sources about the new version, only when the
/// step about to run may hold a round (a query per tick would load
/// Prometheus for nothing). Like the gate's checks, without the lock.
async fn read_sources(app: &App, d: &Deployment, now: Timestamp, obs: &mut Observations) {
    let Some(canary) = obs.new_version.as_mut() else {
        return;
    };
    let checks = &d.plan.common().checks;
    if zion_core::sources::external(checks).next().is_none() || !rollout::round_due(d, now) {
        return;
    }
    canary.readings = crate::sources::read(&app.spec(), &app.base_dir, d).await;
}

/// Starts the hooks `d` is due to run, or hands their finished run to
/// the step in `obs`; returns the call when a run was handed over, to be
/// forgotten once its step is committed.
fn poll_hooks(
    app: &App,
    d: &Deployment,
    now: Timestamp,
    obs: &mut Observations,
) -> Option<HookCall> {
    let call = zion_core::hooks::due(d, obs, now)?;
    let hooks = d.plan.common().hooks.at(call.point).to_vec();
    let new = key(&d.service, &d.environment, &d.version);
    let addresses = app
        .workloads
        .status(&new)
        .map(|s| s.healthy_endpoints)
        .unwrap_or_default();
    let facts = crate::hooks::Facts::of(d, call, addresses);
    let run = app
        .hooks
        .poll(d, call, hooks, facts, app.base_dir.clone())?;
    obs.hooks.push(run);
    Some(call)
}

/// The hooks of a deployment that succeeded (`post_rollout`, or
/// `on_rollback` after `zion rollback`): started, and their finished run
/// recorded on it.
async fn record_after_success(
    app: &App,
    d: Deployment,
    fence: Fence<'_>,
) -> Result<Deployment, ApiError> {
    let now = app.clock.now();
    let target = TargetId::new(&d.service, &d.environment);
    if zion_core::hooks::pending(&d, now).is_none() {
        app.hooks.after_success(&target, None);
        return Ok(d);
    }
    app.hooks.after_success(&target, Some(d.id));
    let mut obs = Observations::default();
    let Some(call) = poll_hooks(app, &d, now, &mut obs) else {
        return Ok(d);
    };
    let seen = d.revision;
    let production = app.production(&d.environment);
    let mut stepped = false;
    let d = app
        .journal
        .change(d.id, production, Some(fence), |current| {
            if current.revision != seen {
                return Ok(None);
            }
            stepped = true;
            Ok(Some((rollout::step(current, &obs, now), Vec::new())))
        })
        .await?;
    if stepped {
        app.hooks.forget(d.id, call);
        app.hooks.after_success(&target, None);
    }
    Ok(d)
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
        app.prechecks().before_traffic(d, now).await
    } else {
        None
    };
    Some(GateObservation { window, checks })
}

/// Carries out `action`; false when it must be tried again (a router that
/// refused the traffic's change).
async fn act(app: &App, svc: &ServiceSpec, env: &str, action: Action) -> bool {
    match action {
        Action::StartVersion { version, replicas } => {
            let key = key(&svc.name, env, &version);
            if app.targets.stopping.contains(&key) {
                return true;
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
                return true;
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
                return true;
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
            new_version,
            weight,
            rules,
        } => {
            return app
                .targets
                .set_traffic(svc, env, stable, new_version, weight, rules)
                .await
                .is_ok();
        }
        Action::SetPreview { version } => {
            app.targets.set_preview(svc, env, version).await;
        }
    }
    true
}
