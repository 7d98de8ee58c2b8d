//! Which targets this replica of Zion drives. Several `zion up` may share
//! one PostgreSQL database; each target is driven (reconciled, its
//! processes started and stopped, its routes decided) by one of them at a
//! time, the holder of the target's lease in the database
//! (`zion_store::LeaseStore`). With SQLite there is one replica, which
//! holds every lease.
//!
//! The lease loop, every third of the lease time: a heartbeat, every held
//! lease renewed in one statement, then each target of the spec looked at;
//! the targets to take are taken in one statement, those to give handed
//! over in one. It looks again sooner when a live replica's heartbeat is
//! about to turn stale (a dead replica's targets are taken as its leases
//! expire, not up to a period later) and while targets it should drive
//! are still another's.
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
//! A target changes hands only under its lock ([`Leases::driving`]),
//! which the controller holds while it reconciles the target: never in
//! the middle of its reconcile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use zion_core::spread;
use zion_core::target::TargetId;
use zion_store::Fence;

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
    /// One lock per target, held while it is reconciled and while it
    /// changes hands: never in the middle of its reconcile. Per target, so
    /// that a hand-over waits only for that target's reconcile, not for
    /// the many others in progress.
    driving: Mutex<HashMap<TargetId, Arc<tokio::sync::Mutex<()>>>>,
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
            driving: Mutex::new(HashMap::new()),
            nudge: tokio::sync::Notify::new(),
        }
    }

    /// Holds the target's lock until the guard drops (see
    /// [`Leases::driving`]).
    pub(crate) async fn driving(&self, id: &TargetId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .driving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .clone();
        lock.lock_owned().await
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

    /// The epoch of the target's lease, if held.
    fn epoch(&self, id: &TargetId) -> Option<u64> {
        self.held().get(id).map(|h| h.epoch)
    }

    /// The targets held, with their epochs.
    fn snapshot(&self) -> BTreeMap<TargetId, u64> {
        self.held()
            .iter()
            .map(|(k, h)| (k.clone(), h.epoch))
            .collect()
    }
}

impl App {
    /// Whether this replica drives the target now: it holds the target's
    /// lease and still trusts it (see the top of `leases.rs`).
    pub fn drives(&self, id: &TargetId) -> bool {
        self.leases.drives(id)
    }
}

/// Runs the lease loop until `shutdown` turns true.
pub(crate) async fn run(app: std::sync::Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let next = maintain(&app).await;
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = app.leases.nudge.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// The lease loop's period: a third of the lease time, so that a lease
/// is renewed twice before it could expire.
fn period(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(20))
}

/// How long after another replica's heartbeat turns stale the lease loop
/// looks again: that replica renewed its leases just after its heartbeat,
/// so they expire a moment later (one statement later) by the database's
/// clock.
const AFTER_STALE: Duration = Duration::from_millis(50);

/// One pass: heartbeat, renewals, then takes and hands over targets.
/// Returns how soon the next pass should run: a period, or sooner when a
/// live replica's heartbeat is about to turn stale (it stopped beating:
/// its targets are taken as soon as its leases expire, not up to a period
/// later), or when targets this replica should drive were refused (their
/// holder's lease is about to expire, or it is handing them over).
pub(crate) async fn maintain(app: &App) -> Duration {
    let leases = &app.leases;
    let me = leases.replica();
    let period = period(leases.ttl);
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
            return period;
        }
    };
    let before = leases.snapshot();
    let mut kept = BTreeMap::new();
    let mut unknown = Vec::new();
    for l in &renewed {
        let id = TargetId::new(&l.service, &l.environment);
        if before.get(&id) != Some(&l.epoch) {
            // Held under this replica's id but not known here: this
            // replica restarted within the lease. Its processes are taken
            // back as they run, as any holder's would be.
            unknown.push((id.clone(), l.epoch));
        }
        kept.insert(id, l.epoch);
    }
    for (id, epoch) in &unknown {
        let _driving = leases.driving(id).await;
        let adopted = app.adopt_target(id).await;
        tracing::info!(target = %id, epoch, adopted, "driving the target again");
    }
    for (id, epoch) in &kept {
        leases.keep(id.clone(), *epoch, sent);
    }
    let lost: Vec<&TargetId> = before
        .iter()
        .filter(|(id, epoch)| kept.get(*id) != Some(*epoch))
        .map(|(id, _)| id)
        .collect();
    for id in lost {
        let _driving = leases.driving(id).await;
        let epoch = before[id];
        tracing::warn!(target = %id, epoch, "lost the lease of a target: another replica drives it now");
        drop_target_locked(app, id).await;
    }
    let beats = match app.store.replicas() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the replicas");
            return period;
        }
    };
    let mut next = period;
    let mut live: Vec<&str> = Vec::new();
    for b in beats.iter().filter(|b| b.is_live(leases.ttl)) {
        live.push(b.id.as_str());
        if b.id != me {
            let age = b.read_at.duration_since(b.last_heartbeat).as_secs_f64();
            let stale_in = Duration::from_secs_f64((leases.ttl.as_secs_f64() - age).max(0.0));
            next = next.min(stale_in + AFTER_STALE);
        }
    }
    if !live.contains(&me) {
        live.push(me);
    }
    app.follow_spec().await;
    let spec = app.spec();
    let mut wanted = std::collections::BTreeSet::new();
    let (mut to_take, mut to_give) = (Vec::new(), Vec::new());
    for svc in &spec.services {
        for env in svc.targets.keys() {
            let id = TargetId::new(&svc.name, env);
            let should = spread::owner(&id, &live) == Some(me);
            let holds = kept.contains_key(&id);
            if should && !holds {
                to_take.push(id.clone());
            } else if !should && holds {
                to_give.push(id.clone());
            }
            wanted.insert(id);
        }
    }
    // Leases of targets the spec no longer has are given back (looked up
    // in a set: a search of the spec per lease is quadratic in targets).
    to_give.extend(kept.keys().filter(|id| !wanted.contains(*id)).cloned());
    hand_over(app, &to_give).await;
    let taken = take(app, &to_take).await;
    if taken < to_take.len() {
        // Held by another replica still: it hands them over (and says
        // so through the database), or its leases are about to expire.
        next = next.min(period / 10);
    }
    if !unknown.is_empty() || taken > 0 {
        app.wake.notify_one();
    }
    next
}

/// Takes the targets' leases that are free or expired, in one statement;
/// returns how many were taken.
async fn take(app: &App, ids: &[TargetId]) -> usize {
    if ids.is_empty() {
        return 0;
    }
    let leases = &app.leases;
    let sent = Instant::now();
    let granted =
        match off_the_runtime(|| app.store.acquire_leases(ids, leases.replica(), leases.ttl)) {
            Ok(granted) => granted,
            Err(e) => {
                tracing::warn!(targets = ids.len(), error = %e, "cannot take the targets' leases");
                return 0;
            }
        };
    for lease in &granted {
        let id = TargetId::new(&lease.service, &lease.environment);
        let _driving = leases.driving(&id).await;
        let adopted = app.adopt_target(&id).await;
        leases.keep(id.clone(), lease.epoch, sent);
        tracing::info!(target = %id, epoch = lease.epoch, adopted, "driving the target");
    }
    granted.len()
}

/// Gives the targets to the replicas that should drive them: stops
/// driving them, leaves their processes running for the next holders,
/// and ends their leases now, in one statement, so that they are taken at
/// once.
async fn hand_over(app: &App, ids: &[TargetId]) {
    let leases = &app.leases;
    let mut given = Vec::with_capacity(ids.len());
    for id in ids {
        let _driving = leases.driving(id).await;
        let Some(epoch) = leases.epoch(id) else {
            continue;
        };
        drop_target_locked(app, id).await;
        given.push((id.clone(), epoch));
    }
    release(app, &given, "handed the target over");
}

/// Ends the leases given up, in one statement; they expire instead if the
/// database cannot be reached.
fn release(app: &App, given: &[(TargetId, u64)], what: &'static str) {
    if given.is_empty() {
        return;
    }
    match off_the_runtime(|| app.store.release_leases(app.leases.replica(), given)) {
        Ok(_) => {
            for (id, epoch) in given {
                tracing::info!(target = %id, epoch, "{}", what);
            }
        }
        Err(e) => {
            tracing::warn!(targets = given.len(), error = %e, "cannot release the targets' leases; they expire instead")
        }
    }
}

/// Stops driving the target (its lease lost or given), for a caller that
/// holds the target's lock ([`Leases::driving`]): from now on the controller leaves it alone,
/// its processes are left to the next holder and its routes follow the
/// database.
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
    let held: Vec<(TargetId, u64)> = leases.snapshot().into_iter().collect();
    if others {
        for (id, _) in &held {
            let _driving = leases.driving(id).await;
            drop_target_locked(app, id).await;
        }
    } else {
        for (id, _) in &held {
            leases.forget(id);
        }
    }
    release(app, &held, "released the target's lease");
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
