//! Imported history: idempotent by external id, all or nothing, and read
//! back exactly.

use zion_core::import::{ImportRecord, parse_all};
use zion_store::{HistoryFilter, ImportBatch, ImportOutcome, Store, StoreError};

use crate::support::{created, deployment, open, t};

const FILE: &str = r#"{"external_id":"d1","service":"web","environment":"production","version":"1.0","type":"feature","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:12:00.5Z","result":"succeeded","commit":"abc","committed_at":"2026-02-28T16:20:00Z"}
{"kind":"incident","external_id":"i1","service":"web","environment":"production","opened_at":"2026-03-02T10:20:00Z","caused_by":"d2"}
{"external_id":"d2","service":"web","environment":"staging","version":"1.1","type":"hotfix","started_at":"2026-03-02T10:00:00Z","finished_at":"2026-03-02T10:05:00Z","result":"rolled_back"}
"#;

fn batch(records: &[ImportRecord]) -> ImportBatch<'_> {
    ImportBatch {
        records,
        source: "history.jsonl",
        sha256_hex: "00",
        imported_by: "admin",
        at: t(0),
    }
}

fn all_ids(store: &zion_store::SqliteStore) -> Vec<String> {
    let mut ids = Vec::new();
    store
        .scan_imported_deployments(&HistoryFilter::default(), &mut |d| {
            ids.push(d.external_id.to_owned())
        })
        .unwrap();
    ids
}

#[test]
fn a_second_import_of_the_same_file_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let records = parse_all(FILE).unwrap();
    let first = store.import_history(&batch(&records), None).unwrap();
    assert_eq!(
        (
            first.deployments_added,
            first.incidents_added,
            first.unchanged
        ),
        (2, 1, 0)
    );
    assert!(first.import_id.is_some());
    let again = store.import_history(&batch(&records), None).unwrap();
    assert_eq!(
        again,
        ImportOutcome {
            import_id: None,
            unchanged: 3,
            ..ImportOutcome::default()
        }
    );
    assert_eq!(store.imported_counts().unwrap(), (2, 1));

    // Read back exactly, through a reopened file.
    drop(store);
    let store = open(dir.path());
    let mut rows = Vec::new();
    store
        .scan_imported_deployments(&HistoryFilter::default(), &mut |d| {
            rows.push((
                d.external_id.to_owned(),
                d.environment.to_owned(),
                d.kind.name(),
                d.result.name(),
                d.finished_at.to_string(),
                d.commit.map(str::to_owned),
                d.committed_at.map(|c| c.to_string()),
            ))
        })
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "d1".to_owned(),
                "production".to_owned(),
                "feature",
                "succeeded",
                "2026-03-01T10:12:00.5Z".to_owned(),
                Some("abc".to_owned()),
                Some("2026-02-28T16:20:00Z".to_owned()),
            ),
            (
                "d2".to_owned(),
                "staging".to_owned(),
                "hotfix",
                "rolled_back",
                "2026-03-02T10:05:00Z".to_owned(),
                None,
                None,
            ),
        ]
    );
    let incidents = store.imported_incidents(&HistoryFilter::default()).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].caused_by.as_deref(), Some("d2"));
    assert_eq!(incidents[0].resolved_at, None);
}

#[test]
fn a_changed_record_under_an_old_id_refuses_the_whole_import() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .import_history(&batch(&parse_all(FILE).unwrap()), None)
        .unwrap();
    let changed = FILE.replace("\"rolled_back\"", "\"succeeded\"");
    let extra = r#"{"external_id":"d3","service":"web","environment":"production","version":"1.2","type":"feature","started_at":"2026-03-03T10:00:00Z","finished_at":"2026-03-03T10:05:00Z","result":"succeeded"}"#;
    let records = parse_all(&format!("{extra}\n{changed}")).unwrap();
    let err = store.import_history(&batch(&records), None).unwrap_err();
    match &err {
        StoreError::ImportConflict {
            record,
            external_id,
            field,
            stored,
            given,
            ..
        } => {
            assert_eq!(
                (
                    *record,
                    external_id.as_str(),
                    *field,
                    stored.as_str(),
                    given.as_str()
                ),
                (3, "d2", "result", "rolled_back", "succeeded")
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(err.to_string().contains("nothing was imported"), "{err}");
    // d3 came first in the file and was not kept.
    assert_eq!(all_ids(&store), ["d1", "d2"]);
}

#[test]
fn an_incident_blaming_an_unknown_deployment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let text = FILE.replace("\"caused_by\":\"d2\"", "\"caused_by\":\"d9\"");
    let err = store
        .import_history(&batch(&parse_all(&text).unwrap()), None)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownCause { record: 1, caused_by, .. } if caused_by == "d9"),
        "{err:?}"
    );
    assert_eq!(store.imported_counts().unwrap(), (0, 0));
    // Zion's own deployments are blamed as the report names them: `#1`
    // once deployment 1 exists, and not before.
    let own = FILE.replace("\"caused_by\":\"d2\"", "\"caused_by\":\"#1\"");
    let err = store
        .import_history(&batch(&parse_all(&own).unwrap()), None)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownCause { caused_by, .. } if caused_by == "#1"),
        "{err:?}"
    );
    let d = deployment("web", "production", "1.0", 0);
    let created = store.create_deployment(&d, &created(&d), None).unwrap();
    assert_eq!(created.id, 1);
    store
        .import_history(&batch(&parse_all(&own).unwrap()), None)
        .unwrap();
    assert_eq!(store.imported_counts().unwrap().1, 1);
}

#[test]
fn a_later_export_may_resolve_an_open_incident_but_not_move_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .import_history(&batch(&parse_all(FILE).unwrap()), None)
        .unwrap();
    let resolved = FILE.replace(
        "\"opened_at\":\"2026-03-02T10:20:00Z\"",
        "\"opened_at\":\"2026-03-02T10:20:00Z\",\"resolved_at\":\"2026-03-02T11:00:00Z\"",
    );
    let out = store
        .import_history(&batch(&parse_all(&resolved).unwrap()), None)
        .unwrap();
    assert_eq!((out.incidents_resolved, out.unchanged), (1, 2));
    let incidents = store.imported_incidents(&HistoryFilter::default()).unwrap();
    assert_eq!(
        incidents[0].resolved_at.map(|t| t.to_string()).as_deref(),
        Some("2026-03-02T11:00:00Z")
    );
    let moved = resolved.replace("11:00:00Z", "12:00:00Z");
    let err = store
        .import_history(&batch(&parse_all(&moved).unwrap()), None)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::ImportConflict {
                field: "resolved_at",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_filter_selects_by_target_and_finishing_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .import_history(&batch(&parse_all(FILE).unwrap()), None)
        .unwrap();
    let ids = |filter: HistoryFilter| {
        let mut ids = Vec::new();
        store
            .scan_imported_deployments(&filter, &mut |d| ids.push(d.external_id.to_owned()))
            .unwrap();
        ids
    };
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    assert_eq!(
        ids(HistoryFilter {
            environment: Some("staging".into()),
            ..HistoryFilter::default()
        }),
        ["d2"]
    );
    assert_eq!(
        ids(HistoryFilter {
            finished_from: Some(at("2026-03-01T10:12:00.5Z")),
            finished_until: Some(at("2026-03-02T10:04:59Z")),
            ..HistoryFilter::default()
        }),
        ["d1"]
    );
    assert!(
        ids(HistoryFilter {
            service: Some("api".into()),
            ..HistoryFilter::default()
        })
        .is_empty()
    );
}

#[test]
fn reads_go_on_while_a_long_import_writes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

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
            store.import_history(&batch(&records), None).unwrap();
            done.store(true, Ordering::SeqCst);
            (started, Instant::now())
        });
        let mut reads = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let t = Instant::now();
            store
                .deployments(&zion_store::DeploymentFilter::default())
                .unwrap();
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
