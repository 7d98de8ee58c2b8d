//! Properties of [`LeaseStore`]: one holder per target, expiry and epochs
//! by the database's clock, and fenced changes.

use std::time::Duration;

use zion_core::deployment::Phase;

use super::fixtures::{created, deployment, event, moved};
use crate::{Change, DeploymentStore, Fence, LeaseStore, StoreError};

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
