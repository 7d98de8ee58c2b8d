//! What the upstream and the client see on the wire.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zion_proxy::{Pool, Route};

use crate::support::{Upstream, client, proxy, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_added_and_hop_by_hop_stripped() {
    let up = Upstream::start("stable").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));

    let req = Request::get(format!("http://{}/headers", proxy.local_addr()))
        .header("host", "shop.example")
        .header("x-forwarded-for", "203.0.113.7")
        .header("connection", "keep-alive, x-hop-secret")
        .header("x-hop-secret", "do-not-forward")
        .header("keep-alive", "timeout=5")
        .header("x-end-to-end", "kept")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = within(client().request(req)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Hop-by-hop fields of the upstream's answer are not passed on either.
    assert!(!resp.headers().contains_key("keep-alive"));
    assert_eq!(resp.headers()["x-version"], "stable");
    let body = within(resp.into_body().collect()).await.unwrap().to_bytes();
    let seen = String::from_utf8(body.to_vec()).unwrap();

    assert!(
        seen.contains("x-forwarded-for: 203.0.113.7, 127.0.0.1\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
    assert!(seen.contains("x-forwarded-host: shop.example\n"), "{seen}");
    assert!(seen.contains("host: shop.example\n"), "{seen}");
    assert!(seen.contains("x-end-to-end: kept\n"), "{seen}");
    assert!(!seen.contains("x-hop-secret"), "{seen}");
    assert!(!seen.contains("keep-alive"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keep_alive_and_pooled_upstream_connections() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));

    // One client TCP connection, many requests: fails if the proxy closes it.
    let stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut sender, conn) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    for i in 0..50 {
        within(sender.ready()).await.unwrap();
        let req = Request::get("/")
            .header("host", "shop.example")
            .body(Empty::new())
            .unwrap();
        let resp = within(sender.send_request(req))
            .await
            .unwrap_or_else(|e| panic!("request {i} on the kept-alive connection: {e}"));
        assert_eq!(resp.status(), StatusCode::OK);
        let body = within(resp.into_body().collect()).await.unwrap().to_bytes();
        assert_eq!(&body[..], b"stable");
    }
    assert_eq!(metrics.totals("1.0"), (50, 0));
    // The proxy reuses its upstream connections rather than opening one per request.
    let opened = up.connections.load(Ordering::SeqCst);
    assert!(
        (1..=5).contains(&opened),
        "{opened} upstream connections for 50 requests"
    );
}

/// Reads from `stream` until the end of an HTTP head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed inside the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_is_passed_through_and_bytes_flow_both_ways() {
    // A raw upstream: answers any upgrade with 101, then echoes bytes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    let upstream = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = read_head(&mut stream).await.to_ascii_lowercase();
        stream
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
                  Upgrade: websocket\r\nSec-WebSocket-Accept: test\r\n\r\n",
            )
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await.unwrap();
        }
        head
    });

    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("1.0", vec![upstream_addr])));

    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    client
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let head = within(read_head(&mut client)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("connection: upgrade"), "{head}");
    assert!(lower.contains("sec-websocket-accept: test"), "{head}");

    for msg in [&b"hello"[..], b"second frame", &[0u8, 255, 1, 254]] {
        client.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        within(client.read_exact(&mut back)).await.unwrap();
        assert_eq!(back, msg);
    }
    // Closing the client closes the tunnel to the upstream.
    drop(client);
    let upstream_head = within(upstream).await.unwrap();
    assert!(
        upstream_head.starts_with("get /ws http/1.1"),
        "{upstream_head}"
    );
    assert!(
        upstream_head.contains("upgrade: websocket"),
        "{upstream_head}"
    );
    assert!(
        upstream_head.contains("connection: upgrade"),
        "{upstream_head}"
    );
    assert!(
        upstream_head.contains("sec-websocket-key: dghlihnhbxbszsbub25jzq=="),
        "{upstream_head}"
    );
    assert_eq!(metrics.totals("1.0"), (1, 0));
}
