//! [`SessionStore`]: console sessions created, found by hash, touched,
//! deleted, and the stale ones swept.

use super::fixtures::t;
use crate::{SessionRecord, SessionStore, StoreError};

fn session(hash: &str, created: i64) -> SessionRecord {
    SessionRecord {
        hash_hex: hash.repeat(32),
        token_hash: "ab".repeat(32),
        csrf_token: format!("csrf-{hash}"),
        created_at: t(created),
        expires_at: t(created + 100),
        last_seen_at: t(created),
    }
}

/// A session is found by its hash exactly as created; a second one with
/// the same hash is refused and changes nothing; touching moves only the
/// last use, never back; a deleted session is gone.
pub fn sessions_are_created_found_touched_and_deleted<S: SessionStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let a = session("a1", 0);
    store.create_session(&a).unwrap();
    assert_eq!(store.session_by_hash(&a.hash_hex).unwrap(), Some(a.clone()));
    assert_eq!(store.session_by_hash(&"ff".repeat(32)).unwrap(), None);

    let mut twin = session("a1", 50);
    twin.csrf_token = "other".into();
    assert!(matches!(
        store.create_session(&twin),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.session_by_hash(&a.hash_hex).unwrap(),
        Some(a.clone()),
        "the refused twin changed nothing"
    );

    assert!(store.touch_session(&a.hash_hex, t(10)).unwrap());
    assert!(
        store.touch_session(&a.hash_hex, t(5)).unwrap(),
        "an older touch finds the session"
    );
    let touched = store.session_by_hash(&a.hash_hex).unwrap().unwrap();
    assert_eq!(touched.last_seen_at, t(10), "never moves back");
    assert_eq!(
        SessionRecord {
            last_seen_at: a.last_seen_at,
            ..touched
        },
        a,
        "only the last use moved"
    );
    assert!(!store.touch_session(&"ff".repeat(32), t(10)).unwrap());

    assert!(store.delete_session(&a.hash_hex).unwrap());
    assert!(!store.delete_session(&a.hash_hex).unwrap(), "already gone");
    assert_eq!(store.session_by_hash(&a.hash_hex).unwrap(), None);
    assert!(!store.touch_session(&a.hash_hex, t(20)).unwrap());
}

/// The sweep deletes the sessions past their expiry or idle too long, and
/// keeps the others untouched.
pub fn stale_sessions_are_deleted_and_live_ones_kept<S: SessionStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let expired = session("e1", 0); // expires at 100
    let idle = session("d2", 60); // last used at 60
    let mut live = session("c3", 60);
    live.last_seen_at = t(90);
    for s in [&expired, &idle, &live] {
        store.create_session(s).unwrap();
    }
    assert_eq!(store.delete_stale_sessions(t(100), t(60)).unwrap(), 2);
    assert_eq!(store.session_by_hash(&expired.hash_hex).unwrap(), None);
    assert_eq!(store.session_by_hash(&idle.hash_hex).unwrap(), None);
    assert_eq!(store.session_by_hash(&live.hash_hex).unwrap(), Some(live));
    assert_eq!(store.delete_stale_sessions(t(100), t(60)).unwrap(), 0);
}
