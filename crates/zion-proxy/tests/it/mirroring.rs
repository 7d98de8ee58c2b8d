//! Mirroring: copies of stable's requests reach the canary, are measured
//! under its version, and never change or delay what clients get.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zion_proxy::{MirrorStats, Route};

use crate::support::{
    Behaviour, Gate, Upstream, client, eventually, get, proxy, send, tally_with, within,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_of_stables_requests_are_copied_to_the_canary() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_mirror(50));

    let counts = tally_with(proxy.local_addr(), 200, &[]).await;
    assert_eq!(
        counts.get("stable"),
        Some(&200),
        "clients see stable only: {counts:?}"
    );
    assert_eq!(counts.len(), 1, "{counts:?}");

    // The mirror share is an interleave like the split: exactly half.
    eventually("100 copies measured", || metrics.totals("1.1") == (100, 0)).await;
    assert_eq!(canary.requests.load(Ordering::SeqCst), 100);
    assert_eq!(stable.requests.load(Ordering::SeqCst), 200);
    assert_eq!(metrics.totals("1.0"), (200, 0));
    let w = metrics.window("1.1", SystemTime::now(), Duration::from_secs(60));
    assert_eq!((w.requests, w.errors), (100, 0));
    assert!(w.latency_p95_ms.is_some());
    assert_eq!(
        metrics.mirror_stats(),
        MirrorStats {
            mirrored: 100,
            dropped: 0,
            skipped: 0
        }
    );
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(canary.requests.load(Ordering::SeqCst), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_has_the_method_path_headers_and_body() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_mirror(100));

    let req = Request::post(format!("http://{}/record?q=1", proxy.local_addr()))
        .header("host", "shop.example")
        .header("x-custom", "kept")
        // A client cannot pass its request off as a copy.
        .header("x-zion-mirror", "forged")
        .body(Full::new(Bytes::from_static(b"the payload")))
        .unwrap();
    let reply = send(&client(), req).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "stable")
    );
    eventually("the copy arrived", || {
        canary.seen.lock().unwrap().len() == 1
    })
    .await;

    let original = stable.seen.lock().unwrap()[0].clone();
    let copy = canary.seen.lock().unwrap()[0].clone();
    assert_eq!(copy.method, Method::POST);
    assert_eq!(copy.uri, "/record?q=1");
    assert_eq!(copy.uri, original.uri);
    assert_eq!(&copy.body[..], b"the payload");
    assert_eq!(copy.body, original.body);
    assert_eq!(copy.headers["x-custom"], "kept");
    assert_eq!(copy.headers["host"], "shop.example");
    assert_eq!(copy.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(copy.headers["x-zion-mirror"], "1");
    assert!(!original.headers.contains_key("x-zion-mirror"));
    eventually("the copy measured", || metrics.totals("1.1") == (1, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_canary_does_not_slow_clients() {
    // The canary answers no copy until the test opens its gate: every
    // client answered while all copies are held proves that no client
    // waits for its copy, however slow the machine. (What mirroring costs
    // clients in time is bench/proxy.sh's, MODE=features.)
    let gate = Gate::new();
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start_with(
        "canary",
        Behaviour {
            gate: Some(gate.clone()),
            ..Behaviour::default()
        },
    )
    .await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_mirror(100));

    let client = client();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let reply = within(get(&client, proxy.local_addr(), "/")).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(reply.body, "stable");
    }
    eventually("20 copies held at the canary", || {
        canary.requests.load(Ordering::SeqCst) == 20
    })
    .await;
    assert_eq!(metrics.totals("1.1"), (0, 0), "no copy has been answered");

    // Each copy is held at least `hold` after the last client's answer:
    // longer than any client waited, so the two latencies cannot be
    // confused in the metrics.
    let hold = (slowest * 2).max(Duration::from_millis(300));
    tokio::time::sleep(hold).await;
    gate.open();
    eventually("20 copies measured", || metrics.totals("1.1") == (20, 0)).await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // The histograms keep two significant digits' worth of precision.
    let w = metrics.window("1.1", SystemTime::now(), Duration::from_secs(60));
    let p50 = w.latency_p50_ms.unwrap();
    assert!(
        p50 >= ms(hold) * 0.99,
        "the canary's own latency is measured: p50 {p50} ms, each copy held {hold:?}"
    );
    let stable_p50 = metrics
        .window("1.0", SystemTime::now(), Duration::from_secs(60))
        .latency_p50_ms
        .unwrap();
    assert!(
        stable_p50 <= ms(slowest) * 1.01 + 1.0,
        "stable's latency is its own: p50 {stable_p50} ms, no client waited more than {slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_shows_in_its_metrics_not_to_clients() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start_with(
        "canary",
        Behaviour {
            fail: true,
            ..Behaviour::default()
        },
    )
    .await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_mirror(100));

    let counts = tally_with(proxy.local_addr(), 40, &[]).await;
    assert_eq!(counts.get("stable"), Some(&40), "{counts:?}");
    eventually("40 failed copies measured", || {
        metrics.totals("1.1") == (40, 40)
    })
    .await;
    assert_eq!(metrics.totals("1.0"), (40, 0));
    let w = metrics.window("1.1", SystemTime::now(), Duration::from_secs(60));
    assert_eq!((w.requests, w.errors), (40, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_canary_is_an_error_of_its_version() {
    let stable = Upstream::start("stable").await;
    let dead = crate::support::refused_addr().await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::split(
            stable.pool("1.0"),
            zion_proxy::Pool::new("1.1", vec![dead]),
            0,
        )
        .with_mirror(100),
    );
    let counts = tally_with(proxy.local_addr(), 10, &[]).await;
    assert_eq!(counts.get("stable"), Some(&10), "{counts:?}");
    eventually("10 failed copies", || metrics.totals("1.1") == (10, 10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_split_comes_first_and_only_stables_share_is_copied() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 20).with_mirror(50));

    let counts = tally_with(proxy.local_addr(), 200, &[]).await;
    assert_eq!(counts.get("canary"), Some(&40), "{counts:?}");
    assert_eq!(counts.get("stable"), Some(&160), "{counts:?}");
    // 40 served plus half of stable's 160 copied.
    eventually("served and copied canary requests", || {
        metrics.totals("1.1") == (120, 0)
    })
    .await;
    assert_eq!(canary.requests.load(Ordering::SeqCst), 120);
    assert_eq!(metrics.mirror_stats().mirrored, 80);
}

/// Sends a chunked POST (no Content-Length: its size is unknown up front)
/// over a raw connection and returns the whole answer.
async fn chunked_post(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\
              Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    within(stream.read_to_string(&mut answer)).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_too_large_or_of_unknown_length_are_not_copied() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_mirror(100));
    let addr = proxy.local_addr();
    let client = client();

    let large = Bytes::from(vec![b'z'; 1024 * 1024 + 1]);
    let req = Request::post(format!("http://{addr}/echo"))
        .body(Full::new(large.clone()))
        .unwrap();
    let reply = send(&client, req).await;
    assert_eq!(reply.body.len(), large.len(), "streamed to stable as usual");

    let answer = chunked_post(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello world"), "{answer}");

    // Exactly the limit is copied, and stable still gets the whole body.
    let limit = Bytes::from(vec![b'y'; 1024 * 1024]);
    let req = Request::post(format!("http://{addr}/echo"))
        .body(Full::new(limit.clone()))
        .unwrap();
    let reply = send(&client, req).await;
    assert!(reply.body.as_bytes() == &limit[..]);

    eventually("the copy measured", || metrics.totals("1.1") == (1, 0)).await;
    assert_eq!(
        metrics.mirror_stats(),
        MirrorStats {
            mirrored: 1,
            dropped: 0,
            skipped: 2
        }
    );
    assert_eq!(canary.requests.load(Ordering::SeqCst), 1);
    assert_eq!(metrics.totals("1.0"), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_in_flight_are_bounded_and_the_rest_dropped() {
    // A canary that answers no copy (its gate is never opened): the copies
    // stay in flight until the proxy is dropped.
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start_with(
        "canary",
        Behaviour {
            gate: Some(Gate::new()),
            ..Behaviour::default()
        },
    )
    .await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_mirror(100));

    let counts = tally_with(proxy.local_addr(), 300, &[]).await;
    assert_eq!(counts.get("stable"), Some(&300), "{counts:?}");
    assert_eq!(
        metrics.mirror_stats(),
        MirrorStats {
            mirrored: 256,
            dropped: 44,
            skipped: 0
        }
    );
    eventually("256 copies reached the canary", || {
        canary.requests.load(Ordering::SeqCst) == 256
    })
    .await;
    // None finished: nothing measured yet.
    assert_eq!(metrics.totals("1.1"), (0, 0));
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mirror_without_a_canary_or_at_zero() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(stable.pool("1.0")).with_mirror(100));
    tally_with(proxy.local_addr(), 20, &[]).await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0));
    tally_with(proxy.local_addr(), 20, &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(canary.requests.load(Ordering::SeqCst), 0);
    assert_eq!(metrics.mirror_stats(), MirrorStats::default());
    assert_eq!(metrics.totals("1.0"), (40, 0));
}
