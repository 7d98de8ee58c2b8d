//! [`ProcessStore`]: processes recorded by pid, replaced, forgotten.

use crate::{ProcessStore, StoreError, StoredProcess};

/// Processes list by pid, a reused pid replaces its record, forgetting an
/// unknown pid is fine, and a `start_ticks` beyond `i64::MAX` is refused.
pub fn processes_record_replace_forget_and_list<S: ProcessStore>(fresh: impl Fn() -> S) {
    let store = fresh();
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
