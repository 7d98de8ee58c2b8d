//! The journal: the only way the server writes. Every change is written
//! with its audit entries in one transaction, so that no change is stored
//! without its entry (or an entry without its change), and decisions are
//! serialised by the one write lock: facts are gathered and decisions made
//! before, and a deployment is read again under the lock (its revision
//! refuses a lost update in the store as well).
//!
//! Group commit: a deployment change or a bare record, once decided, is
//! queued and the lock released; whoever then holds the committer's lock
//! commits every queued write in one transaction with one checkpoint (the
//! writes that arrived while the previous group was committing), and each
//! caller is answered only after that commit, with its own result: a write
//! the store refuses (a stale revision, a fence, invalid data) is undone in
//! its own savepoint, and the others are written. A deployment or target
//! with a queued write is read again only once it is committed, so
//! decisions never see a stale state. The other writes (a creation, a
//! spec, a token, an import) commit the queue first and are written alone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use tokio::sync::oneshot;
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event};
use zion_core::incident::{self, TargetIncidents, incident_effects, transition_record};
use zion_core::rollout::Outcome;
use zion_store::{
    AuditAppend, Change, Fence, GroupWrite, IncidentChange, NewIncident, Store, StoreError,
};

use crate::Clock;
use crate::audit::{AuditError, AuditLog, Record};
use crate::error::ApiError;
use crate::telemetry::CheckCounts;

/// The code of a change refused because the writer's lease on the target
/// is no longer the target's (see [`Journal::change`]).
pub(crate) const FENCED: &str = "fenced";

pub struct Journal {
    store: Arc<dyn Store>,
    /// The transparency log every change is recorded in.
    pub audit: AuditLog,
    clock: Clock,
    /// Serialises every decision: the API's, the controller's, the imports'.
    lock: tokio::sync::Mutex<()>,
    /// Writes decided and waiting for their group's commit.
    queue: Mutex<Queue>,
    /// Held by whoever commits the queue (or writes alone).
    committer: tokio::sync::Mutex<()>,
    /// The verdicts of the analysis checks committed through
    /// [`Journal::change`], for `GET /metrics`.
    pub(crate) checks: crate::telemetry::CheckCounts,
}

/// What each caller of a group is answered.
type Answer = Result<(), Refusal>;

/// Why a queued write was not written.
enum Refusal {
    /// The store refused this write alone.
    Own(StoreError),
    /// The whole group failed.
    Group(Arc<AuditError>),
}

/// The longest a committer waits for more writes to join its group.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Default)]
struct Queue {
    waiting: Vec<Queued>,
    /// Deployments and targets with a write queued or being committed.
    deployments: HashSet<i64>,
    targets: HashSet<(String, String)>,
    /// The next incident id past those that queued writes open.
    next_incident: Option<i64>,
}

/// A decided write, owned until its group commits.
struct Queued {
    write: QueuedWrite,
    records: Vec<Record>,
    now: Timestamp,
    answer: oneshot::Sender<Answer>,
}

enum QueuedWrite {
    Entries,
    Change {
        /// Boxed: a deployment is large, and most queued writes are changes.
        deployment: Box<Deployment>,
        events: Vec<Event>,
        rounds: Vec<AnalysisRound>,
        incidents: Vec<IncidentChange>,
        fence: Option<(String, u64)>,
    },
}

impl Queued {
    fn group_write(&self) -> GroupWrite<'_> {
        match &self.write {
            QueuedWrite::Entries => GroupWrite::Entries,
            QueuedWrite::Change {
                deployment,
                events,
                rounds,
                incidents,
                fence,
            } => GroupWrite::Change {
                change: Change {
                    deployment,
                    events,
                    rounds,
                    incidents,
                    audit: None,
                },
                fence: fence.as_ref().map(|(replica, epoch)| Fence {
                    replica,
                    epoch: *epoch,
                }),
            },
        }
    }
}

impl Journal {
    /// The journal of `store`, recording in `audit`.
    pub fn new(store: Arc<dyn Store>, audit: AuditLog, clock: Clock) -> Self {
        Journal {
            store,
            audit,
            clock,
            lock: tokio::sync::Mutex::new(()),
            queue: Mutex::new(Queue::default()),
            committer: tokio::sync::Mutex::new(()),
            checks: Default::default(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a decided write; its answer comes once its group commits.
    fn enqueue(
        &self,
        write: QueuedWrite,
        records: Vec<Record>,
        now: Timestamp,
    ) -> oneshot::Receiver<Answer> {
        let (answer, rx) = oneshot::channel();
        let mut q = self.queue();
        if let QueuedWrite::Change {
            deployment,
            incidents,
            ..
        } = &write
        {
            q.deployments.insert(deployment.id);
            q.targets
                .insert((deployment.service.clone(), deployment.environment.clone()));
            for c in incidents {
                if let IncidentChange::OpenAs { id, .. } = c {
                    q.next_incident = Some(q.next_incident.unwrap_or(0).max(id + 1));
                }
            }
        }
        q.waiting.push(Queued {
            write,
            records,
            now,
            answer,
        });
        rx
    }

    /// Waits for the answer of a queued write, committing the queue when
    /// no one else is.
    async fn committed(&self, mut rx: oneshot::Receiver<Answer>) -> Answer {
        loop {
            match rx.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(Refusal::Group(Arc::new(AuditError::Inconsistent(
                        "the group commit of this write was abandoned".into(),
                    ))));
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let _c = self.committer.lock().await;
            if let Ok(answer) = rx.try_recv() {
                return answer;
            }
            self.gather().await;
            self.commit_queue();
        }
    }

    /// Lets the writers that are about to queue join the group: those the
    /// previous group's answers just woke decide again within microseconds,
    /// and committing before they queue would make a group of one or two.
    /// Waits while the queue still grows, never more than [`GATHER`].
    async fn gather(&self) {
        let deadline = std::time::Instant::now() + GATHER;
        let mut seen = self.queue().waiting.len();
        let mut still = 0;
        while still < 3 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
            let n = self.queue().waiting.len();
            if n == seen {
                still += 1;
            } else {
                (seen, still) = (n, 0);
            }
        }
    }

    /// Commits every queued write (the caller holds the committer's lock).
    fn commit_queue(&self) {
        let group = std::mem::take(&mut self.queue().waiting);
        if group.is_empty() {
            return;
        }
        let writes: Vec<GroupWrite<'_>> = group.iter().map(Queued::group_write).collect();
        let records: Vec<(Timestamp, &[Record])> = group
            .iter()
            .map(|q| (q.now, q.records.as_slice()))
            .collect();
        let store = self.store.as_ref();
        let results = self
            .audit
            .append_group(&records, |audit| store.commit_group(&writes, audit));
        drop(writes);
        tracing::debug!(writes = group.len(), "group committed");
        let mut q = self.queue();
        for g in &group {
            if let QueuedWrite::Change { deployment, .. } = &g.write {
                q.deployments.remove(&deployment.id);
                q.targets
                    .remove(&(deployment.service.clone(), deployment.environment.clone()));
            }
        }
        if q.deployments.is_empty() {
            q.next_incident = None;
        }
        drop(q);
        match results {
            Ok(results) => {
                for (g, r) in group.into_iter().zip(results) {
                    let _ = g.answer.send(r.map_err(Refusal::Own));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for g in group {
                    let _ = g.answer.send(Err(Refusal::Group(e.clone())));
                }
            }
        }
    }

    /// Commits the queue before a write that is not queued, which then
    /// holds the returned lock while it writes.
    async fn alone(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let c = self.committer.lock().await;
        self.commit_queue();
        c
    }

    /// Whether `d` or its target has a write not yet committed.
    fn in_flight(&self, d: &Deployment) -> bool {
        let q = self.queue();
        q.deployments.contains(&d.id)
            || q.targets
                .contains(&(d.service.clone(), d.environment.clone()))
    }

    /// Commits `records` with the change `write` makes in the store, given
    /// the [`AuditAppend`] to store in the same transaction (None with no
    /// records). The log advances only when `write` succeeds.
    pub(crate) async fn commit_with<T, E>(
        &self,
        records: &[Record],
        now: Timestamp,
        write: impl FnOnce(&dyn Store, Option<&AuditAppend>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let _w = self.lock.lock().await;
        let _c = self.alone().await;
        self.audit
            .append_with(self.store.as_ref(), records, now, |audit| {
                write(self.store.as_ref(), audit)
            })
    }

    /// [`Self::commit_with`] for a caller off the async runtime (a long
    /// import on a blocking thread); it must not be called on the runtime.
    pub(crate) fn commit_blocking<T, E>(
        &self,
        records: &[Record],
        now: Timestamp,
        write: impl FnOnce(&dyn Store, Option<&AuditAppend>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let _w = self.lock.blocking_lock();
        let _c = self.committer.blocking_lock();
        self.commit_queue();
        self.audit
            .append_with(self.store.as_ref(), records, now, |audit| {
                write(self.store.as_ref(), audit)
            })
    }

    /// Commits audit entries that change nothing else (refusals), in the
    /// next group.
    pub async fn record(&self, records: &[Record], now: Timestamp) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let rx = self.enqueue(QueuedWrite::Entries, records.to_vec(), now);
        match self.committed(rx).await {
            Ok(()) => Ok(()),
            Err(Refusal::Own(e)) => Err(e.into()),
            Err(Refusal::Group(e)) => Err(AuditError::Group(e)),
        }
    }

    /// Creates a deployment, its first event and its creation entry, once
    /// `check` (run under the lock) accepts the target's state as read now.
    pub(crate) async fn create(
        &self,
        d: &Deployment,
        first: &Event,
        production: bool,
        check: impl FnOnce(&dyn Store) -> Result<(), ApiError>,
    ) -> Result<Deployment, ApiError> {
        let _w = self.lock.lock().await;
        let _c = self.alone().await;
        check(self.store.as_ref())?;
        let now = self.clock.now();
        // The entry names the id the store assigns, so the store builds it
        // inside the transaction that creates the deployment.
        self.audit.append_deferred(
            self.store.as_ref(),
            now,
            |stored: &Deployment| vec![creation_record(stored, first, production)],
            |audit| match self.store.create_deployment(d, first, Some(audit)) {
                Ok(d) => Ok(d),
                Err(StoreError::TargetBusy { id, .. }) => {
                    let phase = self
                        .store
                        .deployment(id)?
                        .map(|d| d.phase.name())
                        .unwrap_or("active");
                    Err(ApiError::conflict(format!(
                        "{}/{} already has deployment {id} ({phase}); one deployment at a time per target: wait for it (`zion get {id}`) or abort it (`zion abort {id}`)",
                        d.service, d.environment
                    )))
                }
                Err(e) => Err(e.into()),
            },
        )
    }

    /// Reads deployment `id` again under the lock, lets `decide` make its
    /// outcome (and extra entries) of it, and commits that. `decide`
    /// returning None commits nothing and returns the deployment as read.
    /// With a `fence` (the controller's, which drives the target under a
    /// lease), the store writes the change only if that lease is still
    /// the target's; otherwise the error's code is `fenced` and nothing is
    /// written.
    pub(crate) async fn change(
        &self,
        id: i64,
        production: bool,
        fence: Option<Fence<'_>>,
        decide: impl FnOnce(&Deployment) -> Result<Option<(Outcome, Vec<Record>)>, ApiError>,
    ) -> Result<Deployment, ApiError> {
        let (w, d) = loop {
            let w = self.lock.lock().await;
            let d = self.store.deployment(id)?.ok_or_else(|| {
                ApiError::not_found(format!(
                    "no deployment {id}; `zion history` lists deployments"
                ))
            })?;
            if !self.in_flight(&d) {
                break (w, d);
            }
            // Its last write (or its target's) is not committed yet: read
            // it again once it is.
            drop(w);
            drop(self.alone().await);
        };
        let (queued, checks) = match decide(&d)? {
            Some((out, extra)) => {
                let checks = CheckCounts::tally(&d.service, &d.environment, &out.rounds);
                (self.write(out, extra, production, fence)?, checks)
            }
            None => return Ok(d),
        };
        drop(w);
        let (deployment, rx) = queued;
        if let Some(rx) = rx {
            match self.committed(rx).await {
                Ok(()) => {}
                Err(Refusal::Own(StoreError::Conflict { id })) => {
                    return Err(ApiError::conflict(format!(
                        "deployment {id} changed at the same time; try again"
                    )));
                }
                Err(Refusal::Own(e @ StoreError::Fenced { .. })) => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        FENCED,
                        e.to_string(),
                    ));
                }
                Err(Refusal::Own(e)) => return Err(e.into()),
                Err(Refusal::Group(e)) => return Err(AuditError::Group(e).into()),
            }
            // Counted once written: a refused round was never judged.
            self.checks.add(&checks);
        }
        Ok(deployment)
    }

    /// Records an outcome and its audit entries (one per event, one per
    /// incident it opens or resolves, plus `extra`) in one transaction.
    /// Which incidents those are is the core's decision
    /// (`zion_core::incident`); the journal reads what it is made on (the
    /// target's open incidents and the next incident id, under the lock, so
    /// they are the ones the store changes, past those queued writes open)
    /// and queues it, fenced when `fence` is given; the answer comes once
    /// its group commits (None: nothing to write). The caller holds the
    /// lock.
    fn write(
        &self,
        out: Outcome,
        extra: Vec<Record>,
        production: bool,
        fence: Option<Fence<'_>>,
    ) -> Result<(Deployment, Option<oneshot::Receiver<Answer>>), ApiError> {
        if out.changed() || !extra.is_empty() {
            let d = &out.deployment;
            let open: Vec<i64> = self
                .store
                .incidents(&zion_store::IncidentFilter {
                    service: Some(d.service.clone()),
                    environment: Some(d.environment.clone()),
                    open_only: true,
                })?
                .into_iter()
                .map(|i| i.id)
                .collect();
            let next_id = self.store.next_incident_id()?;
            let facts = TargetIncidents {
                production,
                open: &open,
                next_id: self
                    .queue()
                    .next_incident
                    .map_or(next_id, |q| q.max(next_id)),
            };
            let effects = incident_effects(d, &out.events, facts);
            let mut records = extra;
            records.extend(out.events.iter().map(|e| transition_record(d, e)));
            records.extend(effects.audit);
            let incidents: Vec<IncidentChange> = effects.changes.into_iter().map(stored).collect();
            let now = self.clock.now();
            let rx = self.enqueue(
                QueuedWrite::Change {
                    deployment: Box::new(out.deployment.clone()),
                    events: out.events,
                    rounds: out.rounds,
                    incidents,
                    fence: fence.map(|f| (f.replica.to_owned(), f.epoch)),
                },
                records,
                now,
            );
            return Ok((out.deployment, Some(rx)));
        }
        Ok((out.deployment, None))
    }
}

/// The store's form of an incident change the core decided.
fn stored(c: incident::IncidentChange) -> IncidentChange {
    match c {
        incident::IncidentChange::Open {
            id,
            service,
            environment,
            deployment_id,
            opened_at,
            opened_by,
            reason,
        } => IncidentChange::OpenAs {
            id,
            incident: NewIncident {
                service,
                environment,
                deployment_id: Some(deployment_id),
                opened_at,
                opened_by,
                reason,
            },
        },
        incident::IncidentChange::ResolveTarget {
            service,
            environment,
            at,
            by,
            resolution,
        } => IncidentChange::ResolveTarget {
            service,
            environment,
            at,
            by,
            resolution,
        },
    }
}

/// The audit entry of a deployment's creation: the request, its gate and
/// its evidence, under the id the store assigned.
fn creation_record(d: &Deployment, first: &Event, production: bool) -> Record {
    Record::new(
        first.actor.clone(),
        zion_core::audit::AuditAction::DeploymentCreate,
        format!("deployment/{}", d.id),
        serde_json::json!({
            "production": production,
            "plan": d.strategy(),
            "approvals_required": d.gate.approvals_required,
            "service": d.service,
            "environment": d.environment,
            "version": d.version,
            "previous_version": d.previous_version,
            "strategy": d.strategy(),
            "type": d.kind,
            "reason": first.reason,
            "break_glass": d.gate.break_glass,
            "pre_checks": d.gate.check_results,
            "artifact_sha256": d.gate.artifact_sha256,
            "evidence": d.evidence,
            "commit": d.commit,
            "committed_at": d.committed_at,
        }),
    )
}

#[cfg(test)]
mod tests {
    use zion_core::audit::AuditAction;
    use zion_core::deployment::Phase;
    use zion_core::rollout::{Command, command};
    use zion_store::PostgresStore;
    use zion_store::contract::fixtures::{deployment, event};
    use zion_store::test_cluster::TestCluster;

    use super::*;

    fn record(writer: usize, i: usize) -> Record {
        Record::new(
            format!("writer-{writer}"),
            AuditAction::SpecApply,
            format!("thing/{writer}/{i}"),
            serde_json::json!({ "i": i }),
        )
    }

    /// Two journals (two replicas) on one PostgreSQL database, each with
    /// its own frontier in memory, appending at once: one totally ordered
    /// log that verifies, with every entry once; commands on the same
    /// deployment from both are serialised, none lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_replicas_append_one_log_that_verifies() {
        let url = TestCluster::shared().new_database();
        let dir = tempfile::tempdir().unwrap();
        let first: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).unwrap());
        let a = AuditLog::open(first.as_ref(), dir.path(), Some("zion/test")).unwrap();
        a.append(first.as_ref(), &[record(99, 0)], Timestamp::now())
            .unwrap();
        let second: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).unwrap());
        // The second replica's data dir holds a copy of the first's key.
        let b = AuditLog::open(second.as_ref(), dir.path(), Some("zion/test")).unwrap();
        let mut d = deployment("web", "prod", "2.0", 0);
        d.phase = Phase::Progressing;
        let d = first
            .create_deployment(
                &d,
                &event(Phase::Pending, Phase::Progressing, 0, "go"),
                None,
            )
            .unwrap();
        let journals = [
            Arc::new(Journal::new(first.clone(), a, Clock::system())),
            Arc::new(Journal::new(second.clone(), b, Clock::system())),
        ];
        let (writers, each) = (16, 20);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let j = journals[w % 2].clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..each {
                    j.record(&[record(w, i)], Timestamp::now()).await.unwrap();
                }
            }));
        }
        // Pause and resume, from both replicas at once: each command reads
        // the deployment as the other left it (a stale read is a conflict,
        // retried as a client would).
        let mut commands = Vec::new();
        for (r, j) in journals.iter().enumerate() {
            let j = j.clone();
            commands.push(tokio::spawn(async move {
                let mut done = 0;
                while done < 10 {
                    let res = j
                        .change(d.id, false, None, |d| {
                            let cmd = if d.phase == Phase::Paused {
                                Command::Resume
                            } else {
                                Command::Pause
                            };
                            let out = command(d, cmd, &format!("replica-{r}"), Timestamp::now())
                                .map_err(|e| ApiError::conflict(e.to_string()))?;
                            Ok(Some((out, Vec::new())))
                        })
                        .await;
                    match res {
                        Ok(_) => done += 1,
                        Err(e) if e.status == axum::http::StatusCode::CONFLICT => {}
                        Err(e) => panic!("{}", e.message),
                    }
                }
            }));
        }
        for t in tasks.into_iter().chain(commands) {
            t.await.unwrap();
        }
        // 1 + 320 records + 20 commands of one entry each.
        let store = first.as_ref();
        assert_eq!(
            store.audit_size().unwrap(),
            1 + writers as u64 * each as u64 + 20
        );
        assert_eq!(store.deployment(d.id).unwrap().unwrap().revision, 1 + 20);
        let notes: Vec<String> = store
            .audit_checkpoints()
            .unwrap()
            .into_iter()
            .map(|c| c.note)
            .collect();
        let mut v = zion_audit::LogVerifier::new(&journals[0].audit.verifier(), &notes).unwrap();
        let mut subjects = std::collections::HashSet::new();
        store
            .scan_audit(0, &mut |e, leaf| {
                v.push(e.index, &e.entry, leaf.as_ref()).unwrap();
                let entry = zion_audit::Entry::from_json(&e.entry).unwrap();
                if entry.subject.starts_with("thing/") {
                    assert!(subjects.insert(entry.subject), "an entry twice");
                }
                true
            })
            .unwrap();
        v.finish().unwrap();
        assert_eq!(subjects.len(), 1 + writers * each);
        for j in &journals {
            assert!(j.audit.broken().is_none());
        }
    }
}
