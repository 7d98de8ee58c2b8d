//! The PostgreSQL store beside other writers and across its server's
//! outages: it counts the other stores' commits ([`Database::changes`]),
//! reports a server that went away as [`StoreError::Unreachable`] (naming
//! the database), and works again, on new connections, once it is back.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use zion_store::test_cluster::TestCluster;
use zion_store::{Database, PostgresStore, SpecStore, StoreError};

use crate::support::{audit_batch, t};

/// Polls `f` until it holds, or panics naming `what` after `limit`.
fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn save(store: &PostgresStore, n: u32) -> Result<(), StoreError> {
    let yaml = format!("environments: [{{ name: e{n} }}]\n");
    store.save_spec(&yaml, &format!("{n:064}"), "test", t(i64::from(n)), None)
}

/// Commits through `writer` until `counter` moves (its listener may not be
/// listening yet when the first commits land); returns how many it took.
fn until_heard(writer: &PostgresStore, counter: &watch::Receiver<u64>, from: &mut u32) -> u32 {
    let seen = *counter.borrow();
    let mut commits = 0;
    eventually(Duration::from_secs(20), "a notification", || {
        save(writer, *from).unwrap();
        *from += 1;
        commits += 1;
        std::thread::sleep(Duration::from_millis(50));
        *counter.borrow() > seen
    });
    commits
}

/// The counter once it has not moved for half a second (notifications of
/// commits already made have arrived).
fn settled(counter: &watch::Receiver<u64>) -> u64 {
    let mut last = *counter.borrow();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = *counter.borrow();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn changes_count_the_other_stores_commits_not_its_own() {
    let url = TestCluster::shared().new_database();
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    let heard_by_a = a.changes().expect("PostgreSQL has changes");
    let heard_by_b = b.changes().unwrap();
    let mut n = 0;
    until_heard(&a, &heard_by_b, &mut n);
    // Listening now: each commit of A is heard by B once.
    let before = settled(&heard_by_b);
    for _ in 0..5 {
        save(&a, n).unwrap();
        n += 1;
    }
    eventually(Duration::from_secs(10), "five notifications", || {
        *heard_by_b.borrow() == before + 5
    });
    // A refused write commits nothing and notifies no one.
    let refused = a.save_spec(
        "x",
        &format!("{:064}", 0),
        "test",
        t(0),
        Some(&audit_batch(7, 8)),
    );
    assert!(
        matches!(refused, Err(StoreError::AuditOutOfOrder { .. })),
        "{refused:?}"
    );
    assert_eq!(settled(&heard_by_b), before + 5);
    // A's own commits do not wake A; B's do.
    assert_eq!(*heard_by_a.borrow(), 0);
    until_heard(&b, &heard_by_a, &mut n);
}

#[test]
fn a_server_that_goes_away_is_unreachable_then_used_again() {
    let cluster = TestCluster::own();
    let url = cluster.new_database();
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    let heard_by_b = b.changes().unwrap();
    let mut n = 0;
    until_heard(&a, &heard_by_b, &mut n);
    assert!(a.latest_spec().unwrap().is_some());
    let before = settled(&heard_by_b);

    cluster.stop().unwrap();
    for err in [a.latest_spec().unwrap_err(), save(&a, 1_000).unwrap_err()] {
        assert!(err.is_unreachable(), "{err:?}");
        assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
    }

    cluster.start_again().unwrap();
    // The pool makes new connections: the same calls succeed.
    eventually(Duration::from_secs(20), "reads to work again", || {
        a.latest_spec().is_ok()
    });
    // The refused write was not made.
    let latest = a.latest_spec().unwrap().unwrap();
    assert_ne!(latest.sha256_hex, format!("{:064}", 1_000));
    // The listener is back, and counted once for what it may have missed,
    // with no commit to hear.
    eventually(Duration::from_secs(20), "the listener to reconnect", || {
        *heard_by_b.borrow() == before + 1
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(*heard_by_b.borrow(), before + 1, "counted more than once");
    let commits = until_heard(&a, &heard_by_b, &mut n);
    assert_eq!(commits, 1, "the first commit after the restart was heard");
}
