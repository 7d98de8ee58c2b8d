//! The leases area: which replica of `zion up` drives each target, for how
//! long, and under which fencing epoch; and the replicas with their last
//! heartbeat.

use std::time::Duration;

use jiff::Timestamp;
use zion_core::target::TargetId;

use crate::StoreError;

/// Leases on targets, so that several replicas on one database drive each
/// target from exactly one of them at a time.
///
/// Every implementation keeps these:
/// - **The database's clock.** Every time here (grant, expiry, heartbeat)
///   is the database's `now()` (SQLite's own clock for SQLite), never a
///   replica's: replicas whose clocks disagree still agree on expiry.
/// - **One holder.** A lease is granted to a replica when it is free,
///   expired, or already that replica's; otherwise refused. The check and
///   the grant are one atomic statement: two replicas racing for a free
///   target cannot both get it.
/// - **Fencing epochs.** A target's epoch grows on every grant that is not
///   the holder renewing a live lease (a takeover, a grant after expiry or
///   after a release) and never goes back. A deployment change that
///   carries a [`Fence`] is written only if the fence's replica holds the
///   target's lease under that very epoch, checked inside the change's
///   transaction: a replica that lost its lease (a pause longer than the
///   lease) writes nothing, whatever it believes (`StoreError::Fenced`).
pub trait LeaseStore: Send + Sync {
    /// Grants (or renews) `replica` the lease of the target for `ttl` from
    /// the database's now. None when another replica holds a live lease.
    fn acquire_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// [`LeaseStore::acquire_lease`] for many targets in one statement (a
    /// replica takes a dead one's thousands of targets at once), under the
    /// same rules for each: granted when free, expired or already
    /// `replica`'s, under a new epoch unless it renews a live lease of its
    /// own. Returns the leases granted, in no particular order; a target
    /// another replica holds live is left out. A target named twice counts
    /// once.
    fn acquire_leases(
        &self,
        targets: &[TargetId],
        replica: &str,
        ttl: Duration,
    ) -> Result<Vec<Lease>, StoreError>;

    /// Extends the live lease `replica` holds under `epoch` to `ttl` from
    /// now; false (and nothing changed) when it expired, was released or
    /// was taken over.
    fn renew_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Ends the lease `replica` holds under `epoch` now, so that another
    /// replica may take the target at once (a clean stop); false when that
    /// replica held no live lease of the target under that epoch.
    fn release_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        epoch: u64,
    ) -> Result<bool, StoreError>;

    /// [`LeaseStore::release_lease`] for many leases in one statement (a
    /// replica that stops hands all its targets over at once): ends each
    /// live lease `replica` holds of the target under the epoch given.
    /// Returns how many were ended.
    fn release_leases(
        &self,
        replica: &str,
        leases: &[(TargetId, u64)],
    ) -> Result<usize, StoreError>;

    /// Extends every live lease `replica` holds to `ttl` from now, in one
    /// statement (a replica renews all its targets at once, however many);
    /// returns them as renewed. Expired leases are not revived.
    fn renew_leases(&self, replica: &str, ttl: Duration) -> Result<Vec<Lease>, StoreError>;

    /// Every lease, live or expired, by target.
    fn leases(&self) -> Result<Vec<Lease>, StoreError>;

    /// Records that `replica` is alive, at the database's now.
    fn heartbeat(&self, replica: &str) -> Result<(), StoreError>;

    /// Every replica that sent a heartbeat and has not retired, by id.
    fn replicas(&self) -> Result<Vec<ReplicaBeat>, StoreError>;

    /// Forgets `replica`'s heartbeat (a clean stop): the others stop
    /// counting it among the live replicas at once instead of after its
    /// heartbeat expires. Forgetting an unknown replica is not an error.
    fn retire_replica(&self, replica: &str) -> Result<(), StoreError>;

    /// [`crate::DeploymentStore::record_change`], fenced: written only if
    /// `fence.replica` holds the lease of the deployment's target under
    /// `fence.epoch`, checked in the change's own transaction (and held
    /// until it commits, so that no takeover lands in between); otherwise
    /// `StoreError::Fenced` and nothing of the change is written.
    fn record_fenced_change(
        &self,
        change: &crate::Change<'_>,
        fence: Fence<'_>,
    ) -> Result<(), StoreError>;
}

/// A target's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub service: String,
    pub environment: String,
    /// The replica it was last granted to.
    pub holder: String,
    /// The fencing epoch of that grant.
    pub epoch: u64,
    /// When the holder got it (this epoch began), by the database's clock.
    pub acquired_at: Timestamp,
    /// When it expires (or expired), by the database's clock.
    pub expires_at: Timestamp,
    /// The database's clock when this was read: the lease is live while
    /// `read_at < expires_at`.
    pub read_at: Timestamp,
}

impl Lease {
    /// Whether it was live when read.
    pub fn is_live(&self) -> bool {
        self.read_at < self.expires_at
    }
}

/// A replica and its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaBeat {
    pub id: String,
    /// By the database's clock.
    pub last_heartbeat: Timestamp,
    /// The database's clock when this was read.
    pub read_at: Timestamp,
}

impl ReplicaBeat {
    /// Whether its last heartbeat is younger than `within` when read.
    pub fn is_live(&self, within: Duration) -> bool {
        let age = self.read_at.duration_since(self.last_heartbeat);
        age.as_secs_f64() < within.as_secs_f64()
    }
}

/// What a deployment change carries to be fenced: the replica that writes
/// it and the epoch of its lease on the deployment's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a> {
    pub replica: &'a str,
    pub epoch: u64,
}

/// Microseconds since the Unix epoch, as the tables keep them.
pub(crate) fn from_micros(us: i64, what: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us)
        .map_err(|e| StoreError::Corrupt(format!("{what} {us} µs is not a time: {e}")))
}

/// A lease's duration in microseconds, refused when it does not fit.
pub(crate) fn ttl_micros(ttl: Duration) -> Result<i64, StoreError> {
    i64::try_from(ttl.as_micros())
        .map_err(|_| StoreError::Invalid(format!("a lease of {ttl:?} is too long")))
}

/// The statements of the area, written once for both backends: `{now}` is
/// the database's clock in microseconds since the Unix epoch, and `$N` a
/// numbered parameter (SQLite's `?N`). See [`LeaseStore`] for what they keep.
pub(crate) mod sql {
    /// Grants or renews: one statement, so that the check and the grant
    /// are atomic. The epoch stays only when the holder renews a live lease.
    pub const ACQUIRE: &str = "INSERT INTO leases \
         (service, environment, holder, epoch, acquired_us, expires_us) \
         VALUES ($1, $2, $3, 1, {now}, {now} + $4) \
         ON CONFLICT (service, environment) DO UPDATE SET \
         epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_us > {now} \
             THEN leases.epoch ELSE leases.epoch + 1 END, \
         acquired_us = CASE WHEN leases.holder = excluded.holder AND leases.expires_us > {now} \
             THEN leases.acquired_us ELSE excluded.acquired_us END, \
         holder = excluded.holder, \
         expires_us = excluded.expires_us \
         WHERE leases.holder = excluded.holder OR leases.expires_us <= {now} \
         RETURNING service, environment, holder, epoch, acquired_us, expires_us, {now} AS read_us";

    /// [`ACQUIRE`] for many targets at once, PostgreSQL only (SQLite,
    /// with one writer, runs [`ACQUIRE`] per target in one transaction):
    /// `$1` and `$2` the targets' services and environments as arrays. The
    /// rows to take over are locked first in the key's order, and only
    /// those that are free, expired or the replica's own, so that two
    /// replicas taking overlapping targets wait for each other rather than
    /// deadlock, and a live lease of another replica is neither locked nor
    /// changed (its holder's renewals never wait for a taker). The epoch
    /// rule is [`ACQUIRE`]'s; a target without a lease row is inserted,
    /// and one another replica inserts meanwhile is left to it.
    pub const ACQUIRE_MANY_POSTGRES: &str = "WITH wanted AS ( \
             SELECT DISTINCT w.service, w.environment \
             FROM unnest($1::text[], $2::text[]) AS w(service, environment)), \
         locked AS MATERIALIZED ( \
             SELECT l.service, l.environment FROM leases l \
             JOIN wanted w ON l.service = w.service AND l.environment = w.environment \
             WHERE l.holder = $3::text OR l.expires_us <= {now} \
             ORDER BY l.service, l.environment FOR UPDATE OF l), \
         taken AS ( \
             UPDATE leases SET \
             epoch = CASE WHEN leases.holder = $3::text AND leases.expires_us > {now} \
                 THEN leases.epoch ELSE leases.epoch + 1 END, \
             acquired_us = CASE WHEN leases.holder = $3::text AND leases.expires_us > {now} \
                 THEN leases.acquired_us ELSE {now} END, \
             holder = $3::text, \
             expires_us = {now} + $4::bigint \
             FROM locked \
             WHERE leases.service = locked.service AND leases.environment = locked.environment \
             AND (leases.holder = $3::text OR leases.expires_us <= {now}) \
             RETURNING leases.service, leases.environment, leases.holder, leases.epoch, \
                 leases.acquired_us, leases.expires_us), \
         added AS ( \
             INSERT INTO leases (service, environment, holder, epoch, acquired_us, expires_us) \
             SELECT w.service, w.environment, $3::text, 1, {now}, {now} + $4::bigint \
             FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM leases l \
                 WHERE l.service = w.service AND l.environment = w.environment) \
             ORDER BY w.service, w.environment \
             ON CONFLICT (service, environment) DO NOTHING \
             RETURNING service, environment, holder, epoch, acquired_us, expires_us) \
         SELECT service, environment, holder, epoch, acquired_us, expires_us, {now} AS read_us \
             FROM taken \
         UNION ALL \
         SELECT service, environment, holder, epoch, acquired_us, expires_us, {now} AS read_us \
             FROM added";

    /// [`RELEASE`] for many leases at once, PostgreSQL only (SQLite runs
    /// [`RELEASE`] per lease in one transaction): `$2`, `$3` and `$4` the
    /// services, environments and epochs as arrays.
    pub const RELEASE_MANY_POSTGRES: &str = "UPDATE leases SET expires_us = {now} \
         FROM unnest($2::text[], $3::text[], $4::bigint[]) AS r(service, environment, epoch) \
         WHERE leases.service = r.service AND leases.environment = r.environment \
         AND leases.holder = $1::text AND leases.epoch = r.epoch AND leases.expires_us > {now}";

    pub const RENEW: &str = "UPDATE leases SET expires_us = {now} + $5 \
         WHERE service = $1 AND environment = $2 AND holder = $3 AND epoch = $4 \
         AND expires_us > {now}";

    pub const RELEASE: &str = "UPDATE leases SET expires_us = {now} \
         WHERE service = $1 AND environment = $2 AND holder = $3 AND epoch = $4 \
         AND expires_us > {now}";

    pub const RENEW_ALL: &str = "UPDATE leases SET expires_us = {now} + $2 \
         WHERE holder = $1 AND expires_us > {now} \
         RETURNING service, environment, holder, epoch, acquired_us, expires_us, {now} AS read_us";

    pub const LIST: &str = "SELECT service, environment, holder, epoch, acquired_us, expires_us, \
         {now} AS read_us FROM leases ORDER BY service, environment";

    pub const HEARTBEAT: &str = "INSERT INTO replicas (id, heartbeat_us) VALUES ($1, {now}) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_us = excluded.heartbeat_us";

    pub const REPLICAS: &str =
        "SELECT id, heartbeat_us, {now} AS read_us FROM replicas ORDER BY id";

    pub const RETIRE: &str = "DELETE FROM replicas WHERE id = $1";

    /// The target's lease, read inside a fenced change's transaction.
    pub const FENCE: &str = "SELECT holder, epoch FROM leases \
         WHERE service = $1 AND environment = $2";

    /// `template` for PostgreSQL.
    pub fn postgres(template: &str) -> String {
        template.replace("{now}", "(EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT")
    }

    /// `template` for SQLite: its clock (stable within one statement) and
    /// `?N` parameters.
    pub fn sqlite(template: &str) -> String {
        template
            .replace("{now}", "CAST(unixepoch('subsec') * 1000000 AS INTEGER)")
            .replace('$', "?")
    }
}

/// Refuses a fenced change whose fence is not the target's lease now.
pub(crate) fn check_fence(
    service: &str,
    environment: &str,
    fence: &Fence<'_>,
    current: Option<(String, i64)>,
) -> Result<(), StoreError> {
    match current {
        Some((holder, epoch)) if holder == fence.replica && epoch as u64 == fence.epoch => Ok(()),
        current => Err(StoreError::Fenced {
            service: service.to_owned(),
            environment: environment.to_owned(),
            replica: fence.replica.to_owned(),
            epoch: fence.epoch,
            current: current
                .map(|(holder, epoch)| format!("{holder}'s under epoch {epoch}"))
                .unwrap_or_else(|| "no one's".to_owned()),
        }),
    }
}
