//! [`AuditStore`]: appends continue the log exactly, ride in the
//! transaction of the change they describe, and read back byte for byte.

use zion_core::deployment::Phase;
use zion_core::spec::Role;

use super::fixtures::{
    audit_about as about, audit_batch as batch, audit_row as row, deployment, event, t,
};
use crate::{
    AuditFilter, AuditNode, AuditStore, Change, DeploymentStore, GroupWrite, IncidentStore,
    NewIncident, SpecStore, StoreError, TokenRecord, TokenStore,
};

/// Appends continue the log: size, entries byte for byte, nodes (None when
/// not stored) and checkpoints read back.
pub fn appends_continue_the_log_and_read_back_exactly<S: AuditStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert_eq!(store.audit_size().unwrap(), 0);
    store.append_audit(&batch(0, 3)).unwrap();
    store.append_audit(&batch(3, 5)).unwrap();
    assert_eq!(store.audit_size().unwrap(), 5);
    let all = store.audit_entries(&AuditFilter::default()).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[4].index, 4);
    assert_eq!(all[4].entry, row(4, "test.append", "thing/1").entry);
    let nodes = store.audit_nodes(&[(0, 4), (0, 9), (1, 0)]).unwrap();
    assert_eq!(nodes, vec![Some([4; 32]), None, None]);
    let sizes: Vec<u64> = store
        .audit_checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.size)
        .collect();
    assert_eq!(sizes, vec![3, 5]);
}

/// Checkpoints are thinned as each new one is written: the first of each
/// UTC hour and the latest are kept; entries and nodes are untouched.
pub fn checkpoints_thin_to_the_first_of_each_hour_and_the_latest<S: AuditStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    // One entry per append, each signed at the given second after t(0),
    // which is 400 s into an hour H: H gets three appends, H+1 two, H+3 one.
    let seconds = [10, 20, 3_100, 3_300, 6_000, 10_500];
    for (i, at) in seconds.iter().enumerate() {
        let mut b = batch(i as u64, i as u64 + 1);
        b.checkpoint.as_mut().unwrap().signed_at = t(*at);
        store.append_audit(&b).unwrap();
        let kept: Vec<u64> = store
            .audit_checkpoints()
            .unwrap()
            .iter()
            .map(|c| c.size)
            .collect();
        // Hand-computed: the first of each hour so far, then the latest.
        let expected: &[u64] = match i {
            0 => &[1],
            1 => &[1, 2],
            2 => &[1, 3],
            3 => &[1, 4],
            4 => &[1, 4, 5],
            _ => &[1, 4, 6],
        };
        assert_eq!(kept, expected, "after append {i}");
    }
    // Thinning never touches entries or nodes.
    assert_eq!(store.audit_size().unwrap(), 6);
    assert_eq!(store.audit_nodes(&[(0, 2)]).unwrap(), vec![Some([2; 32])]);
}

/// An append that skips, overlaps or has a hole, or rewrites a node with
/// another hash, is refused whole.
pub fn a_gap_an_overlap_or_a_bad_node_writes_nothing<S: AuditStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    store.append_audit(&batch(0, 2)).unwrap();
    for bad in [batch(3, 4), batch(1, 3)] {
        let err = store.append_audit(&bad).unwrap_err();
        assert!(
            matches!(err, StoreError::AuditOutOfOrder { size: 2, .. }),
            "{err}"
        );
    }
    let mut holes = batch(2, 4);
    holes.rows[1].index = 5;
    assert!(store.append_audit(&holes).is_err());
    // A node written again with another hash is refused, with its rows.
    let mut clash = batch(2, 3);
    clash.nodes.push(AuditNode {
        level: 0,
        index: 0,
        hash: [9; 32],
    });
    assert!(store.append_audit(&clash).is_err());
    assert_eq!(store.audit_size().unwrap(), 2);
    assert_eq!(store.audit_checkpoints().unwrap().len(), 1);
}

/// Entries written with a deployment change land with it, and fall with it
/// when the change is refused; out-of-order entries refuse the change.
pub fn entries_ride_in_the_deployment_change_and_fall_with_it<S: AuditStore + DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = store
        .create_deployment(
            &deployment("web", "staging", "1.0", 0),
            &event(Phase::Pending, Phase::Pending, 0, "requested"),
            None,
        )
        .unwrap();
    let mut next = d.clone();
    next.phase = Phase::Progressing;
    next.revision = d.revision + 1;
    let audit = batch(0, 1);
    store
        .record_change(&Change {
            audit: Some(&audit),
            ..Change::new(&next)
        })
        .unwrap();
    assert_eq!(store.audit_size().unwrap(), 1);
    // A stale revision: the change is refused and so are its entries.
    let audit = batch(1, 2);
    let err = store
        .record_change(&Change {
            audit: Some(&audit),
            ..Change::new(&next)
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(store.audit_size().unwrap(), 1);
    // Out-of-order entries refuse the deployment change too.
    let mut later = next.clone();
    later.phase = Phase::Paused;
    later.revision = next.revision + 1;
    let audit = batch(4, 5);
    assert!(
        store
            .record_change(&Change {
                audit: Some(&audit),
                ..Change::new(&later)
            })
            .is_err()
    );
    assert_eq!(
        store.deployment(d.id).unwrap().unwrap().phase,
        Phase::Progressing
    );
}

/// `audit_entries` filters by subject, action, time and limit; `scan_audit`
/// reads from an index, in order, with each leaf, and stops when told.
pub fn filters_select_and_the_scan_reads_in_order_with_leaves<S: AuditStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let mut a = batch(0, 6);
    a.rows[2] = row(2, "token.create", "token/alice");
    a.rows[4] = row(4, "token.revoke", "token/alice");
    store.append_audit(&a).unwrap();
    let by_subject = store
        .audit_entries(&AuditFilter {
            subject: Some("token/alice".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        by_subject.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![2, 4]
    );
    let by_action = store
        .audit_entries(&AuditFilter {
            action: Some("token.create".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_action.len(), 1);
    let since = store
        .audit_entries(&AuditFilter {
            since: Some(t(3)),
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        since.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![3, 4]
    );

    let mut seen = Vec::new();
    store
        .scan_audit(0, &mut |e, leaf| {
            seen.push((e.index, leaf));
            true
        })
        .unwrap();
    assert_eq!(
        seen,
        (0..6).map(|i| (i, Some([i as u8; 32]))).collect::<Vec<_>>()
    );
    let mut first_two = 0;
    store
        .scan_audit(2, &mut |_, _| {
            first_two += 1;
            first_two < 2
        })
        .unwrap();
    assert_eq!(first_two, 2);
}

/// The subjects of every stored entry, in index order.
fn subjects(store: &impl AuditStore) -> Vec<String> {
    store
        .audit_entries(&AuditFilter::default())
        .unwrap()
        .iter()
        .map(|e| {
            let entry: serde_json::Value = serde_json::from_slice(&e.entry).unwrap();
            entry["subject"].as_str().unwrap().to_string()
        })
        .collect()
}

/// A new deployment and the entries its builder makes with the assigned id
/// are one write: a failing builder or out-of-order entries refuse both; a
/// busy target is refused before the builder is called.
pub fn a_new_deployment_and_the_entries_naming_its_id_are_one_write<
    S: AuditStore + DeploymentStore,
>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    store.append_audit(&batch(0, 1)).unwrap();
    let web = deployment("web", "staging", "1.0", 0);
    let first = event(Phase::Pending, Phase::Pending, 0, "requested");

    // Entries that skip an index: refused, and the deployment with them.
    let mut calls = 0;
    let err = store
        .create_deployment(
            &web,
            &first,
            Some(&mut |d| {
                calls += 1;
                Ok(about(2, 3, &format!("deployment/{}", d.id)))
            }),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AuditOutOfOrder { size: 1, first: 2 }),
        "{err}"
    );
    assert_eq!(calls, 1);
    // A builder that fails refuses it too, with the builder's error.
    let err = store
        .create_deployment(
            &web,
            &first,
            Some(&mut |_| Err(StoreError::Invalid("no key".into()))),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref m) if m == "no key"),
        "{err}"
    );
    assert!(store.active_deployments().unwrap().is_empty());
    assert_eq!(store.audit_size().unwrap(), 1);
    assert_eq!(store.audit_checkpoints().unwrap().len(), 1);

    // Entries that continue the log: both are written, and the entry names
    // the id the store assigned.
    let mut seen = None;
    let d = store
        .create_deployment(
            &web,
            &first,
            Some(&mut |d| {
                seen = Some(d.clone());
                Ok(about(1, 2, &format!("deployment/{}", d.id)))
            }),
        )
        .unwrap();
    assert_eq!(seen.as_ref(), Some(&d));
    assert_ne!(d.id, web.id);
    assert_eq!(store.deployment(d.id).unwrap().as_ref(), Some(&d));
    assert_eq!(
        subjects(&store),
        vec!["thing/1".to_string(), format!("deployment/{}", d.id)]
    );
    assert_eq!(store.audit_checkpoints().unwrap().len(), 2);

    // A busy target is refused before any entry is built.
    let mut called = false;
    let err = store
        .create_deployment(
            &web,
            &first,
            Some(&mut |_| {
                called = true;
                Ok(about(2, 3, "deployment/0"))
            }),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::TargetBusy { .. }), "{err}");
    assert!(!called);
    assert_eq!(store.audit_size().unwrap(), 2);
}

/// A spec, a token created or revoked and an incident resolved are written
/// with their entries or not at all.
pub fn specs_tokens_and_incidents_are_written_with_their_entries_or_not_at_all<
    S: AuditStore + SpecStore + TokenStore + IncidentStore,
>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let ahead = |subject: &str| about(7, 8, subject);

    // A spec.
    let sha = "ab".repeat(32);
    let err = store
        .save_spec("a: 1\n", &sha, "alice", t(1), Some(&ahead("spec")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AuditOutOfOrder { size: 0, first: 7 }),
        "{err}"
    );
    assert_eq!(store.latest_spec().unwrap(), None);
    store
        .save_spec("a: 1\n", &sha, "alice", t(1), Some(&about(0, 1, "spec")))
        .unwrap();
    assert_eq!(store.latest_spec().unwrap().unwrap().sha256_hex, sha);

    // A token created.
    let token = TokenRecord {
        name: "ci".into(),
        role: Role::Deployer,
        hash_hex: "c1".repeat(32),
        github_login: None,
        created_at: t(2),
        revoked_at: None,
    };
    let err = store
        .create_token(&token, Some(&ahead("token/ci")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AuditOutOfOrder { size: 1, .. }),
        "{err}"
    );
    assert!(store.tokens().unwrap().is_empty());
    store
        .create_token(&token, Some(&about(1, 2, "token/ci")))
        .unwrap();
    assert_eq!(store.tokens().unwrap(), vec![token.clone()]);

    // A token revoked: refused entries leave it live; no live token, no entry.
    let err = store
        .revoke_token("ci", t(3), Some(&ahead("token/ci")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AuditOutOfOrder { size: 2, .. }),
        "{err}"
    );
    assert_eq!(store.tokens().unwrap()[0].revoked_at, None);
    assert!(
        !store
            .revoke_token("nobody", t(3), Some(&about(2, 3, "token/nobody")))
            .unwrap()
    );
    assert_eq!(store.audit_size().unwrap(), 2);
    assert!(
        store
            .revoke_token("ci", t(3), Some(&about(2, 3, "token/ci")))
            .unwrap()
    );
    assert_eq!(store.tokens().unwrap()[0].revoked_at, Some(t(3)));

    // An incident resolved.
    let opened = store
        .open_incident(&NewIncident {
            service: "web".into(),
            environment: "production".into(),
            deployment_id: None,
            opened_at: t(4),
            opened_by: "controller".into(),
            reason: "rolled back".into(),
        })
        .unwrap();
    let subject = format!("incident/{}", opened.id);
    let err = store
        .resolve_incident(opened.id, "alice", t(5), "fixed", Some(&ahead(&subject)))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AuditOutOfOrder { size: 3, .. }),
        "{err}"
    );
    assert!(store.incident(opened.id).unwrap().unwrap().is_open());
    let resolved = store
        .resolve_incident(
            opened.id,
            "alice",
            t(5),
            "fixed",
            Some(&about(3, 4, &subject)),
        )
        .unwrap();
    assert_eq!(resolved.resolved_at, Some(t(5)));
    assert!(!store.incident(opened.id).unwrap().unwrap().is_open());
    // Resolving it again is refused, and writes no entry.
    let err = store
        .resolve_incident(
            opened.id,
            "bob",
            t(6),
            "again",
            Some(&about(4, 5, &subject)),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyResolved { .. }), "{err}");

    assert_eq!(
        subjects(&store),
        vec!["spec", "token/ci", "token/ci", subject.as_str()]
    );
    let sizes: Vec<u64> = store
        .audit_checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.size)
        .collect();
    // Each change signed its checkpoint; all four in one hour, so the
    // first of the hour and the latest are kept.
    assert_eq!(sizes, vec![1, 4]);
}

/// `audit_snapshot` calls the reader once with what the log holds (its
/// checkpoints and the scan with leaves), and returns the reader's error.
pub fn a_snapshot_reads_what_the_log_holds<S: AuditStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let scanned = |snapshot: &dyn crate::AuditSnapshot, from| {
        let mut seen = Vec::new();
        snapshot
            .scan(from, &mut |e, leaf| {
                seen.push((e, leaf));
                true
            })
            .unwrap();
        seen
    };
    let mut calls = 0;
    store
        .audit_snapshot(&mut |snapshot| {
            calls += 1;
            assert!(snapshot.checkpoints()?.is_empty());
            assert!(scanned(snapshot, 0).is_empty());
            Ok(())
        })
        .unwrap();
    assert_eq!(calls, 1);

    store.append_audit(&batch(0, 3)).unwrap();
    store.append_audit(&batch(3, 4)).unwrap();
    let mut direct = Vec::new();
    store
        .scan_audit(1, &mut |e, leaf| {
            direct.push((e, leaf));
            true
        })
        .unwrap();
    assert_eq!(direct.len(), 3);
    // Read first: the reader must not call the store (it may hold the
    // only connection).
    let checkpoints = store.audit_checkpoints().unwrap();
    assert_eq!(checkpoints.len(), 2);
    store
        .audit_snapshot(&mut |snapshot| {
            assert_eq!(snapshot.checkpoints()?, checkpoints);
            assert_eq!(scanned(snapshot, 1), direct);
            Ok(())
        })
        .unwrap();
    // The reader's error is the snapshot's.
    let err = store
        .audit_snapshot(&mut |_| Err(StoreError::Invalid("stop".into())))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref m) if m == "stop"),
        "{err}"
    );
}

/// A group commit writes each of its changes or refuses it alone (its
/// savepoint), builds the entries of the written ones on the log as the
/// transaction sees it, and commits them with one checkpoint; a failed
/// build, or entries that do not continue the log, write nothing at all.
pub fn a_group_writes_each_change_or_refuses_it_alone<S: AuditStore + DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let create = |service: &str| {
        store
            .create_deployment(
                &deployment(service, "staging", "1.0", 0),
                &event(Phase::Pending, Phase::Pending, 0, "requested"),
                None,
            )
            .unwrap()
    };
    let (a, b) = (create("web"), create("api"));
    store.append_audit(&batch(0, 1)).unwrap();
    let next_a = super::fixtures::moved(&a, Phase::Progressing, 1);
    let mut stale_b = super::fixtures::moved(&b, Phase::Progressing, 1);
    stale_b.revision += 1;
    let writes = [
        GroupWrite::Change {
            change: Change::new(&next_a),
            fence: None,
        },
        GroupWrite::Change {
            change: Change::new(&stale_b),
            fence: None,
        },
        GroupWrite::Entries,
    ];
    let mut seen = None;
    let results = store
        .commit_group(&writes, &mut |tail, written| {
            seen = Some((
                tail.size(),
                tail.nodes(&[(0, 0), (0, 1)])?,
                tail.latest_checkpoint()?.map(|c| c.size),
                written.to_vec(),
            ));
            Ok(batch(1, 3))
        })
        .unwrap();
    assert_eq!(
        seen,
        Some((
            1,
            vec![Some([0; 32]), None],
            Some(1),
            vec![true, false, true]
        ))
    );
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(StoreError::Conflict { id }) if id == b.id),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok());
    assert_eq!(store.deployment(a.id).unwrap().unwrap().revision, 2);
    assert_eq!(store.deployment(b.id).unwrap().unwrap().revision, 1);
    assert_eq!(store.audit_size().unwrap(), 3);
    let sizes: Vec<u64> = store
        .audit_checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.size)
        .collect();
    assert_eq!(sizes.last(), Some(&3));

    // A build that fails, or entries that do not continue the log, refuse
    // the whole group: no change, no entry.
    let next_b = super::fixtures::moved(&b, Phase::Progressing, 2);
    let writes = [GroupWrite::Change {
        change: Change::new(&next_b),
        fence: None,
    }];
    let err = store
        .commit_group(&writes, &mut |_, _| Err(StoreError::Invalid("no".into())))
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = store
        .commit_group(&writes, &mut |_, _| Ok(batch(7, 8)))
        .unwrap_err();
    assert!(matches!(err, StoreError::AuditOutOfOrder { .. }), "{err}");
    assert_eq!(store.deployment(b.id).unwrap().unwrap().revision, 1);
    assert_eq!(store.audit_size().unwrap(), 3);
    // And the same group, built right, is written.
    let results = store
        .commit_group(&writes, &mut |tail, _| {
            Ok(batch(tail.size(), tail.size() + 1))
        })
        .unwrap();
    assert!(results[0].is_ok());
    assert_eq!(store.deployment(b.id).unwrap().unwrap().revision, 2);
    assert_eq!(store.audit_size().unwrap(), 4);
}
