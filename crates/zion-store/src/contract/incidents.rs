//! [`IncidentStore`]: incidents opened alone or with a deployment change
//! (atomically), resolved one by one or a whole target at once, listed and
//! filtered.

use zion_core::deployment::{Deployment, Phase};

use super::fixtures::{created, deployment, event, moved, new_incident, t};
use crate::{
    Change, DeploymentStore, Incident, IncidentChange, IncidentFilter, IncidentStore, NewIncident,
    StoreError,
};

fn resolve_target(service: &str, environment: &str, at: i64, by: &str) -> IncidentChange {
    IncidentChange::ResolveTarget {
        service: service.to_string(),
        environment: environment.to_string(),
        at: t(at),
        by: by.to_string(),
        resolution: format!("{by} deployed a fix"),
    }
}

fn all(store: &impl IncidentStore) -> Vec<Incident> {
    store.incidents(&IncidentFilter::default()).unwrap()
}

fn started(store: &impl DeploymentStore, service: &str, environment: &str) -> Deployment {
    let d = deployment(service, environment, "2.0", 0);
    store.create_deployment(&d, &created(&d), None).unwrap()
}

/// An incident opened alone reads back exactly, open, and ids grow.
pub fn an_incident_opened_alone_round_trips<S: DeploymentStore + IncidentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = started(&store, "web", "production");
    let new = NewIncident {
        deployment_id: Some(d.id),
        reason: "latency ✗ — p95 3× baseline".to_string(),
        ..new_incident("web", "production", 7)
    };
    let opened = store.open_incident(&new).unwrap();
    assert_eq!(
        opened,
        Incident {
            id: opened.id,
            service: new.service.clone(),
            environment: new.environment.clone(),
            deployment_id: Some(d.id),
            opened_at: t(7),
            opened_by: "controller".to_string(),
            reason: new.reason.clone(),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        }
    );
    assert!(opened.is_open());
    assert_eq!(store.incident(opened.id).unwrap(), Some(opened.clone()));
    let second = store
        .open_incident(&new_incident("web", "production", 8))
        .unwrap();
    assert!(second.id > opened.id, "ids grow");
}

/// An incident naming a deployment that does not exist is refused as
/// `Invalid` (naming it) and nothing is stored.
pub fn an_incident_naming_a_missing_deployment_is_refused<S: DeploymentStore + IncidentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let new = NewIncident {
        deployment_id: Some(404),
        ..new_incident("web", "production", 1)
    };
    let err = store.open_incident(&new).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("#404"), "{err}");
    assert!(all(&store).is_empty());
}

/// A deployment change with an incident writes both.
pub fn record_change_writes_the_deployment_and_its_incidents_together<
    S: DeploymentStore + IncidentStore,
>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = started(&store, "web", "production");
    let rolled_back = moved(&d, Phase::RolledBack, 5);
    let events = [event(Phase::Pending, Phase::RolledBack, 5, "error rate")];
    let incident = NewIncident {
        deployment_id: Some(d.id),
        ..new_incident("web", "production", 5)
    };
    store
        .record_change(&Change {
            events: &events,
            incidents: &[IncidentChange::Open(incident.clone())],
            ..Change::new(&rolled_back)
        })
        .unwrap();

    assert_eq!(store.deployment(d.id).unwrap(), Some(rolled_back));
    assert_eq!(store.events(d.id).unwrap().len(), 2);
    let listed = all(&store);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].deployment_id, Some(d.id));
    assert_eq!(listed[0].reason, incident.reason);
    assert!(listed[0].is_open());
}

/// `next_incident_id` is the id the next incident gets; opening under a
/// taken id refuses the whole change.
pub fn an_incident_opened_under_a_given_id_keeps_it_and_a_taken_id_changes_nothing<
    S: DeploymentStore + IncidentStore,
>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    assert_eq!(store.next_incident_id().unwrap(), 1);
    let first = store
        .open_incident(&new_incident("web", "production", 1))
        .unwrap();
    assert_eq!(first.id, 1);
    // The next one follows it.
    assert_eq!(store.next_incident_id().unwrap(), 2);

    let d = started(&store, "web", "production");
    let rolled_back = moved(&d, Phase::RolledBack, 5);
    let events = [event(Phase::Pending, Phase::RolledBack, 5, "error rate")];
    // Id 1 is taken: the whole change is refused, the deployment unmoved.
    let taken = [IncidentChange::OpenAs {
        id: 1,
        incident: new_incident("web", "production", 5),
    }];
    let err = store
        .record_change(&Change {
            events: &events,
            incidents: &taken,
            ..Change::new(&rolled_back)
        })
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert_eq!(store.deployment(d.id).unwrap(), Some(d.clone()));
    assert_eq!(all(&store).len(), 1);
    // The next id is the one it gets.
    let id = store.next_incident_id().unwrap();
    let opens = [IncidentChange::OpenAs {
        id,
        incident: new_incident("web", "production", 5),
    }];
    store
        .record_change(&Change {
            events: &events,
            incidents: &opens,
            ..Change::new(&rolled_back)
        })
        .unwrap();
    assert_eq!(store.incident(id).unwrap().unwrap().id, 2);
    assert_eq!(store.next_incident_id().unwrap(), 3);
}

/// A change refused for its revision opens no incident and records no event.
pub fn a_conflicting_change_leaves_no_incident_behind<S: DeploymentStore + IncidentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = started(&store, "web", "production");
    let mut stale = moved(&d, Phase::RolledBack, 5);
    stale.revision += 1;
    let events = [event(Phase::Pending, Phase::RolledBack, 5, "error rate")];
    let opens = [IncidentChange::Open(new_incident("web", "production", 5))];
    let err = store
        .record_change(&Change {
            events: &events,
            incidents: &opens,
            ..Change::new(&stale)
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { id } if id == d.id),
        "{err:?}"
    );
    assert!(all(&store).is_empty(), "no incident");
    assert_eq!(store.events(d.id).unwrap(), vec![created(&d)], "no event");
    assert_eq!(store.deployment(d.id).unwrap(), Some(d));
}

/// An incident refused after the deployment row was written rolls the whole
/// change back; without it the same change goes through.
pub fn an_incident_refused_inside_the_change_rolls_the_whole_change_back<
    S: DeploymentStore + IncidentStore,
>(
    fresh: impl Fn() -> S,
) {
    // Here the deployment row was already updated when the incident failed.
    let store = fresh();
    let d = started(&store, "web", "production");
    let next = moved(&d, Phase::RolledBack, 5);
    let events = [event(Phase::Pending, Phase::RolledBack, 5, "error rate")];
    let changes = [
        IncidentChange::Open(new_incident("web", "production", 5)),
        IncidentChange::Open(NewIncident {
            deployment_id: Some(d.id + 100),
            ..new_incident("web", "production", 5)
        }),
    ];
    let err = store
        .record_change(&Change {
            events: &events,
            incidents: &changes,
            ..Change::new(&next)
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.deployment(d.id).unwrap(), Some(d.clone()));
    assert_eq!(store.events(d.id).unwrap(), vec![created(&d)]);
    assert!(all(&store).is_empty());

    // The same change without the bad incident goes through.
    store
        .record_change(&Change {
            events: &events,
            incidents: &changes[..1],
            ..Change::new(&next)
        })
        .unwrap();
    assert_eq!(all(&store).len(), 1);
}

/// A change without incidents leaves the open ones alone.
pub fn record_without_incidents_still_records<S: DeploymentStore + IncidentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    store
        .open_incident(&new_incident("web", "production", 0))
        .unwrap();
    let d = started(&store, "web", "production");
    let next = moved(&d, Phase::Progressing, 1);
    store.record(&next, &[], &[]).unwrap();
    assert_eq!(store.deployment(d.id).unwrap(), Some(next));
    assert!(all(&store)[0].is_open(), "incidents untouched");
}

/// Resolving a target resolves its open incidents only, keeps earlier
/// resolutions, and is a no-op when none is open.
pub fn resolve_target_resolves_only_that_targets_open_incidents<
    S: DeploymentStore + IncidentStore,
>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let open = |service: &str, env: &str, at: i64| {
        store
            .open_incident(&new_incident(service, env, at))
            .unwrap()
            .id
    };
    let earlier = open("web", "production", 0);
    let earlier = store
        .resolve_incident(earlier, "alice", t(1), "restarted", None)
        .unwrap();
    let a = open("web", "production", 2);
    let b = open("web", "production", 3);
    let staging = open("web", "staging", 4);
    let api = open("api", "production", 5);

    let d = started(&store, "web", "production");
    let next = moved(&d, Phase::Succeeded, 10);
    store
        .record_change(&Change {
            incidents: &[resolve_target("web", "production", 10, "bob")],
            ..Change::new(&next)
        })
        .unwrap();

    for id in [a, b] {
        let i = store.incident(id).unwrap().unwrap();
        assert_eq!(i.resolved_at, Some(t(10)), "#{id}");
        assert_eq!(i.resolved_by.as_deref(), Some("bob"));
        assert_eq!(i.resolution.as_deref(), Some("bob deployed a fix"));
    }
    for id in [staging, api] {
        assert!(store.incident(id).unwrap().unwrap().is_open(), "#{id}");
    }
    assert_eq!(
        store.incident(earlier.id).unwrap(),
        Some(earlier),
        "an incident resolved before keeps its resolution"
    );

    // Nothing open on the target any more: resolving again changes nothing.
    let before = all(&store);
    let again = moved(&next, Phase::Succeeded, 11);
    store
        .record_change(&Change {
            incidents: &[resolve_target("web", "production", 11, "carol")],
            ..Change::new(&again)
        })
        .unwrap();
    assert_eq!(all(&store), before);
}

/// A change's incident changes apply in order: resolve then open leaves the
/// new one open.
pub fn changes_apply_in_order_within_one_transition<S: DeploymentStore + IncidentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    store
        .open_incident(&new_incident("web", "production", 0))
        .unwrap();
    let d = started(&store, "web", "production");
    let next = moved(&d, Phase::RolledBack, 5);
    // Resolve the old one, then open the new one: the new one stays open.
    store
        .record_change(&Change {
            incidents: &[
                resolve_target("web", "production", 5, "controller"),
                IncidentChange::Open(new_incident("web", "production", 5)),
            ],
            ..Change::new(&next)
        })
        .unwrap();
    let listed = all(&store);
    assert_eq!(
        listed.iter().map(Incident::is_open).collect::<Vec<_>>(),
        vec![true, false]
    );
}

/// An incident is resolved once: the resolution reads back, a second one is
/// `AlreadyResolved` and changes nothing.
pub fn resolving_twice_is_refused_and_changes_nothing<S: IncidentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let opened = store
        .open_incident(&new_incident("web", "production", 0))
        .unwrap();
    let resolved = store
        .resolve_incident(opened.id, "alice", t(3), "rolled back to 1.0", None)
        .unwrap();
    assert_eq!(
        resolved,
        Incident {
            resolved_at: Some(t(3)),
            resolved_by: Some("alice".to_string()),
            resolution: Some("rolled back to 1.0".to_string()),
            ..opened.clone()
        }
    );
    assert_eq!(store.incident(opened.id).unwrap(), Some(resolved.clone()));

    let err = store
        .resolve_incident(opened.id, "bob", t(4), "me too", None)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyResolved { id, at } if id == opened.id && at == t(3)),
        "{err:?}"
    );
    assert!(err.to_string().contains("already resolved"), "{err}");
    assert_eq!(store.incident(opened.id).unwrap(), Some(resolved));
}

/// An unknown incident reads as None, and resolving it is
/// `IncidentNotFound` with a message saying how to list them.
pub fn an_unknown_incident_is_not_found<S: IncidentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert_eq!(store.incident(31).unwrap(), None);
    let err = store
        .resolve_incident(31, "alice", t(1), "fixed", None)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IncidentNotFound { id: 31 }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("incident #31 does not exist") && message.contains("zion incident list"),
        "{message}"
    );
    assert!(all(&store).is_empty());
}

/// `incidents` filters by service, environment and openness, newest (last
/// opened) first.
pub fn incidents_filter_and_order_newest_first<S: IncidentStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert!(all(&store).is_empty());
    let open = |service: &str, env: &str, at: i64| {
        store
            .open_incident(&new_incident(service, env, at))
            .unwrap()
            .id
    };
    let a = open("web", "production", 0);
    let b = open("web", "staging", 1);
    let c = open("api", "production", 2);
    let d = open("web", "production", 3);
    // Opened with an earlier time but later: "newest" is the last opened.
    let e = open("api", "staging", -10);
    store
        .resolve_incident(a, "alice", t(4), "fixed", None)
        .unwrap();
    store
        .resolve_incident(c, "alice", t(5), "fixed", None)
        .unwrap();

    let ids = |service: Option<&str>, environment: Option<&str>, open_only| {
        store
            .incidents(&IncidentFilter {
                service: service.map(String::from),
                environment: environment.map(String::from),
                open_only,
            })
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(None, None, false), vec![e, d, c, b, a]);
    assert_eq!(ids(None, None, true), vec![e, d, b]);
    assert_eq!(ids(Some("web"), None, false), vec![d, b, a]);
    assert_eq!(ids(None, Some("production"), false), vec![d, c, a]);
    assert_eq!(ids(Some("web"), Some("production"), false), vec![d, a]);
    assert_eq!(ids(Some("web"), Some("production"), true), vec![d]);
    assert_eq!(
        ids(Some("api"), Some("production"), true),
        Vec::<i64>::new()
    );
    assert_eq!(ids(Some("nope"), None, false), Vec::<i64>::new());
}
