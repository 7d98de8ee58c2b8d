//! What the upstream and the client see on the wire.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zion_proxy::{Pool, Route};

use crate::support::{RawUpstream, Upstream, client, get, proxy, read_head, send, within};

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
        .body(Full::<Bytes>::default())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_is_passed_through_and_bytes_flow_both_ways() {
    // A raw upstream: answers any upgrade with 101, then echoes bytes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    let upstream = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = read_head(&mut stream).await.unwrap().to_ascii_lowercase();
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
    let head = within(read_head(&mut client)).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_bodies_stream_through() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    let client = client();

    let upload: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    for _ in 0..2 {
        let req = Request::post(format!("http://{}/echo", proxy.local_addr()))
            .body(Full::new(Bytes::from(upload.clone())))
            .unwrap();
        let reply = send(&client, req).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body.len(), upload.len());
        assert!(
            reply.body.as_bytes() == upload.as_slice(),
            "echoed body differs"
        );
    }
    let reply = get(&client, proxy.local_addr(), "/big/3000000").await;
    assert_eq!(reply.body.len(), 3_000_000);
    assert!(reply.body.bytes().all(|b| b == b'x'));

    // HEAD answers have no body; the connection still goes back to the pool.
    for _ in 0..3 {
        let req = Request::head(format!("http://{}/", proxy.local_addr()))
            .body(Full::default())
            .unwrap();
        let reply = send(&client, req).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["content-length"], "6");
        assert!(reply.body.is_empty());
    }
    assert_eq!(get(&client, proxy.local_addr(), "/").await.body, "stable");
    assert_eq!(metrics.totals("1.0"), (7, 0));
    let opened = up.connections.load(Ordering::SeqCst);
    assert_eq!(
        opened, 1,
        "sequential requests should share one upstream connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_responses_pass_through_and_release_the_connection() {
    let up = RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        false,
    )
    .await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("1.0", vec![up.addr])));
    let client = client();
    for _ in 0..3 {
        let reply = get(&client, proxy.local_addr(), "/").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "hello world");
    }
    assert_eq!(metrics.totals("1.0"), (3, 0));
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_kept_alive_connections_is_not_an_error() {
    // Answers as if the connection stayed open, then closes it: the proxy
    // must notice before reusing it.
    let up = RawUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true).await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("1.0", vec![up.addr])));
    let client = client();
    for i in 0..10 {
        let reply = get(&client, proxy.local_addr(), "/").await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}: {}", reply.body);
        assert_eq!(reply.body, "ok");
    }
    assert_eq!(metrics.totals("1.0"), (10, 0));
    assert_eq!(up.connections.load(Ordering::SeqCst), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cut_short_by_the_upstream_fails_the_client_body_not_the_proxy() {
    let up = RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it",
        true,
    )
    .await;
    let (proxy, _) = proxy().await;
    proxy.set_route(Route::stable_only(Pool::new("1.0", vec![up.addr])));
    let client = client();
    for _ in 0..2 {
        let req = Request::get(format!("http://{}/", proxy.local_addr()))
            .body(Full::default())
            .unwrap();
        // The client must learn the answer is incomplete (the head may not
        // even have been flushed when the body failed) rather than wait.
        let outcome = within(async {
            let resp = client.request(req).await.map_err(|e| e.to_string())?;
            resp.into_body()
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| e.to_string())
        })
        .await;
        assert!(
            outcome.is_err(),
            "truncated body delivered as complete: {outcome:?}"
        );
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 2);
}
