//! What the proxy records per version.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use zion_proxy::{Pool, Route};

use crate::support::{RawUpstream, Upstream, client, get, proxy, refused_addr};

const WINDOW: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upstream_is_502_and_an_error_of_its_version() {
    let stable = Upstream::start("stable").await;
    let (proxy, metrics) = proxy().await;
    let dead = refused_addr().await;
    proxy.set_route(Route::split(
        stable.pool("1.0"),
        Pool::new("1.1", vec![dead]),
        100,
    ));

    let client = client();
    for _ in 0..3 {
        let reply = get(&client, proxy.local_addr(), "/").await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
        assert!(
            reply.body.contains("upstream unavailable"),
            "{}",
            reply.body
        );
    }
    assert_eq!(metrics.totals("1.1"), (3, 3));
    assert_eq!(metrics.totals("1.0"), (0, 0));
    let w = metrics.window("1.1", SystemTime::now(), WINDOW);
    assert_eq!((w.requests, w.errors), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_5xx_counts_as_error_and_passes_through() {
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(canary.pool("2.0")));

    let client = client();
    for i in 0..10 {
        let path = if i % 2 == 0 { "/fail" } else { "/" };
        let reply = get(&client, proxy.local_addr(), path).await;
        let expected = if i % 2 == 0 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        assert_eq!(reply.status, expected);
        assert_eq!(reply.body, "canary");
        assert_eq!(reply.headers["x-version"], "canary");
    }
    assert_eq!(metrics.totals("2.0"), (10, 5));
    let w = metrics.window("2.0", SystemTime::now(), WINDOW);
    assert_eq!((w.requests, w.errors), (10, 5));
    // The window covers at least its length, at most one second more.
    assert!((60.0..61.0).contains(&w.window_secs), "{}", w.window_secs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_latency_reflects_a_slow_upstream() {
    let slow = Upstream::start("slow").await;
    let fast = Upstream::start("fast").await;
    let (proxy, metrics) = proxy().await;
    let client = client();

    proxy.set_route(Route::stable_only(slow.pool("slow")));
    for _ in 0..5 {
        assert_eq!(
            get(&client, proxy.local_addr(), "/sleep/200").await.status,
            StatusCode::OK
        );
    }
    proxy.set_route(Route::stable_only(fast.pool("fast")));
    for _ in 0..20 {
        assert_eq!(
            get(&client, proxy.local_addr(), "/").await.status,
            StatusCode::OK
        );
    }

    let slow_w = metrics.window("slow", SystemTime::now(), WINDOW);
    assert_eq!((slow_w.requests, slow_w.errors), (5, 0));
    let p50 = slow_w.latency_p50_ms.unwrap();
    let p95 = slow_w.latency_p95_ms.unwrap();
    assert!((195.0..2000.0).contains(&p50), "slow p50 {p50}");
    assert!((195.0..2000.0).contains(&p95), "slow p95 {p95}");
    assert!(slow_w.latency_p99_ms.unwrap() >= p95);

    let fast_w = metrics.window("fast", SystemTime::now(), WINDOW);
    assert_eq!(fast_w.requests, 20);
    let fast_p95 = fast_w.latency_p95_ms.unwrap();
    assert!(fast_p95 < p95, "fast p95 {fast_p95} vs slow {p95}");
    // Left for other sources.
    assert_eq!(fast_w.health, None);
    assert_eq!(fast_w.cpu_percent, None);

    // A window that ended before any request holds nothing.
    let old = metrics.window(
        "slow",
        SystemTime::now() - Duration::from_secs(3600),
        WINDOW,
    );
    assert_eq!(old.requests, 0);
    assert_eq!(old.latency_p95_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_without_answer_is_502_and_an_error() {
    let up = RawUpstream::start(b"", true).await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("1.0", vec![up.addr])));
    let client = client();
    for _ in 0..3 {
        let reply = get(&client, proxy.local_addr(), "/").await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(metrics.totals("1.0"), (3, 3));
}
