//! Specs, tokens and processes.

use zion_core::spec::Role;
use zion_store::{SqliteStore, Store, StoreError, StoredProcess, TokenRecord};

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
        .save_spec("a: 1\n", &"aa".repeat(32), "alice", t(1))
        .unwrap();
    // An earlier timestamp saved later still wins: "latest" means last applied.
    let yaml = "services:\n  - name: wéb # ✓\n";
    store
        .save_spec(yaml, &"bb".repeat(32), "bob", t(0))
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
    store.create_token(&admin).unwrap();
    assert_eq!(
        store.token_by_hash(&admin.hash_hex).unwrap(),
        Some(admin.clone())
    );
    assert_eq!(store.token_by_hash(&"ff".repeat(32)).unwrap(), None);

    let err = store
        .create_token(&token("admin", Role::Viewer, "b2"))
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
    store.create_token(&ci).unwrap();
    assert!(matches!(
        store.create_token(&token("other", Role::Viewer, "c3")),
        Err(StoreError::Invalid(_))
    ));

    assert!(store.revoke_token("admin", t(5)).unwrap());
    assert!(
        !store.revoke_token("admin", t(6)).unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_token("nobody", t(6)).unwrap());
    let revoked = store.token_by_hash(&admin.hash_hex).unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(t(5)));
    assert_eq!(revoked.role, Role::Admin);

    // The name is free again once its holder is revoked.
    let admin2 = token("admin", Role::Approver, "d4");
    store.create_token(&admin2).unwrap();
    let listed = store.tokens().unwrap();
    assert_eq!(listed, vec![revoked, ci, admin2.clone()]);
    assert!(store.revoke_token("admin", t(7)).unwrap());
    assert_eq!(
        store
            .token_by_hash(&admin2.hash_hex)
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t(7))
    );
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
