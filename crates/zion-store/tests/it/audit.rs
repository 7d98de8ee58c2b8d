//! The audit tables in the SQLite file: what the scan shows of a log
//! tampered with outside Zion.

use zion_store::AuditStore;

use crate::support::{audit_batch, audit_row, open};

#[test]
fn the_scan_sees_gaps_and_missing_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut a = audit_batch(0, 6);
    a.rows[2] = audit_row(2, "token.create", "token/alice");
    a.rows[4] = audit_row(4, "token.revoke", "token/alice");
    store.append_audit(&a).unwrap();

    // Tampering straight in the file: a deleted row and a deleted leaf.
    let conn = rusqlite::Connection::open(dir.path().join("zion.db")).unwrap();
    conn.execute("DELETE FROM audit_entries WHERE idx = 1", [])
        .unwrap();
    conn.execute("DELETE FROM audit_nodes WHERE level = 0 AND idx = 3", [])
        .unwrap();
    let mut seen = Vec::new();
    store
        .scan_audit(0, &mut |e, leaf| {
            seen.push((e.index, leaf.is_some()));
            true
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![(0, true), (2, true), (3, false), (4, true), (5, true)]
    );
    let mut first_two = 0;
    store
        .scan_audit(2, &mut |_, _| {
            first_two += 1;
            first_two < 2
        })
        .unwrap();
    assert_eq!(first_two, 2);
}
