//! [`DeploymentStore`]: exact round-trips, one active deployment per
//! target, revision-guarded changes that are all-or-nothing, queries and
//! ordering.

use jiff::Timestamp;
use zion_core::analysis::Verdict;
use zion_core::deployment::{
    BlueGreenPlan, Deployment, DeploymentType, Phase, Plan, PlanCommon, Progress,
};
use zion_core::spec::Bound;

use super::fixtures::{created, deployment, event, metrics, moved, round, t};
use crate::{DeploymentFilter, DeploymentStore, StoreError};

/// A created deployment gets a new id (the given one is ignored) and revision
/// 1, reads back equal with its first event, and ids grow.
pub fn create_assigns_id_and_revision_and_round_trips<S: DeploymentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let d = deployment("web", "staging", "1.0.0", 0);
    let first = created(&d);
    let stored = store.create_deployment(&d, &first, None).unwrap();

    assert_ne!(stored.id, d.id, "the given id is ignored");
    assert_eq!(stored.revision, 1);
    assert_eq!(stored, {
        let mut e = d.clone();
        e.id = stored.id;
        e.revision = 1;
        e
    });
    assert_eq!(store.deployment(stored.id).unwrap(), Some(stored.clone()));
    assert_eq!(store.events(stored.id).unwrap(), vec![first]);
    assert_eq!(store.rounds(stored.id).unwrap(), vec![]);
    assert_eq!(store.deployment(stored.id + 1).unwrap(), None);

    let second = store
        .create_deployment(
            &deployment("web", "production", "1.0.0", 1),
            &created(&d),
            None,
        )
        .unwrap();
    assert!(
        second.id > stored.id,
        "ids grow: {} then {}",
        stored.id,
        second.id
    );
}

/// A change of every field reads back exactly; events and rounds append in
/// order across changes.
pub fn record_round_trips_every_field_events_and_rounds<S: DeploymentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let d = deployment("web", "production", "2.0.0", 0);
    let first = created(&d);
    let stored = store.create_deployment(&d, &first, None).unwrap();

    // Every field changed, options set, awkward values throughout.
    let mut next = stored.clone();
    next.version = "2.0.0-rc.1+build.7".to_string();
    next.previous_version = None;
    next.kind = DeploymentType::Hotfix;
    next.phase = Phase::Progressing;
    next.step = Some(u32::MAX);
    next.canary_weight = 100;
    next.requested_by = "bob ünïcødé 'quoted'".to_string();
    next.started_at = Some(t(1));
    next.finished_at = Some(Timestamp::new(1_750_000_002, 1).unwrap());
    next.reason = Some("step 1: weight 5%".to_string());
    // Another kind of plan, so the derived strategy changes too.
    next.plan = Plan::BlueGreen {
        common: PlanCommon {
            min_requests: u64::MAX,
            ..next.plan.common().clone()
        },
        blue_green: BlueGreenPlan {
            auto_promotion: Some(std::time::Duration::from_millis(1500)),
            scale_down_delay: std::time::Duration::from_secs(30),
        },
    };
    next.progress = Progress {
        ready_at: Some(t(2)),
        step_started_at: Some(t(3)),
        paused_at: None,
        last_round_at: Some(t(4)),
        rounds: 7,
        consecutive_failures: 1,
        step_passes: 3,
        step_last_failed: true,
        batch_ready_at: Some(t(5)),
        inconclusive_since: Some(t(6)),
        hooks: zion_core::hooks::HookProgress {
            done: vec![zion_core::hooks::HookCall::new(
                zion_core::hooks::HookPoint::PreStep,
                Some(2),
            )],
            refused_at: Some(t(7)),
            refusal: Some("exited with 1\nnot yet ünïcødé 'quoted'".to_string()),
        },
        router_refused: Some("HAProxy refused `set weight`".into()),
    };
    next.revision = 2;
    let e1 = event(Phase::Pending, Phase::Progressing, 1, "started");
    let e2 = event(Phase::Progressing, Phase::Progressing, 2, "weight 5%");
    let r1 = round(stored.id, 1, Verdict::Fail);
    store
        .record(&next, &[e1.clone(), e2.clone()], std::slice::from_ref(&r1))
        .unwrap();

    assert_eq!(store.deployment(stored.id).unwrap(), Some(next.clone()));
    assert_eq!(
        store.events(stored.id).unwrap(),
        vec![first.clone(), e1.clone(), e2.clone()]
    );
    assert_eq!(store.rounds(stored.id).unwrap(), vec![r1.clone()]);

    // Events and rounds append in order across changes.
    let later = moved(&next, Phase::Paused, 5);
    let e3 = event(Phase::Progressing, Phase::Paused, 5, "paused by bob");
    let r2 = round(stored.id, 2, Verdict::Inconclusive);
    store
        .record(&later, std::slice::from_ref(&e3), std::slice::from_ref(&r2))
        .unwrap();
    assert_eq!(store.deployment(stored.id).unwrap(), Some(later));
    assert_eq!(store.events(stored.id).unwrap(), vec![first, e1, e2, e3]);
    assert_eq!(store.rounds(stored.id).unwrap(), vec![r1, r2]);
}

/// One active deployment per target: a deployment in any non-terminal phase
/// refuses a second one (`TargetBusy` naming it, nothing written); one in a
/// terminal phase does not.
pub fn target_is_busy_in_every_non_terminal_phase_and_free_in_every_terminal_one<
    S: DeploymentStore,
>(
    fresh: impl Fn() -> S,
) {
    for phase in Phase::ALL {
        let store = fresh();
        let mut first = deployment("web", "production", "1.0.0", 0);
        first.phase = phase;
        let first = store
            .create_deployment(&first, &created(&first), None)
            .unwrap();

        let second = deployment("web", "production", "1.1.0", 1);
        let result = store.create_deployment(&second, &created(&second), None);
        if phase.is_terminal() {
            let ok = result.unwrap_or_else(|e| panic!("{phase} should free the target: {e}"));
            assert_eq!(ok.version, "1.1.0");
        } else {
            match result {
                Err(StoreError::TargetBusy {
                    id,
                    service,
                    environment,
                    phase: busy,
                }) => {
                    assert_eq!((id, busy), (first.id, phase));
                    assert_eq!(
                        (service.as_str(), environment.as_str()),
                        ("web", "production")
                    );
                }
                other => panic!("{phase}: expected TargetBusy, got {other:?}"),
            }
            // The refused creator left nothing behind.
            assert_eq!(
                store
                    .deployments(&DeploymentFilter::default())
                    .unwrap()
                    .len(),
                1
            );
        }
    }
}

/// A busy target stays refused while its deployment moves on, frees up once
/// it finishes, and other targets are independent.
pub fn busy_target_is_refused_until_its_deployment_finishes<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let a = deployment("web", "production", "1.0.0", 0);
    let a = store.create_deployment(&a, &created(&a), None).unwrap();

    let b = deployment("web", "production", "1.1.0", 1);
    let err = store.create_deployment(&b, &created(&b), None).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, StoreError::TargetBusy { id, .. } if id == a.id),
        "{err:?}"
    );
    assert!(
        message.contains(&format!("#{}", a.id)) && message.contains("abort"),
        "{message}"
    );

    // Other targets are independent.
    for (service, environment) in [("web", "staging"), ("api", "production")] {
        let other = deployment(service, environment, "1.1.0", 1);
        store
            .create_deployment(&other, &created(&other), None)
            .unwrap();
    }

    let progressing = moved(&a, Phase::Progressing, 2);
    store.record(&progressing, &[], &[]).unwrap();
    assert!(matches!(
        store.create_deployment(&b, &created(&b), None),
        Err(StoreError::TargetBusy { .. })
    ));
    store
        .record(&moved(&progressing, Phase::RolledBack, 3), &[], &[])
        .unwrap();
    let b = store.create_deployment(&b, &created(&b), None).unwrap();
    assert_eq!(
        store.deployment(b.id).unwrap().unwrap().phase,
        Phase::Pending
    );
}

/// A finished deployment moved back to an active phase beside the target's
/// new active one is refused, and nothing of that change is written.
pub fn a_finished_deployment_cannot_come_back_beside_an_active_one<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let a = deployment("web", "production", "1.0.0", 0);
    let a = store.create_deployment(&a, &created(&a), None).unwrap();
    let failed = moved(&a, Phase::Failed, 1);
    store.record(&failed, &[], &[]).unwrap();
    let b = deployment("web", "production", "1.1.0", 2);
    let b = store.create_deployment(&b, &created(&b), None).unwrap();

    let revived = moved(&failed, Phase::Progressing, 3);
    let err = store
        .record(
            &revived,
            &[event(Phase::Failed, Phase::Progressing, 3, "x")],
            &[],
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TargetBusy { id, .. } if id == b.id),
        "{err:?}"
    );
    assert_eq!(store.deployment(a.id).unwrap(), Some(failed));
    assert_eq!(store.events(a.id).unwrap().len(), 1);
}

/// A change whose revision is not exactly the next one (stale, skipping,
/// zero) is a `Conflict` that writes nothing; an unknown id is `NotFound`.
pub fn stale_revision_is_a_conflict_and_writes_nothing<S: DeploymentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let d = deployment("web", "production", "1.0.0", 0);
    let d = store.create_deployment(&d, &created(&d), None).unwrap();
    let v2 = moved(&d, Phase::Progressing, 1);
    store
        .record(
            &v2,
            &[event(Phase::Pending, Phase::Progressing, 1, "go")],
            &[round(d.id, 1, Verdict::Pass)],
        )
        .unwrap();
    let events_before = store.events(d.id).unwrap();
    let rounds_before = store.rounds(d.id).unwrap();

    // Someone else's change based on revision 1 (also revision 2), then one
    // that skips a revision, then one from before creation.
    let stale = moved(&d, Phase::Paused, 2);
    let mut skipping = moved(&v2, Phase::Paused, 2);
    skipping.revision += 1;
    let mut zero = v2.clone();
    zero.revision = 0;
    for bad in [stale, skipping, zero] {
        let err = store
            .record(
                &bad,
                &[event(Phase::Progressing, Phase::Paused, 2, "stale")],
                &[round(d.id, 2, Verdict::Pass)],
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { id } if id == d.id),
            "{err:?}"
        );
        assert!(err.to_string().contains("retry"), "{err}");
    }
    assert_eq!(store.deployment(d.id).unwrap(), Some(v2.clone()));
    assert_eq!(store.events(d.id).unwrap(), events_before);
    assert_eq!(store.rounds(d.id).unwrap(), rounds_before);

    let mut missing = moved(&v2, Phase::Paused, 3);
    missing.id = d.id + 100;
    assert!(matches!(
        store.record(&missing, &[], &[]),
        Err(StoreError::NotFound { id }) if id == d.id + 100
    ));
}

/// A change refused after part of it was written (a round recorded twice)
/// leaves nothing behind, and the same revision can then be recorded.
pub fn a_change_that_fails_half_way_is_rolled_back_entirely<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = deployment("web", "production", "1.0.0", 0);
    let d = store.create_deployment(&d, &created(&d), None).unwrap();
    let v2 = moved(&d, Phase::Progressing, 1);
    store
        .record(&v2, &[], &[round(d.id, 1, Verdict::Pass)])
        .unwrap();

    // The update and the events succeed inside the transaction; the repeated
    // round number then fails, and none of it may remain.
    let v3 = moved(&v2, Phase::Paused, 2);
    let err = store
        .record(
            &v3,
            &[event(Phase::Progressing, Phase::Paused, 2, "pause")],
            &[round(d.id, 2, Verdict::Pass), round(d.id, 1, Verdict::Fail)],
        )
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("round 1")),
        "{err:?}"
    );
    assert_eq!(store.deployment(d.id).unwrap(), Some(v2.clone()));
    assert_eq!(store.events(d.id).unwrap().len(), 1);
    assert_eq!(
        store.rounds(d.id).unwrap(),
        vec![round(d.id, 1, Verdict::Pass)]
    );

    // The same revision then records fine: nothing was consumed.
    store
        .record(&v3, &[], &[round(d.id, 2, Verdict::Pass)])
        .unwrap();
    assert_eq!(store.deployment(d.id).unwrap().unwrap().revision, 3);
}

/// A NaN, a round of another deployment or a sub-millisecond duration is
/// refused as `Invalid` rather than stored altered.
pub fn values_that_would_not_read_back_exactly_are_refused<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = deployment("web", "production", "1.0.0", 0);
    let d = store.create_deployment(&d, &created(&d), None).unwrap();

    let mut bad_round = round(d.id, 1, Verdict::Pass);
    bad_round.canary.health = Some(f64::NAN);
    let err = store
        .record(&moved(&d, Phase::Progressing, 1), &[], &[bad_round])
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    let other = round(d.id + 1, 1, Verdict::Pass);
    let err = store
        .record(&moved(&d, Phase::Progressing, 1), &[], &[other])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("belongs to")),
        "{err:?}"
    );

    let mut sub_ms = moved(&d, Phase::Progressing, 1);
    sub_ms.plan.common_mut().interval = std::time::Duration::from_micros(1500);
    assert!(matches!(
        store.record(&sub_ms, &[], &[]),
        Err(StoreError::Invalid(_))
    ));

    assert_eq!(store.deployment(d.id).unwrap(), Some(d.clone()));
    assert!(store.rounds(d.id).unwrap().is_empty());
}

/// Creates a finished deployment (so the next one on the target is allowed).
fn finished(
    store: &impl DeploymentStore,
    service: &str,
    env: &str,
    version: &str,
    at: i64,
    phase: Phase,
) -> i64 {
    let d = deployment(service, env, version, at);
    let d = store.create_deployment(&d, &created(&d), None).unwrap();
    store.record(&moved(&d, phase, at), &[], &[]).unwrap();
    d.id
}

fn ids(list: &[Deployment]) -> Vec<i64> {
    list.iter().map(|d| d.id).collect()
}

/// `deployments` filters by service, environment, creation time (inclusive,
/// to the nanosecond), finishing time, an id to list below and limit,
/// newest first.
pub fn deployments_filter_and_order_newest_first<S: DeploymentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let a = finished(&store, "web", "staging", "1", 0, Phase::Succeeded);
    let b = finished(&store, "web", "production", "1", 10, Phase::Succeeded);
    let c = finished(&store, "api", "staging", "7", 20, Phase::Failed);
    let d = finished(&store, "web", "staging", "2", 30, Phase::RolledBack);
    let e = deployment("web", "staging", "3", 40);
    let e = store.create_deployment(&e, &created(&e), None).unwrap().id;

    let all = store.deployments(&DeploymentFilter::default()).unwrap();
    assert_eq!(ids(&all), vec![e, d, c, b, a]);

    let filter = |service: Option<&str>, env: Option<&str>, since: Option<Timestamp>, limit| {
        ids(&store
            .deployments(&DeploymentFilter {
                service: service.map(String::from),
                environment: env.map(String::from),
                since,
                limit,
                ..DeploymentFilter::default()
            })
            .unwrap())
    };
    assert_eq!(filter(Some("web"), None, None, None), vec![e, d, b, a]);
    assert_eq!(filter(None, Some("staging"), None, None), vec![e, d, c, a]);
    assert_eq!(
        filter(Some("web"), Some("staging"), None, None),
        vec![e, d, a]
    );
    assert_eq!(filter(Some("nope"), None, None, None), Vec::<i64>::new());
    // `since` is inclusive and exact to the nanosecond.
    assert_eq!(filter(None, None, Some(t(20)), None), vec![e, d, c]);
    let just_after = t(20)
        .checked_add(jiff::SignedDuration::from_nanos(1))
        .unwrap();
    assert_eq!(filter(None, None, Some(just_after), None), vec![e, d]);
    assert_eq!(filter(None, None, None, Some(2)), vec![e, d]);
    assert_eq!(filter(None, None, None, Some(0)), Vec::<i64>::new());
    assert_eq!(filter(Some("web"), None, Some(t(5)), Some(2)), vec![e, d]);
    // Below an id: the next page of a list newest first, with the other
    // filters and the limit.
    let before = |service: Option<&str>, id, limit| {
        ids(&store
            .deployments(&DeploymentFilter {
                service: service.map(String::from),
                before: Some(id),
                limit,
                ..DeploymentFilter::default()
            })
            .unwrap())
    };
    assert_eq!(before(None, e, Some(2)), vec![d, c]);
    assert_eq!(before(None, c, Some(2)), vec![b, a]);
    assert_eq!(before(Some("web"), d, None), vec![b, a]);
    assert_eq!(before(None, a, None), Vec::<i64>::new());
    // Finished at or after an instant, or still running (e): what a
    // report's period reads.
    let finished_since = |at| {
        ids(&store
            .deployments(&DeploymentFilter {
                finished_since: Some(at),
                ..DeploymentFilter::default()
            })
            .unwrap())
    };
    assert_eq!(finished_since(t(20)), vec![e, d, c]);
    assert_eq!(finished_since(just_after), vec![e, d]);
    assert_eq!(finished_since(t(0)), vec![e, d, c, b, a]);
}

/// `active_deployments` lists the non-terminal ones, oldest first.
pub fn active_deployments_are_the_unfinished_ones_oldest_first<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    assert!(store.active_deployments().unwrap().is_empty());
    finished(&store, "web", "staging", "1", 0, Phase::Succeeded);
    let mut ids_active = Vec::new();
    for (i, (service, phase)) in [
        ("a", Phase::Progressing),
        ("b", Phase::AwaitingApproval),
        ("c", Phase::Cancelled),
        ("d", Phase::RollingBack),
        ("e", Phase::Expired),
    ]
    .into_iter()
    .enumerate()
    {
        let d = deployment(service, "production", "1", i as i64);
        let d = store.create_deployment(&d, &created(&d), None).unwrap();
        store.record(&moved(&d, phase, i as i64), &[], &[]).unwrap();
        if !phase.is_terminal() {
            ids_active.push(d.id);
        }
    }
    let active = store.active_deployments().unwrap();
    assert_eq!(ids(&active), ids_active);
    assert_eq!(
        active.iter().map(|d| d.phase).collect::<Vec<_>>(),
        vec![
            Phase::Progressing,
            Phase::AwaitingApproval,
            Phase::RollingBack
        ]
    );
}

/// `outcome_counts` counts the deployments that ended, per target and
/// terminal phase, in order; active ones and empty counts are left out.
pub fn outcome_counts_count_the_finished_ones_per_target_and_phase<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    assert!(store.outcome_counts().unwrap().is_empty());
    let mut at = 0;
    for (service, env, phase) in [
        ("web", "staging", Phase::Succeeded),
        ("web", "production", Phase::Succeeded),
        ("web", "production", Phase::RolledBack),
        ("web", "production", Phase::Succeeded),
        ("api", "production", Phase::Failed),
    ] {
        finished(&store, service, env, &at.to_string(), at, phase);
        at += 1;
    }
    let d = deployment("api", "production", "9", at);
    let d = store.create_deployment(&d, &created(&d), None).unwrap();
    store
        .record(&moved(&d, Phase::Progressing, at), &[], &[])
        .unwrap();
    let counts: Vec<(String, String, Phase, u64)> = store
        .outcome_counts()
        .unwrap()
        .into_iter()
        .map(|c| (c.service, c.environment, c.phase, c.count))
        .collect();
    let row = |s: &str, e: &str, p, n| (s.to_owned(), e.to_owned(), p, n);
    let mut expected = vec![
        row("api", "production", Phase::Failed, 1),
        row("web", "production", Phase::RolledBack, 1),
        row("web", "production", Phase::Succeeded, 2),
        row("web", "staging", Phase::Succeeded, 1),
    ];
    // By phase name, as the database orders text.
    expected.sort_by(|a, b| (&a.0, &a.1, a.2.name()).cmp(&(&b.0, &b.1, b.2.name())));
    assert_eq!(counts, expected);
}

/// `stable_version` and `succeeded` follow succeeded deployments only, per
/// target, newest first.
pub fn stable_version_follows_succeeded_deployments_only<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    assert_eq!(store.stable_version("web", "production").unwrap(), None);

    finished(&store, "web", "production", "1.0", 0, Phase::Succeeded);
    assert_eq!(
        store
            .stable_version("web", "production")
            .unwrap()
            .as_deref(),
        Some("1.0")
    );

    for (i, phase) in [Phase::RolledBack, Phase::Failed, Phase::Cancelled]
        .into_iter()
        .enumerate()
    {
        finished(
            &store,
            "web",
            "production",
            &format!("bad-{i}"),
            1 + i as i64,
            phase,
        );
    }
    let running = deployment("web", "production", "1.2", 10);
    let running = store
        .create_deployment(&running, &created(&running), None)
        .unwrap();
    assert_eq!(
        store
            .stable_version("web", "production")
            .unwrap()
            .as_deref(),
        Some("1.0")
    );

    store
        .record(&moved(&running, Phase::Succeeded, 11), &[], &[])
        .unwrap();
    assert_eq!(
        store
            .stable_version("web", "production")
            .unwrap()
            .as_deref(),
        Some("1.2")
    );
    // Other targets are their own.
    assert_eq!(store.stable_version("web", "staging").unwrap(), None);
    finished(&store, "web", "staging", "9.9", 12, Phase::Succeeded);
    assert_eq!(
        store
            .stable_version("web", "production")
            .unwrap()
            .as_deref(),
        Some("1.2")
    );

    finished(&store, "web", "production", "1.3", 13, Phase::Succeeded);
    let versions = |limit| {
        store
            .succeeded("web", "production", limit)
            .unwrap()
            .into_iter()
            .map(|d| d.version)
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(10), vec!["1.3", "1.2", "1.0"]);
    assert_eq!(versions(2), vec!["1.3", "1.2"]);
    assert_eq!(versions(0), Vec::<String>::new());
}

/// `has_succeeded` is true only for that exact version on that target, and
/// stays true after a later failure of the same version.
pub fn has_succeeded_only_for_that_version_on_that_target<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    assert!(!store.has_succeeded("web", "staging", "1.0").unwrap());

    finished(&store, "web", "staging", "1.0", 0, Phase::Succeeded);
    finished(&store, "web", "staging", "2.0", 1, Phase::Failed);
    finished(&store, "web", "staging", "3.0", 2, Phase::RolledBack);
    finished(&store, "api", "staging", "4.0", 3, Phase::Succeeded);
    // Still on its way: not succeeded yet.
    let running = deployment("web", "production", "1.0", 4);
    let running = store
        .create_deployment(&running, &created(&running), None)
        .unwrap();

    assert!(store.has_succeeded("web", "staging", "1.0").unwrap());
    assert!(
        !store.has_succeeded("web", "staging", "2.0").unwrap(),
        "failed"
    );
    assert!(
        !store.has_succeeded("web", "staging", "3.0").unwrap(),
        "rolled back"
    );
    assert!(
        !store.has_succeeded("web", "staging", "9.9").unwrap(),
        "never deployed"
    );
    assert!(
        !store.has_succeeded("web", "staging", "1.0.0").unwrap(),
        "versions are exact"
    );
    assert!(
        !store.has_succeeded("web", "staging", "4.0").unwrap(),
        "other service"
    );
    assert!(
        !store.has_succeeded("web", "production", "1.0").unwrap(),
        "other environment"
    );
    assert!(store.has_succeeded("api", "staging", "4.0").unwrap());

    store
        .record(&moved(&running, Phase::Succeeded, 5), &[], &[])
        .unwrap();
    assert!(store.has_succeeded("web", "production", "1.0").unwrap());
    // A later failure of the same version does not undo an earlier success.
    finished(&store, "web", "staging", "1.0", 6, Phase::Failed);
    assert!(store.has_succeeded("web", "staging", "1.0").unwrap());
}

/// One sample of [`round_trips_exactly`]: an instant and figures that
/// must come back bit for bit.
#[derive(Debug, Clone, Copy)]
pub struct RoundTripSample {
    /// The canary's p95 latency: any finite figure.
    pub p95: f64,
    /// A baseline ratio bound: any positive figure.
    pub ratio: f64,
    pub requests: u64,
    /// The deployment's creation and the round's time.
    pub at: Timestamp,
}

/// A deployment created at `sample.at` and a round of its figures read
/// back exactly (what the property test of an implementation feeds with
/// generated samples).
pub fn round_trips_exactly<S: DeploymentStore>(fresh: impl Fn() -> S, sample: RoundTripSample) {
    let store = fresh();
    let mut d = deployment("web", "production", "1", 0);
    d.created_at = sample.at;
    let d = store.create_deployment(&d, &created(&d), None).unwrap();
    assert_eq!(
        store.deployment(d.id).unwrap().unwrap().created_at,
        sample.at
    );

    let mut r = round(d.id, 1, Verdict::Pass);
    r.at = sample.at;
    r.canary = metrics(sample.requests, sample.p95);
    r.checks[1].bound = Bound::MaxRatioToBaseline(sample.ratio);
    store
        .record(
            &moved(&d, Phase::Progressing, 1),
            &[],
            std::slice::from_ref(&r),
        )
        .unwrap();
    assert_eq!(store.rounds(d.id).unwrap(), vec![r]);
}

/// Extreme instants and figures (the ends of the supported range,
/// subnormal, zero and huge floats) read back exactly.
pub fn extreme_values_round_trip_exactly<S: DeploymentStore>(fresh: impl Fn() -> S) {
    let at = |secs, nanos| Timestamp::new(secs, nanos).unwrap();
    for sample in [
        RoundTripSample {
            p95: 0.1 + 0.2,
            ratio: 1.0 / 3.0,
            requests: 0,
            at: at(-62_000_000_000, 0),
        },
        RoundTripSample {
            p95: 5e-324,
            ratio: f64::MIN_POSITIVE,
            requests: u64::MAX,
            at: at(249_999_999_999, 999_999_999),
        },
        RoundTripSample {
            p95: -0.0,
            ratio: f64::MAX,
            requests: 1,
            at: at(0, 1),
        },
        RoundTripSample {
            p95: f64::MAX,
            ratio: 1e-300,
            requests: 1 << 53,
            at: at(-1, 999_999_999),
        },
        RoundTripSample {
            p95: -1.5e300,
            ratio: 17.000_000_000_000_004,
            requests: (1 << 53) + 1,
            at: at(1_750_000_000, 123_456_789),
        },
    ] {
        round_trips_exactly(&fresh, sample);
    }
}
