//! [`OutboxStore`]: notifications ride in the audit append that implies
//! them, are claimed in order per receiver, one delivery in flight per row.

use super::fixtures::{audit_batch as batch, t};
use crate::{AuditStore, NewOutboxRow, OutboxState, OutboxStore};

fn message(receiver: &str, audit_index: u64, body: &str) -> NewOutboxRow {
    NewOutboxRow {
        receiver: receiver.into(),
        channel: "webhook".into(),
        event: "deployment.succeeded".into(),
        subject: format!("deployment/{audit_index}"),
        audit_index,
        body: body.into(),
        created_at: t(audit_index as i64),
    }
}

/// Rows come with their append and read back exactly; an append refused
/// (it does not continue the log) writes none of its rows.
pub fn rows_are_written_with_their_entries_or_not_at_all<S: AuditStore + OutboxStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let mut first = batch(0, 2);
    first.outbox = vec![
        message("ops", 0, r#"{"n":0}"#),
        message("ops", 1, r#"{"n":1}"#),
    ];
    store.append_audit(&first).unwrap();
    // A gap: refused whole, its row with it.
    let mut gap = batch(5, 6);
    gap.outbox = vec![message("ops", 5, r#"{"n":5}"#)];
    assert!(store.append_audit(&gap).is_err());
    let rows = store.outbox(10).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let newest = &rows[0];
    assert!(newest.id > rows[1].id, "newest first");
    assert_eq!(newest.body, r#"{"n":1}"#);
    assert_eq!(newest.audit_index, 1);
    assert_eq!(newest.receiver, "ops");
    assert_eq!(newest.channel, "webhook");
    assert_eq!(newest.event, "deployment.succeeded");
    assert_eq!(newest.subject, "deployment/1");
    assert_eq!(newest.state, OutboxState::Pending);
    assert_eq!(newest.attempts, 0);
    assert_eq!(newest.created_at, t(1));
    assert_eq!(newest.next_at, t(1));
    assert_eq!(newest.last_error, None);
    assert_eq!(newest.delivered_at, None);
}

/// A claim takes each receiver's oldest open row only, when due and not
/// claimed; a failed row waits for its retry and holds its receiver's
/// later rows back; a delivered or given-up row lets the next one go.
pub fn claims_go_in_order_per_receiver_one_in_flight_per_row<S: AuditStore + OutboxStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let mut append = batch(0, 3);
    append.outbox = vec![
        message("a", 0, "a0"),
        message("b", 0, "b0"),
        message("a", 1, "a1"),
        message("a", 2, "a2"),
    ];
    store.append_audit(&append).unwrap();
    let now = t(10);
    let claimed = store.claim_outbox(now, t(20), 10).unwrap();
    let bodies: Vec<&str> = claimed.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies, ["a0", "b0"], "the oldest open row of each receiver");
    // Claimed: not taken again before the claim lapses.
    assert!(store.claim_outbox(t(15), t(25), 10).unwrap().is_empty());
    let (a0, b0) = (claimed[0].id, claimed[1].id);
    store
        .outbox_failed(a0, "answered 500", Some(t(30)))
        .unwrap();
    store.outbox_delivered(b0, t(16)).unwrap();
    // a0 waits for its retry, and a1 waits for a0.
    assert!(store.claim_outbox(t(29), t(40), 10).unwrap().is_empty());
    let again = store.claim_outbox(t(30), t(40), 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, a0);
    assert_eq!(again[0].state, OutboxState::Retrying);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("answered 500"));
    // Given up: the receiver's next row goes on.
    store.outbox_failed(a0, "answered 500 again", None).unwrap();
    let next = store.claim_outbox(t(31), t(41), 10).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].body, "a1");
    // A claim that lapsed (its sender died) is claimed again.
    let retaken = store.claim_outbox(t(41), t(51), 10).unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].body, "a1");
    let all = store.outbox(10).unwrap();
    let by_body = |b: &str| all.iter().find(|r| r.body == b).unwrap().clone();
    assert_eq!(by_body("a0").state, OutboxState::GivenUp);
    assert_eq!(by_body("a0").attempts, 2);
    assert_eq!(by_body("b0").state, OutboxState::Delivered);
    assert_eq!(by_body("b0").delivered_at, Some(t(16)));
    assert_eq!(by_body("a2").state, OutboxState::Pending);
    // At most `limit` rows.
    let mut more = batch(3, 4);
    more.outbox = vec![message("c", 3, "c0"), message("d", 3, "d0")];
    store.append_audit(&more).unwrap();
    assert_eq!(store.claim_outbox(t(60), t(70), 1).unwrap().len(), 1);
}

/// Pruning deletes the rows delivered, or given up after an attempt due,
/// before the cutoff; open rows stay however old, and so do rows closed
/// at or after it.
pub fn pruning_deletes_only_rows_closed_before_the_cutoff<S: AuditStore + OutboxStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let mut append = batch(0, 4);
    append.outbox = vec![
        message("old-delivered", 0, "d0"),
        message("new-delivered", 1, "d1"),
        message("old-given-up", 2, "g0"),
        message("still-open", 3, "o0"),
    ];
    store.append_audit(&append).unwrap();
    let claimed = store.claim_outbox(t(10), t(20), 10).unwrap();
    let id = |body: &str| claimed.iter().find(|r| r.body == body).unwrap().id;
    store.outbox_delivered(id("d0"), t(11)).unwrap();
    store.outbox_delivered(id("d1"), t(100)).unwrap();
    // Given up: its last attempt was due at t(2), when it was written.
    store.outbox_failed(id("g0"), "answered 500", None).unwrap();
    store
        .outbox_failed(id("o0"), "answered 500", Some(t(30)))
        .unwrap();

    assert_eq!(
        store.prune_outbox(t(11)).unwrap(),
        1,
        "g0 only: d0 is at the cutoff"
    );
    assert_eq!(store.prune_outbox(t(50)).unwrap(), 1, "d0");
    let left: Vec<String> = store
        .outbox(10)
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(left, ["o0", "d1"]);
    // An open row is never pruned, however old.
    assert_eq!(store.prune_outbox(t(1_000)).unwrap(), 1, "d1");
    let left: Vec<String> = store
        .outbox(10)
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(left, ["o0"]);
}

/// A row written without an entry (the log failing its verification) is
/// written once per receiver, event, subject and index, however often it
/// is offered, and is claimed after the rows appended before it.
pub fn rows_without_an_entry_are_written_once<S: AuditStore + OutboxStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let mut first = batch(0, 1);
    first.outbox = vec![message("ops", 0, r#"{"n":0}"#)];
    store.append_audit(&first).unwrap();
    let failed = |receiver: &str, index: u64| NewOutboxRow {
        event: "audit.verification_failed".into(),
        subject: "audit".into(),
        ..message(receiver, index, r#"{"failed":true}"#)
    };
    let offered = [failed("ops", 0), failed("pager", 0), failed("ops", 0)];
    assert_eq!(store.enqueue_outbox(&offered).unwrap(), 2);
    assert_eq!(store.enqueue_outbox(&offered).unwrap(), 0, "found again");
    // Another index is another failure.
    assert_eq!(store.enqueue_outbox(&[failed("ops", 3)]).unwrap(), 1);
    let rows = store.outbox(10).unwrap();
    let events: Vec<(&str, &str, u64)> = rows
        .iter()
        .rev()
        .map(|r| (r.receiver.as_str(), r.event.as_str(), r.audit_index))
        .collect();
    assert_eq!(
        events,
        [
            ("ops", "deployment.succeeded", 0),
            ("ops", "audit.verification_failed", 0),
            ("pager", "audit.verification_failed", 0),
            ("ops", "audit.verification_failed", 3),
        ]
    );
    // In order per receiver: the appended row goes first.
    let claimed = store.claim_outbox(t(100), t(130), 10).unwrap();
    let ops = claimed.iter().find(|r| r.receiver == "ops").unwrap();
    assert_eq!(ops.event, "deployment.succeeded");
    assert!(store.enqueue_outbox(&[]).unwrap() == 0);
}
