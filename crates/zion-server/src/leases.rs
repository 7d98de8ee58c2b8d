//! Which targets this replica of Zion drives. Several `zion up` may share
//! one PostgreSQL database; each target is driven (reconciled, its
//! processes started and stopped, its routes decided) by one of them at a
//! time, the holder of the target's lease in the database
//! (`zion_store::LeaseStore`). With SQLite there is one replica, which
//! holds every lease.
//!
//! The lease loop, every third of the lease time: a heartbeat, every held
//! lease renewed in one statement, then each target of the spec looked at.
//! Who should drive a target is `zion_core::spread::owner` over the live
//! replicas (those whose heartbeat is younger than the lease time), so
//! every replica reaches the same answer alone. A replica takes the
//! targets it should drive when their lease is free or expired, and hands
//! over those another live replica should drive.
//!
//! Two guards keep a replica that lost a lease (it paused longer than the
//! lease, say) from acting on the target:
//! - its own clock: a lease counts as held only until the monotonic
//!   instant its last renewal was *sent* plus nine tenths of the lease
//!   time, earlier than the database's expiry whatever happened since;
//! - fencing: every change the controller writes carries the lease's
//!   epoch, and the store refuses it if another replica took the target
//!   over meanwhile. The controller then drops the target at once.
//!
//! A target changes hands only under [`Leases::driving`], which the
//! controller holds while it reconciles one: never in the middle of a
//! reconcile.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use zion_core::spread;
use zion_core::target::TargetId;
use zion_store::{Fence, Lease};

use crate::app::App;
use crate::audit::off_the_runtime;

/// The default lease time: a dead replica's targets are driven again
/// after about this long (plus a lease-loop period).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// The share of the lease time a replica trusts its lease for, counted from
/// when its renewal was sent: the rest covers clocks that run at slightly
/// different rates and the time a write takes to commit.
const TRUST: f64 = 0.9;

/// This replica's leases.
pub(crate) struct Leases {
    replica: String,
    ttl: Duration,
    held: Mutex<BTreeMap<TargetId, Held>>,
    /// Held while a target is reconciled, and while one changes hands.
    pub(crate) driving: tokio::sync::Mutex<()>,
    /// Wakes the lease loop before its next period (a spec applied, a
    /// change another replica announced).
    pub(crate) nudge: tokio::sync::Notify,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: u64,
    until: Instant,
}

impl Leases {
    pub(crate) fn new(replica: String, ttl: Duration) -> Self {
        Leases {
            replica,
            ttl,
            held: Mutex::new(BTreeMap::new()),
            driving: tokio::sync::Mutex::new(()),
            nudge: tokio::sync::Notify::new(),
        }
    }

    /// This replica's id.
    pub(crate) fn replica(&self) -> &str {
        &self.replica
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<TargetId, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fence of the target's lease while this replica trusts it holds
    /// it; None otherwise (then it must not act on the target).
    pub(crate) fn fence(&self, id: &TargetId) -> Option<Fence<'_>> {
        let held = self.held();
        let h = held.get(id)?;
        (Instant::now() < h.until).then_some(Fence {
            replica: &self.replica,
            epoch: h.epoch,
        })
    }

    /// Whether this replica drives the target now.
    pub(crate) fn drives(&self, id: &TargetId) -> bool {
        self.fence(id).is_some()
    }

    /// How many targets this replica holds.
    pub(crate) fn count(&self) -> usize {
        self.held().len()
    }

    /// Forgets a lease (lost, released or handed over); true if it was held.
    fn forget(&self, id: &TargetId) -> bool {
        self.held().remove(id).is_some()
    }

    fn keep(&self, id: TargetId, epoch: u64, sent: Instant) {
        let until = sent + self.ttl.mul_f64(TRUST);
        self.held().insert(id, Held { epoch, until });
    }

    /// The targets held, with their epochs.
    fn snapshot(&self) -> BTreeMap<TargetId, u64> {
        self.held()
            .iter()
            .map(|(k, h)| (k.clone(), h.epoch))
            .collect()
    }
}

/// Runs the lease loop until `shutdown` turns true.
pub(crate) async fn run(app: std::sync::Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let period = (app.leases.ttl / 3).max(Duration::from_millis(20));
    loop {
        maintain(&app).await;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = app.leases.nudge.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One pass: heartbeat, renewals, then takes and hands over targets.
pub(crate) async fn maintain(app: &App) {
    let leases = &app.leases;
    let me = leases.replica();
    let sent = Instant::now();
    // Off the runtime: a write may wait for the disk (SQLite's fsync), and
    // the listeners accept connections on this runtime.
    let renewed = off_the_runtime(|| {
        app.store
            .heartbeat(me)
            .and_then(|()| app.store.renew_leases(me, leases.ttl))
    });
    let renewed = match renewed {
        Ok(r) => r,
        Err(e) => {
            // The leases lapse on this replica's own clock if the database
            // stays out of reach: it stops acting on them, and another
            // replica may take them over once they expire there.
            tracing::warn!(error = %e, "cannot renew this replica's leases");
            return;
        }
    };
    let before = leases.snapshot();
    let mut kept = BTreeMap::new();
    let mut gained = false;
    for l in &renewed {
        let id = TargetId::new(&l.service, &l.environment);
        if before.get(&id) != Some(&l.epoch) {
            // Held under this replica's id but not known here: this
            // replica restarted within the lease. Its processes are taken
            // back as they run, as any holder's would be.
            let _driving = leases.driving.lock().await;
            let adopted = app.adopt_target(&id).await;
            tracing::info!(target = %id, epoch = l.epoch, adopted, "driving the target again");
            gained = true;
        }
        leases.keep(id.clone(), l.epoch, sent);
        kept.insert(id, l.epoch);
    }
    for (id, epoch) in &before {
        if kept.get(id) != Some(epoch) {
            tracing::warn!(target = %id, epoch, "lost the lease of a target: another replica drives it now");
            drop_target(app, id).await;
        }
    }
    let beats = match app.store.replicas() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the replicas");
            return;
        }
    };
    let mut live: Vec<&str> = beats
        .iter()
        .filter(|b| b.is_live(leases.ttl))
        .map(|b| b.id.as_str())
        .collect();
    if !live.contains(&me) {
        live.push(me);
    }
    app.follow_spec().await;
    let spec = app.spec();
    let mut wanted = std::collections::BTreeSet::new();
    for svc in &spec.services {
        for env in svc.targets.keys() {
            let id = TargetId::new(&svc.name, env);
            wanted.insert(id.clone());
            let should = spread::owner(&id, &live) == Some(me);
            let holds = kept.contains_key(&id);
            if should && !holds {
                gained |= take(app, id).await;
            } else if !should && holds {
                hand_over(app, &id).await;
            }
        }
    }
    // Leases of targets the spec no longer has are given back (looked up
    // in a set: a search of the spec per lease is quadratic in targets).
    for id in kept.keys() {
        if !wanted.contains(id) {
            hand_over(app, id).await;
        }
    }
    if gained {
        app.wake.notify_one();
    }
}

/// Takes the target's lease if it is free or expired; true if taken.
async fn take(app: &App, id: TargetId) -> bool {
    let leases = &app.leases;
    let sent = Instant::now();
    let lease: Lease = match off_the_runtime(|| {
        app.store
            .acquire_lease(&id.service, &id.environment, leases.replica(), leases.ttl)
    }) {
        Ok(Some(lease)) => lease,
        // Another replica still holds it: it hands it over, or it expires.
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(target = %id, error = %e, "cannot take a target's lease");
            return false;
        }
    };
    let _driving = leases.driving.lock().await;
    let adopted = app.adopt_target(&id).await;
    leases.keep(id.clone(), lease.epoch, sent);
    tracing::info!(target = %id, epoch = lease.epoch, adopted, "driving the target");
    true
}

/// Gives the target to the replica that should drive it: stops driving
/// it, leaves its processes running for the next holder, and ends the
/// lease now so that it is taken at once.
async fn hand_over(app: &App, id: &TargetId) {
    let leases = &app.leases;
    let Some(fence) = leases.snapshot().get(id).copied() else {
        return;
    };
    drop_target(app, id).await;
    match off_the_runtime(|| {
        app.store
            .release_lease(&id.service, &id.environment, leases.replica(), fence)
    }) {
        Ok(_) => tracing::info!(target = %id, "handed the target over"),
        Err(e) => {
            tracing::warn!(target = %id, error = %e, "cannot release a target's lease; it expires instead")
        }
    }
}

/// Stops driving the target (its lease lost or given): from now on the
/// controller leaves it alone, its processes are left to the next holder
/// and its routes follow the database.
pub(crate) async fn drop_target(app: &App, id: &TargetId) {
    let _driving = app.leases.driving.lock().await;
    drop_target_locked(app, id).await;
}

/// [`drop_target`] for a caller that holds [`Leases::driving`].
pub(crate) async fn drop_target_locked(app: &App, id: &TargetId) {
    if app.leases.forget(id) {
        app.release_target(id).await;
    }
}

/// On a clean stop: hands every target over at once when another replica
/// is live to take them, and says whether one was (then this replica's
/// processes are left running for it); with no other replica the leases
/// are released all the same, so that a replica started later takes them
/// without waiting for them to expire.
pub(crate) async fn retire(app: &App) -> bool {
    let leases = &app.leases;
    let me = leases.replica();
    let others = app
        .store
        .replicas()
        .map(|beats| beats.iter().any(|b| b.id != me && b.is_live(leases.ttl)));
    let others = match others {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the replicas at stop; the leases will expire");
            return false;
        }
    };
    if let Err(e) = app.store.retire_replica(me) {
        tracing::warn!(error = %e, "cannot retire this replica's heartbeat");
    }
    let held = leases.snapshot();
    for (id, epoch) in &held {
        if others {
            drop_target(app, id).await;
        } else {
            leases.forget(id);
        }
        if let Err(e) = app
            .store
            .release_lease(&id.service, &id.environment, me, *epoch)
        {
            tracing::warn!(target = %id, error = %e, "cannot release a target's lease; it expires instead");
        }
    }
    if others && !held.is_empty() {
        tracing::info!(
            targets = held.len(),
            "handed every target over to the other replicas"
        );
    }
    others
}

/// Until `shutdown`: when another process commits to the database
/// (PostgreSQL's notifications, `zion_store::Database::changes`), wakes
/// the controller, the lease loop and the routes' follower at once
/// instead of waiting for their next period. Nothing to do on SQLite.
pub(crate) async fn follow_changes(
    app: std::sync::Arc<App>,
    routes: std::sync::Arc<tokio::sync::Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut changes) = app.store.changes() else {
        return;
    };
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                app.wake.notify_one();
                app.leases.nudge.notify_one();
                routes.notify_one();
            }
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
