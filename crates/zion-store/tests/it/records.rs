//! Specs, tokens and processes.

use zion_core::spec::Role;
use zion_store::{
    ProcessStore, SpecStore, SqliteStore, StoreError, StoredProcess, TokenRecord, TokenStore,
};

use crate::support::t;

fn token(name: &str, role: Role, hash: &str) -> TokenRecord {
    TokenRecord {
        name: name.to_string(),
        role,
        hash_hex: hash.repeat(32),
        github_login: None,
        created_at: t(0),
        revoked_at: None,
    }
}

#[test]
fn latest_spec_is_the_last_saved() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.latest_spec().unwrap(), None);
    store
        .save_spec("a: 1\n", &"aa".repeat(32), "alice", t(1), None)
        .unwrap();
    // An earlier timestamp saved later still wins: "latest" means last applied.
    let yaml = "services:\n  - name: wéb # ✓\n";
    store
        .save_spec(yaml, &"bb".repeat(32), "bob", t(0), None)
        .unwrap();
    let spec = store.latest_spec().unwrap().unwrap();
    assert_eq!(spec.yaml, yaml);
    assert_eq!(spec.sha256_hex, "bb".repeat(32));
    assert_eq!(spec.applied_by, "bob");
    assert_eq!(spec.applied_at, t(0));
}

#[test]
fn tokens_create_exist_revoke_and_reuse_names() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut admin = token("admin", Role::Admin, "a1");
    admin.github_login = Some("octocat".to_string());
    store.create_token(&admin, None).unwrap();
    assert_eq!(
        store.token_by_hash(&admin.hash_hex).unwrap(),
        Some(admin.clone())
    );
    assert_eq!(store.token_by_hash(&"ff".repeat(32)).unwrap(), None);

    let err = store
        .create_token(&token("admin", Role::Viewer, "b2"), None)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Exists { name } if name == "admin"),
        "{err:?}"
    );
    assert!(err.to_string().contains("revoke"), "{err}");
    assert_eq!(
        store.token_by_hash(&"b2".repeat(32)).unwrap(),
        None,
        "nothing stored"
    );

    let ci = token("ci", Role::Deployer, "c3");
    store.create_token(&ci, None).unwrap();
    assert!(matches!(
        store.create_token(&token("other", Role::Viewer, "c3"), None),
        Err(StoreError::Invalid(_))
    ));

    assert!(store.revoke_token("admin", t(5), None).unwrap());
    assert!(
        !store.revoke_token("admin", t(6), None).unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_token("nobody", t(6), None).unwrap());
    let revoked = store.token_by_hash(&admin.hash_hex).unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(t(5)));
    assert_eq!(revoked.role, Role::Admin);

    // The name is free again once its holder is revoked.
    let admin2 = token("admin", Role::Approver, "d4");
    store.create_token(&admin2, None).unwrap();
    let listed = store.tokens().unwrap();
    assert_eq!(listed, vec![revoked, ci, admin2.clone()]);
    assert!(store.revoke_token("admin", t(7), None).unwrap());
    assert_eq!(
        store
            .token_by_hash(&admin2.hash_hex)
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t(7))
    );
}

fn with_github(name: &str, hash: &str, login: &str) -> TokenRecord {
    TokenRecord {
        github_login: Some(login.to_string()),
        ..token(name, Role::Approver, hash)
    }
}

#[test]
fn token_by_github_finds_the_live_token_case_insensitively() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.token_by_github("octocat").unwrap(), None);
    store
        .create_token(&token("plain", Role::Viewer, "a0"), None)
        .unwrap();
    let cat = with_github("cat", "a1", "OctoCat");
    store.create_token(&cat, None).unwrap();
    let dog = with_github("dog", "a2", "octo-dog");
    store.create_token(&dog, None).unwrap();

    for login in ["OctoCat", "octocat", "OCTOCAT", "oCTOcAT"] {
        assert_eq!(
            store.token_by_github(login).unwrap(),
            Some(cat.clone()),
            "{login}"
        );
    }
    assert_eq!(store.token_by_github("OCTO-DOG").unwrap(), Some(dog));
    assert_eq!(
        store.token_by_github("octo").unwrap(),
        None,
        "whole logins only"
    );
    assert_eq!(store.token_by_github("octocat ").unwrap(), None);
    assert_eq!(store.token_by_github("").unwrap(), None);

    // A revoked token stands for no one.
    assert!(store.revoke_token("cat", t(3), None).unwrap());
    assert_eq!(store.token_by_github("octocat").unwrap(), None);
}

#[test]
fn a_github_login_belongs_to_one_live_token_until_revoked() {
    let store = SqliteStore::open_in_memory().unwrap();
    let cat = with_github("cat", "b1", "octocat");
    store.create_token(&cat, None).unwrap();

    let err = store
        .create_token(&with_github("kitten", "b2", "OctoCat"), None)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::GithubLoginTaken { login, name }
            if login == "OctoCat" && name == "cat"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("`cat`") && message.contains("zion token revoke cat"),
        "{message}"
    );
    assert_eq!(store.tokens().unwrap(), vec![cat.clone()], "nothing stored");

    // A revoked record may carry the login: it is history, not a mapping.
    let mut old = with_github("old", "b3", "OCTOCAT");
    old.revoked_at = Some(t(1));
    store.create_token(&old, None).unwrap();
    assert_eq!(store.token_by_github("octocat").unwrap(), Some(cat));

    // Once the holder is revoked the login may be given to another token.
    assert!(store.revoke_token("cat", t(2), None).unwrap());
    let kitten = with_github("kitten", "b4", "OctoCat");
    store.create_token(&kitten, None).unwrap();
    assert_eq!(store.token_by_github("OCTOCAT").unwrap(), Some(kitten));
}

#[test]
fn the_database_itself_refuses_a_second_live_github_login() {
    // The store checks first; the unique index holds against any writer.
    let dir = tempfile::tempdir().unwrap();
    let store = crate::support::open(dir.path());
    store
        .create_token(&with_github("cat", "c1", "octocat"), None)
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

#[test]
fn processes_record_replace_forget_and_list() {
    let store = SqliteStore::open_in_memory().unwrap();
    let p = |pid: u32, version: &str, port: u16| StoredProcess {
        pid,
        start_ticks: u64::from(pid) * 1000,
        service: "web".to_string(),
        environment: "production".to_string(),
        version: version.to_string(),
        port,
    };
    assert!(store.processes().unwrap().is_empty());
    store.record_process(&p(300, "1.1", 40_002)).unwrap();
    store.record_process(&p(20, "1.0", 40_001)).unwrap();
    let mut big = p(u32::MAX, "2.0", u16::MAX);
    big.start_ticks = i64::MAX as u64;
    store.record_process(&big).unwrap();
    assert_eq!(
        store.processes().unwrap(),
        vec![p(20, "1.0", 40_001), p(300, "1.1", 40_002), big.clone()]
    );

    // A reused pid replaces the old record.
    let reused = StoredProcess {
        start_ticks: 5,
        ..p(20, "1.2", 40_003)
    };
    store.record_process(&reused).unwrap();
    store.forget_process(300).unwrap();
    store.forget_process(999).unwrap();
    assert_eq!(store.processes().unwrap(), vec![reused, big]);

    let mut too_big = p(7, "x", 1);
    too_big.start_ticks = u64::MAX;
    assert!(matches!(
        store.record_process(&too_big),
        Err(StoreError::Invalid(_))
    ));
}
