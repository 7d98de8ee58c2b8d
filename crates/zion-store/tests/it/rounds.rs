//! Analysis rounds in the SQLite file: a run is one row, across reopens
//! and files written before runs existed.

use rusqlite::Connection;
use zion_core::analysis::Verdict;
use zion_store::DeploymentStore;

use crate::support::{
    created, deployment, open, quiet_round as quiet, record_rounds as record, round, t,
};

fn rows(path: &std::path::Path) -> Vec<(u32, u32, Option<String>)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT number, round_count, last_at FROM analysis_rounds ORDER BY number")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_run_is_one_row_and_goes_on_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    let store = open(dir.path());
    let d = deployment("web", "staging", "2.0.0", 0);
    let mut d = store.create_deployment(&d, &created(&d), None).unwrap();
    let id = d.id;
    record(&store, &mut d, &[round(id, 1, Verdict::Pass)]);
    for n in 2..=4 {
        record(&store, &mut d, &[quiet(id, n)]);
    }
    record(&store, &mut d, &[quiet(id, 5), quiet(id, 6)]);
    let read = store.rounds(id).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(
        rows(&path),
        vec![(1, 1, None), (2, 5, Some(format!("{:.9}", t(106))))],
        "one row per record"
    );

    // A reopened file reads the same, and the run goes on across it.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.rounds(id).unwrap(), read);
    record(&store, &mut d, &[quiet(id, 7), quiet(id, 8)]);
    let last = store.rounds(id).unwrap().pop().unwrap();
    assert_eq!(
        (last.number, last.count, last.last_at),
        (2, 7, Some(t(108)))
    );
    assert_eq!(rows(&path).len(), 2);
}

#[test]
fn rounds_written_before_runs_existed_count_one_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    let store = open(dir.path());
    let d = deployment("web", "staging", "2.0.0", 0);
    let mut d = store.create_deployment(&d, &created(&d), None).unwrap();
    let id = d.id;
    drop(store);
    // Schema 5 as an older Zion left it: no run columns, one row a round.
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE analysis_rounds DROP COLUMN round_count;
             ALTER TABLE analysis_rounds DROP COLUMN last_at;
             DROP TABLE leases;
             DROP TABLE replicas;
             DROP TABLE published_routes;
             DROP TABLE route_revision;
             DROP TABLE traffic_buckets;
             DROP TABLE outbox;
             DROP TABLE slo_rows;
             DROP TABLE slo_alerts;
             DROP TABLE sessions;
             PRAGMA user_version = 5;",
        )
        .unwrap();
        for n in [1, 2] {
            let r = quiet(id, n);
            conn.execute(
                "INSERT INTO analysis_rounds (deployment_id, number, at, verdict, body) \
                 VALUES (?1, ?2, ?3, 'inconclusive', ?4)",
                rusqlite::params![
                    id,
                    n,
                    format!("{:.9}", r.at),
                    // Bodies of that time had no count either.
                    serde_json::to_string(&r)
                        .unwrap()
                        .replace(",\"count\":1", "")
                ],
            )
            .unwrap();
        }
    }
    let store = open(dir.path());
    let read = store.rounds(id).unwrap();
    assert_eq!(read, vec![quiet(id, 1), quiet(id, 2)]);
    // The next identical round extends the latest row.
    record(&store, &mut d, &[quiet(id, 3)]);
    assert_eq!(
        rows(&path),
        vec![(1, 1, None), (2, 2, Some(format!("{:.9}", t(103))))]
    );
}
