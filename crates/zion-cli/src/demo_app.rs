//! A small HTTP service for the demo, the tests and the benchmarks: answers
//! its version (body and `x-version` header), `/healthz`, and `/metrics`
//! (its requests by status, for a Prometheus beside it), and can be told
//! to misbehave when it runs a given version — a share of 500s, added
//! latency, busy CPUs or memory held, from some time after start, or a
//! crash at start — as a real faulty release would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::exit::Failure;

/// How one version misbehaves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fault {
    pub error_rate: f64,
    pub latency: Duration,
    pub after: Duration,
    /// Threads kept busy (each about one core).
    pub cpu: u32,
    /// MB allocated, written and held.
    pub memory_mb: u32,
    pub crash: bool,
}

/// Parses `VERSION:errors=0.3,latency=40ms,cpu=1,memory=200,after=3s` or
/// `VERSION:crash`;
/// returns the fault if it names `version`.
pub fn fault_for(specs: &[String], version: &str) -> Result<Option<Fault>, String> {
    for spec in specs {
        let (v, rest) = spec.rsplit_once(':').ok_or_else(|| {
            format!(
                "--fault `{spec}`: expected VERSION:errors=…,latency=…,after=… or VERSION:crash"
            )
        })?;
        if v != version {
            continue;
        }
        let mut f = Fault::default();
        for part in rest.split(',').filter(|p| !p.is_empty()) {
            let dur = |t: &str| {
                zion_core::duration::parse_duration(t).map_err(|e| format!("--fault `{spec}`: {e}"))
            };
            match part.split_once('=') {
                None if part == "crash" => f.crash = true,
                Some(("errors", x)) => {
                    f.error_rate = x
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or_else(|| {
                            format!("--fault `{spec}`: errors must be a share in 0..=1")
                        })?
                }
                Some(("latency", t)) => f.latency = dur(t)?,
                Some(("cpu", n)) => {
                    f.cpu = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| {
                            format!("--fault `{spec}`: cpu is a number of busy threads, 1 to 64")
                        })?
                }
                Some(("memory", n)) => {
                    f.memory_mb = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=65_536).contains(n))
                        .ok_or_else(|| format!("--fault `{spec}`: memory is in MB, 1 to 65536"))?
                }
                Some(("after", t)) => f.after = dur(t)?,
                _ => return Err(format!("--fault `{spec}`: unknown part `{part}`")),
            }
        }
        return Ok(Some(f));
    }
    Ok(None)
}

struct Behaviour {
    version: String,
    fault: Fault,
    started: Instant,
    faulty_served: AtomicU64,
    /// Requests answered 2xx and 5xx, `/healthz` and `/metrics` aside.
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Serves until killed.
pub async fn run(port: u16, version: String, faults: &[String]) -> Result<(), Failure> {
    let fault = fault_for(faults, &version)
        .map_err(Failure::usage)?
        .unwrap_or_default();
    if fault.crash {
        return Err(Failure::negative(format!(
            "demo-app {version}: crashing at start as told"
        )));
    }
    let started = Instant::now();
    burn(&fault, started);
    let b = Arc::new(Behaviour {
        version,
        fault,
        started,
        faulty_served: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
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

/// Starts the fault's busy threads and its memory, each `after` the start.
fn burn(fault: &Fault, started: Instant) {
    let after = fault.after;
    for _ in 0..fault.cpu {
        std::thread::spawn(move || {
            std::thread::sleep(after.saturating_sub(started.elapsed()));
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
    }
    let mb = fault.memory_mb as usize;
    if mb > 0 {
        std::thread::spawn(move || {
            std::thread::sleep(after.saturating_sub(started.elapsed()));
            // Written page by page so that it is resident, not only reserved.
            let mut held = vec![0u8; mb << 20];
            for page in held.chunks_mut(4096) {
                page[0] = 1;
            }
            std::hint::black_box(&held);
            loop {
                std::thread::park();
            }
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
    match req.uri().path() {
        "/healthz" => return Ok(reply(StatusCode::OK, "ok\n".into())),
        "/metrics" => return Ok(reply(StatusCode::OK, exposition(&b))),
        _ => {}
    }
    let hello = |b: &Behaviour| {
        b.ok.fetch_add(1, Ordering::Relaxed);
        Ok(reply(StatusCode::OK, format!("hello from {}\n", b.version)))
    };
    if b.started.elapsed() < b.fault.after {
        return hello(&b);
    }
    if !b.fault.latency.is_zero() {
        tokio::time::sleep(b.fault.latency).await;
    }
    // Deterministic interleave: exactly `error_rate` of requests fail.
    let rate = b.fault.error_rate;
    let n = b.faulty_served.fetch_add(1, Ordering::Relaxed);
    if ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor() {
        b.failed.fetch_add(1, Ordering::Relaxed);
        return Ok(reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{} failed\n", b.version),
        ));
    }
    hello(&b)
}

/// The Prometheus text format of the requests answered so far.
fn exposition(b: &Behaviour) -> String {
    let v = &b.version;
    format!(
        "# HELP demo_app_requests_total Requests answered, by status class.\n\
         # TYPE demo_app_requests_total counter\n\
         demo_app_requests_total{{version=\"{v}\",code=\"2xx\"}} {}\n\
         demo_app_requests_total{{version=\"{v}\",code=\"5xx\"}} {}\n",
        b.ok.load(Ordering::Relaxed),
        b.failed.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_name_a_version() {
        let specs = vec![
            "2.0:errors=0.5,after=3s".to_string(),
            "3.0:crash".to_string(),
        ];
        assert_eq!(fault_for(&specs, "1.0").unwrap(), None);
        let f = fault_for(&specs, "2.0").unwrap().unwrap();
        assert_eq!(
            (f.error_rate, f.after, f.crash),
            (0.5, Duration::from_secs(3), false)
        );
        assert!(fault_for(&specs, "3.0").unwrap().unwrap().crash);
        let busy = fault_for(&["4.0:cpu=2,memory=300".into()], "4.0")
            .unwrap()
            .unwrap();
        assert_eq!((busy.cpu, busy.memory_mb), (2, 300));
        assert!(
            fault_for(&["4.0:cpu=0".into()], "4.0")
                .unwrap_err()
                .contains("busy threads")
        );
        assert!(
            fault_for(&["2.0:errors=2".into()], "2.0")
                .unwrap_err()
                .contains("0..=1")
        );
        assert!(
            fault_for(&["2.0:boom".into()], "2.0")
                .unwrap_err()
                .contains("unknown part")
        );
    }

    #[tokio::test]
    async fn metrics_count_the_answers_by_status() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let faults = vec!["2.0:errors=0.5".to_string()];
        tokio::spawn(async move { run(port, "2.0".into(), &faults).await });
        let http = reqwest::Client::new();
        let get = |path: &'static str| {
            let http = http.clone();
            async move {
                loop {
                    if let Ok(r) = http
                        .get(format!("http://127.0.0.1:{port}{path}"))
                        .send()
                        .await
                    {
                        return r.text().await.unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        for _ in 0..4 {
            get("/").await;
        }
        get("/healthz").await;
        let text = get("/metrics").await;
        assert!(
            text.contains("demo_app_requests_total{version=\"2.0\",code=\"2xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("demo_app_requests_total{version=\"2.0\",code=\"5xx\"} 2\n"),
            "{text}"
        );
    }
}
