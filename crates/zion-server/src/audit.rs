//! The control plane's side of the transparency log: the signing key, the
//! tree's frontier, and the one path by which entries are appended — built
//! here (canonical JSON, leaf hashes, new nodes, a checkpoint checked for
//! consistency with the last one, then signed) and written by the store in
//! the transaction of the change they describe. The frontier advances only
//! once that transaction has committed.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use zion_audit::{
    Checkpoint, Entry, Frontier, Hash, NodeReader, NoteError, Signer, VerifiedPrefix, Verifier,
    consistency_proof, frontier_ids, root_at, verify_consistency,
};
use zion_core::notify::{self, Occurrence};
use zion_core::spec::NotificationsSpec;
use zion_store::{
    AuditAppend, AuditBuilder, AuditCheckpoint, AuditNode, AuditRow, AuditTail, GroupAudit,
    NewOutboxRow, Store, StoreError,
};

use crate::StartError;

/// The key file in the data dir: one line, the private key in the signed
/// note format, mode 0600.
pub const KEY_FILE: &str = "audit.key";

/// What one entry says (decided in the core); `seq` and `time` are given
/// when it is appended.
pub use zion_core::audit::Record;

/// Why an append was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored tree disagrees with what was signed before: Zion refuses
    /// to sign anything that would not be consistent with it.
    #[error(
        "the audit log is inconsistent ({0}); nothing more is signed until `zion audit verify` is clean"
    )]
    Inconsistent(String),
    /// A group commit failed as a whole: every writer of the group gets
    /// the same error.
    #[error(transparent)]
    Group(Arc<AuditError>),
}

/// The nodes a consistency proof from the signed size to a grown one
/// reads: the stored frontier of the signed size (read before the store's
/// transaction, so that building inside it never calls the store back) and
/// the nodes the append completes, nothing else.
struct Overlay<'a> {
    stored: &'a [AuditNode],
    pending: &'a [AuditNode],
}

impl NodeReader for Overlay<'_> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        self.pending
            .iter()
            .chain(self.stored)
            .find(|n| n.level == level && n.index == index)
            .map(|n| n.hash)
            .ok_or_else(|| format!("tree node ({level}, {index}) is missing"))
    }
}

/// The store as a [`NodeReader`].
pub struct StoreNodes<'a>(pub &'a dyn Store);

impl NodeReader for StoreNodes<'_> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        self.0
            .audit_nodes(&[(level, index)])
            .map_err(|e| e.to_string())?
            .pop()
            .flatten()
            .ok_or_else(|| format!("tree node ({level}, {index}) is missing"))
    }

    fn nodes(&self, ids: &[zion_audit::NodeId]) -> Result<Vec<Hash>, String> {
        let asked: Vec<(u8, u64)> = ids.iter().map(|id| (id.level, id.index)).collect();
        let found = self.0.audit_nodes(&asked).map_err(|e| e.to_string())?;
        every_node(found, &asked)
    }
}

/// The nodes read for `asked`, in order, or which one is missing.
fn every_node(found: Vec<Option<Hash>>, asked: &[(u8, u64)]) -> Result<Vec<Hash>, String> {
    found
        .into_iter()
        .zip(asked)
        .map(|(h, (level, index))| {
            h.ok_or_else(|| format!("tree node ({level}, {index}) is missing"))
        })
        .collect()
}

/// The log under a group's lock as a [`NodeReader`].
struct TailNodes<'a>(&'a dyn AuditTail);

impl NodeReader for TailNodes<'_> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        self.nodes(&[zion_audit::NodeId { level, index }])
            .map(|mut h| h.remove(0))
    }

    fn nodes(&self, ids: &[zion_audit::NodeId]) -> Result<Vec<Hash>, String> {
        let asked: Vec<(u8, u64)> = ids.iter().map(|id| (id.level, id.index)).collect();
        let found = self.0.nodes(&asked).map_err(|e| e.to_string())?;
        every_node(found, &asked)
    }
}

/// What [`AuditLog::catch_up`] reads of the stored log.
struct Stored<'a, R> {
    size: u64,
    nodes: &'a R,
    latest: Option<AuditCheckpoint>,
}

struct State {
    frontier: Frontier,
    /// The latest signed checkpoint's size and root; once the log is open,
    /// the frontier's own (an older checkpoint is proved consistent with
    /// the stored tree when the log is opened).
    signed: Option<(u64, Hash)>,
    /// Set when the stored log disagrees with its last checkpoint.
    broken: Option<String>,
}

/// The log: its key, its origin and its frontier. Appends are serialised.
pub struct AuditLog {
    signer: Signer,
    origin: String,
    state: Mutex<State>,
    /// The prefix the last successful verification established, and when
    /// the log was last verified from entry 0 (see [`Self::verified`]).
    verified: Mutex<Verified>,
    /// The spec's `notifications:` in force: the messages each appended
    /// entry implies are written to the outbox with it.
    notifications: std::sync::RwLock<Arc<NotificationsSpec>>,
}

/// What verifications established so far.
#[derive(Default)]
struct Verified {
    /// Bumped by every verification that ends: a run records its success
    /// only if none ended since it started, so a slow run can never undo
    /// a failure found meanwhile.
    generation: u64,
    last: Option<(VerifiedPrefix, Timestamp)>,
}

impl AuditLog {
    /// Loads (or creates, mode 0600) `<data_dir>/audit.key` and the tree's
    /// frontier, and checks the stored tree against the last checkpoint.
    ///
    /// The replicas of `zion up` on one database sign one log with one key:
    /// a key that
    /// did not sign the stored log's latest checkpoint, or none while the
    /// log has entries, is refused, naming the fix (copy the key from a
    /// replica's data dir).
    ///
    /// The log's origin is its key's name, for life: `origin` (the spec's
    /// `audit.origin`) names a new log's key, and must match an existing
    /// one; without it a new key is named `zion/<hostname>`, and an existing
    /// key keeps its name when the hostname changes. An existing key with
    /// an empty log is refused: its database was replaced or emptied.
    pub fn open(
        store: &dyn Store,
        data_dir: &Path,
        origin: Option<&str>,
    ) -> Result<AuditLog, StartError> {
        let size = store.audit_size()?;
        let database = zion_store::Database::location(store);
        let signer = load_or_create_key(data_dir, &database, origin, size)?;
        let origin = signer.name().to_string();
        let reader = StoreNodes(store);
        let mut broken = None;
        let frontier = match Frontier::load(&reader, size) {
            Ok(f) => f,
            Err(e) => {
                broken = Some(format!("cannot load the tree of {size} entries: {e}"));
                Frontier::new()
            }
        };
        let latest = store.audit_checkpoints()?.pop();
        let mut signed = None;
        if let Some(c) = latest {
            match signer.verifier().verify(&c.note) {
                Ok(cp) => {
                    match root_at(&reader, cp.size()) {
                        Ok(root) if root == *cp.root() => {}
                        Ok(_) => {
                            broken.get_or_insert(format!(
                                "the tree's root at {} entries differs from its signed checkpoint",
                                cp.size()
                            ));
                        }
                        Err(e) => {
                            broken.get_or_insert(format!(
                                "cannot compute the root at {} entries: {e}",
                                cp.size()
                            ));
                        }
                    }
                    signed = Some((cp.size(), *cp.root()));
                }
                Err(NoteError::NotSigned { .. }) => {
                    return Err(StartError::Audit {
                        message: another_key_message(&data_dir.join(KEY_FILE), size),
                    });
                }
                Err(e) => {
                    broken.get_or_insert(format!(
                        "the latest checkpoint does not verify with {KEY_FILE}: {e}"
                    ));
                }
            }
        }
        // Every append writes its checkpoint in its own transaction, so
        // entries past the last checkpoint were not written by Zion: never
        // sign over them.
        let covered = signed.map_or(0, |(size, _)| size);
        if broken.is_none() && covered < frontier.size() {
            broken = Some(format!(
                "entries {covered} to {} are covered by no signed checkpoint: they were added outside Zion, or their checkpoint was removed",
                frontier.size() - 1
            ));
        }
        if let Some(why) = &broken {
            tracing::error!(%why, "audit log inconsistent: appends are refused until it is repaired");
        }
        Ok(AuditLog {
            signer,
            origin,
            verified: Mutex::new(Verified::default()),
            notifications: Default::default(),
            state: Mutex::new(State {
                frontier,
                signed,
                broken,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of what verifications established, the prefix the
    /// last successful one verified, and when the log was last verified in
    /// full; no prefix after a failure or a restart.
    pub fn verified(&self) -> (u64, Option<(VerifiedPrefix, Timestamp)>) {
        let v = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        (v.generation, v.last.clone())
    }

    /// Records a successful verification that started at `generation`,
    /// unless another one ended meanwhile (its result stands).
    pub fn verification_succeeded(
        &self,
        generation: u64,
        last: Option<(VerifiedPrefix, Timestamp)>,
    ) {
        let mut v = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if v.generation == generation {
            v.last = last;
        }
        v.generation += 1;
    }

    /// Forgets every verified prefix: the next verification reads the
    /// whole log.
    pub fn verification_failed(&self) {
        let mut v = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        v.last = None;
        v.generation += 1;
    }

    /// Why appends are refused, when the stored log disagrees with what
    /// was signed.
    pub fn broken(&self) -> Option<String> {
        self.state().broken.clone()
    }

    /// Puts the spec's `notifications:` in force for the entries appended
    /// from now on.
    pub fn set_notifications(&self, spec: &NotificationsSpec) {
        *self
            .notifications
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(spec.clone());
    }

    /// The outbox rows saying the log failed its verification at `index`
    /// (when an entry was found bad) for `reason`, under the
    /// notifications in force (decided by `zion_core::notify`).
    pub fn verification_failed_rows(
        &self,
        time: Timestamp,
        index: Option<u64>,
        reason: &str,
    ) -> Vec<NewOutboxRow> {
        let spec = self
            .notifications
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        notify::verification_failed(&spec, time, index, reason)
            .into_iter()
            .map(|m| NewOutboxRow {
                receiver: m.receiver,
                channel: m.channel.to_owned(),
                event: m.event.as_str().to_owned(),
                subject: notify::AUDIT_SUBJECT.to_owned(),
                audit_index: index.unwrap_or(0),
                body: m.body.to_string(),
                created_at: time,
            })
            .collect()
    }

    /// Whether a subscription asks for `event`: what the scheduled
    /// verification of the log waits on.
    pub fn subscribed(&self, event: notify::NotifyEvent) -> bool {
        self.notifications
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .subscriptions
            .iter()
            .any(|s| s.events.contains(&event))
    }

    /// The outbox rows `entries` imply under the notifications in force
    /// (decided by `zion_core::notify`).
    fn outbox_of(&self, entries: &[Entry], records: &[(Timestamp, &Record)]) -> Vec<NewOutboxRow> {
        let spec = self
            .notifications
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if spec.subscriptions.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (e, (at, r)) in entries.iter().zip(records) {
            let occurrence = Occurrence {
                index: e.seq,
                time: *at,
                actor: &r.actor,
                action: Some(r.action),
                subject: &r.subject,
                details: &r.details,
            };
            out.extend(
                notify::messages(&spec, &occurrence)
                    .into_iter()
                    .map(|m| NewOutboxRow {
                        receiver: m.receiver,
                        channel: m.channel.to_owned(),
                        event: m.event.as_str().to_owned(),
                        subject: r.subject.clone(),
                        audit_index: e.seq,
                        body: m.body.to_string(),
                        created_at: *at,
                    }),
            );
        }
        out
    }

    /// The verifier key (`<name>+<hint>+<key>`).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The verifier of this log's checkpoints.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends `records` through `write`, which must store the given
    /// [`AuditAppend`] in the same transaction as the change it describes
    /// (or store nothing and fail). With no records, `write` gets None.
    /// The log advances only when `write` succeeds.
    pub fn append_with<T, E>(
        &self,
        store: &dyn Store,
        records: &[Record],
        now: Timestamp,
        write: impl FnOnce(Option<&AuditAppend>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        off_the_runtime(|| {
            if records.is_empty() {
                return write(None);
            }
            let mut st = self.state();
            self.catch_up_with_store(&mut st, store)?;
            let stored = self.prepare(&st, store)?;
            let (append, frontier) = self.build(&st, &stored, records, now)?;
            let out = write(Some(&append))?;
            st.signed = Some((frontier.size(), frontier.root()));
            st.frontier = frontier;
            Ok(out)
        })
    }

    /// Appends the records that `records` makes of what the store assigns
    /// inside its transaction (a new deployment's id): `write` hands the
    /// builder to the store, which calls it there and writes its
    /// [`AuditAppend`] with the change. The log advances only when `write`
    /// succeeds; a failed build fails `write` with the build's own error.
    ///
    /// Lock order: the log's lock, then the store's (never the reverse: the
    /// builder reads nothing from the store).
    pub fn append_deferred<I, T, E>(
        &self,
        store: &dyn Store,
        now: Timestamp,
        mut records: impl FnMut(&I) -> Vec<Record>,
        write: impl FnOnce(&mut AuditBuilder<'_, I>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        off_the_runtime(|| self.append_deferred_here(store, now, &mut records, write))
    }

    fn append_deferred_here<I, T, E>(
        &self,
        store: &dyn Store,
        now: Timestamp,
        records: &mut impl FnMut(&I) -> Vec<Record>,
        write: impl FnOnce(&mut AuditBuilder<'_, I>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let mut st = self.state();
        self.catch_up_with_store(&mut st, store)?;
        let stored = self.prepare(&st, store)?;
        let mut grown: Option<Frontier> = None;
        let mut failed: Option<AuditError> = None;
        let out = {
            let st = &*st;
            let mut build = |input: &I| -> Result<AuditAppend, StoreError> {
                let records = records(input);
                if records.is_empty() {
                    return Ok(AuditAppend::default());
                }
                match self.build(st, &stored, &records, now) {
                    Ok((append, frontier)) => {
                        grown = Some(frontier);
                        Ok(append)
                    }
                    Err(AuditError::Store(e)) => Err(e),
                    Err(e) => {
                        let message = e.to_string();
                        failed = Some(e);
                        Err(StoreError::Invalid(message))
                    }
                }
            };
            write(&mut build)
        };
        match out {
            Ok(out) => {
                if let Some(frontier) = grown {
                    st.signed = Some((frontier.size(), frontier.root()));
                    st.frontier = frontier;
                }
                Ok(out)
            }
            Err(e) => Err(failed.map_or(e, E::from)),
        }
    }

    /// Appends the entries of a group of writes committed together (see
    /// [`zion_store::AuditStore::commit_group`]): `records` holds each
    /// write's entries and time, in the group's order. `commit` hands the
    /// builder to the store, which calls it inside the group's transaction
    /// under the log's write lock, with which writes were written: the
    /// entries of those are built there, on the log as stored (caught up
    /// first when another writer appended), under one checkpoint. The log
    /// advances only when `commit` succeeds.
    pub fn append_group<T>(
        &self,
        records: &[(Timestamp, &[Record])],
        commit: impl FnOnce(&mut GroupAudit<'_>) -> Result<T, StoreError>,
    ) -> Result<T, AuditError> {
        off_the_runtime(|| {
            let mut st = self.state();
            let mut grown: Option<Frontier> = None;
            let mut failed: Option<AuditError> = None;
            let out = {
                let st = &mut *st;
                let mut build = |tail: &dyn AuditTail, written: &[bool]| {
                    self.build_group(st, tail, records, written)
                        .map(|(append, frontier)| {
                            grown = frontier;
                            append
                        })
                        .map_err(|e| match e {
                            AuditError::Store(e) => e,
                            e => {
                                let message = e.to_string();
                                failed = Some(e);
                                StoreError::Invalid(message)
                            }
                        })
                };
                commit(&mut build)
            };
            match out {
                Ok(out) => {
                    if let Some(frontier) = grown {
                        st.signed = Some((frontier.size(), frontier.root()));
                        st.frontier = frontier;
                    }
                    Ok(out)
                }
                Err(e) => Err(failed.unwrap_or(AuditError::Store(e))),
            }
        })
    }

    /// The append of the written writes' entries, on the log as `tail`
    /// shows it; None for the frontier when nothing is appended.
    fn build_group(
        &self,
        st: &mut State,
        tail: &dyn AuditTail,
        records: &[(Timestamp, &[Record])],
        written: &[bool],
    ) -> Result<(AuditAppend, Option<Frontier>), AuditError> {
        let reader = TailNodes(tail);
        let latest = if tail.size() == st.frontier.size() {
            None
        } else {
            tail.latest_checkpoint()?
        };
        self.catch_up(
            st,
            Stored {
                size: tail.size(),
                nodes: &reader,
                latest,
            },
        )?;
        let timed: Vec<(Timestamp, &Record)> = records
            .iter()
            .zip(written)
            .filter(|(_, w)| **w)
            .flat_map(|((now, rs), _)| rs.iter().map(move |r| (*now, r)))
            .collect();
        if timed.is_empty() {
            return Ok((AuditAppend::default(), None));
        }
        let stored = self.signed_frontier(st, |ids| tail.nodes(ids))?;
        let (append, frontier) = self.build_timed(st, &stored, &timed)?;
        Ok((append, Some(frontier)))
    }

    /// Catches up with the stored log when another writer (another replica
    /// on the same database) appended since this one last did.
    fn catch_up_with_store(&self, st: &mut State, store: &dyn Store) -> Result<(), AuditError> {
        if st.broken.is_some() {
            return Ok(());
        }
        let size = store.audit_size()?;
        if size == st.frontier.size() {
            return Ok(());
        }
        let latest = store.audit_checkpoints()?.pop();
        self.catch_up(
            st,
            Stored {
                size,
                nodes: &StoreNodes(store),
                latest,
            },
        )
    }

    /// Moves the frontier to the stored log's, once its latest checkpoint
    /// is proved to be signed by this key, to cover every stored entry and
    /// to be consistent with what this log signed last: another writer
    /// continued the log. Anything else marks the log inconsistent.
    fn catch_up<R: NodeReader<Error = String>>(
        &self,
        st: &mut State,
        stored: Stored<'_, R>,
    ) -> Result<(), AuditError> {
        if let Some(why) = &st.broken {
            return Err(AuditError::Inconsistent(why.clone()));
        }
        let ours = st.frontier.size();
        if stored.size == ours {
            return Ok(());
        }
        match self.caught_up(st, stored) {
            Ok(()) => Ok(()),
            Err(why) => {
                tracing::error!(%why, "audit log inconsistent: appends are refused until it is repaired");
                st.broken = Some(why.clone());
                Err(AuditError::Inconsistent(why))
            }
        }
    }

    fn caught_up<R: NodeReader<Error = String>>(
        &self,
        st: &mut State,
        stored: Stored<'_, R>,
    ) -> Result<(), String> {
        let ours = st.frontier.size();
        let size = stored.size;
        if size < ours {
            return Err(format!(
                "the stored log holds {size} entries, fewer than the {ours} already signed: entries were removed"
            ));
        }
        let frontier = Frontier::load(stored.nodes, size)
            .map_err(|e| format!("cannot load the tree of {size} entries: {e}"))?;
        let latest = stored
            .latest
            .ok_or_else(|| format!("the log grew to {size} entries without a signed checkpoint"))?;
        let cp = match self.signer.verifier().verify(&latest.note) {
            Ok(cp) => cp,
            Err(NoteError::NotSigned { .. }) => {
                return Err(format!(
                    "another writer signed the log at {} entries with another key: every replica of `zion up` on one database must use the same {KEY_FILE} (copy it from the data dir of a replica of `zion up` already on it)",
                    latest.size
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the latest checkpoint does not verify with {KEY_FILE}: {e}"
                ));
            }
        };
        if cp.size() != size {
            return Err(format!(
                "entries {} to {} are covered by no signed checkpoint: they were added outside Zion, or their checkpoint was removed",
                cp.size(),
                size - 1
            ));
        }
        if *cp.root() != frontier.root() {
            return Err(format!(
                "the tree's root at {size} entries differs from its signed checkpoint"
            ));
        }
        if let Some((old_size, old_root)) = st.signed {
            let proof =
                consistency_proof(stored.nodes, old_size, size).map_err(|e| e.to_string())?;
            verify_consistency(old_size, size, &old_root, cp.root(), &proof)
                .map_err(|e| format!("the log another writer grew is not consistent with the one signed at {old_size} entries: {e}"))?;
        }
        tracing::debug!(
            from = ours,
            to = size,
            "audit log caught up with another writer's entries"
        );
        st.signed = Some((size, *cp.root()));
        st.frontier = frontier;
        Ok(())
    }

    /// Appends `records` on their own (for changes the store writes
    /// elsewhere, or that change nothing else).
    pub fn append(
        &self,
        store: &dyn Store,
        records: &[Record],
        now: Timestamp,
    ) -> Result<(), AuditError> {
        self.append_with(store, records, now, |a| match a {
            Some(a) => store.append_audit(a).map_err(AuditError::from),
            None => Ok(()),
        })
    }

    /// Refuses a broken log, and reads the stored frontier nodes of the
    /// signed size: all that [`Self::build`] needs of the store.
    fn prepare(&self, st: &State, store: &dyn Store) -> Result<Vec<AuditNode>, AuditError> {
        if let Some(why) = &st.broken {
            return Err(AuditError::Inconsistent(why.clone()));
        }
        self.signed_frontier(st, |ids| store.audit_nodes(ids))
    }

    /// The stored frontier nodes of the signed size, read with `read`.
    fn signed_frontier(
        &self,
        st: &State,
        read: impl FnOnce(&[(u8, u64)]) -> Result<Vec<Option<zion_store::NodeHash>>, StoreError>,
    ) -> Result<Vec<AuditNode>, AuditError> {
        let Some((size, _)) = st.signed else {
            return Ok(Vec::new());
        };
        let ids: Vec<(u8, u64)> = frontier_ids(size)
            .iter()
            .map(|id| (id.level, id.index))
            .collect();
        let hashes = read(&ids)?;
        ids.into_iter()
            .zip(hashes)
            .map(|((level, index), hash)| {
                hash.map(|hash| AuditNode { level, index, hash })
                    .ok_or_else(|| {
                        AuditError::Inconsistent(format!(
                            "tree node ({level}, {index}) of the signed tree is missing"
                        ))
                    })
            })
            .collect()
    }

    /// The append of `records` and the frontier after it; reads nothing
    /// but `stored` (from [`Self::prepare`]), so it may run inside the
    /// store's transaction.
    fn build(
        &self,
        st: &State,
        stored: &[AuditNode],
        records: &[Record],
        now: Timestamp,
    ) -> Result<(AuditAppend, Frontier), AuditError> {
        let timed: Vec<(Timestamp, &Record)> = records.iter().map(|r| (now, r)).collect();
        self.build_timed(st, stored, &timed)
    }

    /// [`Self::build`] of records with a time each (a group's writers'
    /// own); the checkpoint is signed at the latest.
    fn build_timed(
        &self,
        st: &State,
        stored: &[AuditNode],
        records: &[(Timestamp, &Record)],
    ) -> Result<(AuditAppend, Frontier), AuditError> {
        let first = st.frontier.size();
        let now = records
            .iter()
            .map(|(t, _)| *t)
            .max()
            .unwrap_or_else(Timestamp::now);
        let entries: Vec<Entry> = records
            .iter()
            .enumerate()
            .map(|(i, (at, r))| {
                Entry::new(
                    first + i as u64,
                    *at,
                    r.actor.clone(),
                    r.action.to_string(),
                    r.subject.clone(),
                    r.details.clone(),
                )
            })
            .collect();
        let leaves: Vec<Hash> = entries.iter().map(Entry::leaf_hash).collect();
        let grown = zion_audit::append(&st.frontier, &leaves);
        let nodes: Vec<AuditNode> = grown
            .nodes
            .iter()
            .map(|n| AuditNode {
                level: n.id.level,
                index: n.id.index,
                hash: n.hash,
            })
            .collect();
        let new_size = grown.frontier.size();
        let new_root = grown.frontier.root();
        // Never sign a checkpoint that is not consistent with the last one:
        // prove it from the stored nodes plus the new ones, and check the
        // proof, before signing.
        if let Some((old_size, old_root)) = st.signed {
            let reader = Overlay {
                stored,
                pending: &nodes,
            };
            let proof = consistency_proof(&reader, old_size, new_size)
                .map_err(|e| AuditError::Inconsistent(e.to_string()))?;
            verify_consistency(old_size, new_size, &old_root, &new_root, &proof)
                .map_err(|e| AuditError::Inconsistent(e.to_string()))?;
        }
        let checkpoint = Checkpoint::new(self.origin.clone(), new_size, new_root)
            .map_err(|e| AuditError::Inconsistent(e.to_string()))?;
        let append = AuditAppend {
            outbox: self.outbox_of(&entries, records),
            rows: entries
                .iter()
                .zip(records)
                .map(|(e, (at, _))| AuditRow {
                    index: e.seq,
                    time: *at,
                    action: e.action.clone(),
                    subject: e.subject.clone(),
                    entry: e.canonical_json(),
                })
                .collect(),
            nodes,
            checkpoint: Some(AuditCheckpoint {
                size: new_size,
                note: self.signer.sign(&checkpoint),
                signed_at: now,
            }),
        };
        Ok((append, grown.frontier))
    }
}

/// Runs `f`, which writes to the store (and may wait for SQLite's write
/// lock, or behind a long import holding the log's lock), without stalling
/// the async runtime: on a multi-threaded runtime the worker hands its
/// other tasks (proxies, probes, the API) to another thread first. A
/// current-thread runtime (some tests) and plain threads just run it.
pub(crate) fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn load_or_create_key(
    data_dir: &Path,
    database: &str,
    origin: Option<&str>,
    entries: u64,
) -> Result<Signer, StartError> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(_) if entries == 0 => {
            // Every first start appends (the admin token) right after making
            // the key: a key without entries outlived its database.
            Err(StartError::DataDir {
                message: crate::datadir::empty_log_message(data_dir, database),
            })
        }
        Ok(text) => {
            let signer = Signer::parse(text.trim()).map_err(|e| StartError::Audit {
                message: format!(
                    "{} is not an audit signing key ({e}); restore it from a backup (a new key cannot sign for the old log)",
                    path.display()
                ),
            })?;
            if let Some(wanted) = origin.filter(|o| *o != signer.name()) {
                return Err(StartError::Audit {
                    message: format!(
                        "audit.origin is `{wanted}`, but this log's key ({}) signs as `{}`: a log keeps its name for life; set `audit.origin: {}` (or remove it), or start a new log in another data_dir",
                        path.display(),
                        signer.name(),
                        signer.name()
                    ),
                });
            }
            warn_if_readable(&path);
            Ok(signer)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if entries > 0 {
                return Err(StartError::Audit {
                    message: format!(
                        "{} is missing, but the audit log already holds {entries} entries signed with its key: copy {KEY_FILE} (mode 0600) from the data dir of a replica of `zion up` already on this database, or restore it from a backup (a new key cannot sign for the old log)",
                        path.display()
                    ),
                });
            }
            let origin = origin.map_or_else(default_origin, str::to_string);
            let signer = Signer::generate(&origin).map_err(|e| StartError::Audit {
                message: format!("cannot create an audit key named `{origin}`: {e}"),
            })?;
            write_private(&path, &format!("{}\n", signer.to_private_key_string()))
                .map_err(|e| StartError::io(&path, e))?;
            tracing::info!(path = %path.display(), verifier = %signer.verifier_key(), "created the audit signing key");
            Ok(signer)
        }
        Err(e) => Err(StartError::io(&path, e)),
    }
}

/// Why a key that did not sign the stored log may not open it.
fn another_key_message(path: &Path, entries: u64) -> String {
    format!(
        "{} is not the key that signed this database's audit log ({entries} entries): the replicas of `zion up` on one database sign one log with one key; copy {KEY_FILE} (mode 0600) from the data dir of a replica of `zion up` already on this database, or restore it from a backup",
        path.display()
    )
}

/// The key must stay private: say so when someone loosened its mode.
fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the audit signing key is readable by others; run `chmod 600` on it"
        );
    }
}

/// Creates `path` with mode 0600 and `text`, durably.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// `zion/<hostname>` unless the spec names the origin.
pub fn default_origin() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace) && !h.contains('+'))
        .unwrap_or_else(|| "localhost".to_string());
    format!("zion/{host}")
}

#[cfg(test)]
mod tests {
    use zion_core::audit::AuditAction;
    use zion_store::{AuditStore, SqliteStore};

    use super::*;

    const ORIGIN: &str = "zion/test";

    fn record(i: u64) -> Record {
        Record::new(
            "alice",
            AuditAction::SpecApply,
            format!("thing/{i}"),
            serde_json::json!({ "i": i }),
        )
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_750_000_000 + secs).unwrap()
    }

    /// Verifies every stored entry against every stored checkpoint; the
    /// subjects, in order.
    fn verified(store: &dyn Store, log: &AuditLog) -> Vec<String> {
        let notes: Vec<String> = store
            .audit_checkpoints()
            .unwrap()
            .into_iter()
            .map(|c| c.note)
            .collect();
        let mut v = zion_audit::LogVerifier::new(&log.verifier(), &notes).unwrap();
        let mut subjects = Vec::new();
        store
            .scan_audit(0, &mut |e, leaf| {
                v.push(e.index, &e.entry, leaf.as_ref()).unwrap();
                subjects.push(Entry::from_json(&e.entry).unwrap().subject);
                true
            })
            .unwrap();
        v.finish().unwrap();
        subjects
    }

    #[test]
    fn a_deferred_append_advances_the_log_only_when_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_memory().unwrap();
        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        log.append(&store, &[record(0)], at(0)).unwrap();

        // Built, then the change is refused: nothing is stored and the next
        // append still continues the stored log.
        let refused: Result<(), AuditError> = log.append_deferred(
            &store,
            at(1),
            |i: &u64| vec![record(*i)],
            |build| {
                let built = build(&7)?;
                assert_eq!(built.rows.len(), 1);
                Err(AuditError::Inconsistent("the change was refused".into()))
            },
        );
        assert!(refused.is_err());
        assert_eq!(store.audit_size().unwrap(), 1);

        // Built from what only the writer knows, and written.
        let written = log
            .append_deferred(
                &store,
                at(2),
                |i: &u64| vec![record(*i), record(i + 1)],
                |build| {
                    let built = build(&2)?;
                    store.append_audit(&built)?;
                    Ok::<_, AuditError>(built.rows.len())
                },
            )
            .unwrap();
        assert_eq!(written, 2);
        log.append(&store, &[record(4)], at(3)).unwrap();
        assert_eq!(
            verified(&store, &log),
            ["thing/0", "thing/2", "thing/3", "thing/4"]
        );
    }

    #[test]
    fn entries_stored_without_a_checkpoint_are_never_signed_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_memory().unwrap();
        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        log.append(&store, &[record(0), record(1), record(2)], at(0))
            .unwrap();
        // Two entries stored without their checkpoint, as only a writer
        // going around Zion could.
        log.append_with(&store, &[record(3), record(4)], at(1), |a| {
            let mut a = a.unwrap().clone();
            a.checkpoint = None;
            store.append_audit(&a).map_err(AuditError::from)
        })
        .unwrap();
        drop(log);

        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        let err = log.append(&store, &[record(5)], at(2)).unwrap_err();
        assert!(
            err.to_string()
                .contains("entries 3 to 4 are covered by no signed checkpoint"),
            "{err}"
        );
        assert_eq!(store.audit_size().unwrap(), 5);
        let sizes: Vec<u64> = store
            .audit_checkpoints()
            .unwrap()
            .iter()
            .map(|c| c.size)
            .collect();
        assert_eq!(sizes, [3]);
    }

    #[test]
    fn the_origin_is_the_keys_name_for_life() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_memory().unwrap();
        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        log.append(&store, &[record(0)], at(0)).unwrap();
        drop(log);
        // Without audit.origin the key's name holds, whatever the hostname.
        let log = AuditLog::open(&store, dir.path(), None).unwrap();
        assert_eq!(log.origin(), ORIGIN);
        log.append(&store, &[record(1)], at(1)).unwrap();
        assert_eq!(verified(&store, &log).len(), 2);
        drop(log);
        // Another name is refused before anything is signed.
        let err = AuditLog::open(&store, dir.path(), Some("zion/other"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("audit.origin is `zion/other`") && err.contains("signs as `zion/test`"),
            "{err}"
        );
        // A lost key is never silently replaced while entries exist.
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let err = AuditLog::open(&store, dir.path(), Some(ORIGIN))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("is missing, but the audit log already holds 2 entries"),
            "{err}"
        );
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn a_key_whose_log_is_empty_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_memory().unwrap();
        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        log.append(&store, &[record(0)], at(0)).unwrap();
        drop(log);
        // The same key over a new, empty database: the history is gone.
        let empty = SqliteStore::open_in_memory().unwrap();
        let err = AuditLog::open(&empty, dir.path(), Some(ORIGIN))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("holds no audit entry") && err.contains("from a backup"),
            "{err}"
        );
        assert_eq!(empty.audit_size().unwrap(), 0);
    }

    #[test]
    fn a_log_that_does_not_verify_builds_nothing() {
        let store = SqliteStore::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        log.append(&store, &[record(0)], at(0)).unwrap();
        // An entry stored without its checkpoint: nothing more is signed,
        // and the writer is never called.
        log.append_with(&store, &[record(1)], at(1), |a| {
            let mut a = a.unwrap().clone();
            a.checkpoint = None;
            store.append_audit(&a).map_err(AuditError::from)
        })
        .unwrap();
        let log = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        let mut called = false;
        let err = log
            .append_deferred(
                &store,
                at(1),
                |i: &u64| vec![record(*i)],
                |build| {
                    called = true;
                    build(&1).map_err(AuditError::from)
                },
            )
            .unwrap_err();
        assert!(matches!(err, AuditError::Inconsistent(_)), "{err}");
        assert!(!called);
        assert_eq!(store.audit_size().unwrap(), 2);
    }

    #[test]
    fn a_key_that_did_not_sign_the_shared_log_is_refused_at_open() {
        let store = SqliteStore::open_in_memory().unwrap();
        let first = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&store, first.path(), Some(ORIGIN)).unwrap();
        log.append(&store, &[record(0)], at(0)).unwrap();
        // Another replica's data dir with a key of its own (same name).
        let other = tempfile::tempdir().unwrap();
        let key = Signer::generate(ORIGIN).unwrap().to_private_key_string();
        std::fs::write(other.path().join(KEY_FILE), &key).unwrap();
        let err = AuditLog::open(&store, other.path(), Some(ORIGIN))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("is not the key that signed this database's audit log")
                && err.contains("copy audit.key")
                && err.contains("data dir of a replica of `zion up`"),
            "{err}"
        );
        assert!(!err.contains(key.trim()), "the key leaked: {err}");
        // None at all: refused too, naming the same fix, and none is made.
        let none = tempfile::tempdir().unwrap();
        let err = AuditLog::open(&store, none.path(), Some(ORIGIN))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("copy audit.key"), "{err}");
        assert!(!none.path().join(KEY_FILE).exists());
        // The right key (copied) opens and continues the log.
        std::fs::copy(first.path().join(KEY_FILE), none.path().join(KEY_FILE)).unwrap();
        let copied = AuditLog::open(&store, none.path(), Some(ORIGIN)).unwrap();
        copied.append(&store, &[record(1)], at(1)).unwrap();
        assert_eq!(verified(&store, &copied), ["thing/0", "thing/1"]);
    }

    #[test]
    fn logs_sharing_a_database_catch_up_with_each_other() {
        let store = SqliteStore::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        a.append(&store, &[record(0)], at(0)).unwrap();
        let b = AuditLog::open(&store, dir.path(), Some(ORIGIN)).unwrap();
        a.append(&store, &[record(1)], at(0)).unwrap();
        // b has not seen a's entries: it catches up before it builds.
        b.append(&store, &[record(2)], at(1)).unwrap();
        // a catches up inside a group's transaction, from what it sees.
        let group = [record(3), record(4)];
        let results = a
            .append_group(&[(at(2), &group[..])], |audit| {
                store.commit_group(&[zion_store::GroupWrite::Entries], audit)
            })
            .unwrap();
        assert_eq!(results.len(), 1);
        b.append(&store, &[record(5)], at(3)).unwrap();
        let subjects = verified(&store, &a);
        assert_eq!(
            subjects,
            [
                "thing/0", "thing/1", "thing/2", "thing/3", "thing/4", "thing/5"
            ]
        );
        assert!(a.broken().is_none() && b.broken().is_none());
    }

    #[test]
    fn a_writer_with_another_key_is_refused_when_it_meets_the_log() {
        // Two replicas started at once on an empty database, each making a
        // key: the second to append finds the log signed by the other key.
        let store = SqliteStore::open_in_memory().unwrap();
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = AuditLog::open(&store, one.path(), Some(ORIGIN)).unwrap();
        let b = AuditLog::open(&store, two.path(), Some(ORIGIN)).unwrap();
        a.append(&store, &[record(0)], at(0)).unwrap();
        let err = b
            .append(&store, &[record(1)], at(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("with another key") && err.contains("same audit.key"),
            "{err}"
        );
        assert_eq!(store.audit_size().unwrap(), 1);
        assert!(b.broken().is_some());
        a.append(&store, &[record(2)], at(2)).unwrap();
        assert_eq!(verified(&store, &a), ["thing/0", "thing/2"]);
    }
}
