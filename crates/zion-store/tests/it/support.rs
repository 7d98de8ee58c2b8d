//! The contract's fixtures, and SQLite stores on files.

use std::cell::Cell;
use std::path::Path;

pub use zion_store::contract::fixtures::*;
use zion_store::test_cluster::TestCluster;
use zion_store::{PostgresStore, SqliteStore};

/// Opens (or reopens) the store file in `dir`.
pub fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("zion.db")).expect("open store")
}

/// A factory of new, empty stores, each on a file of its own in a folder
/// that is removed with the factory.
pub fn on_file() -> impl Fn() -> SqliteStore {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let made = Cell::new(0);
    move || {
        made.set(made.get() + 1);
        SqliteStore::open(&dir.path().join(format!("zion-{}.db", made.get()))).expect("open store")
    }
}

/// A factory of new, empty stores, each on a database of its own in the
/// test binary's throwaway PostgreSQL cluster.
pub fn on_postgres() -> impl Fn() -> PostgresStore {
    || PostgresStore::connect(&TestCluster::shared().new_database()).expect("connect to PostgreSQL")
}
