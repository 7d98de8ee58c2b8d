//! The embedded SQLite store: one connection behind a mutex, WAL journal,
//! `synchronous = FULL` (a commit that returned is on disk, even after a power
//! cut), foreign keys on, and a busy timeout so that two processes sharing a
//! file wait for each other instead of failing. This module opens the file,
//! migrates it and holds the connection; each area's tables and its trait
//! implementation are in a module of their own.

mod audit;
mod data_plane;
mod deployments;
mod history;
mod incidents;
mod leases;
mod outbox;
mod processes;
mod rounds;
mod sessions;
mod slos;
mod specs;
mod tokens;

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::{FromSql, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, Params, Row, Transaction, TransactionBehavior};

use crate::StoreError;
use crate::migrations::{MIGRATIONS, SCHEMA_VERSION};
use crate::tables::{Field, StoredRow, unreadable};

/// Long enough to ride out another writer's transaction on a loaded machine;
/// short enough that a stuck second zion on the same file is reported.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// [`crate::Store`] on an SQLite file (or in memory, for tests).
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The file, for the side connection of long imports; None in memory.
    path: Option<std::path::PathBuf>,
    /// The file's path as shown in messages, or `:memory:`.
    location: String,
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it if missing, and brings
    /// its schema up to date; refuses a database written by a newer Zion.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let open_err = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
                during: "opening the database",
            },
            _ => StoreError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Checked before anything is changed, so a newer database is left
        // exactly as it was (the migration re-checks under its lock).
        refuse_newer(read_user_version(&conn)?, &location)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                database = %location,
                journal_mode = %mode,
                "the file system refused write-ahead logging; readers will block writers"
            );
        }
        let mut store = Self::configure(conn, location)?;
        store.path = Some(path.to_path_buf());
        Ok(store)
    }

    /// A fresh private database in memory, gone when dropped.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: ":memory:".into(),
            source: Box::new(e),
        })?;
        Self::configure(conn, ":memory:".to_string())
    }

    fn configure(mut conn: Connection, location: String) -> Result<Self, StoreError> {
        // Per connection, not stored in the file: set on every open. NORMAL
        // in WAL mode may lose the last commits on power loss; FULL syncs the
        // log on every commit so nothing acknowledged is lost.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("configuring the database"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db("configuring the database"))?;
        migrate(&mut conn, &location)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: None,
            location,
        })
    }

    /// A second connection to the file for work that writes for seconds (a
    /// million-line import), so that it does not hold [`Self::conn`]: in WAL
    /// mode every read goes on meanwhile, and other writes wait for the
    /// commit (up to the busy timeout) instead of queueing on the mutex.
    fn side_connection(&self) -> Result<Option<Connection>, StoreError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        const DURING: &str = "opening a connection for the import";
        let conn = Connection::open(path).map_err(db(DURING))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db(DURING))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db(DURING))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db(DURING))?;
        Ok(Some(conn))
    }

    /// The connection. A panic elsewhere while it was held rolled back any
    /// open transaction (transactions roll back on drop), so it stays usable.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl crate::Database for SqliteStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    /// One process holds an SQLite file (the data directory's lock): no
    /// one else changes it.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn read_user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db("reading the schema version"))
}

fn refuse_newer(found: i64, location: &str) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: location.to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Corrupt(format!(
            "{location} has a negative schema version ({found})"
        )));
    }
    Ok(())
}

/// Applies the missing migrations in one write transaction: either all of
/// them and the new `user_version`, or nothing. Two processes opening a new
/// file at once are serialised by the lock, and the second finds nothing to do.
fn migrate(conn: &mut Connection, location: &str) -> Result<(), StoreError> {
    let tx = begin(conn, "migrating the schema")?;
    let found = read_user_version(&tx)?;
    refuse_newer(found, location)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let failed = |e: rusqlite::Error| StoreError::Migration {
            version,
            source: Box::new(e),
        };
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tracing::info!(database = %location, version, "applied schema migration");
    }
    tx.commit().map_err(db("migrating the schema"))
}

/// A write transaction that takes the write lock at once. A deferred one
/// that reads and then writes can fail with "busy" without waiting when
/// another connection wrote in between; an immediate one waits its turn.
fn begin<'c>(
    conn: &'c mut Connection,
    during: &'static str,
) -> Result<Transaction<'c>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db(during))
}

/// Maps a driver error, telling a lock held too long from other failures.
pub(crate) fn db(during: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { during },
        _ => StoreError::Database {
            during,
            source: Box::new(e),
        },
    }
}

fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_extended_error_code() == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_extended_error_code(),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// Reads one column, reporting a wrong type as corruption.
fn col<T: FromSql>(row: &Row<'_>, name: &str) -> Result<T, StoreError> {
    row.get(name).map_err(|e| unreadable(name, e))
}

/// A row that finds a column's value by name, borrowed from the row; the
/// types the readers ask for are checked once, in the [`StoredRow`] below.
trait ColumnValue {
    fn value(&self, column: &str) -> Result<ValueRef<'_>, StoreError>;
}

impl ColumnValue for Row<'_> {
    fn value(&self, column: &str) -> Result<ValueRef<'_>, StoreError> {
        self.get_ref(column).map_err(|e| unreadable(column, e))
    }
}

/// A row of a scan, with its statement's column names read once.
/// rusqlite's lookup by name asks SQLite for the name of every column on
/// every call: the scan of imported history read by name through it took
/// up to twice as long as one that finds the columns here.
pub(crate) struct ScannedRow<'a, 'r> {
    pub row: &'a Row<'r>,
    /// The statement's column names, in order.
    pub names: &'a [String],
}

impl ColumnValue for ScannedRow<'_, '_> {
    fn value(&self, column: &str) -> Result<ValueRef<'_>, StoreError> {
        let i = self
            .names
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| unreadable(column, "the statement does not select it"))?;
        self.row.get_ref(i).map_err(|e| unreadable(column, e))
    }
}

impl<R: ColumnValue> StoredRow for R {
    fn text(&self, column: &str) -> Result<&str, StoreError> {
        self.value(column)?
            .as_str()
            .map_err(|e| unreadable(column, e))
    }

    fn opt_text(&self, column: &str) -> Result<Option<&str>, StoreError> {
        self.value(column)?
            .as_str_or_null()
            .map_err(|e| unreadable(column, e))
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.value(column)?
            .as_i64()
            .map_err(|e| unreadable(column, e))
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.value(column)?
            .as_i64_or_null()
            .map_err(|e| unreadable(column, e))
    }

    fn bytes(&self, column: &str) -> Result<&[u8], StoreError> {
        self.value(column)?
            .as_blob()
            .map_err(|e| unreadable(column, e))
    }
}

impl From<Field> for Value {
    fn from(field: Field) -> Self {
        match field {
            Field::Text(text) => text.into(),
            Field::Int(n) => n.into(),
        }
    }
}

/// Runs a query and converts every row.
fn query_all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    during: &'static str,
    convert: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db(during))?;
    let mut rows = stmt.query(params).map_err(db(during))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db(during))? {
        out.push(convert(row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::deployments::HAS_SUCCEEDED_SQL;
    use super::*;
    use crate::tables::{self, LIVE_GITHUB_LOGIN, RESOLVE_TARGET, TOKEN_COLUMNS};
    use rusqlite::params_from_iter;

    #[test]
    fn file_connections_are_durable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("zion.db")).unwrap();
        let conn = store.conn();
        let get = |name: &str| -> i64 {
            conn.pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        // 2 = FULL: the WAL is synced on every commit.
        assert_eq!(get("synchronous"), 2);
        assert_eq!(get("foreign_keys"), 1);
        assert_eq!(get("busy_timeout"), BUSY_TIMEOUT.as_millis() as i64);
        assert_eq!(get("user_version"), SCHEMA_VERSION);
    }

    /// The details of SQLite's plan for `sql`, one step a line.
    fn plan_of(store: &SqliteStore, sql: &str) -> String {
        let conn = store.conn();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // The plan does not depend on the values; the driver wants them all.
        let values = vec![Value::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn lookups_are_served_by_their_indexes() {
        let store = SqliteStore::open_in_memory().unwrap();
        let plan = plan_of(&store, HAS_SUCCEEDED_SQL);
        assert!(
            plan.contains("COVERING INDEX deployments_target_version"),
            "{plan}"
        );
        let plan = plan_of(
            &store,
            &tables::sqlite(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {LIVE_GITHUB_LOGIN}"
            )),
        );
        assert!(plan.contains("INDEX tokens_live_github"), "{plan}");
        let plan = plan_of(&store, &tables::sqlite(RESOLVE_TARGET));
        assert!(plan.contains("INDEX incidents_open"), "{plan}");
    }
}
