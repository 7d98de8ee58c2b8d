//! [`ProcessStore`]: processes recorded by host and pid, replaced, forgotten.

use crate::{ProcessStore, StoreError, StoredProcess};

/// Processes list by host then pid, a reused pid replaces its host's
/// record only, forgetting needs the host, forgetting an unknown pid is
/// fine, and a `start_ticks` beyond `i64::MAX` is refused.
pub fn processes_record_replace_forget_and_list<S: ProcessStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    const HERE: &str = "box-a/1f/aa/4026531836";
    const THERE: &str = "box-b/2e/bb/4026531836";
    let p = |host: &str, pid: u32, version: &str, port: u16| StoredProcess {
        host: host.to_string(),
        pid,
        start_ticks: u64::from(pid) * 1000,
        service: "web".to_string(),
        environment: "production".to_string(),
        version: version.to_string(),
        port,
    };
    assert!(store.processes().unwrap().is_empty());
    store.record_process(&p(HERE, 300, "1.1", 40_002)).unwrap();
    store.record_process(&p(HERE, 20, "1.0", 40_001)).unwrap();
    let mut big = p(HERE, u32::MAX, "2.0", u16::MAX);
    big.start_ticks = i64::MAX as u64;
    store.record_process(&big).unwrap();
    // The same pid on another host is another process.
    let there = p(THERE, 20, "1.0", 40_009);
    store.record_process(&there).unwrap();
    // A record from before hosts were recorded: host ''.
    let legacy = p("", 20, "0.9", 40_000);
    store.record_process(&legacy).unwrap();
    assert_eq!(
        store.processes().unwrap(),
        vec![
            legacy.clone(),
            p(HERE, 20, "1.0", 40_001),
            p(HERE, 300, "1.1", 40_002),
            big.clone(),
            there.clone(),
        ]
    );

    // A reused pid replaces the old record of its host only.
    let reused = StoredProcess {
        start_ticks: 5,
        ..p(HERE, 20, "1.2", 40_003)
    };
    store.record_process(&reused).unwrap();
    store.forget_process(HERE, 300).unwrap();
    store.forget_process(HERE, 999).unwrap();
    store.forget_process(THERE, 300).unwrap();
    assert_eq!(
        store.processes().unwrap(),
        vec![legacy.clone(), reused.clone(), big.clone(), there]
    );
    store.forget_process(THERE, 20).unwrap();
    store.forget_process("", 20).unwrap();
    assert_eq!(store.processes().unwrap(), vec![reused, big]);

    let mut too_big = p(HERE, 7, "x", 1);
    too_big.start_ticks = u64::MAX;
    assert!(matches!(
        store.record_process(&too_big),
        Err(StoreError::Invalid(_))
    ));
}
