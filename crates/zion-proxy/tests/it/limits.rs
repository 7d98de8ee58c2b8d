//! A listener's timeouts and limits, each with its status, and whether it
//! counts against the version: only what the replica caused does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use zion_proxy::{ListenerSettings, Route, TargetProxy, TrafficMetrics};

use crate::http2::h2c;
use crate::support::{Upstream, client, get, read_head, within};

async fn proxy_with(settings: ListenerSettings) -> (TargetProxy, Arc<TrafficMetrics>) {
    let metrics = Arc::new(TrafficMetrics::new());
    let proxy = TargetProxy::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::clone(&metrics),
        settings,
    )
    .await
    .unwrap();
    (proxy, metrics)
}

/// A stable `1.0` behind a listener whose request heads must arrive
/// within 300 ms (keep the upstream: dropping it stops it).
async fn stable_with_header_timeout() -> (Upstream, TargetProxy, Arc<TrafficMetrics>) {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy_with(ListenerSettings {
        header_timeout: Duration::from_millis(300),
        ..ListenerSettings::default()
    })
    .await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    (up, proxy, metrics)
}

/// An address whose connections are never accepted: a listener with a
/// backlog of one whose queue is full, so the kernel drops further SYNs
/// (what a replica too busy to accept looks like). The guard keeps it so.
async fn unaccepting() -> (SocketAddr, Vec<TcpStream>, tokio::net::TcpListener) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => held.push(stream),
            Ok(Err(err)) => panic!("{err}"),
            Err(_) => break,
        }
        assert!(held.len() < 64, "the backlog never filled");
    }
    (addr, held, listener)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_does_not_accept_in_time_is_504_and_its_versions_error() {
    let (addr, _held, _listener) = unaccepting().await;
    let (proxy, metrics) = proxy_with(ListenerSettings::default()).await;
    proxy.set_route(
        Route::stable_only(zion_proxy::Pool::new("1.0", vec![addr]))
            .with_connect_timeout(Duration::from_millis(300)),
    );
    let reply = get(&client(), proxy.local_addr(), "/").await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.body);
    assert!(
        reply.body.contains("did not accept a connection"),
        "{}",
        reply.body
    );
    assert_eq!(metrics.totals("1.0"), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_max_header_bytes_is_431_and_no_versions_error() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy_with(ListenerSettings {
        max_header_bytes: 8192,
        ..ListenerSettings::default()
    })
    .await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let big = "x".repeat(20_000);
    let req = format!("GET / HTTP/1.1\r\nhost: a\r\nx-big: {big}\r\n\r\n");
    let _ = stream.write_all(req.as_bytes()).await;
    let head = within(read_head(&mut stream)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    assert_eq!(metrics.totals("1.0"), (0, 0));
    // A head under the limit passes.
    let reply = get(&client(), proxy.local_addr(), "/").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_max_connections_is_503_and_no_versions_error() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy_with(ListenerSettings {
        max_connections: 1,
        ..ListenerSettings::default()
    })
    .await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    // The first connection, kept open after its answer.
    let mut first = TcpStream::connect(proxy.local_addr()).await.unwrap();
    first
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut first)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // A second one while it is open: refused with 503, not queued.
    let mut second = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let mut answer = String::new();
    within(second.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert_eq!(metrics.totals("1.0"), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_head_over_max_header_bytes_is_431_and_no_versions_error() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy_with(ListenerSettings {
        max_header_bytes: 8192,
        ..ListenerSettings::default()
    })
    .await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    let mut sender = h2c(proxy.local_addr()).await;
    let req = Request::get("http://shop.example/")
        .header("x-big", "x".repeat(20_000))
        .body(Full::default())
        .unwrap();
    // HTTP/2 answers a header list over the size the listener announced
    // (SETTINGS_MAX_HEADER_LIST_SIZE) with 431 on that stream alone.
    let resp = within(sender.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(metrics.totals("1.0"), (0, 0));
    // The same connection serves the next request, a head under the limit.
    let req = Request::get("http://shop.example/")
        .body(Full::default())
        .unwrap();
    let resp = within(sender.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(metrics.totals("1.0"), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_head_past_header_timeout_is_408_and_no_versions_error() {
    let (_up, proxy, metrics) = stable_with_header_timeout().await;
    // On a new connection.
    let mut slow = TcpStream::connect(proxy.local_addr()).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    within(slow.read_to_string(&mut answer)).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.ends_with("did not arrive in time\n"), "{answer}");
    // On a kept-alive connection, after an answer.
    let mut kept = TcpStream::connect(proxy.local_addr()).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut kept)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a sized answer")
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    within(kept.read_exact(&mut body)).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nho").await.unwrap();
    let mut answer = String::new();
    within(kept.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(metrics.totals("1.0"), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_past_header_timeout_is_closed_without_a_word() {
    let (_up, proxy, metrics) = stable_with_header_timeout().await;
    // A kept-alive connection left idle after its answer: closed, with
    // nothing after the answer (a client reusing it then would take a 408
    // as its request's answer).
    let mut idle = TcpStream::connect(proxy.local_addr()).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut idle)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection was never closed"
    );
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("408"), "{rest}");
    assert_eq!(metrics.totals("1.0"), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_header_timeout() {
    let (_up, proxy, metrics) = stable_with_header_timeout().await;
    let started = std::time::Instant::now();
    let mut silent = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a silent connection was never closed");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed before its timeout: {:?}",
        started.elapsed()
    );
    // A client that is merely slow to start still gets its answer.
    let mut late = TcpStream::connect(proxy.local_addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    late.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut late)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(metrics.totals("1.0"), (1, 0));
}

/// header_timeout counts from the last answer, not from the connection's
/// start: a connection busy for many times the timeout stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_connection_outlives_header_timeout() {
    let (_up, proxy, metrics) = stable_with_header_timeout().await;
    let mut busy = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answered = 0;
    // Four times the 300 ms timeout, a request every 100 ms.
    while started.elapsed() < Duration::from_millis(1200) {
        busy.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .unwrap();
        let head = within(read_head(&mut busy))
            .await
            .expect("answered, not closed");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = [0u8; 6];
        within(busy.read_exact(&mut body)).await.unwrap();
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered >= 8, "{answered}");
    assert_eq!(metrics.totals("1.0"), (answered, 0));
}
