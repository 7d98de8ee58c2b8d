//! [`TokenStore`]: tokens created, looked up by hash and by GitHub login,
//! revoked, and the names and logins that stay unique among live tokens.

use zion_core::spec::Role;

use super::fixtures::t;
use crate::{StoreError, TokenRecord, TokenStore};

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

/// Tokens are created and found by hash; a live name or a hash taken is
/// refused and stores nothing; revoking is once, keeps the record, and frees
/// the name.
pub fn tokens_create_exist_revoke_and_reuse_names<S: TokenStore>(fresh: impl Fn() -> S) {
    let store = fresh();
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

/// `token_by_github` finds the live token by whole login, in any case, and
/// not once revoked.
pub fn token_by_github_finds_the_live_token_case_insensitively<S: TokenStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
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

/// A GitHub login belongs to one live token (`GithubLoginTaken` names the
/// holder); a revoked record may carry it; revoking the holder frees it.
pub fn a_github_login_belongs_to_one_live_token_until_revoked<S: TokenStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
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
