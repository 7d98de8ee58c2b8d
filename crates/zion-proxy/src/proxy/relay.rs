//! The relay: plain HTTP/1.1 requests forwarded without hyper in the
//! middle, from the client's socket to a pooled upstream socket and back.
//!
//! Most traffic through a target is the simplest kind: a keep-alive HTTP/1.1
//! request with no body or a `Content-Length` one. For those, hyper on both
//! sides (a server towards the client, a client towards the replica, a
//! channel between its request sender and its connection, header maps built
//! and encoded again) cost twice nginx's instructions per request. The relay
//! parses the client's head with httparse (hyper's parser), routes it from
//! its fields (header rules, a sticky cookie, the split), writes the
//! upstream's head straight from it, parses the answer's head the same way
//! and passes bodies through as they come, with their framing checked (see
//! [`chunked`]).
//!
//! Everything else goes to hyper, which serves the connection from that
//! request on, with the bytes already read (see [`prefixed`]): a malformed or
//! unusual head (see [`head`]), HTTP/2, routes that mirror requests, h2c
//! replicas, a head over the size limit. A request relayed is recorded,
//! timed out and answered on failure as the hyper path does (502, 504, 408;
//! counted against the version only when the version caused it).

mod answer;
pub(crate) mod chunked;
mod exchange;
pub(crate) mod forward;
pub(crate) mod head;
pub(crate) mod pool;
pub(crate) mod prefixed;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, info, warn};

use super::ConnContext;
use super::waiting::{Miss, count, watched};
use crate::UpstreamProtocol;
use crate::deadlines::Deadline;
use crate::head_timeout;
use crate::metrics::VersionMetrics;
use crate::upstream::Endpoint;
use answer::{Passed, pass_body, write_plain};
use exchange::Exchange;
use head::Framing;
use prefixed::Prefixed;

/// A client's read buffer; grows up to the head limit for larger heads.
const CLIENT_BUFFER: usize = 8 * 1024;
/// Body bytes carried per read and write when a body is not in the buffer.
pub(super) const BODY_CHUNK: usize = 16 * 1024;

/// How the relay let go of a connection.
pub(super) enum Ended<S> {
    /// Closed (or to be closed: dropped).
    Closed,
    /// hyper serves it from here, starting with the bytes in the prefix.
    Handover(Prefixed<S>),
}

/// Serves `io` until it closes or needs hyper. `draining` is set once the
/// proxy stops: the connection closes between requests.
pub(super) async fn serve<S>(mut io: S, ctx: &ConnContext, draining: &AtomicBool) -> Ended<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = &*ctx.shared;
    let mut buf = BytesMut::with_capacity(CLIENT_BUFFER);
    let mut out = Vec::with_capacity(1024);
    let mut answer = Vec::with_capacity(1024);
    let mut head_by = Instant::now() + shared.header_timeout;
    let mut head_timer: Option<Deadline> = None;
    // When the connection's request in flight starts counting as such.
    let mut flight_timer: Option<Deadline> = None;
    loop {
        // A complete head, or the reason there is none.
        let (request, routed) = loop {
            if !buf.is_empty() {
                let table = shared.table.load();
                if table.route.upstream_protocol != UpstreamProtocol::Http1 || table.mirrors() {
                    // Copies and h2c replicas are hyper's.
                    return Ended::Handover(Prefixed::new(buf, io));
                }
                // Where the request goes, decided from its fields once its
                // head is whole (header rules, a sticky cookie, the split).
                let route = |fields: &[httparse::Header<'_>]| {
                    let started = Instant::now();
                    shared.picker.pick(&table, fields).map(|pick| Routed {
                        started,
                        version: Arc::clone(&pick.pool.version),
                        metrics: pick.pool.metrics(&shared.metrics).clone(),
                        endpoint: Arc::clone(pick.endpoint),
                        deadline: started + table.route.response_timeout,
                        set_cookie: pick.set_cookie.cloned(),
                    })
                };
                let client_ip = ctx.client_ip.as_bytes();
                match head::parse_request(&buf, client_ip, ctx.proto.as_bytes(), &mut out, route) {
                    head::Request::Relay(request, routed) => break (request, routed),
                    // hyper answers what the relay does not take, a 503
                    // when nothing can serve included.
                    head::Request::Handover => return Ended::Handover(Prefixed::new(buf, io)),
                    head::Request::Partial if buf.len() >= shared.max_header_bytes => {
                        // hyper reads on and answers 431.
                        return Ended::Handover(Prefixed::new(buf, io));
                    }
                    head::Request::Partial => {}
                }
            }
            match read_head(&mut io, &mut buf, head_by, &mut head_timer, draining).await {
                HeadRead::More => {}
                HeadRead::Closed => return Ended::Closed,
                HeadRead::TimedOut => {
                    if !buf.is_empty() {
                        // A head begun and not finished: told so, as hyper's
                        // connections are (see head_timeout).
                        debug!("request head not received in time; answered 408");
                        head_timeout::answer(&mut io).await;
                    }
                    return Ended::Closed;
                }
            }
        };
        let started = routed.started;
        head::finish_request(&mut out, &request, routed.endpoint.host.as_bytes());
        buf.advance(request.len);
        // The body bytes that came with the head go in the same write.
        let with_head = usize::try_from(request.body)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        out.extend_from_slice(&buf[..with_head]);
        buf.advance(with_head);
        let mut exchange = Exchange {
            request: &request,
            set_cookie: routed.set_cookie.as_ref().map(HeaderValue::as_bytes),
            rest: request.body - with_head as u64,
            close: request.close,
        };

        let (result, mut flight) = watched(
            &routed.metrics,
            started,
            routed.deadline,
            &mut flight_timer,
            exchange.run(ctx, &routed, &out, &mut io, &mut buf, &mut answer),
        )
        .await;
        let (conn, response, endpoint) = match result {
            Ok(Ok(answered)) => answered,
            Ok(Err(ClientGone)) => {
                // The client's doing: not the version's error, and nobody to
                // answer.
                return Ended::Closed;
            }
            Err(Miss::TimedOut) if !exchange.client_done() => {
                if let Some(n) = shared.client_faults.hit(Instant::now()) {
                    info!(version = %routed.version, requests = n, "client stopped sending its request body; answered 408, not counted against the version (rate-limited)");
                }
                let _ = write_plain(
                    &mut io,
                    "408 Request Timeout",
                    "the request body stopped arriving\n",
                    true,
                    routed.set_cookie.as_ref(),
                )
                .await;
                return Ended::Closed;
            }
            Err(miss) => {
                count(&routed.metrics, flight.take(), true, started.elapsed());
                if let Some(n) = shared.upstream_failures.hit(Instant::now()) {
                    warn!(version = %routed.version, error = %miss, requests = n, "upstream request failed (rate-limited: requests counts them since the last line)");
                }
                let (status, body) = match &miss {
                    Miss::TimedOut => ("504 Gateway Timeout", "upstream did not answer in time\n"),
                    Miss::Failed(err) if err.timed_out() => (
                        "504 Gateway Timeout",
                        "upstream did not accept a connection in time\n",
                    ),
                    Miss::Failed(_) => ("502 Bad Gateway", "upstream unavailable\n"),
                };
                // A body not read to its end cannot be told from the next
                // request: the connection closes then.
                let close = exchange.close || !exchange.client_done();
                if write_plain(&mut io, status, body, close, routed.set_cookie.as_ref())
                    .await
                    .is_err()
                    || close
                {
                    return Ended::Closed;
                }
                head_by = Instant::now() + shared.header_timeout;
                continue;
            }
        };
        let latency = started.elapsed();
        count(
            &routed.metrics,
            flight.take(),
            response.status >= 500,
            latency,
        );
        // Back to the pool of the replica that answered (another than the
        // one picked when its connection failed).
        let reusable = pass_body(&mut io, conn, &response, &mut answer, &endpoint).await;
        let done = Instant::now();
        let sent = match reusable {
            Passed::Reusable(conn) => {
                endpoint.relay_idle.checkin(conn, done);
                true
            }
            Passed::Sent => true,
            Passed::Broken => false,
        };
        if !sent || exchange.close || response.framing == Framing::UntilClose {
            let _ = io.shutdown().await;
            return Ended::Closed;
        }
        if draining.load(Ordering::Relaxed) && buf.is_empty() {
            return Ended::Closed;
        }
        head_by = done + shared.header_timeout;
    }
}

/// Where one request goes.
pub(super) struct Routed {
    started: Instant,
    version: Arc<str>,
    metrics: VersionMetrics,
    endpoint: Arc<Endpoint>,
    deadline: Instant,
    /// A sticky route's assignment, sent back with the answer.
    set_cookie: Option<HeaderValue>,
}

/// The client went away (or broke its request body) mid-request.
#[derive(Debug)]
pub(super) struct ClientGone;

enum HeadRead {
    More,
    Closed,
    TimedOut,
}

/// Reads more of a request head into `buf`, until `by`. An idle connection
/// of a draining proxy closes here.
async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    by: Instant,
    timer: &mut Option<Deadline>,
    draining: &AtomicBool,
) -> HeadRead {
    poll_fn(|cx| {
        if buf.is_empty() && draining.load(Ordering::Relaxed) {
            return Poll::Ready(HeadRead::Closed);
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(CLIENT_BUFFER);
        }
        match pin!(io.read_buf(buf)).poll(cx) {
            Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(HeadRead::Closed),
            Poll::Ready(Ok(_)) => return Poll::Ready(HeadRead::More),
            Poll::Pending => {}
        }
        // One coarse timer per connection, not one per request: armed for
        // an earlier request's moment, it fires early and is armed again
        // for this one's, at most once per header_timeout.
        let t = timer.get_or_insert_with(|| Deadline::at(by));
        if Pin::new(&mut *t).poll(cx).is_ready() {
            if Instant::now() >= by {
                return Poll::Ready(HeadRead::TimedOut);
            }
            *t = Deadline::at(by);
            if Pin::new(t).poll(cx).is_ready() {
                return Poll::Ready(HeadRead::TimedOut);
            }
        }
        Poll::Pending
    })
    .await
}
