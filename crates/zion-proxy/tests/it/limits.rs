//! A listener's timeouts and limits, each with its status, and whether it
//! counts against the version: only what the replica caused does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use zion_proxy::{ListenerSettings, Route, TargetProxy, TrafficMetrics};

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
async fn a_head_or_an_idle_keep_alive_past_header_timeout_is_closed() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy_with(ListenerSettings {
        header_timeout: Duration::from_millis(300),
        ..ListenerSettings::default()
    })
    .await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    // Half a head, then nothing: closed.
    let mut slow = TcpStream::connect(proxy.local_addr()).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a slow head was never cut off");
    // A kept-alive connection left idle: closed too.
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
    assert_eq!(metrics.totals("1.0"), (1, 0));
}
