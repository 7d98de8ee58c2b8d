//! The SQLite schema's migrations, embedded in the binary. Migration `n`
//! (1-based) is `MIGRATIONS[n - 1]`; a database's `user_version` is the
//! number of migrations applied to it.

/// Every migration, in order. Append only: never edit a released one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_governance.sql"),
    include_str!("../migrations/0003_audit.sql"),
    include_str!("../migrations/0004_evidence.sql"),
    include_str!("../migrations/0005_imported_history.sql"),
    include_str!("../migrations/0006_round_runs.sql"),
    include_str!("../migrations/0007_leases.sql"),
    include_str!("../migrations/0008_process_host.sql"),
    include_str!("../migrations/0009_data_plane.sql"),
    include_str!("../migrations/0010_slos.sql"),
    include_str!("../migrations/0011_outbox.sql"),
    include_str!("../migrations/0012_sessions.sql"),
];

/// The schema version this code writes (the number of migrations it knows).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
