//! [`SloStore`]: SLI rows recorded per minute, read back by start,
//! recounted in place, rolled up hourly without losing a count; alert
//! states replaced.

use jiff::{SignedDuration, Timestamp};
use zion_core::slo::rows::roll_up;
use zion_core::slo::{AlertKind, AlertState, Counts, SliRow};

use super::fixtures::audit_about as about;
use crate::{AuditStore, SloStore, StoreError};

const SLO: &str = "web/production/availability";
const OTHER: &str = "web/staging/availability";

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap() + SignedDuration::from_mins(minute)
}

fn minute(m: i64, good: u64, total: u64) -> SliRow {
    SliRow::minute(at(m), Counts::new(good, total), 0.999)
}

/// Rows read back exactly and by start, only the SLO's own and from
/// `since`; a minute recorded again replaces its row; a row that is not
/// one whole minute, or counts more good than total, writes nothing.
pub fn sli_rows_round_trip_by_slo_and_start<S: SloStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let rows = vec![
        minute(2, 10, 10),
        minute(0, 99, 100),
        minute(1, 0, u64::from(u32::MAX) * 4),
    ];
    store.record_sli(SLO, &rows).unwrap();
    store.record_sli(OTHER, &[minute(0, 1, 1)]).unwrap();
    let mut sorted = rows.clone();
    sorted.sort_by_key(|r| r.start);
    assert_eq!(store.sli_rows(SLO, at(0)).unwrap(), sorted);
    assert_eq!(store.sli_rows(SLO, at(1)).unwrap(), sorted[1..].to_vec());
    assert!(
        store
            .sli_rows("web/production/latency", at(0))
            .unwrap()
            .is_empty()
    );

    store.record_sli(SLO, &[minute(0, 100, 100)]).unwrap();
    assert_eq!(store.sli_rows(SLO, at(0)).unwrap()[0], minute(0, 100, 100));

    let mut partial = minute(3, 1, 1);
    partial.start += SignedDuration::from_secs(5);
    let too_good = SliRow {
        good: 3,
        ..minute(4, 1, 2)
    };
    for bad in [partial, too_good] {
        assert!(matches!(
            store.record_sli(SLO, &[minute(5, 1, 1), bad]),
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(store.sli_rows(SLO, at(0)).unwrap().len(), 3);
}

/// Rolling up turns the minutes before the cut into hourly rows with the
/// same sums as `zion_core::slo::rows::roll_up`, keeps the later minutes,
/// adds to an hour rolled up before, and leaves other SLOs alone.
pub fn roll_up_keeps_every_count<S: SloStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let rows: Vec<SliRow> = (0..150)
        .map(|m| minute(m, if m % 40 == 0 { 5 } else { 10 }, 10))
        .collect();
    store.record_sli(SLO, &rows[..90]).unwrap();
    store.record_sli(OTHER, &rows[..10]).unwrap();
    assert_eq!(store.roll_up_sli(SLO, at(60)).unwrap(), 60);
    store.record_sli(SLO, &rows[90..]).unwrap();
    assert_eq!(store.roll_up_sli(SLO, at(120)).unwrap(), 60);
    let expected = roll_up(&rows, at(120));
    assert_eq!(store.sli_rows(SLO, at(0)).unwrap(), expected);
    assert_eq!(expected.len(), 2 + 30);
    assert_eq!((expected[0].minutes, expected[0].bad_minutes), (60, 2));
    assert_eq!(store.sli_rows(OTHER, at(0)).unwrap().len(), 10);
    assert_eq!(store.roll_up_sli(SLO, at(120)).unwrap(), 0);
}

/// An alert's state is replaced, one per alert and SLO.
pub fn alert_states_are_replaced<S: SloStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert!(store.slo_alerts(SLO).unwrap().is_empty());
    let page = |firing, m| AlertState {
        alert: AlertKind::Page,
        firing,
        since: at(m),
    };
    let exhausted = AlertState {
        alert: AlertKind::BudgetExhausted,
        firing: true,
        since: at(2),
    };
    store
        .set_slo_alerts(SLO, &[page(true, 1), exhausted], None)
        .unwrap();
    store.set_slo_alerts(SLO, &[page(false, 3)], None).unwrap();
    store.set_slo_alerts(OTHER, &[page(true, 4)], None).unwrap();
    let states = store.slo_alerts(SLO).unwrap();
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(states.contains(&page(false, 3)) && states.contains(&exhausted));
    assert_eq!(store.slo_alerts(OTHER).unwrap(), vec![page(true, 4)]);
}

/// Alert states ride in the transaction of their audit entries: entries
/// that do not continue the log write neither.
pub fn alert_states_are_written_with_their_entries_or_not_at_all<S: SloStore + AuditStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let page = AlertState {
        alert: AlertKind::Page,
        firing: true,
        since: at(1),
    };
    let subject = format!("slo/{SLO}");
    let err = store
        .set_slo_alerts(SLO, &[page], Some(&about(7, 8, &subject)))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AuditOutOfOrder { size: 0, first: 7 }),
        "{err}"
    );
    assert!(store.slo_alerts(SLO).unwrap().is_empty());
    assert_eq!(store.audit_size().unwrap(), 0);
    store
        .set_slo_alerts(SLO, &[page], Some(&about(0, 1, &subject)))
        .unwrap();
    assert_eq!(store.slo_alerts(SLO).unwrap(), vec![page]);
    assert_eq!(store.audit_size().unwrap(), 1);
}
