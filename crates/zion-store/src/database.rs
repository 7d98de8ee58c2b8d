//! What a store says of the database behind it, beside its areas: where it
//! is (for messages) and how a process learns that another one changed it.

use tokio::sync::watch;

/// The database behind a store, as a whole.
pub trait Database {
    /// The database as every message names it: the SQLite file's path, or
    /// the PostgreSQL URL with its password hidden ([`crate::redacted_url`]).
    fn location(&self) -> String;

    /// A counter that grows when another process (another `zion up` on the
    /// same database) commits a change: wake on it, then read the state
    /// again. The store's own commits do not move it (its caller knows of
    /// them). It also grows once whenever the store reconnects after losing
    /// the database, since changes may have been made meanwhile. None when
    /// no other process can write the database (SQLite: one process holds
    /// the data directory).
    fn changes(&self) -> Option<watch::Receiver<u64>>;
}
