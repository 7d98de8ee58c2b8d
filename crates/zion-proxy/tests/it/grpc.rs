//! gRPC through the proxy: h2c from the client, h2c to the replica,
//! trailers passed through, and a call's grpc-status deciding whether it is
//! an error of its version.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use zion_proxy::{Pool, Route, UpstreamProtocol};

use crate::http2::h2c;
use crate::support::within;

/// An HTTP/2-only server (prior knowledge) answering like a gRPC service,
/// by path: `/svc/Ok` → a message and `grpc-status: 0` in the trailers,
/// `/svc/Unavailable` → `grpc-status: 14` in the trailers,
/// `/svc/TrailersOnly` → `grpc-status: 5` in the head and no body;
/// `/plain` → a plain text answer naming the server and the protocol.
/// A gRPC request without `te: trailers` is refused as gRPC servers do.
pub struct GrpcUpstream {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for GrpcUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = Response<BoxBody<Bytes, Infallible>>;

fn grpc_reply(name: &str, status: &'static str) -> Reply {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    // A length-prefixed message: not compressed, then its length.
    let message = format!("from {name}");
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(message.as_bytes());
    Response::builder()
        .header("content-type", "application/grpc")
        .body(
            Full::new(Bytes::from(framed))
                .with_trailers(async move { Some(Ok(trailers)) })
                .boxed(),
        )
        .unwrap()
}

fn answer(name: &str, req: &Request<Incoming>) -> Reply {
    let grpc = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc && req.headers().get("te").is_none_or(|te| te != "trailers") {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Full::new(Bytes::from_static(b"te: trailers missing")).boxed())
            .unwrap();
    }
    match req.uri().path() {
        "/svc/Ok" => grpc_reply(name, "0"),
        "/svc/Unavailable" => grpc_reply(name, "14"),
        "/svc/TrailersOnly" => Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "5")
            .body(Full::default().boxed())
            .unwrap(),
        _ => Response::new(
            Full::new(Bytes::from(format!("{name} over {:?}", req.version()))).boxed(),
        ),
    }
}

impl GrpcUpstream {
    pub async fn start(name: &str) -> GrpcUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let name: Arc<str> = Arc::from(name);
        let task = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let name = Arc::clone(&name);
                    tokio::spawn(async move {
                        let service = service_fn(move |req: Request<Incoming>| {
                            let reply = answer(&name, &req);
                            async move { Ok::<_, Infallible>(reply) }
                        });
                        let _ = http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        GrpcUpstream {
            addr,
            connections,
            task,
        }
    }

    pub fn pool(&self, version: &str) -> Pool {
        Pool::new(version, vec![self.addr])
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A unary call's request: an empty message, framed.
fn call(addr: SocketAddr, method: &str) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/svc/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap()
}

/// The call's HTTP status, body, and grpc-status (from the trailers, or
/// from the head of a trailers-only answer).
async fn unary(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Bytes, Option<String>) {
    let resp = within(sender.send_request(req)).await.unwrap();
    let status = resp.status();
    let head = resp.headers().get("grpc-status").cloned();
    let collected = within(resp.into_body().collect()).await.unwrap();
    let trailers = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .cloned();
    let grpc_status = trailers.or(head).map(|v| v.to_str().unwrap().to_owned());
    (status, collected.to_bytes(), grpc_status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_trailers_pass_through_and_a_failed_status_is_its_versions_error() {
    let stable = GrpcUpstream::start("stable").await;
    let canary = GrpcUpstream::start("canary").await;
    let (proxy, metrics) = crate::support::proxy().await;
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0)
            .with_upstream_protocol(UpstreamProtocol::H2c),
    );
    let addr = proxy.local_addr();
    let mut sender = h2c(addr).await;

    for _ in 0..4 {
        let (status, body, grpc) = unary(&mut sender, call(addr, "Ok")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[5..], b"from stable");
        assert_eq!(grpc.as_deref(), Some("0"));
    }
    for _ in 0..2 {
        let (status, _, grpc) = unary(&mut sender, call(addr, "Unavailable")).await;
        assert_eq!(status, StatusCode::OK, "a failed call is still HTTP 200");
        assert_eq!(grpc.as_deref(), Some("14"));
    }
    let (status, body, grpc) = unary(&mut sender, call(addr, "TrailersOnly")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(grpc.as_deref(), Some("5"));
    // Four OK calls, three failed (two in trailers, one trailers-only).
    assert_eq!(metrics.totals("1.0"), (7, 3));
    assert_eq!(metrics.totals("1.1"), (0, 0));

    // All to the canary now: its failures are its own.
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 100)
            .with_upstream_protocol(UpstreamProtocol::H2c),
    );
    let (_, body, grpc) = unary(&mut sender, call(addr, "Unavailable")).await;
    assert_eq!(&body[5..], b"from canary");
    assert_eq!(grpc.as_deref(), Some("14"));
    assert_eq!(metrics.totals("1.1"), (1, 1));
    assert_eq!(metrics.totals("1.0"), (7, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_http1_to_an_h2c_replica_keeps_te_trailers() {
    // A client speaking HTTP/1.1 with `te: trailers` (as grpc-web-like
    // bridges do) still reaches a gRPC replica, which requires it.
    let up = GrpcUpstream::start("stable").await;
    let (proxy, metrics) = crate::support::proxy().await;
    proxy.set_route(
        Route::stable_only(up.pool("1.0")).with_upstream_protocol(UpstreamProtocol::H2c),
    );
    let reply =
        crate::support::send(&crate::support::client(), call(proxy.local_addr(), "Ok")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(metrics.totals("1.0"), (1, 0));
}
