//! Durability and schema versions: reopened files hold everything; migrations
//! run once; a database from a newer Zion is refused, untouched.

use rusqlite::Connection;
use zion_core::analysis::Verdict;
use zion_core::deployment::{Deployment, Phase};
use zion_core::governance::Gate;
use zion_core::import::parse_all;
use zion_core::spec::Role;
use zion_store::{
    AuditFilter, AuditStore, Change, DeploymentStore, HistoryFilter, HistoryStore, IncidentChange,
    IncidentFilter, IncidentStore, NewIncident, ProcessStore, SCHEMA_VERSION, SpecStore,
    SqliteStore, StoreError, StoredProcess, TokenRecord, TokenStore,
};

use crate::support::{
    HISTORY, audit_about, audit_batch, created, deployment, event, import_batch, moved,
    new_incident, open, round, t,
};

fn user_version(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn everything_written_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployment("web", "production", "1.0.0", 0);
    let token = TokenRecord {
        name: "ci".into(),
        role: Role::Deployer,
        hash_hex: "ab".repeat(32),
        github_login: Some("octocat".into()),
        created_at: t(1),
        revoked_at: None,
    };
    let process = StoredProcess {
        host: "box/0f/1a2b/4026531836".into(),
        pid: 4321,
        start_ticks: 987_654_321,
        service: "web".into(),
        environment: "production".into(),
        version: "1.0.0".into(),
        port: 41_000,
    };
    let (stored, next, events, rounds) = {
        let store = open(dir.path());
        let stored = store.create_deployment(&d, &created(&d), None).unwrap();
        let next = moved(&stored, Phase::Progressing, 1);
        let e = event(Phase::Pending, Phase::Progressing, 1, "started");
        let r = round(stored.id, 1, Verdict::Pass);
        store
            .record(&next, std::slice::from_ref(&e), std::slice::from_ref(&r))
            .unwrap();
        store
            .save_spec("services: []\n", &"0f".repeat(32), "admin", t(2), None)
            .unwrap();
        store.create_token(&token, None).unwrap();
        store.record_process(&process).unwrap();
        (stored, next, vec![created(&d), e], vec![r])
    };

    let store = open(dir.path());
    assert_eq!(store.deployment(stored.id).unwrap(), Some(next.clone()));
    assert_eq!(store.active_deployments().unwrap(), vec![next]);
    assert_eq!(store.events(stored.id).unwrap(), events);
    assert_eq!(store.rounds(stored.id).unwrap(), rounds);
    let spec = store.latest_spec().unwrap().unwrap();
    assert_eq!(
        (spec.yaml.as_str(), spec.applied_at),
        ("services: []\n", t(2))
    );
    assert_eq!(store.tokens().unwrap(), vec![token]);
    assert_eq!(store.processes().unwrap(), vec![process]);
    // The busy rule survives a restart too.
    let again = deployment("web", "production", "2.0.0", 3);
    assert!(matches!(
        store.create_deployment(&again, &created(&again), None),
        Err(StoreError::TargetBusy { id, .. }) if id == stored.id
    ));
}

#[test]
fn the_audit_log_reads_the_same_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, checkpoints) = {
        let store = open(dir.path());
        store.append_audit(&audit_batch(0, 3)).unwrap();
        store.append_audit(&audit_batch(3, 5)).unwrap();
        (
            store.audit_entries(&AuditFilter::default()).unwrap(),
            store.audit_checkpoints().unwrap(),
        )
    };
    let store = open(dir.path());
    assert_eq!(store.audit_size().unwrap(), 5);
    assert_eq!(
        store.audit_entries(&AuditFilter::default()).unwrap(),
        entries
    );
    assert_eq!(store.audit_checkpoints().unwrap(), checkpoints);
    assert_eq!(store.audit_nodes(&[(0, 4)]).unwrap(), vec![Some([4; 32])]);
    // The log goes on from where it was.
    store.append_audit(&audit_batch(5, 6)).unwrap();
    assert_eq!(store.audit_size().unwrap(), 6);
}

#[test]
fn specs_tokens_and_incidents_with_their_entries_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let incident = {
        let store = open(dir.path());
        store
            .save_spec(
                "a: 1\n",
                &"ab".repeat(32),
                "alice",
                t(1),
                Some(&audit_about(0, 1, "spec")),
            )
            .unwrap();
        let token = TokenRecord {
            name: "ci".into(),
            role: Role::Deployer,
            hash_hex: "c1".repeat(32),
            github_login: None,
            created_at: t(2),
            revoked_at: None,
        };
        store
            .create_token(&token, Some(&audit_about(1, 2, "token/ci")))
            .unwrap();
        assert!(
            store
                .revoke_token("ci", t(3), Some(&audit_about(2, 3, "token/ci")))
                .unwrap()
        );
        let opened = store
            .open_incident(&new_incident("web", "production", 4))
            .unwrap();
        store
            .resolve_incident(
                opened.id,
                "alice",
                t(5),
                "fixed",
                Some(&audit_about(3, 4, &format!("incident/{}", opened.id))),
            )
            .unwrap()
    };
    let store = open(dir.path());
    assert_eq!(store.audit_size().unwrap(), 4);
    assert_eq!(store.latest_spec().unwrap().unwrap().yaml, "a: 1\n");
    assert_eq!(store.tokens().unwrap()[0].revoked_at, Some(t(3)));
    assert_eq!(store.incident(incident.id).unwrap(), Some(incident));
}

#[test]
fn an_incident_reads_the_same_after_reopening_and_ids_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let opened = {
        let store = open(dir.path());
        let d = deployment("web", "production", "2.0", 0);
        let d = store.create_deployment(&d, &created(&d), None).unwrap();
        store
            .open_incident(&NewIncident {
                deployment_id: Some(d.id),
                reason: "latency ✗ — p95 3× baseline".to_string(),
                ..new_incident("web", "production", 7)
            })
            .unwrap()
    };
    let store = open(dir.path());
    assert_eq!(store.incident(opened.id).unwrap(), Some(opened.clone()));
    let second = store
        .open_incident(&new_incident("web", "production", 8))
        .unwrap();
    assert!(second.id > opened.id, "ids grow");
}

#[test]
fn imported_history_reads_back_exactly_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let records = parse_all(HISTORY).unwrap();
    open(dir.path())
        .import_history(&import_batch(&records), None)
        .unwrap();

    let store = open(dir.path());
    assert_eq!(store.imported_counts().unwrap(), (2, 1));
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
    // The same records again add nothing, after the reopen too.
    let again = store.import_history(&import_batch(&records), None).unwrap();
    assert_eq!((again.import_id, again.unchanged), (None, 3));
}

#[test]
fn the_file_is_in_wal_mode_and_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let mode: String = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    // Reopening finds nothing to apply (re-running CREATE TABLE would fail).
    for _ in 0..3 {
        let store = SqliteStore::open(&path).unwrap();
        let d = deployment("web", "staging", "1", 0);
        let d = store.create_deployment(&d, &created(&d), None).unwrap();
        store
            .record(&moved(&d, Phase::Succeeded, 1), &[], &[])
            .unwrap();
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.succeeded("web", "staging", 10).unwrap().len(), 3);
}

/// `plan` as the first Zion wrote it: no `kind`; the policy it carries
/// (steps, `blue_green`, `rolling`) says which.
fn legacy_plan(plan: &zion_core::deployment::Plan) -> String {
    let mut v = serde_json::to_value(plan).unwrap();
    v.as_object_mut().unwrap().remove("kind").unwrap();
    v.to_string()
}

/// A database as the first Zion left it: schema 1 only, with one finished
/// deployment written the way that Zion wrote it (no gate column yet).
fn schema_1_database(path: &std::path::Path, d: &Deployment) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("../../migrations/0001_initial.sql"))
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let time = |ts: jiff::Timestamp| format!("{ts:.9}");
    conn.query_row(
        "INSERT INTO deployments (service, environment, version, previous_version, strategy, \
         type, phase, step, canary_weight, requested_by, created_at, started_at, finished_at, \
         reason, plan, progress, revision) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
         RETURNING id",
        rusqlite::params![
            d.service,
            d.environment,
            d.version,
            d.previous_version,
            // The first Zion labelled every deployment with the strategy
            // asked for; the label is now read from the plan instead.
            "canary",
            d.kind.name(),
            d.phase.name(),
            d.step,
            d.canary_weight,
            d.requested_by,
            time(d.created_at),
            d.started_at.map(time),
            d.finished_at.map(time),
            d.reason,
            legacy_plan(&d.plan),
            serde_json::to_string(&d.progress).unwrap(),
            i64::try_from(d.revision).unwrap(),
        ],
        |row| row.get(0),
    )
    .unwrap()
}

#[test]
fn a_schema_1_database_is_migrated_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    let mut old = moved(
        &deployment("web", "staging", "1.0.0", 0),
        Phase::Succeeded,
        1,
    );
    old.revision = 3;
    old.started_at = Some(t(0));
    old.step = Some(2);
    old.canary_weight = 100;
    let id = schema_1_database(&path, &old);
    assert_eq!(user_version(&path), 1);
    // A process recorded before hosts were: it keeps its fields, host ''.
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO processes (pid, start_ticks, service, environment, version, port) \
             VALUES (77, 12345, 'web', 'staging', '1.0.0', 41000)",
            [],
        )
        .unwrap();

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let legacy = StoredProcess {
        host: String::new(),
        pid: 77,
        start_ticks: 12_345,
        service: "web".into(),
        environment: "staging".into(),
        version: "1.0.0".into(),
        port: 41_000,
    };
    assert_eq!(store.processes().unwrap(), vec![legacy.clone()]);
    store.forget_process("elsewhere", 77).unwrap();
    assert_eq!(store.processes().unwrap(), vec![legacy]);
    store.forget_process("", 77).unwrap();
    assert!(store.processes().unwrap().is_empty());
    let read = store.deployment(id).unwrap().unwrap();
    assert_eq!(read.gate, Gate::default());
    assert_eq!(read, Deployment { id, ..old });

    // What the new schema adds works on the migrated file.
    assert!(store.has_succeeded("web", "staging", "1.0.0").unwrap());
    let next = deployment("web", "staging", "1.1.0", 2);
    let next = store
        .create_deployment(&next, &created(&next), None)
        .unwrap();
    let incident = NewIncident {
        service: "web".into(),
        environment: "staging".into(),
        deployment_id: Some(next.id),
        opened_at: t(3),
        opened_by: "controller".into(),
        reason: "rolled back".into(),
    };
    store
        .record_change(&Change {
            incidents: &[IncidentChange::Open(incident)],
            ..Change::new(&moved(&next, Phase::RolledBack, 3))
        })
        .unwrap();
    assert_eq!(
        store.incidents(&IncidentFilter::default()).unwrap().len(),
        1
    );
    let token = TokenRecord {
        name: "cat".into(),
        role: Role::Approver,
        hash_hex: "cd".repeat(32),
        github_login: Some("OctoCat".into()),
        created_at: t(4),
        revoked_at: None,
    };
    store.create_token(&token, None).unwrap();
    assert_eq!(store.token_by_github("octocat").unwrap(), Some(token));
}

#[test]
fn a_database_from_a_newer_zion_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    drop(SqliteStore::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = SqliteStore::open(&path).unwrap_err();
    match &err {
        StoreError::TooNew { found, known, .. } => {
            assert_eq!((*found, *known), (newer, SCHEMA_VERSION))
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("newer zion"), "{message}");
    assert!(message.contains(&format!("version {newer}")), "{message}");
    assert_eq!(user_version(&path), newer);
}

#[test]
fn a_missing_folder_is_a_clear_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-folder").join("zion.db");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("no-such-folder") && message.contains("writable"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zion.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    assert!(SqliteStore::open(&path).is_err());
}
