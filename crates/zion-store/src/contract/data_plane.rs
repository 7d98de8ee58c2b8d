//! Properties of [`DataPlaneStore`]: routes published under revisions that
//! grow in commit order, and traffic buckets written a flush at a time,
//! read per window without the reader's own, and pruned by age.

use std::collections::BTreeSet;

use crate::{DataPlaneStore, RouteListener, StoreError, TrafficBucket, TrafficQuery};

/// A route republished as it is keeps its revision; a changed one takes
/// the next; each listener of a target has its own; a reader asking for
/// what changed since a revision gets exactly the later ones, in order.
pub fn routes_publish_under_growing_revisions<S: DataPlaneStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert!(store.routes_since(0).unwrap().is_empty());
    let r1 = store
        .publish_route("web", "production", RouteListener::Main, "{\"w\":0}")
        .unwrap();
    assert!(r1 > 0);
    assert_eq!(
        store
            .publish_route("web", "production", RouteListener::Main, "{\"w\":0}")
            .unwrap(),
        r1,
        "the same route again changes nothing"
    );
    let r2 = store
        .publish_route("web", "production", RouteListener::Preview, "{\"p\":1}")
        .unwrap();
    let r3 = store
        .publish_route("api", "staging", RouteListener::Main, "{}")
        .unwrap();
    let r4 = store
        .publish_route("web", "production", RouteListener::Main, "{\"w\":25}")
        .unwrap();
    assert!(r1 < r2 && r2 < r3 && r3 < r4, "{r1} {r2} {r3} {r4}");

    let all = store.routes_since(0).unwrap();
    let seen: Vec<(&str, RouteListener, &str, u64)> = all
        .iter()
        .map(|r| (r.service.as_str(), r.listener, r.route.as_str(), r.revision))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("web", RouteListener::Preview, "{\"p\":1}", r2),
            ("api", RouteListener::Main, "{}", r3),
            ("web", RouteListener::Main, "{\"w\":25}", r4),
        ]
    );
    let later = store.routes_since(r3).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].environment.as_str(), later[0].route.as_str()),
        ("production", "{\"w\":25}")
    );
    assert!(store.routes_since(r4).unwrap().is_empty());
}

/// Publishes racing from several threads: a reader that follows the
/// revisions (asking each time for what changed since the greatest it saw)
/// misses none of them, because a revision never commits after a greater
/// one.
pub fn a_reader_following_revisions_misses_no_racing_publish<S: DataPlaneStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let mut seen = BTreeSet::new();
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..EACH {
                        store
                            .publish_route(
                                &format!("s{w}"),
                                &format!("e{i}"),
                                RouteListener::Main,
                                "r",
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut cursor = 0;
        let mut follow = |seen: &mut BTreeSet<(String, String)>| {
            for r in store.routes_since(cursor).unwrap() {
                assert!(r.revision > cursor);
                cursor = r.revision;
                seen.insert((r.service, r.environment));
            }
        };
        while writers.iter().any(|w| !w.is_finished()) {
            follow(&mut seen);
        }
        follow(&mut seen);
    });
    assert_eq!(seen.len(), WRITERS * EACH, "the reader missed a publish");
}

fn bucket(replica: &str, version: &str, second: u64, requests: u64) -> TrafficBucket {
    TrafficBucket {
        replica: replica.to_owned(),
        service: "web".to_owned(),
        environment: "production".to_owned(),
        version: version.to_owned(),
        second,
        requests,
        errors: requests / 10,
        latency: vec![1, second as u8, requests as u8, 0, 255],
    }
}

/// Buckets read back exactly, by second then replica, only the asked
/// version and seconds and never the reader's own; a second sent again
/// replaces the first; pruning drops only the older seconds.
pub fn traffic_reads_a_window_without_the_readers_own<S: DataPlaneStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    store.record_traffic(&[]).unwrap();
    let flush_a = vec![
        bucket("a", "1.0", 100, 10),
        bucket("a", "1.0", 101, 11),
        bucket("a", "2.0", 101, 3),
    ];
    let flush_b = vec![
        bucket("b", "1.0", 99, 50),
        bucket("b", "1.0", 100, 20),
        bucket("b", "1.0", 102, 22),
        bucket("b", "2.0", 100, 7),
    ];
    store.record_traffic(&flush_a).unwrap();
    store.record_traffic(&flush_b).unwrap();
    store
        .record_traffic(&[bucket("c", "1.0", 101, 30)])
        .unwrap();
    let mut other_target = bucket("c", "1.0", 101, 99);
    other_target.environment = "staging".to_owned();
    store.record_traffic(&[other_target]).unwrap();

    let query = |excluding: &'static str, first: u64, last: u64| TrafficQuery {
        service: "web",
        environment: "production",
        version: Some("1.0"),
        first_second: first,
        last_second: last,
        excluding_replica: excluding,
    };
    assert_eq!(
        store.traffic(&query("a", 100, 101)).unwrap(),
        vec![bucket("b", "1.0", 100, 20), bucket("c", "1.0", 101, 30)]
    );
    assert_eq!(
        store.traffic(&query("b", 99, 102)).unwrap(),
        vec![
            bucket("a", "1.0", 100, 10),
            bucket("a", "1.0", 101, 11),
            bucket("c", "1.0", 101, 30)
        ]
    );

    // Every version: what an SLO counts.
    let every = TrafficQuery {
        version: None,
        ..query("a", 100, 101)
    };
    assert_eq!(
        store.traffic(&every).unwrap(),
        vec![
            bucket("b", "1.0", 100, 20),
            bucket("b", "2.0", 100, 7),
            bucket("c", "1.0", 101, 30)
        ]
    );

    // A second sent again replaces what was there.
    store
        .record_traffic(&[bucket("c", "1.0", 101, 31), bucket("c", "1.0", 103, 1)])
        .unwrap();
    assert_eq!(
        store.traffic(&query("a", 101, 101)).unwrap(),
        vec![bucket("c", "1.0", 101, 31)]
    );

    // Older than 101 goes (four buckets of production, none of staging).
    assert_eq!(store.prune_traffic(101).unwrap(), 4);
    assert_eq!(
        store.traffic(&query("nobody", 0, u64::MAX >> 1)).unwrap(),
        vec![
            bucket("a", "1.0", 101, 11),
            bucket("c", "1.0", 101, 31),
            bucket("b", "1.0", 102, 22),
            bucket("c", "1.0", 103, 1)
        ]
    );
}

/// A flush holding one key twice, or a figure the database cannot hold,
/// is refused whole: not one of its buckets is written.
pub fn a_bad_flush_writes_nothing<S: DataPlaneStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    let twice = vec![bucket("a", "1.0", 5, 1), bucket("a", "1.0", 5, 2)];
    assert!(matches!(
        store.record_traffic(&twice),
        Err(StoreError::Invalid(_))
    ));
    let mut huge = bucket("a", "1.0", 6, 1);
    huge.requests = u64::MAX;
    assert!(matches!(
        store.record_traffic(&[bucket("a", "1.0", 7, 1), huge]),
        Err(StoreError::Invalid(_))
    ));
    let all = TrafficQuery {
        service: "web",
        environment: "production",
        version: Some("1.0"),
        first_second: 0,
        last_second: 100,
        excluding_replica: "",
    };
    assert!(store.traffic(&all).unwrap().is_empty());
}
