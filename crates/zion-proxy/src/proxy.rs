//! One target's listener: accepts clients, picks a pool per request, forwards
//! over pooled upstream connections and records the outcome. Plain HTTP/1.1
//! goes through the [`relay`]; the rest through hyper.

pub(crate) mod relay;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HOST, HeaderValue, SET_COOKIE};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::UpstreamProtocol;
use crate::client_body::{ClientBody, ClientFault};
use crate::deadlines::Deadline;
use crate::error::ProxyError;
use crate::grpc::{self, GrpcBody};
use crate::head_timeout::{self, Reclaimable};
use crate::headers;
use crate::metrics::{InFlight, TrafficMetrics, VersionMetrics};
use crate::mirror::{self, MirrorTarget, Mirrors, X_ZION_MIRROR};
use crate::route::{Picker, Route, Table};
use crate::throttle::Throttle;
use crate::tls::{Tls, TlsSettings};
use crate::upstream::{Endpoint, Failed, OutBody, UpstreamError, streamed};
use crate::workers::Workers;
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
/// A request answered within this is counted when answered; one still
/// waiting is counted as in flight from then on (see [`watched`]).
const IN_FLIGHT_AFTER: Duration = Duration::from_millis(500);
/// Backoff after a failed accept (e.g. out of file descriptors) so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What the proxy answers: the upstream's body (pooled connection, a gRPC
/// call's watched for its status, or upgrade), or one it wrote itself.
type ProxyBody = Either<Either<Answered, GrpcBody<Answered>>, Full<Bytes>>;
/// The upstream's body: a replica's, or an upgrade's.
type Answered = Either<Upstream, Incoming>;
/// A replica's body: read by the relay's connection (HTTP/1.1), or by
/// hyper's HTTP/2 client (h2c).
type Upstream = Either<Incoming, relay::forward::RelayBody>;

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
        let mut watching = state.clone();
        let probe = state.clone();
        let mut changed = pin!(watching.changed());
        let mut registered: Option<Waker> = None;
        poll_fn(|cx| {
            if let Poll::Ready(ended) = relayed.as_mut().poll(cx) {
                return Poll::Ready(ended);
            }
            if draining.load(Ordering::Relaxed) {
                return Poll::Pending;
            }
            // As in serve_http: the watch is polled only to register this
            // task's waker, and again once its value changed.
            let stale = registered.as_ref().is_none_or(|w| !w.will_wake(cx.waker()));
            if stale || probe.has_changed().unwrap_or(true) {
                registered = Some(cx.waker().clone());
                if changed.as_mut().poll(cx).is_ready() {
                    draining.store(true, Ordering::Relaxed);
                    // Told at once: an idle connection closes now.
                    return relayed.as_mut().poll(cx);
                }
            }
            Poll::Pending
        })
        .await
    };
    if let relay::Ended::Handover(stream) = ended {
        if draining.load(Ordering::Relaxed) {
            return;
        }
        serve_http(stream, peer, ctx, state).await;
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one client connection (in clear or
/// decrypted) until it ends or the proxy stops.
async fn serve_http<S>(
    stream: Prefixed<S>,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    mut state: watch::Receiver<RunState>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Comes back when hyper is done with it, for a 408 (see head_timeout).
    let (stream, returned) = Reclaimable::new(stream);
    let io = TokioIo::new(stream);
    let (header_timeout, max_header_bytes) =
        (ctx.shared.header_timeout, ctx.shared.max_header_bytes);
    // Boxed: hyper moves each request's future into a task of its own (an
    // HTTP/2 stream's) or its connection's state; inline, the forwarding
    // state (a few KiB) would be copied with it each time, which costs more
    // than the allocation.
    let service = service_fn(move |req| Box::pin(handle(Arc::clone(&ctx), req)));
    // HTTP/1.1, or HTTP/2 when the client opens with its preface (h2c
    // with prior knowledge), on the same listener.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // A longer head is answered 431 by hyper.
        .max_buf_size(max_header_bytes)
        // Head and body copied into one buffer and sent with a plain write:
        // the kernel takes that more cheaply than a writev of the pieces,
        // and the copy costs less than the difference.
        .writev(false);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    // In a block of its own: the connection, and the socket it holds, are
    // dropped at its end.
    let result = {
        let conn = builder.serve_connection_with_upgrades(io, service);
        let mut conn = pin!(conn);
        let probe = state.clone();
        let mut changed = pin!(state.changed());
        let mut registered: Option<Waker> = None;
        let stopping = poll_fn(|cx| {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
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
        .await;
        match stopping {
            Some(result) => result,
            None => {
                // Finishes the request in progress, then closes instead of
                // waiting for another one.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    };
    if let Err(err) = result {
        let head_timed_out = err
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout);
        if head_timed_out && head_timeout::answer_timed_out(&returned).await {
            // Counted against no version: no request reached one.
            debug!(%peer, "request head not received in time; answered 408");
            return;
        }
        debug!(%peer, %err, "client connection ended with an error");
    }
}

async fn handle(
    ctx: Arc<ConnContext>,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let shared = &ctx.shared;
    let (version, metrics, endpoint, set_cookie, mirror_to, timeout, protocol, upgrade) = {
        let table = shared.table.load();
        let protocol = table.route.upstream_protocol;
        // A protocol switch is HTTP/1.1's, end to end.
        let upgrade = protocol == UpstreamProtocol::Http1 && headers::wants_upgrade(req.headers());
        let Some(pick) = shared.picker.pick(&table, req.headers()) else {
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "no healthy upstream for this target\n",
            ));
        };
        // A tunnel cannot be copied; copies go out over HTTP/1.1 only.
        let mirror_to = (pick.stable && !upgrade && protocol == UpstreamProtocol::Http1)
            .then(|| shared.picker.mirror(&table))
            .flatten()
            .map(|(pool, endpoint)| MirrorTarget {
                version: Arc::clone(&pool.version),
                endpoint: Arc::clone(endpoint),
            });
        (
            Arc::clone(&pick.pool.version),
            pick.pool.metrics(&shared.metrics).clone(),
            Arc::clone(pick.endpoint),
            pick.set_cookie.cloned(),
            mirror_to,
            table.route.response_timeout,
            protocol,
            upgrade,
        )
    };

    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    if parts.version == Version::HTTP_2 && !parts.headers.contains_key(HOST) {
        // HTTP/2 carries the host in the URI (`:authority`), HTTP/1.1 in Host.
        if let Some(authority) = parts.uri.authority() {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(HOST, host);
            }
        }
    }
    headers::strip_hop_by_hop(&mut parts.headers, upgrade);
    headers::add_forwarding(&mut parts.headers, &ctx.client_ip, ctx.proto);
    parts.headers.remove(&X_ZION_MIRROR);
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        // Absolute-form from a client that treats us as a forward proxy:
        // the upstream expects origin-form.
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        parts.uri = Uri::from(path);
    }
    // Upstream connections are reused, which HTTP/1.0 framing would prevent.
    parts.version = Version::HTTP_11;

    let deadline = started + timeout;
    let (result, fault, flight) = if upgrade {
        let answer = async {
            endpoint
                .request_upgrade(Request::from_parts(parts, body))
                .await
                .map(|resp| resp.map(Either::Right))
                .map_err(Miss::Failed)
        };
        let (answer, flight) = watched(&metrics, started, deadline, &mut None, answer).await;
        (answer, ClientFault::default(), flight)
    } else {
        let (body, fault) = ClientBody::watch(body);
        let (req, copy) = match mirror_to {
            None => (Request::from_parts(parts, streamed(body)), None),
            Some(target) => {
                match mirror::prepare(parts, body, target, &shared.mirrors, &shared.metrics).await {
                    Ok(prepared) => prepared,
                    Err(err) => return Ok(client_fault(shared, &err)),
                }
            }
        };
        let answer = forward(shared, &version, &endpoint, protocol, req);
        let (result, flight) = watched(&metrics, started, deadline, &mut None, answer).await;
        // Sent once stable has answered, so the copy takes nothing from the
        // original's time (the client sees stable's answer whatever the copy
        // does).
        if let Some(copy) = copy {
            copy.send(Arc::clone(&shared.metrics), shared.state.clone());
        }
        (result.map(|resp| resp.map(Either::Left)), fault, flight)
    };
    let mut flight = flight;
    let latency = started.elapsed();
    let resp = match result {
        Ok(mut resp) => {
            let status = resp.status();
            // A gRPC call's outcome is its grpc-status: in the head of a
            // trailers-only answer, else in the trailers that end the body.
            let grpc_head = grpc::is_grpc(resp.headers()).then(|| grpc::failed(resp.headers()));
            if let Some(None) = grpc_head {
                if status == StatusCode::OK {
                    let settle = settle_later(&metrics, flight.take(), started);
                    let resp =
                        resp.map(|body| Either::Left(Either::Right(GrpcBody::new(body, settle))));
                    return Ok(with_cookie(resp, set_cookie));
                }
            }
            let error = status.is_server_error() || grpc_head.flatten().unwrap_or(false);
            count(&metrics, flight.take(), error, latency);
            let switching = status == StatusCode::SWITCHING_PROTOCOLS;
            if switching {
                if let Some(client_upgrade) = client_upgrade {
                    let upstream_upgrade = hyper::upgrade::on(&mut resp);
                    tokio::spawn(tunnel(
                        client_upgrade,
                        upstream_upgrade,
                        shared.state.clone(),
                    ));
                }
            }
            headers::strip_hop_by_hop(resp.headers_mut(), switching && upgrade);
            resp.map(|body| Either::Left(Either::Left(body)))
        }
        // The client's own doing: not the version's error.
        Err(Miss::Failed(err)) if fault.happened() => {
            return Ok(client_fault(shared, &err));
        }
        Err(Miss::TimedOut) if fault.stalled() => {
            if let Some(n) = shared.client_faults.hit(Instant::now()) {
                info!(version = %version, requests = n, "client stopped sending its request body; answered 408, not counted against the version (rate-limited)");
            }
            return Ok(plain(
                StatusCode::REQUEST_TIMEOUT,
                "the request body stopped arriving\n",
            ));
        }
        Err(miss) => {
            count(&metrics, flight.take(), true, latency);
            if let Some(n) = shared.upstream_failures.hit(Instant::now()) {
                warn!(version = %version, error = %miss, requests = n, "upstream request failed (rate-limited: requests counts them since the last line)");
            }
            match miss {
                Miss::TimedOut => plain(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream did not answer in time\n",
                ),
                Miss::Failed(err) if err.timed_out() => plain(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream did not accept a connection in time\n",
                ),
                Miss::Failed(_) => plain(StatusCode::BAD_GATEWAY, "upstream unavailable\n"),
            }
        }
    };
    Ok(with_cookie(resp, set_cookie))
}

fn with_cookie(
    mut resp: Response<ProxyBody>,
    set_cookie: Option<HeaderValue>,
) -> Response<ProxyBody> {
    if let Some(cookie) = set_cookie {
        // Appended: the upstream may set cookies of its own.
        resp.headers_mut().append(SET_COOKIE, cookie);
    }
    resp
}

/// Counts a request once answered: as one that was in flight, or plainly.
fn count(metrics: &VersionMetrics, flight: Option<InFlight>, error: bool, latency: Duration) {
    match flight {
        Some(flight) => flight.finish(error, latency, SystemTime::now()),
        None => metrics.record(error, latency, SystemTime::now()),
    }
}

/// Counts a gRPC call once its status is known (its latency then the
/// whole call's).
fn settle_later(
    metrics: &VersionMetrics,
    flight: Option<InFlight>,
    started: Instant,
) -> grpc::Settle {
    let metrics = metrics.clone();
    Box::new(move |error| count(&metrics, flight, error, started.elapsed()))
}

/// Why a request got no answer from its replica.
#[derive(Debug, thiserror::Error)]
enum Miss {
    #[error(transparent)]
    Failed(UpstreamError),
    #[error("no response head within the target's response timeout")]
    TimedOut,
}

/// Waits for `answer` until `deadline`. A request still unanswered after
/// [`IN_FLIGHT_AFTER`] is counted as in flight from then on, with the time
/// it started, so a version that hangs shows in every window it spans; one
/// answered sooner costs no bookkeeping and is counted when answered. The
/// guard comes back for the caller to finish.
///
/// `timer` is the coarse timer this waits on: a connection that keeps one
/// across its requests arms it again only when it fires before this
/// request's moment (at most once per [`IN_FLIGHT_AFTER`]), not once per
/// request.
async fn watched<T>(
    metrics: &VersionMetrics,
    started: Instant,
    deadline: Instant,
    timer: &mut Option<Deadline>,
    answer: impl Future<Output = Result<T, Miss>>,
) -> (Result<T, Miss>, Option<InFlight>) {
    let mut answer = pin!(answer);
    let watch_from = (started + IN_FLIGHT_AFTER).min(deadline);
    if watch_from < started + IN_FLIGHT_AFTER {
        // A response timeout shorter than the watch: on time, not a tick late.
        tokio::select! {
            biased;
            answered = &mut answer => return (answered, None),
            () = tokio::time::sleep_until(watch_from.into()) => {}
        }
    } else {
        // Coarse: a request may start counting in flight a tick late; a
        // timer per request would cost more than the rest of the watch.
        let watch = poll_fn(|cx| {
            let t = timer.get_or_insert_with(|| Deadline::at(watch_from));
            if std::pin::Pin::new(&mut *t).poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= watch_from {
                return Poll::Ready(());
            }
            // Armed for an earlier request's moment: again for this one's.
            *t = Deadline::at(watch_from);
            std::pin::Pin::new(t).poll(cx)
        });
        tokio::select! {
            biased;
            answered = &mut answer => return (answered, None),
            () = watch => {}
        }
    }
    let since = SystemTime::now()
        .checked_sub(started.elapsed())
        .unwrap_or_else(SystemTime::now);
    let flight = metrics.begin(since);
    let answered = tokio::time::timeout_at(deadline.into(), answer)
        .await
        .unwrap_or(Err(Miss::TimedOut));
    (answered, Some(flight))
}

/// Sends `req` to `endpoint` (a replica of `version`) and waits for the
/// response head. When no connection could be made, a request that is safe
/// to repeat goes once to another ready replica of the same version (as
/// nginx's `proxy_next_upstream error`), the failed connection still
/// counting against the version.
async fn forward(
    shared: &Shared,
    version: &str,
    endpoint: &Arc<Endpoint>,
    protocol: UpstreamProtocol,
    req: Request<OutBody>,
) -> Result<Response<Upstream>, Miss> {
    let sent = Instant::now();
    let answer = match send(endpoint, protocol, req).await {
        Ok(resp) => Ok(resp),
        Err(Failed {
            error,
            unsent: Some(req),
        }) if req.method().is_idempotent() => {
            let other = {
                let table = shared.table.load();
                table
                    .pool_of(version)
                    .and_then(|pool| pool.other_than(|e| e.addr == endpoint.addr))
                    .map(Arc::clone)
            };
            let Some(other) = other else {
                return Err(Miss::Failed(error));
            };
            shared
                .metrics
                .record(version, true, sent.elapsed(), SystemTime::now());
            debug!(%version, from = %endpoint.addr, to = %other.addr, %error, "connection failed; sending the request to another replica");
            send(&other, protocol, req)
                .await
                .map_err(|failed| failed.error)
        }
        Err(failed) => Err(failed.error),
    };
    answer.map_err(Miss::Failed)
}

async fn send(
    endpoint: &Arc<Endpoint>,
    protocol: UpstreamProtocol,
    req: Request<OutBody>,
) -> Result<Response<Upstream>, Failed> {
    match protocol {
        UpstreamProtocol::Http1 => relay::forward::send(endpoint, req)
            .await
            .map(|resp| resp.map(Either::Right)),
        UpstreamProtocol::H2c => endpoint
            .request_h2(req)
            .await
            .map(|resp| resp.map(Either::Left)),
    }
}

/// The answer to a request whose body the client failed to send: a 400 (a
/// client that went away never reads it), counted against no version, and
/// logged at most once per period.
fn client_fault(shared: &Shared, err: &dyn std::fmt::Display) -> Response<ProxyBody> {
    debug!(error = %err, "client request body unreadable");
    if let Some(n) = shared.client_faults.hit(Instant::now()) {
        info!(requests = n, error = %err, "client sent a malformed or incomplete request body; answered 400, not counted against the version (rate-limited: requests counts them since the last line)");
    }
    plain(
        StatusCode::BAD_REQUEST,
        "the request body was malformed or cut short\n",
    )
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

/// Copies bytes both ways between an upgraded client and upstream until
/// either closes or the proxy stops.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    mut state: watch::Receiver<RunState>,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(err) => {
            debug!(%err, "upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            match copied {
                Ok((up, down)) => debug!(up, down, "upgraded connection closed"),
                Err(err) => debug!(%err, "upgraded connection ended with an error"),
            }
        }
        _ = state.wait_for(|s| *s == RunState::Stopped) => {
            debug!("upgraded connection closed by proxy shutdown");
        }
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from_static(
        body.as_bytes(),
    ))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
