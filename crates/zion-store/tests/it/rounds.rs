//! Analysis rounds: a run of identical inconclusive rounds is one row with a
//! count and a time range, across changes, reopens and migrated files;
//! anything else keeps a row of its own.

use rusqlite::Connection;
use zion_core::analysis::{AnalysisRound, Verdict};
use zion_core::deployment::{Deployment, Phase};
use zion_store::{DeploymentStore, SqliteStore, StoreError};

use crate::support::{created, deployment, moved, open, round, t};

/// Round `number` of a canary without traffic: the same every time.
fn quiet(id: i64, number: u32) -> AnalysisRound {
    let mut r = round(id, number, Verdict::Inconclusive);
    r.summary = "0 of 20 requests in 5s at 5%: the step needs about 80 requests/s \
                 through the listener; it gets 0"
        .into();
    r
}

/// Records `rounds` as one change of `d` (the next revision).
fn record(store: &SqliteStore, d: &mut Deployment, rounds: &[AnalysisRound]) {
    *d = moved(d, Phase::Progressing, 1);
    store.record(d, &[], rounds).unwrap();
}

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
fn a_run_of_identical_inconclusive_rounds_is_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    let store = open(dir.path());
    let d = deployment("web", "staging", "2.0.0", 0);
    let mut d = store.create_deployment(&d, &created(&d), None).unwrap();
    let id = d.id;

    record(&store, &mut d, &[round(id, 1, Verdict::Pass)]);
    // One round per change, as the controller records them, then several
    // in one change.
    for n in 2..=4 {
        record(&store, &mut d, &[quiet(id, n)]);
    }
    record(&store, &mut d, &[quiet(id, 5), quiet(id, 6)]);
    // A round that differs (one request came) starts a row of its own, and
    // the quiet after it another.
    let mut one = quiet(id, 7);
    one.summary = "1 of 20 requests in 5s at 5%".into();
    record(&store, &mut d, &[one.clone(), quiet(id, 8), quiet(id, 9)]);
    record(&store, &mut d, &[round(id, 10, Verdict::Fail)]);

    let read = store.rounds(id).unwrap();
    let shape: Vec<(u32, u32, Verdict)> = read
        .iter()
        .map(|r| (r.number, r.count, r.verdict))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, 1, Verdict::Pass),
            (2, 5, Verdict::Inconclusive),
            (7, 1, Verdict::Inconclusive),
            (8, 2, Verdict::Inconclusive),
            (10, 1, Verdict::Fail),
        ]
    );
    // The run keeps its first round as recorded and the last one's time.
    let mut run = quiet(id, 2);
    run.count = 5;
    run.last_at = Some(quiet(id, 6).at);
    assert_eq!(read[1], run);
    assert_eq!(read[2], one);
    assert_eq!((read[0].last_at, read[4].last_at), (None, None));
    assert_eq!(rows(&path).len(), 5, "one row per record");

    // A round inside a run is already recorded; nothing of its change is.
    let before = d.clone();
    let next = moved(&d, Phase::Paused, 2);
    let err = store.record(&next, &[], &[quiet(id, 4)]).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("round 4"), "{err}");
    assert_eq!(store.deployment(id).unwrap(), Some(before));

    // A reopened file reads the same, and a run goes on across it.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.rounds(id).unwrap(), read);
    record(&store, &mut d, &[quiet(id, 11), quiet(id, 12)]);
    let last = store.rounds(id).unwrap().pop().unwrap();
    assert_eq!(
        (last.number, last.count, last.last_at),
        (11, 2, Some(t(112)))
    );
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
