//! HTTP/2 through the proxy: clients speaking h2c with prior knowledge on
//! the same listener as HTTP/1.1, and replicas reached over h2c when the
//! route says so.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use zion_proxy::{Route, UpstreamProtocol};

use crate::grpc::GrpcUpstream;
use crate::support::{Upstream, client, get, proxy, within};

/// An HTTP/2 connection with prior knowledge (what `curl
/// --http2-prior-knowledge` and gRPC clients open).
pub async fn h2c(addr: SocketAddr) -> http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_client_reaches_an_http1_replica_with_forwarding_fields() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));

    let mut sender = h2c(proxy.local_addr()).await;
    // Several streams on one connection.
    for _ in 0..3 {
        let req = Request::get("http://shop.example/headers")
            .body(Full::default())
            .unwrap();
        let resp = within(sender.send_request(req)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.headers()["x-version"], "stable");
        let body = within(resp.into_body().collect()).await.unwrap().to_bytes();
        let seen = String::from_utf8(body.to_vec()).unwrap();
        // HTTP/2's :authority becomes HTTP/1.1's Host for the replica.
        assert!(seen.contains("host: shop.example\n"), "{seen}");
        assert!(seen.contains("x-forwarded-host: shop.example\n"), "{seen}");
        assert!(seen.contains("x-forwarded-for: 127.0.0.1\n"), "{seen}");
    }
    assert_eq!(metrics.totals("1.0"), (3, 0));
    // HTTP/1.1 on the same listener goes on as ever.
    let reply = get(&client(), proxy.local_addr(), "/").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_client_reaches_an_h2c_replica() {
    let up = GrpcUpstream::start("h2-only").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::stable_only(up.pool("1.0")).with_upstream_protocol(UpstreamProtocol::H2c),
    );
    let client = client();
    for _ in 0..3 {
        let reply = get(&client, proxy.local_addr(), "/plain").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body, "h2-only over HTTP/2.0");
    }
    assert_eq!(metrics.totals("1.0"), (3, 0));
    // One multiplexed connection carried them all.
    assert_eq!(up.connections(), 1);
}
