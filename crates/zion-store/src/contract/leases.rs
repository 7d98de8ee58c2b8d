//! Properties of [`LeaseStore`]: one holder per target, expiry and epochs
//! by the database's clock, and fenced changes.

use std::time::Duration;

use zion_core::deployment::Phase;
use zion_core::target::TargetId;

use super::fixtures::{created, deployment, event, moved};
use crate::{Change, DeploymentStore, Fence, Lease, LeaseStore, StoreError};

const LONG: Duration = Duration::from_secs(60);

/// A free target is granted, a held one refused to others and renewed for
/// its holder under the same epoch; once expired, it is taken over under
/// a new epoch, and the old holder can no longer renew it.
pub fn a_lease_has_one_holder_until_it_expires_then_a_new_epoch<S: LeaseStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let a = store
        .acquire_lease("web", "production", "a", Duration::from_millis(400))
        .unwrap()
        .expect("a free target is granted");
    assert_eq!((a.holder.as_str(), a.epoch), ("a", 1));
    assert!(a.is_live() && a.acquired_at < a.expires_at, "{a:?}");
    assert_eq!(
        store.acquire_lease("web", "production", "b", LONG).unwrap(),
        None,
        "held by a"
    );
    // Another target is another lease.
    let other = store.acquire_lease("web", "staging", "b", LONG).unwrap();
    assert_eq!(other.map(|l| l.epoch), Some(1));
    // The holder renews under the same epoch.
    let again = store
        .acquire_lease("web", "production", "a", Duration::from_millis(400))
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.epoch, again.acquired_at),
        (1, a.acquired_at),
        "a renewal"
    );
    assert!(
        store
            .renew_lease("web", "production", "a", 1, Duration::from_millis(400))
            .unwrap()
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !store
            .renew_lease("web", "production", "a", 1, LONG)
            .unwrap(),
        "an expired lease is not renewed"
    );
    let b = store
        .acquire_lease("web", "production", "b", LONG)
        .unwrap()
        .expect("an expired lease is taken over");
    assert_eq!((b.holder.as_str(), b.epoch), ("b", 2));
    assert_eq!(
        store.acquire_lease("web", "production", "a", LONG).unwrap(),
        None
    );
    assert!(
        !store
            .renew_lease("web", "production", "a", 1, LONG)
            .unwrap()
    );
    let listed: Vec<(String, String, u64, bool)> = store
        .leases()
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.environment.clone(),
                l.holder.clone(),
                l.epoch,
                l.is_live(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("production".into(), "b".into(), 2, true),
            ("staging".into(), "b".into(), 1, true),
        ]
    );
}

/// A released lease is free at once, and the next grant has a new epoch;
/// only its holder under its epoch may release it.
pub fn a_released_lease_is_taken_over_at_once_under_a_new_epoch<S: LeaseStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let a = store
        .acquire_lease("web", "production", "a", LONG)
        .unwrap()
        .unwrap();
    assert!(
        !store
            .release_lease("web", "production", "b", a.epoch)
            .unwrap()
    );
    assert!(
        !store
            .release_lease("web", "production", "a", a.epoch + 1)
            .unwrap()
    );
    assert_eq!(
        store.acquire_lease("web", "production", "b", LONG).unwrap(),
        None
    );
    assert!(
        store
            .release_lease("web", "production", "a", a.epoch)
            .unwrap()
    );
    let b = store
        .acquire_lease("web", "production", "b", LONG)
        .unwrap()
        .expect("released: free at once");
    assert_eq!(b.epoch, a.epoch + 1);
    // Even its old holder gets a new epoch after a release.
    assert!(
        store
            .release_lease("web", "production", "b", b.epoch)
            .unwrap()
    );
    let a2 = store
        .acquire_lease("web", "production", "a", LONG)
        .unwrap()
        .unwrap();
    assert_eq!(a2.epoch, b.epoch + 1);
}

/// A change fenced with the target's lease is written; one carrying an old
/// epoch (its replica lost the lease) is refused and writes nothing, nor
/// does one for a target without a lease.
pub fn a_change_under_an_old_epoch_is_refused_and_writes_nothing<
    S: DeploymentStore + LeaseStore,
>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = deployment("web", "production", "2.0", 0);
    let d = store.create_deployment(&d, &created(&d), None).unwrap();
    let step = moved(&d, Phase::Progressing, 1);
    let events = [event(Phase::Pending, Phase::Progressing, 1, "started")];
    let change = Change {
        events: &events,
        ..Change::new(&step)
    };
    // No lease on the target yet: refused.
    let err = store
        .record_fenced_change(
            &change,
            Fence {
                replica: "a",
                epoch: 1,
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err:?}");

    let a = store
        .acquire_lease("web", "production", "a", LONG)
        .unwrap()
        .unwrap();
    store
        .record_fenced_change(
            &change,
            Fence {
                replica: "a",
                epoch: a.epoch,
            },
        )
        .unwrap();
    assert_eq!(store.deployment(d.id).unwrap(), Some(step.clone()));

    // b takes the target over; a, not knowing it, writes its next step.
    assert!(
        store
            .release_lease("web", "production", "a", a.epoch)
            .unwrap()
    );
    let b = store
        .acquire_lease("web", "production", "b", LONG)
        .unwrap()
        .unwrap();
    let next = moved(&step, Phase::Succeeded, 2);
    let done = [event(Phase::Progressing, Phase::Succeeded, 2, "promoted")];
    let stale = Change {
        events: &done,
        ..Change::new(&next)
    };
    let err = store
        .record_fenced_change(
            &stale,
            Fence {
                replica: "a",
                epoch: a.epoch,
            },
        )
        .unwrap_err();
    match &err {
        StoreError::Fenced { epoch, current, .. } => {
            assert_eq!(*epoch, a.epoch);
            assert!(
                current.contains(&format!("b's under epoch {}", b.epoch)),
                "{err}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.deployment(d.id).unwrap(), Some(step.clone()));
    assert_eq!(store.events(d.id).unwrap().len(), 2, "no event of a's");
    // The holder's own epoch writes it.
    store
        .record_fenced_change(
            &stale,
            Fence {
                replica: "b",
                epoch: b.epoch,
            },
        )
        .unwrap();
    assert_eq!(store.deployment(d.id).unwrap(), Some(next));
}

/// Replicas are listed with their last heartbeat, which moves forward.
pub fn replicas_are_listed_with_their_last_heartbeat<S: LeaseStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert!(store.replicas().unwrap().is_empty());
    store.heartbeat("b").unwrap();
    store.heartbeat("a").unwrap();
    let first = store.replicas().unwrap();
    assert_eq!(
        first.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    std::thread::sleep(Duration::from_millis(20));
    store.heartbeat("a").unwrap();
    let second = store.replicas().unwrap();
    assert!(
        second[0].last_heartbeat > first[0].last_heartbeat,
        "{second:?}"
    );
    assert_eq!(
        (&second[1].id, second[1].last_heartbeat),
        (&first[1].id, first[1].last_heartbeat)
    );
    assert!(second.iter().all(|r| r.is_live(LONG)), "{second:?}");
    assert!(
        second.iter().all(|r| !r.is_live(Duration::ZERO)),
        "{second:?}"
    );
    store.retire_replica("a").unwrap();
    store.retire_replica("nobody").unwrap();
    let left: Vec<String> = store
        .replicas()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, ["b"], "a retired replica is no longer listed");
}

/// A replica renews every live lease it holds in one call, under their
/// epochs; leases that expired or are another's are left alone.
pub fn a_replica_renews_all_its_live_leases_at_once<S: LeaseStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let short = Duration::from_millis(300);
    let web = store
        .acquire_lease("web", "production", "a", short)
        .unwrap()
        .unwrap();
    let api = store
        .acquire_lease("api", "production", "a", short)
        .unwrap()
        .unwrap();
    store
        .acquire_lease("db", "production", "b", LONG)
        .unwrap()
        .unwrap();
    store
        .acquire_lease("old", "production", "a", Duration::from_millis(1))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut renewed = store.renew_leases("a", LONG).unwrap();
    renewed.sort_by(|x, y| x.service.cmp(&y.service));
    let got: Vec<(&str, u64)> = renewed
        .iter()
        .map(|l| (l.service.as_str(), l.epoch))
        .collect();
    assert_eq!(got, [("api", api.epoch), ("web", web.epoch)]);
    assert!(
        renewed.iter().all(|l| l.expires_at > web.expires_at),
        "{renewed:?}"
    );
    // Past the first grant's expiry, the renewed leases still hold.
    std::thread::sleep(short);
    assert_eq!(
        store.acquire_lease("web", "production", "b", LONG).unwrap(),
        None
    );
    assert!(
        store
            .acquire_lease("old", "production", "b", LONG)
            .unwrap()
            .is_some(),
        "an expired lease is not revived by a renewal"
    );
    assert!(store.renew_leases("nobody", LONG).unwrap().is_empty());
}

/// Many leases are taken in one call under the rules of one: free targets
/// are granted under epoch 1, the caller's own live lease is renewed under
/// its epoch, an expired one is taken over under a new epoch, and another
/// replica's live lease is left to it, untouched. Many are released in one
/// call, only those the caller holds under the epochs given.
pub fn many_leases_are_taken_and_released_at_once_under_the_rules_of_one<S: LeaseStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let t = |service: &str| TargetId::new(service, "production");
    let theirs = store
        .acquire_lease("theirs", "production", "a", LONG)
        .unwrap()
        .unwrap();
    let own = store
        .acquire_lease("own", "production", "b", LONG)
        .unwrap()
        .unwrap();
    let expired = store
        .acquire_lease("expired", "production", "a", Duration::from_millis(1))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(store.acquire_leases(&[], "b", LONG).unwrap().is_empty());
    let wanted = [t("theirs"), t("own"), t("expired"), t("free"), t("free")];
    let mut got = store.acquire_leases(&wanted, "b", LONG).unwrap();
    got.sort_by(|x, y| x.service.cmp(&y.service));
    let summary: Vec<(&str, &str, u64)> = got
        .iter()
        .map(|l| (l.service.as_str(), l.holder.as_str(), l.epoch))
        .collect();
    assert_eq!(
        summary,
        [
            ("expired", "b", expired.epoch + 1),
            ("free", "b", 1),
            ("own", "b", own.epoch),
        ]
    );
    assert!(got.iter().all(Lease::is_live), "{got:?}");
    let renewed = got.iter().find(|l| l.service == "own").unwrap();
    assert_eq!(renewed.acquired_at, own.acquired_at, "a renewal");
    assert!(renewed.expires_at > own.expires_at, "{renewed:?}");
    let after = store.leases().unwrap();
    let kept = after.iter().find(|l| l.service == "theirs").unwrap();
    assert_eq!(
        (kept.holder.as_str(), kept.epoch, kept.expires_at),
        ("a", theirs.epoch, theirs.expires_at),
        "another replica's live lease is never taken nor changed"
    );
    // a, whose lease expired, gets nothing back by asking again.
    assert!(
        store
            .acquire_leases(&[t("expired"), t("free")], "a", LONG)
            .unwrap()
            .is_empty()
    );

    // Released: only b's, under their epochs.
    let epoch = |service: &str| got.iter().find(|l| l.service == service).unwrap().epoch;
    let released = store
        .release_leases(
            "b",
            &[
                (t("free"), epoch("free")),
                (t("own"), epoch("own") + 1),
                (t("theirs"), theirs.epoch),
                (t("nothing"), 1),
            ],
        )
        .unwrap();
    assert_eq!(released, 1);
    assert_eq!(store.release_leases("b", &[]).unwrap(), 0);
    let mut again = store
        .acquire_leases(&[t("free"), t("own")], "a", LONG)
        .unwrap();
    again.sort_by(|x, y| x.service.cmp(&y.service));
    let summary: Vec<(&str, u64)> = again
        .iter()
        .map(|l| (l.service.as_str(), l.epoch))
        .collect();
    assert_eq!(
        summary,
        [("free", 2)],
        "released: free at once under a new epoch; b's other lease still b's"
    );
}

/// Replicas racing to take the same targets at once each get some and
/// none twice: every target is granted to exactly one of them.
pub fn replicas_racing_for_many_targets_get_each_one_once<S: LeaseStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let targets: Vec<TargetId> = (0..200)
        .map(|i| TargetId::new(format!("s{i:03}"), "production"))
        .collect();
    // Half of them exist already, expired: a takeover, not an insert.
    for t in targets.iter().step_by(2) {
        store
            .acquire_lease(&t.service, &t.environment, "old", Duration::from_millis(1))
            .unwrap()
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    let replicas = ["a", "b", "c"];
    let granted: Vec<Vec<Lease>> = std::thread::scope(|s| {
        let racers: Vec<_> = replicas
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (store, targets) = (&store, &targets);
                s.spawn(move || {
                    // Each asks in its own order.
                    let mut mine = targets.clone();
                    mine.rotate_left(i * 67);
                    store.acquire_leases(&mine, r, LONG).unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seen = std::collections::BTreeMap::new();
    for (r, got) in replicas.iter().zip(&granted) {
        for l in got {
            assert_eq!(l.holder, *r);
            let was = seen.insert((l.service.clone(), l.environment.clone()), *r);
            assert_eq!(was, None, "{l:?} granted twice");
        }
    }
    assert_eq!(seen.len(), targets.len(), "every target granted once");
    let stored: Vec<(String, String)> = store
        .leases()
        .unwrap()
        .into_iter()
        .map(|l| (l.service, l.holder))
        .collect();
    let expected: Vec<(String, String)> = seen
        .into_iter()
        .map(|((s, _), r)| (s, r.to_owned()))
        .collect();
    assert_eq!(stored, expected, "the store agrees with the grants");
}
