//! A small HTTP service for the demo and the tests: answers its version,
//! `/healthz`, and can be told to be faulty (a share of 500s and added
//! latency), as a real service under test would be.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::exit::Failure;

struct Behaviour {
    version: String,
    error_rate: f64,
    latency: Duration,
    served: AtomicU64,
}

/// Serves until killed.
pub async fn run(
    port: u16,
    version: String,
    error_rate: Option<f64>,
    latency_ms: Option<u64>,
    fail_start: bool,
) -> Result<(), Failure> {
    if fail_start {
        return Err(Failure::negative(format!(
            "demo-app {version}: told to fail at start"
        )));
    }
    let faulty = version.contains("faulty");
    let b = Arc::new(Behaviour {
        error_rate: error_rate
            .unwrap_or(if faulty { 0.3 } else { 0.0 })
            .clamp(0.0, 1.0),
        latency: Duration::from_millis(latency_ms.unwrap_or(if faulty { 40 } else { 0 })),
        version,
        served: AtomicU64::new(0),
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::negative(format!("demo-app cannot listen on {addr}: {e}")))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let b = b.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(b.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn answer(
    b: Arc<Behaviour>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("x-version", b.version.as_str())
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if req.uri().path() == "/healthz" {
        return Ok(reply(StatusCode::OK, "ok\n".into()));
    }
    if !b.latency.is_zero() {
        tokio::time::sleep(b.latency).await;
    }
    // Deterministic interleave: exactly `error_rate` of requests fail.
    let n = b.served.fetch_add(1, Ordering::Relaxed);
    let fails = ((n + 1) as f64 * b.error_rate).floor() > (n as f64 * b.error_rate).floor();
    if fails {
        return Ok(reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{} failed\n", b.version),
        ));
    }
    Ok(reply(StatusCode::OK, format!("hello from {}\n", b.version)))
}
