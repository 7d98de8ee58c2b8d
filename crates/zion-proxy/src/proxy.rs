//! One target's listener: accepts clients, picks a pool per request, forwards
//! over pooled upstream connections and records the outcome. Plain HTTP/1.1
//! goes through the [`relay`]; the rest through hyper.

mod hyper_path;
pub(crate) mod relay;
mod waiting;

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::BytesMut;
use http::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::error::ProxyError;
use crate::metrics::TrafficMetrics;
use crate::mirror::{self, Mirrors};
use crate::route::{Picker, Route, Table};
use crate::throttle::Throttle;
use crate::tls::{Tls, TlsSettings};
use crate::upstream::Endpoint;
use crate::workers::Workers;
use hyper_path::serve_http;
use relay::prefixed::Prefixed;

/// How long `shutdown` waits for in-flight requests before cutting them off.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A listener's limits when the spec does not say: a client's request head
/// (and its TLS handshake) within 30 s of the connection's start or of the
/// previous answer, else 408 if part of a head came, and the connection
/// closes (slow-loris guard, and the end of an idle keep-alive connection); a head of at most 64 KiB, else 431;
/// at most 10,000 connections at once, else 503.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// hyper's smallest read buffer, hence the smallest head limit on HTTP/1.1.
const MIN_HEADER_BYTES: usize = 8192;
/// Backoff after a failed accept (e.g. out of file descriptors) so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Lifecycle signal from the handle to the accept loop, connections, tunnels
/// and mirrored requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    /// Stop accepting, finish in-flight requests, close idle connections.
    Draining,
    /// Everything ends now, upgraded tunnels included.
    Stopped,
}

/// How one listener treats its clients (see the defaults above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// TLS termination, None for clear text.
    pub tls: Option<TlsSettings>,
    /// A request head must arrive within this of the connection's start or
    /// of the previous answer; otherwise a client that sent part of one is
    /// answered 408, and the connection closes (an idle keep-alive
    /// connection's too, without an answer).
    pub header_timeout: Duration,
    /// The largest request head (431 beyond; at least 8 KiB on HTTP/1.1).
    pub max_header_bytes: usize,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            tls: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// State shared by every connection of one listener.
struct Shared {
    table: ArcSwap<Table<Arc<Endpoint>>>,
    /// Every endpoint of the current route by address, so a route change
    /// keeps the idle connections of replicas that stay.
    endpoints: Mutex<HashMap<SocketAddr, Arc<Endpoint>>>,
    picker: Picker,
    metrics: Arc<TrafficMetrics>,
    mirrors: Mirrors,
    /// Cloned by upgraded tunnels, which outlive their HTTP connection.
    state: watch::Receiver<RunState>,
    /// Rate limits for lines that could otherwise come once per request.
    client_faults: Throttle,
    upstream_failures: Throttle,
    /// The listener's TLS, None for clear text.
    tls: Option<Tls>,
    header_timeout: Duration,
    max_header_bytes: usize,
    max_connections: usize,
}

impl Shared {
    /// Another replica of `version` than the one at `failed`, for a request
    /// whose connection could not be made (as nginx's
    /// `proxy_next_upstream error`); None when the pool has no other.
    fn other_replica(&self, version: &str, failed: SocketAddr) -> Option<Arc<Endpoint>> {
        let table = self.table.load();
        table
            .pool_of(version)
            .and_then(|pool| pool.other_than(|e| e.addr == failed))
            .map(Arc::clone)
    }
}

/// What a request handler needs: the listener's state and its client's address.
struct ConnContext {
    shared: Arc<Shared>,
    /// Formatted once per connection, cloned (cheaply) per request.
    client_ip: HeaderValue,
    /// `X-Forwarded-Proto`: `https` on a TLS listener, else `http`.
    proto: &'static HeaderValue,
}

/// One listener of one target: routes its traffic per the current [`Route`].
pub struct TargetProxy {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    state: watch::Sender<RunState>,
    accept_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TargetProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetProxy")
            .field("local_addr", &self.local_addr)
            .field("route", &self.shared.table.load().route)
            .finish_non_exhaustive()
    }
}

impl TargetProxy {
    /// Listens on `addr` (port 0 picks a free one) with nothing routed yet;
    /// outcomes are recorded into `metrics`.
    pub async fn bind(
        addr: SocketAddr,
        metrics: Arc<TrafficMetrics>,
    ) -> Result<TargetProxy, ProxyError> {
        TargetProxy::bind_with(addr, metrics, ListenerSettings::default()).await
    }

    /// [`TargetProxy::bind`] with `settings`: its limits, and TLS when
    /// given (its files are read first, and again whenever they change).
    pub async fn bind_with(
        addr: SocketAddr,
        metrics: Arc<TrafficMetrics>,
        settings: ListenerSettings,
    ) -> Result<TargetProxy, ProxyError> {
        let (state, state_rx) = watch::channel(RunState::Running);
        let tls = settings
            .tls
            .map(|settings| Tls::start(settings, state_rx.clone()))
            .transpose()?;
        let bind_err = |source| ProxyError::Bind { addr, source };
        let listener = listen(addr).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;

        let shared = Arc::new(Shared {
            table: ArcSwap::from_pointee(Table::new(Route::default(), |addr| {
                Arc::new(Endpoint::new(addr, Route::default().connect_timeout))
            })),
            endpoints: Mutex::new(HashMap::new()),
            picker: Picker::default(),
            metrics,
            mirrors: Mirrors::new(mirror::MAX_IN_FLIGHT),
            state: state_rx.clone(),
            client_faults: Throttle::default(),
            upstream_failures: Throttle::default(),
            tls,
            header_timeout: settings.header_timeout,
            max_header_bytes: settings.max_header_bytes.max(MIN_HEADER_BYTES),
            max_connections: settings.max_connections.max(1),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), state_rx));
        info!(%local_addr, "proxy listening");
        Ok(TargetProxy {
            shared,
            local_addr,
            state,
            accept_task: Some(accept_task),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Replaces the route for requests that arrive from now on; requests
    /// already being forwarded finish against the pool they were sent to.
    pub fn set_route(&self, route: Route) {
        debug!(
            addr = %self.local_addr,
            stable = route.stable.as_ref().map(|p| p.version.as_str()),
            canary = route.canary.as_ref().map(|p| p.version.as_str()),
            canary_weight = route.canary_weight,
            rules = route.matches.len(),
            sticky = route.sticky,
            mirror_percent = route.mirror_percent,
            "route changed"
        );
        let mut endpoints = self
            .shared
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let connect_timeout = route.connect_timeout;
        let table = Table::new(route, |addr| {
            let endpoint = endpoints
                .entry(addr)
                .or_insert_with(|| Arc::new(Endpoint::new(addr, connect_timeout)));
            if endpoint.connect_timeout != connect_timeout {
                // A new timeout: a new endpoint (its pool starts empty).
                *endpoint = Arc::new(Endpoint::new(addr, connect_timeout));
            }
            Arc::clone(endpoint)
        });
        {
            let route = &table.route;
            let in_route = |addr: &SocketAddr| {
                [&route.stable, &route.canary]
                    .into_iter()
                    .flatten()
                    .any(|pool| pool.endpoints.contains(addr))
            };
            // Replicas that left: their idle connections close once the
            // requests still using them finish.
            endpoints.retain(|addr, _| in_route(addr));
        }
        self.shared.table.store(Arc::new(table));
    }

    /// The route in force.
    pub fn route(&self) -> Arc<Route> {
        Arc::clone(&self.shared.table.load().route)
    }

    /// Stops accepting, lets in-flight requests finish (at most 10 s), then
    /// closes everything, upgraded tunnels included.
    pub async fn shutdown(mut self) {
        self.state.send_replace(RunState::Draining);
        if let Some(task) = self.accept_task.take() {
            if let Err(err) = task.await {
                warn!(addr = %self.local_addr, %err, "proxy accept loop ended abnormally");
            }
        }
        self.state.send_replace(RunState::Stopped);
        info!(addr = %self.local_addr, "proxy stopped");
    }
}

impl Drop for TargetProxy {
    /// A proxy dropped without `shutdown` stops at once rather than keep a
    /// listener nobody can reach any more.
    fn drop(&mut self) {
        self.state.send_replace(RunState::Stopped);
        if let Some(task) = self.accept_task.take() {
            task.abort();
        }
    }
}

/// Connections the kernel completes and holds for the accept loop. Clients
/// open connections in bursts (a load balancer's or a test's pool all at
/// once); beyond this queue the kernel drops them and each waits a second
/// for its SYN to be sent again. tokio's default is 1,024; Linux caps it at
/// `net.core.somaxconn` (4,096 by default).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr`, as `TcpListener::bind` makes one
/// (`SO_REUSEADDR`), with a deeper queue.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut state: watch::Receiver<RunState>,
) {
    let workers = Workers::get();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if conns.len() >= shared.max_connections {
                        // Counted against no version: the listener's limit.
                        tokio::spawn(refuse_connection(stream, Arc::clone(&shared)));
                        continue;
                    }
                    // Moved to a worker's reactor: deregistered here first.
                    let stream = match stream.into_std() {
                        Ok(stream) => stream,
                        Err(err) => {
                            warn!(%err, "cannot hand an accepted connection over");
                            continue;
                        }
                    };
                    workers.spawn(
                        &mut conns,
                        serve_connection(stream, peer, Arc::clone(&shared), state.clone()),
                    );
                }
                Err(err) => {
                    warn!(%err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = state.changed() => {
                if changed.is_err() || *state.borrow() != RunState::Running {
                    break;
                }
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            connections = conns.len(),
            "requests still in flight after the drain timeout; closing them"
        );
        conns.shutdown().await;
    }
}

async fn serve_connection(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    state: watch::Receiver<RunState>,
) {
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => {
            warn!(%err, "cannot register an accepted connection");
            return;
        }
    };
    if let Err(err) = stream.set_nodelay(true) {
        debug!(%err, "set_nodelay failed");
    }
    let ctx = Arc::new(ConnContext {
        client_ip: HeaderValue::try_from(peer.ip().to_canonical().to_string())
            .expect("an IP address is a valid header value"),
        proto: if shared.tls.is_some() { &HTTPS } else { &HTTP },
        shared,
    });
    let Some(tls) = &ctx.shared.tls else {
        // The relay reads the first request head itself, within the
        // head-read timeout (slow-loris guard), and hands HTTP/2 to hyper.
        return relay_then_hyper(stream, peer, ctx, state).await;
    };
    // The handshake, like a request head, must come within the head-read
    // timeout (slow-loris guard).
    let accepted =
        tokio::time::timeout(ctx.shared.header_timeout, tls.acceptor.accept(stream)).await;
    match accepted {
        Ok(Ok(mut stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
            // hyper's HTTP/2 server waits for the client's preface without a
            // timer: its first bytes are read here, within the head-read
            // timeout (the relay does the same for HTTP/1.1).
            let mut first = BytesMut::with_capacity(1024);
            let read = tokio::time::timeout(ctx.shared.header_timeout, stream.read_buf(&mut first));
            match read.await {
                Ok(Ok(n)) if n > 0 => {
                    serve_http(Prefixed::new(first, stream), peer, ctx, state).await;
                }
                Ok(_) => debug!(%peer, "connection closed before its preface"),
                Err(_) => debug!(%peer, "no HTTP/2 preface within the head-read timeout; closed"),
            }
        }
        Ok(Ok(stream)) => relay_then_hyper(stream, peer, ctx, state).await,
        Ok(Err(err)) => debug!(%peer, %err, "TLS handshake failed"),
        Err(_) => debug!(%peer, "TLS handshake not finished in time"),
    }
}

static HTTP: HeaderValue = HeaderValue::from_static("http");
static HTTPS: HeaderValue = HeaderValue::from_static("https");

/// Serves a connection by the relay, then by hyper if the relay hands it
/// over. Once the proxy drains, the relay closes the connection between
/// requests.
async fn relay_then_hyper<S>(
    stream: S,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    state: watch::Receiver<RunState>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let draining = AtomicBool::new(false);
    let ended = {
        let relayed = relay::serve(stream, &ctx, &draining);
        let mut relayed = pin!(relayed);
        match until_stopping(relayed.as_mut(), &state).await {
            Some(ended) => ended,
            None => {
                // Told at once: an idle connection closes now, one with a
                // request in progress after its answer.
                draining.store(true, Ordering::Relaxed);
                relayed.await
            }
        }
    };
    if let relay::Ended::Handover(stream) = ended {
        if draining.load(Ordering::Relaxed) {
            return;
        }
        serve_http(stream, peer, ctx, state).await;
    }
}

/// Runs `work` until it ends (`Some` of its output), or until the proxy
/// stops running (`None`, `work` left for the caller to wind down).
async fn until_stopping<F: Future>(
    mut work: Pin<&mut F>,
    state: &watch::Receiver<RunState>,
) -> Option<F::Output> {
    let probe = state.clone();
    let mut watching = state.clone();
    let mut changed = pin!(watching.changed());
    let mut registered: Option<Waker> = None;
    poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        // Polling the watch takes its lock, once per wake-up of every
        // connection. It needs polling only to register this task's waker,
        // and again once the value changed.
        let stale = registered.as_ref().is_none_or(|w| !w.will_wake(cx.waker()));
        if stale || probe.has_changed().unwrap_or(true) {
            registered = Some(cx.waker().clone());
            if changed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    })
    .await
}

/// Answers a connection over the listener's limit with a 503 and closes it.
async fn refuse_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    use tokio::io::AsyncWriteExt;
    if let Some(n) = shared.client_faults.hit(Instant::now()) {
        warn!(
            connections = n,
            limit = shared.max_connections,
            "connections over the listener's max_connections answered 503 (rate-limited)"
        );
    }
    if shared.tls.is_some() {
        // No HTTP can be said before a handshake: closed.
        return;
    }
    let body = "too many connections to this target; try again shortly\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
