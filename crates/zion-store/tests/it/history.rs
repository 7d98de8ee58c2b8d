//! Imported history in the SQLite file: a long import writes on a
//! connection of its own, so reads go on meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use zion_core::import::parse_all;
use zion_store::{DeploymentFilter, DeploymentStore, HistoryStore};

use crate::support::{import_batch, open};

#[test]
fn reads_go_on_while_a_long_import_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let text: String = (0..200_000)
        .map(|i| {
            format!(
                "{{\"external_id\":\"x{i}\",\"service\":\"web\",\"environment\":\"production\",\"version\":\"{i}\",\"type\":\"feature\",\"started_at\":\"2026-03-01T10:00:00Z\",\"finished_at\":\"2026-03-01T10:10:00Z\",\"result\":\"succeeded\"}}\n"
            )
        })
        .collect();
    let records = parse_all(&text).unwrap();
    let done = AtomicBool::new(false);
    let (import_time, slowest_read) = std::thread::scope(|s| {
        let importer = s.spawn(|| {
            let t = Instant::now();
            store.import_history(&import_batch(&records), None).unwrap();
            done.store(true, Ordering::SeqCst);
            t.elapsed()
        });
        let mut slowest = Duration::ZERO;
        while !done.load(Ordering::SeqCst) {
            let t = Instant::now();
            store.deployments(&DeploymentFilter::default()).unwrap();
            slowest = slowest.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(2));
        }
        (importer.join().unwrap(), slowest)
    });
    assert_eq!(store.imported_counts().unwrap(), (200_000, 0));
    // Queued behind the import, a read would wait about as long as it.
    assert!(
        slowest_read * 4 < import_time,
        "a read waited {slowest_read:?} during an import of {import_time:?}"
    );
}
