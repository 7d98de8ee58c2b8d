//! Which pool and replica each request reaches.

use std::collections::HashMap;

use http::StatusCode;
use tokio::task::JoinSet;
use zion_proxy::{Pool, Route};

use crate::support::{Upstream, client, get, proxy, within};

/// Sends `n` GETs of `/` through `addr` from 8 concurrent clients and counts
/// the answering upstreams by body.
async fn tally(addr: std::net::SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut tasks = JoinSet::new();
    for worker in 0..8 {
        let client = client();
        let share = n / 8 + usize::from(worker < n % 8);
        tasks.spawn(async move {
            let mut seen = Vec::with_capacity(share);
            for _ in 0..share {
                let reply = get(&client, addr, "/").await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                seen.push(reply.body);
            }
            seen
        });
    }
    let mut counts = HashMap::new();
    for seen in within(tasks.join_all()).await {
        for body in seen {
            *counts.entry(body).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_95_5_is_exact() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 5));

    let counts = tally(proxy.local_addr(), 2000).await;
    // The interleave is deterministic (5 of every 100 requests), so the
    // tolerance is zero even with concurrent clients.
    assert_eq!(counts.get("canary"), Some(&100), "{counts:?}");
    assert_eq!(counts.get("stable"), Some(&1900), "{counts:?}");
    assert_eq!(metrics.totals("1.1"), (100, 0));
    assert_eq!(metrics.totals("1.0"), (1900, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_0_and_100_send_everything_one_way() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, _) = proxy().await;

    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0));
    let counts = tally(proxy.local_addr(), 200).await;
    assert_eq!(counts.get("stable"), Some(&200), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");

    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 100));
    let counts = tally(proxy.local_addr(), 200).await;
    assert_eq!(counts.get("canary"), Some(&200), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_over_replicas() {
    let a = Upstream::start("replica-a").await;
    let b = Upstream::start("replica-b").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("1.0", vec![a.addr, b.addr])));

    let client = client();
    let mut bodies = Vec::new();
    for _ in 0..100 {
        bodies.push(get(&client, proxy.local_addr(), "/").await.body);
    }
    // Sequential requests alternate strictly.
    for pair in bodies.chunks(2) {
        assert_ne!(pair[0], pair[1], "{bodies:?}");
    }
    assert_eq!(bodies.iter().filter(|b| *b == "replica-a").count(), 50);
    assert_eq!(metrics.totals("1.0"), (100, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_pool_falls_back_to_the_other() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;

    // Canary chosen for half the requests but has no healthy replica.
    proxy.set_route(Route::split(
        stable.pool("1.0"),
        Pool::new("1.1", vec![]),
        50,
    ));
    let counts = tally(proxy.local_addr(), 100).await;
    assert_eq!(counts.get("stable"), Some(&100), "{counts:?}");
    assert_eq!(metrics.totals("1.1"), (0, 0));

    // No stable pool at all: the canary serves everything despite weight 0.
    proxy.set_route(Route {
        stable: None,
        canary: Some(canary.pool("1.1")),
        canary_weight: 0,
        ..Route::default()
    });
    let counts = tally(proxy.local_addr(), 100).await;
    assert_eq!(counts.get("canary"), Some(&100), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_routed_is_503_and_records_nothing() {
    let (proxy, metrics) = proxy().await;
    let client = client();
    let reply = get(&client, proxy.local_addr(), "/").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("no healthy upstream"), "{}", reply.body);

    proxy.set_route(Route::split(
        Pool::new("1.0", vec![]),
        Pool::new("1.1", vec![]),
        50,
    ));
    let reply = get(&client, proxy.local_addr(), "/").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(metrics.totals("1.0"), (0, 0));
    assert_eq!(metrics.totals("1.1"), (0, 0));
}
