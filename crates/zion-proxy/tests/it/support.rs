//! Upstream servers and client helpers shared by the tests.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use zion_proxy::{Pool, TargetProxy, TrafficMetrics};

/// Generous bound for anything a test waits on, for a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A small HTTP server standing in for one replica of one version. It answers
/// with its name in the body and in `x-version`, and by path:
/// `/fail` → 500, `/sleep/<ms>` → waits first, `/headers` → echoes the
/// request headers as `name: value` lines, `/echo` → echoes the request
/// body, `/big/<n>` → n bytes of `x`, `/record` → keeps the whole request
/// in `seen`. A [`Behaviour`] can make it slow or failing on every path.
pub struct Upstream {
    pub addr: SocketAddr,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Requests received so far (counted on arrival, before any sleep).
    pub requests: Arc<AtomicUsize>,
    /// The requests to `/record`, in arrival order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

/// One request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How an [`Upstream`] treats every request, whatever its path.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Waits this long before answering.
    pub delay: Duration,
    /// Answers 500 (after the delay).
    pub fail: bool,
    /// Answers nothing until the test opens this gate (then the delay).
    pub gate: Option<Gate>,
}

/// Holds requests until opened: a test decides when an upstream answers,
/// rather than a delay that a busy machine may outrun or fall behind.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Lets every request held, and every later one, through.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn pass(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        Upstream::start_with(name, Behaviour::default()).await
    }

    pub async fn start_with(name: &str, behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let name: Arc<str> = Arc::from(name);
        let task = tokio::spawn({
            let connections = Arc::clone(&connections);
            let requests = Arc::clone(&requests);
            let seen = Arc::clone(&seen);
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let name = Arc::clone(&name);
                    let requests = Arc::clone(&requests);
                    let seen = Arc::clone(&seen);
                    let behaviour = behaviour.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            requests.fetch_add(1, Ordering::SeqCst);
                            let (name, seen) = (Arc::clone(&name), Arc::clone(&seen));
                            let behaviour = behaviour.clone();
                            async move {
                                if let Some(gate) = &behaviour.gate {
                                    gate.pass().await;
                                }
                                tokio::time::sleep(behaviour.delay).await;
                                if behaviour.fail {
                                    let mut resp = Response::new(Full::new(Bytes::from("failing")));
                                    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                                    return Ok(resp);
                                }
                                answer(name, seen, req).await
                            }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Upstream {
            addr,
            connections,
            requests,
            seen,
            task,
        }
    }

    pub fn pool(&self, version: &str) -> Pool {
        Pool::new(version, vec![self.addr])
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    name: Arc<str>,
    seen: Arc<Mutex<Vec<Seen>>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/record" {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        seen.lock().unwrap().push(Seen {
            method: parts.method,
            uri: parts.uri.to_string(),
            headers: parts.headers,
            body,
        });
        return Ok(Response::new(Full::new(Bytes::from(name.to_string()))));
    }
    if path == "/echo" {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        return Ok(Response::new(Full::new(body)));
    }
    let (status, body) = if path == "/fail" {
        (StatusCode::INTERNAL_SERVER_ERROR, name.to_string())
    } else if let Some(ms) = path.strip_prefix("/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        (StatusCode::OK, name.to_string())
    } else if let Some(n) = path.strip_prefix("/big/") {
        (StatusCode::OK, "x".repeat(n.parse().unwrap()))
    } else if path == "/headers" {
        let mut body = String::new();
        for (k, v) in req.headers() {
            body.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("<binary>")));
        }
        (StatusCode::OK, body)
    } else {
        (StatusCode::OK, name.to_string())
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("x-version", name.parse().unwrap());
    Ok(resp)
}

/// A bare TCP upstream for wire-level cases: for every request head it reads
/// (requests without a body), it writes `response` verbatim, and with `close`
/// it then closes the connection without saying so in the response.
pub struct RawUpstream {
    pub addr: SocketAddr,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RawUpstream {
    pub async fn start(response: &'static [u8], close: bool) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move {
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        continue;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        while read_head(&mut stream).await.is_some() {
                            if stream.write_all(response).await.is_err() || close {
                                break;
                            }
                        }
                    });
                }
            }
        });
        RawUpstream {
            addr,
            connections,
            task,
        }
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads up to the end of an HTTP head; None if the peer closed first.
pub async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8(head).unwrap())
}

/// An address on which nothing listens (bound, then released).
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A fresh proxy on 127.0.0.1:0 with its own metrics.
pub async fn proxy() -> (TargetProxy, Arc<TrafficMetrics>) {
    let metrics = Arc::new(TrafficMetrics::new());
    let proxy = TargetProxy::bind("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
        .await
        .unwrap();
    (proxy, metrics)
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// GETs `path` from `addr`, failing the test if it takes longer than PATIENCE.
pub async fn get(client: &TestClient, addr: SocketAddr, path: &str) -> Reply {
    let req = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .unwrap();
    send(client, req).await
}

/// Sends `req`, failing the test if it takes longer than PATIENCE.
pub async fn send(client: &TestClient, req: Request<Full<Bytes>>) -> Reply {
    within(async {
        let resp = client.request(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    })
    .await
}

/// Runs `fut`, failing the test if it takes longer than PATIENCE.
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out on a loaded machine's generous budget")
}

/// Polls `cond` until it holds, failing the test after PATIENCE.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `n` GETs of `/` with the fields `headers` through `addr` from 8
/// concurrent clients, and counts the answering upstreams by body. Fails
/// on any answer that is not 200.
pub async fn tally_with(
    addr: SocketAddr,
    n: usize,
    headers: &[(&str, &str)],
) -> std::collections::HashMap<String, usize> {
    let headers: Arc<Vec<(String, String)>> = Arc::new(
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = client();
        let headers = Arc::clone(&headers);
        let share = n / 8 + usize::from(worker < n % 8);
        tasks.spawn(async move {
            let mut seen = Vec::with_capacity(share);
            for _ in 0..share {
                let mut req = Request::get(format!("http://{addr}/"));
                for (k, v) in headers.iter() {
                    req = req.header(k, v);
                }
                let reply = send(&client, req.body(Full::default()).unwrap()).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                seen.push(reply.body);
            }
            seen
        });
    }
    let mut counts = std::collections::HashMap::new();
    for seen in within(tasks.join_all()).await {
        for body in seen {
            *counts.entry(body).or_insert(0) += 1;
        }
    }
    counts
}
