//! The PostgreSQL store, for a control plane that outgrows one file.
//!
//! The store traits are synchronous: the server calls them from async
//! handlers and under its journal lock, and SQLite answers in microseconds.
//! The driver (tokio-postgres, pooled by deadpool-postgres; sqlx cannot sit
//! beside the bundled rusqlite, both link `sqlite3`) is async. So the store
//! owns a small tokio runtime of its own (one worker thread) that runs the
//! pool and the connections, and a [`Session`] ships each statement there
//! and waits for its answer on a channel. `Runtime::block_on` is not an
//! option: it panics when called from inside the server's runtime, and
//! waiting on a channel does not. Shipping statements one by one, rather
//! than a whole trait call as one future, keeps every transaction's code
//! synchronous and lets it call the caller's closures (an audit builder, a
//! scan's visitor) between statements, exactly as the SQLite store does.
//!
//! Each trait call is one transaction where the SQLite store uses one, at
//! PostgreSQL's default READ COMMITTED: the invariants hold by the data
//! (a partial unique index for one active deployment per target, a
//! compare-and-set on the revision, primary keys) and by locks (audit
//! appends lock the log's table, so they are serialized in the database
//! even with several writers), not by the isolation level.
//!
//! Several `zion up` may share one database. Every read-write transaction
//! sends a notification on [`CHANNEL`] as it commits (in [`Session::commit`],
//! the one door of every area's writes), and [`Database::changes`] listens
//! for the others' on a connection of its own (`listen.rs`). A database
//! that cannot be reached is [`StoreError::Unreachable`], whatever the
//! statement: the pool makes new connections once it is back.

mod audit;
mod data_plane;
mod deployments;
mod history;
mod incidents;
mod leases;
mod listen;
mod outbox;
mod processes;
mod rounds;
mod sessions;
mod slos;
mod specs;
mod tokens;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::sync::watch;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{NoTls, Row};

use crate::tables::{Field, StoredRow, unreadable};
use crate::{Database, StoreError};

/// Every migration of the PostgreSQL schema, in order. Append only: never
/// edit a released one. `zion_schema.version` is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_leases.sql"),
    include_str!("../../migrations/postgres/0003_process_host.sql"),
    include_str!("../../migrations/postgres/0004_data_plane.sql"),
    include_str!("../../migrations/postgres/0005_slos.sql"),
    include_str!("../../migrations/postgres/0006_outbox.sql"),
    include_str!("../../migrations/postgres/0007_sessions.sql"),
];

/// The schema version this code writes on PostgreSQL.
pub const POSTGRES_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Connections kept by the pool: the API's reads go on beside the
/// controller's writes, and a long audit scan has one of its own.
const POOL_SIZE: usize = 8;

/// How long to wait for a connection to the server (when the URL does not
/// say): long enough for a loaded machine, short enough that an unreachable
/// database is reported rather than hung on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The channel every committed change is notified on, its payload the
/// committing store's [`PostgresStore::id`].
const CHANNEL: &str = "zion_changes";

/// How long a session may sit idle inside a transaction before the server
/// ends it (see [`PostgresStore::connect`]).
const IDLE_IN_TRANSACTION: &str = "-c idle_in_transaction_session_timeout=5s";

/// Serialises schema migrations of one database across processes: the key
/// of a transaction-scoped advisory lock ("zion" in ASCII).
const MIGRATION_LOCK: i64 = 0x7a69_6f6e;

/// A value bound to a statement's parameter, owned so that it can travel to
/// the store's runtime.
pub(crate) type Param = Box<dyn ToSql + Send + Sync>;

/// The parameters of a statement, each moved into a [`Param`].
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$(Box::new($value) as $crate::postgres::Param),*]
    };
}
pub(crate) use args;

/// [`crate::Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    /// The runtime that runs the pool; shut down without waiting on drop
    /// (a drop inside the server's runtime must not block).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// The URL with its password hidden, for messages.
    location: String,
    /// What the listening connection connects with (the pool's settings).
    config: tokio_postgres::Config,
    /// Names this store in its notifications, so that its listener can
    /// tell them from other processes' (letters and digits only).
    id: String,
    /// The counter of others' changes, once someone asked for it.
    changes: OnceLock<watch::Receiver<u64>>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, or
    /// the key=value form) and brings its schema up to date; refuses a
    /// database written by a newer Zion. A URL without a password takes the
    /// one in `PGPASSWORD`, as libpq does.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let location = redacted_url(url);
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Invalid(format!(
                "the database URL {location} is not valid: {}",
                hide_password(&e.to_string(), url)
            ))
        })?;
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("zion");
        }
        // A replica of `zion up` stopped (SIGSTOP, a frozen VM) in the middle
        // of a transaction would hold its locks, the audit log's among them,
        // and stall every other replica until it woke: the server ends such
        // a session after this long idle in a transaction, and its writes
        // are rolled back. Zion's transactions never wait between
        // statements for anything but the database.
        let options = match config.get_options() {
            Some(given) => format!("{given} {IDLE_IN_TRANSACTION}"),
            None => IDLE_IN_TRANSACTION.to_owned(),
        };
        config.options(options);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zion-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Connect {
                url: location.clone(),
                source: Box::new(e),
            })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection the server closed (a restart) is found
                // closed and replaced; nothing else is checked per use.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Connect {
                url: location.clone(),
                source: Box::new(e),
            })?;
        let store = PostgresStore {
            pool,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            location,
            config,
            id: listen::store_id(),
            changes: OnceLock::new(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `fut` on the store's runtime and waits for its output.
    fn run<T: Send + 'static>(
        &self,
        during: &'static str,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| StoreError::Database {
            during,
            source: "the database driver's runtime stopped".into(),
        })
    }

    /// A pooled connection, outside any transaction.
    fn session(&self, during: &'static str) -> Result<Session<'_>, StoreError> {
        let pool = self.pool.clone();
        let client = self.run(during, async move { pool.get().await })?;
        // Whatever kept the pool from giving a connection (refused, timed
        // out, the server shutting down), the database cannot be used now.
        let client = client.map_err(|e| StoreError::Unreachable {
            url: self.location.clone(),
            during,
            source: e.to_string().into(),
        })?;
        Ok(Session {
            store: self,
            client: Some(client),
            in_transaction: false,
            notify: false,
        })
    }

    /// A pooled connection inside a new read-write transaction, which
    /// notifies the other processes when it commits.
    fn begin(&self, during: &'static str) -> Result<Session<'_>, StoreError> {
        let mut s = self.session(during)?;
        s.batch("BEGIN", during)?;
        s.in_transaction = true;
        s.notify = true;
        Ok(s)
    }

    /// A pooled connection inside a read-only transaction that sees one
    /// snapshot throughout (what a scan in pages and a verification need).
    fn snapshot(&self, during: &'static str) -> Result<Session<'_>, StoreError> {
        let mut s = self.session(during)?;
        s.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", during)?;
        s.in_transaction = true;
        Ok(s)
    }

    /// Applies the missing migrations in one transaction, under a lock
    /// that makes two processes starting at once take turns.
    fn migrate(&self) -> Result<(), StoreError> {
        const DURING: &str = "migrating the schema";
        let connect_err = |e: StoreError| match e {
            StoreError::Database { source, .. } | StoreError::Unreachable { source, .. } => {
                StoreError::Connect {
                    url: self.location.clone(),
                    source,
                }
            }
            other => other,
        };
        let mut s = self.begin(DURING).map_err(connect_err)?;
        s.execute(
            "SELECT pg_advisory_xact_lock($1)",
            args![MIGRATION_LOCK],
            DURING,
        )?;
        s.batch(
            "CREATE TABLE IF NOT EXISTS zion_schema (version BIGINT NOT NULL)",
            DURING,
        )?;
        let found: i64 = match s.query_opt("SELECT version FROM zion_schema", args![], DURING)? {
            Some(row) => col(&row, "version")?,
            None => {
                s.execute(
                    "INSERT INTO zion_schema (version) VALUES (0)",
                    args![],
                    DURING,
                )?;
                0
            }
        };
        if found > POSTGRES_SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.location.clone(),
                found,
                known: POSTGRES_SCHEMA_VERSION,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
            let version = index as i64 + 1;
            let failed = |e: StoreError| StoreError::Migration {
                version,
                source: Box::new(e),
            };
            s.batch(sql, DURING).map_err(failed)?;
            s.execute(
                "UPDATE zion_schema SET version = $1",
                args![version],
                DURING,
            )
            .map_err(failed)?;
            tracing::info!(database = %self.location, version, "applied schema migration");
        }
        s.commit(DURING)
    }
}

impl Database for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    /// Starts the listening connection on the first call; later calls
    /// share its counter.
    fn changes(&self) -> Option<watch::Receiver<u64>> {
        let changes = self.changes.get_or_init(|| {
            let (tx, rx) = watch::channel(0);
            self.handle.spawn(listen::listen(
                self.config.clone(),
                self.id.clone(),
                self.location.clone(),
                tx,
            ));
            rx
        });
        Some(changes.clone())
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// What a statement answers.
enum Reply {
    Rows(Vec<Row>),
    Count(u64),
    Done,
}

/// What to do with a statement.
#[derive(Clone, Copy)]
enum Kind {
    Query,
    Execute,
    /// The simple protocol: several statements, no parameters.
    Batch,
}

/// One pooled connection, used synchronously: each statement is sent to
/// the store's runtime and answered on a channel. Dropped inside a
/// transaction that was not committed, it rolls the transaction back before
/// the connection goes back to the pool (or closes it if that fails).
pub(crate) struct Session<'s> {
    store: &'s PostgresStore,
    client: Option<Object>,
    in_transaction: bool,
    /// Whether committing notifies the other processes (a read-write
    /// transaction: [`PostgresStore::begin`]).
    notify: bool,
}

impl Session<'_> {
    fn send(
        &mut self,
        kind: Kind,
        sql: &str,
        params: Vec<Param>,
        during: &'static str,
    ) -> Result<Reply, StoreError> {
        let Some(client) = self.client.take() else {
            return Err(StoreError::Database {
                during,
                source: "the connection was lost by an earlier failure".into(),
            });
        };
        let sql = sql.to_owned();
        let (client, result) = self.store.run(during, async move {
            let result = async {
                match kind {
                    Kind::Batch => client.batch_execute(&sql).await.map(|()| Reply::Done),
                    Kind::Query | Kind::Execute => {
                        let statement = client.prepare_cached(&sql).await?;
                        let refs: Vec<&(dyn ToSql + Sync)> = params
                            .iter()
                            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                            .collect();
                        match kind {
                            Kind::Execute => {
                                client.execute(&statement, &refs).await.map(Reply::Count)
                            }
                            _ => client.query(&statement, &refs).await.map(Reply::Rows),
                        }
                    }
                }
            }
            .await;
            (client, result)
        })?;
        self.client = Some(client);
        result.map_err(|e| self.error(during, e))
    }

    /// A driver error of this session's statement as the store reports it.
    pub(crate) fn error(&self, during: &'static str, e: tokio_postgres::Error) -> StoreError {
        driver_error(&self.store.location, during, e)
    }

    /// Runs a statement and returns its rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        during: &'static str,
    ) -> Result<Vec<Row>, StoreError> {
        match self.send(Kind::Query, sql, params, during)? {
            Reply::Rows(rows) => Ok(rows),
            _ => Ok(Vec::new()),
        }
    }

    /// Runs a statement and returns its first row, if any.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        during: &'static str,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params, during)?.into_iter().next())
    }

    /// Runs a statement that must return a row.
    pub(crate) fn query_one(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        during: &'static str,
    ) -> Result<Row, StoreError> {
        self.query_opt(sql, params, during)?
            .ok_or_else(|| StoreError::Database {
                during,
                source: "the statement returned no row".into(),
            })
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        during: &'static str,
    ) -> Result<u64, StoreError> {
        match self.send(Kind::Execute, sql, params, during)? {
            Reply::Count(n) => Ok(n),
            _ => Ok(0),
        }
    }

    /// Runs statements without parameters (the simple protocol).
    pub(crate) fn batch(&mut self, sql: &str, during: &'static str) -> Result<(), StoreError> {
        self.send(Kind::Batch, sql, Vec::new(), during).map(|_| ())
    }

    /// Runs a statement; a driver error comes back as is (for the callers
    /// that tell a constraint's violation from other failures).
    pub(crate) fn try_query(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        during: &'static str,
    ) -> Result<Result<Vec<Row>, tokio_postgres::Error>, StoreError> {
        let Some(client) = self.client.take() else {
            return Err(StoreError::Database {
                during,
                source: "the connection was lost by an earlier failure".into(),
            });
        };
        let sql = sql.to_owned();
        let (client, result) = self.store.run(during, async move {
            let result = async {
                let statement = client.prepare_cached(&sql).await?;
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                client.query(&statement, &refs).await
            }
            .await;
            (client, result)
        })?;
        self.client = Some(client);
        Ok(result)
    }

    /// Commits the transaction; a read-write one notifies the other
    /// processes in the same round trip (PostgreSQL delivers the
    /// notification when, and only if, the transaction commits).
    pub(crate) fn commit(mut self, during: &'static str) -> Result<(), StoreError> {
        if self.notify {
            let sql = format!("NOTIFY {CHANNEL}, '{}'; COMMIT", self.store.id);
            self.batch(&sql, during)?;
        } else {
            self.batch("COMMIT", during)?;
        }
        self.in_transaction = false;
        Ok(())
    }

    /// Rolls the transaction back now, keeping the connection for more
    /// statements outside it (to explain a refusal).
    pub(crate) fn rollback(&mut self, during: &'static str) -> Result<(), StoreError> {
        self.batch("ROLLBACK", during)?;
        self.in_transaction = false;
        self.notify = false;
        Ok(())
    }

    /// Serialises audit appends in the database: whoever appends holds the
    /// log's table until commit, so that the log's size it reads stays the
    /// size when it writes, whatever other connection (or replica) appends.
    /// Readers are not blocked. Taken first in a transaction that will
    /// append, so that two writers cannot hold rows the other waits for.
    pub(crate) fn lock_audit(&mut self, during: &'static str) -> Result<(), StoreError> {
        self.batch("LOCK TABLE audit_entries IN EXCLUSIVE MODE", during)
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.in_transaction {
            return;
        }
        // Not waited for: the connection goes back to the pool only once
        // the rollback is done, or is closed when it fails.
        self.store.handle.spawn(async move {
            if client.batch_execute("ROLLBACK").await.is_err() {
                drop(Object::take(client));
            }
        });
    }
}

/// Maps a driver error of the database at `location`.
fn driver_error(location: &str, during: &'static str, e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => StoreError::Locked { during },
        _ if is_unreachable(&e) => StoreError::Unreachable {
            url: location.to_owned(),
            during,
            source: Box::new(e),
        },
        _ => StoreError::Database {
            during,
            source: Box::new(e),
        },
    }
}

/// Whether `e` says that the server is gone rather than that the statement
/// failed: the connection closed or broke, or the server is shutting down,
/// restarting or not accepting connections yet.
fn is_unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08: connection exception; 57P01-57P03: the server shuts
        // down, crashed, or is starting.
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code);
    }
    // Without an SQL state, an I/O error underneath is a broken socket.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

pub(crate) fn is_foreign_key_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}

/// Reads one column, reporting a wrong type as corruption.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, name: &str) -> Result<T, StoreError> {
    row.try_get(name).map_err(|e| unreadable(name, e))
}

impl StoredRow for Row {
    fn text(&self, column: &str) -> Result<&str, StoreError> {
        col(self, column)
    }

    fn opt_text(&self, column: &str) -> Result<Option<&str>, StoreError> {
        col(self, column)
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        col(self, column)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        col(self, column)
    }

    fn bytes(&self, column: &str) -> Result<&[u8], StoreError> {
        col(self, column)
    }
}

/// A written column's value as a statement's parameter (typed even when
/// NULL, as PostgreSQL wants).
pub(crate) fn param(field: Field) -> Param {
    match field {
        Field::Text(text) => Box::new(text),
        Field::Int(n) => Box::new(n),
    }
}

/// Reads one column by position.
pub(crate) fn col_at<'r, T: FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i} cannot be read: {e}")))
}

/// `url` with its password replaced by `***`, in either form of a
/// PostgreSQL connection string (`postgres://user:secret@host/db`, with a
/// `password=` query parameter, or `password=secret host=…`): what every
/// message, log line and lint output shows of a database URL.
pub fn redacted_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let scheme = &url[..url.len() - rest.len()];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                out = format!("{scheme}{}:***{}", &userinfo[..colon], &rest[at..]);
            }
        }
    }
    hide_key_value_password(&out)
}

/// Hides `password=…` in a query string or a key=value connection string.
fn hide_key_value_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("password=") {
        let before_ok = i == 0 || matches!(rest.as_bytes()[i - 1], b'?' | b'&' | b' ');
        out.push_str(&rest[..i + "password=".len()]);
        rest = &rest[i + "password=".len()..];
        if before_ok {
            let end = rest.find(['&', ' ']).unwrap_or(rest.len());
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// `message` with any occurrence of the URL's password hidden (a driver's
/// message could echo part of what it was given).
fn hide_password(message: &str, url: &str) -> String {
    let password = tokio_postgres::Config::from_str(url).ok().and_then(|c| {
        c.get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    });
    match password {
        Some(p) if !p.is_empty() => message.replace(&p, "***"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_every_form() {
        assert_eq!(
            redacted_url("postgres://zion:s3cret@db.example:5432/zion"),
            "postgres://zion:***@db.example:5432/zion"
        );
        assert_eq!(
            redacted_url("postgresql://zion:p@ss@127.0.0.1/zion?sslmode=disable"),
            "postgresql://zion:***@127.0.0.1/zion?sslmode=disable"
        );
        assert_eq!(
            redacted_url("postgres://zion@127.0.0.1/zion?password=s3cret&application_name=x"),
            "postgres://zion@127.0.0.1/zion?password=***&application_name=x"
        );
        assert_eq!(
            redacted_url("host=127.0.0.1 password=s3cret user=zion"),
            "host=127.0.0.1 password=*** user=zion"
        );
        assert_eq!(
            redacted_url("postgres://zion@127.0.0.1/zion"),
            "postgres://zion@127.0.0.1/zion"
        );
    }

    #[test]
    fn a_malformed_url_is_refused_without_its_password() {
        let err = PostgresStore::connect("postgres://zion:s3cret@127.0.0.1:notaport/zion")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("zion:***@"), "{err}");
    }

    #[test]
    fn an_unreachable_server_is_a_connect_error_without_the_password() {
        // A port nothing listens on: bound, read, released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = PostgresStore::connect(&format!("postgres://zion:s3cret@127.0.0.1:{port}/zion"))
            .unwrap_err();
        assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    }

    #[test]
    fn the_partial_unique_index_lists_exactly_the_terminal_phases() {
        let expected = format!(
            "WHERE phase NOT IN ({})",
            crate::codec::terminal_phases_sql()
        );
        assert!(MIGRATIONS[0].contains(&expected), "{expected}");
    }
}
