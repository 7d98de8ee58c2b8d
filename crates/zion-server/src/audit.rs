//! The control plane's side of the transparency log: the signing key, the
//! tree's frontier, and the one path by which entries are appended — built
//! here (canonical JSON, leaf hashes, new nodes, a checkpoint checked for
//! consistency with the last one, then signed) and written by the store in
//! the transaction of the change they describe.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use serde_json::Value;
use zion_audit::{
    Checkpoint, Entry, Frontier, Hash, NodeReader, Signer, Verifier, consistency_proof, root_at,
    verify_consistency,
};
use zion_store::{AuditAppend, AuditCheckpoint, AuditNode, AuditRow, Store, StoreError};

use crate::StartError;

/// The key file in the data dir: one line, the private key in the signed
/// note format, mode 0600.
pub const KEY_FILE: &str = "audit.key";

/// What one entry says; `seq` and `time` are given when it is appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
}

impl Record {
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        details: Value,
    ) -> Self {
        Record {
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details,
        }
    }
}

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
}

/// Node reads from the store, seen through the nodes of an append that is
/// not committed yet.
struct Overlay<'a> {
    store: &'a dyn Store,
    pending: &'a [AuditNode],
}

impl NodeReader for Overlay<'_> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        if let Some(n) = self
            .pending
            .iter()
            .find(|n| n.level == level && n.index == index)
        {
            return Ok(n.hash);
        }
        self.store
            .audit_nodes(&[(level, index)])
            .map_err(|e| e.to_string())?
            .pop()
            .flatten()
            .ok_or_else(|| format!("tree node ({level}, {index}) is missing"))
    }
}

/// The store as a [`NodeReader`].
pub struct StoreNodes<'a>(pub &'a dyn Store);

impl NodeReader for StoreNodes<'_> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        Overlay {
            store: self.0,
            pending: &[],
        }
        .node(level, index)
    }

    fn nodes(&self, ids: &[zion_audit::NodeId]) -> Result<Vec<Hash>, String> {
        let asked: Vec<(u8, u64)> = ids.iter().map(|id| (id.level, id.index)).collect();
        let found = self.0.audit_nodes(&asked).map_err(|e| e.to_string())?;
        found
            .into_iter()
            .zip(&asked)
            .map(|(h, (level, index))| {
                h.ok_or_else(|| format!("tree node ({level}, {index}) is missing"))
            })
            .collect()
    }
}

struct State {
    frontier: Frontier,
    /// The latest signed checkpoint's size and root.
    signed: Option<(u64, Hash)>,
    /// Set when the stored log disagrees with its last checkpoint.
    broken: Option<String>,
}

/// The log: its key, its origin and its frontier. Appends are serialised.
pub struct AuditLog {
    signer: Signer,
    origin: String,
    state: Mutex<State>,
}

impl AuditLog {
    /// Loads (or creates, mode 0600) `<data_dir>/audit.key` and the tree's
    /// frontier, and checks the stored tree against the last checkpoint.
    pub fn open(store: &dyn Store, data_dir: &Path, origin: &str) -> Result<AuditLog, StartError> {
        let signer = load_or_create_key(data_dir, origin)?;
        let size = store.audit_size()?;
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
                Err(e) => {
                    broken.get_or_insert(format!(
                        "the latest checkpoint does not verify with {KEY_FILE}: {e}"
                    ));
                }
            }
        }
        if let Some(why) = &broken {
            tracing::error!(%why, "audit log inconsistent: appends are refused until it is repaired");
        }
        Ok(AuditLog {
            signer,
            origin: origin.to_string(),
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
        if records.is_empty() {
            return write(None);
        }
        let mut st = self.state();
        let (append, frontier) = self.build(&st, store, records, now)?;
        let out = write(Some(&append))?;
        st.signed = Some((frontier.size(), frontier.root()));
        st.frontier = frontier;
        Ok(out)
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

    fn build(
        &self,
        st: &State,
        store: &dyn Store,
        records: &[Record],
        now: Timestamp,
    ) -> Result<(AuditAppend, Frontier), AuditError> {
        if let Some(why) = &st.broken {
            return Err(AuditError::Inconsistent(why.clone()));
        }
        let first = st.frontier.size();
        let entries: Vec<Entry> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Entry::new(
                    first + i as u64,
                    now,
                    r.actor.clone(),
                    r.action.clone(),
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
                store,
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
            rows: entries
                .iter()
                .map(|e| AuditRow {
                    index: e.seq,
                    time: now,
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

fn load_or_create_key(data_dir: &Path, origin: &str) -> Result<Signer, StartError> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Signer::parse(text.trim()).map_err(|e| StartError::Audit {
            message: format!(
                "{} is not an audit signing key ({e}); restore it from a backup (a new key cannot sign for the old log)",
                path.display()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = Signer::generate(origin).map_err(|e| StartError::Audit {
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
