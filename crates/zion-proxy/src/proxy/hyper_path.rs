//! hyper's path: a client connection hyper serves (HTTP/2, and what the
//! relay hands over), each request routed, rewritten and forwarded by
//! [`handle`], upgrades tunnelled, the proxy's own answers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderValue, SET_COOKIE};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::relay;
use super::relay::prefixed::Prefixed;
use super::waiting::{Miss, count, watched};
use super::{ConnContext, RunState, Shared, until_stopping};
use crate::UpstreamProtocol;
use crate::client_body::{ClientBody, ClientFault};
use crate::grpc::{self, GrpcBody};
use crate::head_timeout::{self, Reclaimable};
use crate::headers;
use crate::metrics::{InFlight, VersionMetrics};
use crate::mirror::{self, MirrorTarget, X_ZION_MIRROR};
use crate::upstream::{Endpoint, Failed, OutBody, streamed};

/// What the proxy answers: the upstream's body (pooled connection, a gRPC
/// call's watched for its status, or upgrade), or one it wrote itself.
type ProxyBody = Either<Either<Answered, GrpcBody<Answered>>, Full<Bytes>>;

/// The upstream's body: a replica's, or an upgrade's.
type Answered = Either<Upstream, Incoming>;

/// A replica's body: read by the relay's connection (HTTP/1.1), or by
/// hyper's HTTP/2 client (h2c).
type Upstream = Either<Incoming, relay::forward::RelayBody>;

/// Serves HTTP/1.1 or HTTP/2 on one client connection (in clear or
/// decrypted) until it ends or the proxy stops.
pub(super) async fn serve_http<S>(
    stream: Prefixed<S>,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    state: watch::Receiver<RunState>,
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
        let stopping = until_stopping(conn.as_mut(), &state).await;
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
            let Some(other) = shared.other_replica(version, endpoint.addr) else {
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
