//! Tokens in the SQLite file: the schema itself keeps a GitHub login to one
//! live token.

use zion_core::spec::Role;
use zion_store::{TokenRecord, TokenStore};

use crate::support::{open, t};

#[test]
fn the_database_itself_refuses_a_second_live_github_login() {
    // The store checks first; the unique index holds against any writer.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_token(
            &TokenRecord {
                name: "cat".to_string(),
                role: Role::Approver,
                hash_hex: "c1".repeat(32),
                github_login: Some("octocat".to_string()),
                created_at: t(0),
                revoked_at: None,
            },
            None,
        )
        .unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("zion.db")).unwrap();
    let insert = |name: &str, hash: &str, revoked: Option<&str>| {
        conn.execute(
            "INSERT INTO tokens (name, role, hash_hex, github_login, created_at, revoked_at) \
             VALUES (?1, 'viewer', ?2, 'OCTOCAT', '2025-01-01T00:00:00.000000000Z', ?3)",
            rusqlite::params![name, hash, revoked],
        )
    };
    let err = insert("dup", "c2", None).unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation),
        "{err}"
    );
    insert("gone", "c3", Some("2025-01-02T00:00:00.000000000Z")).unwrap();
}
