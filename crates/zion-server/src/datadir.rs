//! The data directory belongs to one server at a time, and to one database
//! for the life of its audit key. Two servers on one directory stop each
//! other's replicas and break the log they both append to; a database
//! deleted or replaced under a running server (or between two runs) loses
//! the history that the audit key was signing, and a server that went on
//! would start a new history under the old key as if nothing had happened.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tokio::sync::watch;

use crate::StartError;
use crate::audit::KEY_FILE;

/// The lock file: held (flock) by the running server, holding its PID.
pub const LOCK_FILE: &str = "zion.lock";
/// The state database.
pub const DB_FILE: &str = "zion.db";
/// The folder of the files replicas started by this server write their
/// stdout and stderr to (one per replica process, size-bounded).
pub const OUTPUT_DIR: &str = "output";

/// How often a running server checks that its files are still its own.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The data directory's lock, held while this value lives. The kernel drops
/// it when the process dies, however it dies, so a lock file left behind
/// by a killed server never blocks the next one.
pub struct DataDirLock {
    _file: Flock<File>,
}

/// Takes the data directory's lock, or refuses naming the server that holds it.
pub fn lock(data_dir: &Path) -> Result<DataDirLock, StartError> {
    let path = data_dir.join(LOCK_FILE);
    // Never truncated before the lock is ours: the holder's PID stays readable.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StartError::io(&path, e))?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((_, Errno::EWOULDBLOCK)) => {
            let holder = match holder_pid(&path) {
                Some(pid) => format!("PID {pid}"),
                None => "a process that has not written its PID yet".to_string(),
            };
            return Err(StartError::DataDir {
                message: format!(
                    "the data directory {} is in use by another `zion up` ({holder}, holding {}); two servers on one data directory would stop each other's replicas and break its audit log: stop that one first, or give this spec another server.data_dir",
                    data_dir.display(),
                    path.display()
                ),
            });
        }
        Err((_, e)) => return Err(StartError::io(&path, std::io::Error::from(e))),
    };
    let pid = std::process::id();
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(*file, "{pid}"));
    written.map_err(|e| StartError::io(&path, e))?;
    Ok(DataDirLock { _file: file })
}

/// The PID in a lock file. Its holder writes it just after taking the lock,
/// so a server that lost the race may read an empty file for a moment.
fn holder_pid(path: &Path) -> Option<u32> {
    for _ in 0..20 {
        let mut text = String::new();
        if let Ok(mut f) = File::open(path) {
            let _ = f.read_to_string(&mut text);
        }
        if let Ok(pid) = text.trim().parse() {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// What to tell a user whose database is gone but whose audit key is not.
fn restore_hint(data_dir: &Path) -> String {
    format!(
        "put the database back from a backup (with its zion.db-wal, if the backup has one) and start again; or, to start a new, empty history and audit log on purpose, move {} out of {} (keep it: it verifies copies of the old log) and start again",
        data_dir.join(KEY_FILE).display(),
        data_dir.display()
    )
}

/// Refuses to start when the audit key exists but the database does not:
/// opening would create an empty one and sign a new history with the old key.
pub fn check_database_present(data_dir: &Path) -> Result<(), StartError> {
    let db = data_dir.join(DB_FILE);
    let key = data_dir.join(KEY_FILE);
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    if exists(&key) && !exists(&db) {
        return Err(StartError::DataDir {
            message: format!(
                "{} is missing, but the audit key {} is there: the database was deleted or moved, and with it every deployment, token and audit entry it held; {}",
                db.display(),
                key.display(),
                restore_hint(data_dir)
            ),
        });
    }
    Ok(())
}

/// Why an existing audit key meets an empty log (see [`crate::audit`]) in
/// `database`, as the store names it (the SQLite file, or the PostgreSQL
/// URL with its password hidden).
pub fn empty_log_message(data_dir: &Path, database: &str) -> String {
    let hint = if Path::new(database) == data_dir.join(DB_FILE) {
        restore_hint(data_dir)
    } else {
        format!(
            "restore that database from a backup (or point server.database at the one this key belongs to) and start again; or, to start a new, empty history and audit log on purpose, move {} out of {} (keep it: it verifies copies of the old log) and start again",
            data_dir.join(KEY_FILE).display(),
            data_dir.display()
        )
    };
    format!(
        "the audit key {} exists, but the database {database} holds no audit entry: the database was replaced or emptied since this key started its log, and the deployments, tokens and audit entries it held are not in it; {hint}",
        data_dir.join(KEY_FILE).display(),
    )
}

/// A file as the server opened it: the same path must keep naming the
/// same file (device and inode) for as long as the server runs.
#[derive(Debug, Clone)]
pub struct Identity {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Identity {
    /// The identity of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<Identity> {
        let m = std::fs::metadata(path)?;
        Ok(Identity {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// None while the path still names the file; otherwise what became of it.
    pub fn changed(&self) -> Option<String> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => None,
            Ok(_) => Some(format!(
                "{} was replaced by another file",
                self.path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some(format!("{} was deleted or moved", self.path.display()))
            }
            // Unreadable for a moment (permissions, a busy NFS server) is
            // not proof that the file changed: look again next time.
            Err(_) => None,
        }
    }
}

/// What a running server watches in its data directory.
pub struct Watched {
    pub data_dir: PathBuf,
    /// The SQLite file; None when the state is in PostgreSQL.
    pub database: Option<Identity>,
    pub lock: Identity,
}

impl Watched {
    /// The files of `data_dir` as this server holds them now; the SQLite
    /// file only when the state is in it.
    pub fn now(data_dir: &Path, sqlite: bool) -> Result<Watched, StartError> {
        let at = |name: &str| {
            let path = data_dir.join(name);
            Identity::of(&path).map_err(|e| StartError::io(&path, e))
        };
        Ok(Watched {
            data_dir: data_dir.to_path_buf(),
            database: if sqlite { Some(at(DB_FILE)?) } else { None },
            lock: at(LOCK_FILE)?,
        })
    }

    /// Why the server must stop, if one of its files is no longer its own.
    pub fn check(&self) -> Option<String> {
        if let Some(what) = self.database.as_ref().and_then(Identity::changed) {
            return Some(format!(
                "{what} while the server ran: the deployments, tokens and audit entries written from now on would go to a database that is no longer there, and the history it held is not in the file there now; stopping. To go on, {}",
                restore_hint(&self.data_dir)
            ));
        }
        if let Some(what) = self.lock.changed() {
            return Some(format!(
                "{what} while the server ran: another `zion up` could now take the data directory {} beside this one; stopping. Start again (the lock file is made anew)",
                self.data_dir.display()
            ));
        }
        None
    }
}

/// Checks the watched files every second until `shutdown`; when one is no
/// longer the server's own, says why on `fatal` and returns.
pub(crate) async fn watch_files(
    watched: Watched,
    fatal: watch::Sender<Option<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if let Some(why) = watched.check() {
            tracing::error!(%why, "the data directory changed under the server");
            fatal.send_replace(Some(why));
            return;
        }
    }
}

/// The file that names this data directory's replica of Zion.
pub const REPLICA_FILE: &str = "replica.id";

/// This replica's id: the data directory's for life (written once, as
/// `<hostname>-<8 hex digits>`), so that a restarted `zion up` is the same
/// replica and renews its leases at once instead of waiting for them to
/// expire. Two replicas never share it: the data directory's lock keeps a
/// second server out.
pub fn replica_id(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join(REPLICA_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if id.is_empty()
                || id.len() > 128
                || id.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(StartError::DataDir {
                    message: format!(
                        "{} does not hold a replica id (one line, no spaces, at most 128 characters); delete it and a new one is made",
                        path.display()
                    ),
                });
            }
            Ok(id.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 4];
            getrandom::fill(&mut bytes).map_err(|e| StartError::Random(e.to_string()))?;
            let host = crate::audit::default_origin();
            let host = host.trim_start_matches("zion/");
            let id = format!("{host}-{}", hex::encode(bytes));
            std::fs::write(&path, format!("{id}\n")).map_err(|e| StartError::io(&path, e))?;
            Ok(id)
        }
        Err(e) => Err(StartError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let err = lock(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("PID {}", std::process::id()))
                && err.contains(&dir.path().display().to_string()),
            "{err}"
        );
        drop(held);
        let _again = lock(dir.path()).unwrap();
    }

    #[test]
    fn a_file_deleted_or_replaced_is_told_apart_from_one_written_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        std::fs::write(&path, b"one").unwrap();
        let id = Identity::of(&path).unwrap();
        std::fs::write(&path, b"written in place").unwrap();
        assert_eq!(id.changed(), None);
        let other = dir.path().join("backup.db");
        std::fs::write(&other, b"another file").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let why = id.changed().unwrap();
        assert!(why.contains("was replaced"), "{why}");
        std::fs::remove_file(&path).unwrap();
        let why = id.changed().unwrap();
        assert!(why.contains("was deleted or moved"), "{why}");
    }

    #[test]
    fn a_key_without_its_database_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        check_database_present(dir.path()).unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "key").unwrap();
        let err = check_database_present(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("zion.db is missing") && err.contains("from a backup"),
            "{err}"
        );
        std::fs::write(dir.path().join(DB_FILE), "").unwrap();
        check_database_present(dir.path()).unwrap();
    }

    #[test]
    fn an_empty_log_names_the_database_the_state_is_in() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = dir.path().join(DB_FILE).display().to_string();
        let said = empty_log_message(dir.path(), &sqlite);
        assert!(
            said.contains(&format!("the database {sqlite} holds")),
            "{said}"
        );
        assert!(said.contains("zion.db-wal"), "{said}");
        let url = "postgres://zion:***@db.example:5432/zion";
        let said = empty_log_message(dir.path(), url);
        assert!(
            said.contains(&format!("the database {url} holds")),
            "{said}"
        );
        assert!(!said.contains("zion.db"), "{said}");
    }
}
