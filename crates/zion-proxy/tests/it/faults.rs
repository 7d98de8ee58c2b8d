//! Whose fault a failed request is: a client's broken body is never counted
//! against the version; a replica that hangs, refuses or resets is.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zion_proxy::{Pool, Route, TrafficMetrics};

use crate::support::{Upstream, client, eventually, get, proxy, read_head, refused_addr, within};

/// What the client got on a raw connection: the status line's code, or None
/// when the proxy closed without an answer.
async fn raw_exchange(addr: SocketAddr, request: &[u8], close_after: bool) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    if close_after {
        // The client gives up mid-body: nothing more will come.
        stream.shutdown().await.unwrap();
    }
    let head = within(read_head(&mut stream)).await?;
    head.split(' ').nth(1).and_then(|code| code.parse().ok())
}

fn window(metrics: &TrafficMetrics, version: &str) -> zion_core::metrics::WindowMetrics {
    metrics.window(version, SystemTime::now(), Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_is_the_clients_fault() {
    let up = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("2.0")));

    // A chunk size that is not hex.
    let status = raw_exchange(
        proxy.local_addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbroken\r\n0\r\n\r\n",
        false,
    )
    .await;
    assert_eq!(status, Some(400), "a broken body is answered 400");
    // The request reached the replica (its head was forwarded) and then
    // failed because of the client: nothing is the version's error.
    eventually("the request reached the replica", || {
        up.requests.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(metrics.totals("2.0"), (0, 0));
    assert_eq!(
        window(&metrics, "2.0").requests,
        0,
        "nothing left in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_is_the_clients_fault() {
    let up = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("2.0")));

    for _ in 0..5 {
        // Content-Length 1000, ten bytes sent, then the client closes.
        raw_exchange(
            proxy.local_addr(),
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
            true,
        )
        .await;
    }
    eventually("every cut-short request reached the replica", || {
        up.requests.load(std::sync::atomic::Ordering::SeqCst) == 5
    })
    .await;
    eventually("no request of the client's is still in flight", || {
        window(&metrics, "2.0").requests == 0
    })
    .await;
    // Time for a wrongly counted failure to be recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metrics.totals("2.0"), (0, 0), "cut-short bodies counted");
    // The version still serves, and what it serves counts.
    let reply = get(&client(), proxy.local_addr(), "/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(metrics.totals("2.0"), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_does_not_answer_in_time_gets_a_504_counted_as_its_error() {
    let up = Upstream::start("hanging").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::stable_only(up.pool("2.0")).with_response_timeout(Duration::from_millis(300)),
    );
    let started = std::time::Instant::now();
    let reply = get(&client(), proxy.local_addr(), "/sleep/20000").await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(metrics.totals("2.0"), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_sending_its_body_gets_a_408_counted_against_no_one() {
    let up = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::stable_only(up.pool("2.0")).with_response_timeout(Duration::from_millis(300)),
    );
    // Ten of a hundred bytes, then silence with the connection open.
    let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let head = within(read_head(&mut stream)).await.expect("an answer");
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metrics.totals("2.0"), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_count_in_the_window_with_the_time_waited() {
    let up = Upstream::start("slow").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("2.0")));
    let addr = proxy.local_addr();
    let waiting = tokio::spawn(async move { get(&client(), addr, "/sleep/4000").await });
    eventually("the request reached the replica", || {
        up.requests.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let w = window(&metrics, "2.0");
    assert_eq!(w.requests, 1, "the waiting request counts");
    assert_eq!(w.errors, 0);
    let p95 = w.latency_p95_ms.expect("a latency for the waiting request");
    assert!(p95 >= 1000.0, "waited at least 1.2 s so far, p95 {p95} ms");
    assert_eq!(metrics.totals("2.0"), (0, 0), "not completed yet");
    let reply = within(waiting).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(metrics.totals("2.0"), (1, 0));
    assert_eq!(
        window(&metrics, "2.0").requests,
        1,
        "counted once it landed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_request_whose_connection_failed_goes_to_another_replica() {
    let up = Upstream::start("alive").await;
    let dead = refused_addr().await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("2.0", vec![dead, up.addr])));
    let c = client();
    for _ in 0..10 {
        let reply = get(&c, proxy.local_addr(), "/").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body, "alive");
    }
    // Round robin sent five to the dead replica first: five failed
    // connections count against the version, beside ten answers.
    assert_eq!(metrics.totals("2.0"), (15, 5));

    // A POST is not repeated: the client gets the 502.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
            .await
            .unwrap();
        let mut answer = String::new();
        within(stream.read_to_string(&mut answer)).await.unwrap();
        statuses.push(answer[9..12].to_owned());
    }
    statuses.sort();
    assert_eq!(statuses, ["200", "502"]);
}

/// A later request on a kept-alive connection counts in flight too: the
/// connection's coarse timer, left from an earlier request, is armed again
/// for the request waiting now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_request_on_a_kept_alive_connection_counts_in_flight() {
    let up = Upstream::start("slow").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("2.0")));
    let mut conn = TcpStream::connect(proxy.local_addr()).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut conn)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 4];
    within(conn.read_exact(&mut body)).await.unwrap();
    // Idle past the first request's moment, then a request that waits.
    tokio::time::sleep(Duration::from_millis(700)).await;
    conn.write_all(b"GET /sleep/3000 HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    eventually("the second request reached the replica", || {
        up.requests.load(std::sync::atomic::Ordering::SeqCst) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(metrics.totals("2.0"), (1, 0), "only the first one answered");
    let w = window(&metrics, "2.0");
    assert_eq!(w.requests, 2, "the waiting request counts: {w:?}");
    let p99 = w.latency_p99_ms.expect("latencies");
    assert!(p99 >= 1000.0, "waited at least 1.2 s so far, p99 {p99} ms");
}
