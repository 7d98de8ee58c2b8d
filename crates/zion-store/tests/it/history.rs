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
    let (import, reads) = std::thread::scope(|s| {
        let importer = s.spawn(|| {
            let started = Instant::now();
            store.import_history(&import_batch(&records), None).unwrap();
            done.store(true, Ordering::SeqCst);
            (started, Instant::now())
        });
        let mut reads = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let t = Instant::now();
            store.deployments(&DeploymentFilter::default()).unwrap();
            reads.push((t, Instant::now()));
            std::thread::sleep(Duration::from_millis(2));
        }
        (importer.join().unwrap(), reads)
    });
    assert_eq!(store.imported_counts().unwrap(), (200_000, 0));
    // Queued behind the import, a read begun while it writes would end
    // only after it: reads begun and ended inside it went on beside it,
    // however long a busy machine makes the import.
    let inside = reads
        .iter()
        .filter(|(from, to)| *from >= import.0 && *to <= import.1)
        .count();
    assert!(
        inside >= 10,
        "{inside} of {} reads went on while the import wrote (for {:?})",
        reads.len(),
        import.1 - import.0
    );
}
