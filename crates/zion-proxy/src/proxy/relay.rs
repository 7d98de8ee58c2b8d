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

pub(crate) mod chunked;
pub(crate) mod forward;
pub(crate) mod head;
pub(crate) mod pool;
pub(crate) mod prefixed;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Instant, SystemTime};

use bytes::{Buf, BytesMut};
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, info, warn};

use super::{ConnContext, Miss, count, watched};
use crate::UpstreamProtocol;
use crate::deadlines::Deadline;
use crate::head_timeout;
use crate::metrics::VersionMetrics;
use crate::upstream::{Endpoint, UpstreamError};
use chunked::Chunked;
use head::{Framing, RequestHead, ResponseHead};
use pool::Conn;
use prefixed::Prefixed;

/// A client's read buffer; grows up to the head limit for larger heads.
const CLIENT_BUFFER: usize = 8 * 1024;
/// Body bytes carried per read and write when a body is not in the buffer.
const BODY_CHUNK: usize = 16 * 1024;

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
            client_done: request.body == with_head as u64,
            streamed: false,
            close: request.close,
        };

        let (result, flight) = watched(
            &routed.metrics,
            started,
            routed.deadline,
            &mut flight_timer,
            exchange.run(ctx, &routed, &out, &mut io, &mut buf, &mut answer),
        )
        .await;
        let mut flight = flight;
        let (conn, response, endpoint) = match result {
            Ok(Ok(answered)) => answered,
            Ok(Err(ClientGone)) => {
                // The client's doing: not the version's error, and nobody to
                // answer.
                return Ended::Closed;
            }
            Err(Miss::TimedOut) if !exchange.client_done => {
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
                let close = exchange.close || !exchange.client_done;
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
struct Routed {
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
struct ClientGone;

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

/// One request's trip to its replica and back to a response head.
struct Exchange<'r> {
    request: &'r RequestHead,
    /// A sticky route's assignment, sent back with the answer.
    set_cookie: Option<&'r [u8]>,
    /// Body bytes still to read from the client.
    rest: u64,
    client_done: bool,
    /// Body bytes beyond the head's write were sent: the request can no
    /// longer be sent again whole.
    streamed: bool,
    close: bool,
}

impl Exchange<'_> {
    /// Sends the head in `out` (with the body bytes that came with it) and
    /// the rest of the body, and reads the response head, whose rewritten
    /// form lands in `answer`. A connection from the pool that turns out
    /// closed is replaced by a new one when that is safe: nothing of the
    /// body was read from the client yet, and the replica saw nothing or
    /// the request is safe to repeat.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        ctx: &ConnContext,
        routed: &Routed,
        out: &[u8],
        client: &mut S,
        client_buf: &mut BytesMut,
        answer: &mut Vec<u8>,
    ) -> Result<Result<(Conn, ResponseHead, Arc<Endpoint>), ClientGone>, Miss> {
        let mut endpoint = Arc::clone(&routed.endpoint);
        let mut conn = match endpoint.relay_idle.checkout(routed.started) {
            Some(conn) => conn,
            None => match connect(&endpoint).await {
                Ok(conn) => conn,
                Err(err) if self.request.idempotent => {
                    // As the hyper path: once to another replica of the
                    // same version, the failure still counted.
                    let other = {
                        let table = ctx.shared.table.load();
                        table
                            .pool_of(&routed.version)
                            .and_then(|pool| pool.other_than(|e| e.addr == endpoint.addr))
                            .map(Arc::clone)
                    };
                    let Some(other) = other else {
                        return Err(Miss::Failed(err));
                    };
                    routed
                        .metrics
                        .record(true, Default::default(), SystemTime::now());
                    debug!(version = %routed.version, from = %endpoint.addr, to = %other.addr, %err, "connection failed; sending the request to another replica");
                    endpoint = other;
                    connect(&endpoint).await.map_err(Miss::Failed)?
                }
                Err(err) => return Err(Miss::Failed(err)),
            },
        };
        loop {
            let reused = conn.reused;
            let outcome = self
                .attempt(&endpoint, &mut conn, out, client, client_buf, answer)
                .await;
            match outcome {
                Attempt::Answered(response) => return Ok(Ok((conn, response, endpoint))),
                Attempt::ClientGone => return Ok(Err(ClientGone)),
                Attempt::Failed { error, unseen } => {
                    let again = reused
                        && !self.streamed
                        && (unseen || (self.request.idempotent && self.request.body == 0));
                    if !again {
                        return Err(Miss::Failed(error));
                    }
                    debug!(addr = %endpoint.addr, %error, "pooled connection closed; sending the request on a new one");
                    conn = connect(&endpoint).await.map_err(Miss::Failed)?;
                }
            }
        }
    }

    async fn attempt<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        endpoint: &Endpoint,
        conn: &mut Conn,
        out: &[u8],
        client: &mut S,
        client_buf: &mut BytesMut,
        answer: &mut Vec<u8>,
    ) -> Attempt {
        let failed = |source: std::io::Error, unseen: bool| Attempt::Failed {
            error: UpstreamError::Io {
                addr: endpoint.addr,
                source,
            },
            unseen,
        };
        if let Err(err) = conn.stream.write_all(out).await {
            return failed(err, true);
        }
        // The rest of the body, from the client as it comes.
        while self.rest > 0 {
            self.streamed = true;
            if client_buf.is_empty() {
                client_buf.reserve(BODY_CHUNK);
                match client.read_buf(client_buf).await {
                    Ok(0) | Err(_) => return Attempt::ClientGone,
                    Ok(_) => {}
                }
            }
            let n = usize::try_from(self.rest)
                .unwrap_or(usize::MAX)
                .min(client_buf.len());
            if let Err(err) = conn.stream.write_all(&client_buf[..n]).await {
                return failed(err, false);
            }
            client_buf.advance(n);
            self.rest -= n as u64;
        }
        self.client_done = true;
        // The response head; interim (1xx) answers are dropped.
        loop {
            if !conn.buf.is_empty() {
                let (request, close, set_cookie) = (self.request, self.close, self.set_cookie);
                match head::parse_response(&conn.buf, request, close, set_cookie, answer) {
                    Ok(head::Response::Partial) => {}
                    Ok(head::Response::Interim(len)) => {
                        conn.buf.advance(len);
                        continue;
                    }
                    Ok(head::Response::Final(response)) => {
                        conn.buf.advance(response.len);
                        return Attempt::Answered(response);
                    }
                    Err(problem) => {
                        return Attempt::Failed {
                            error: UpstreamError::Response {
                                addr: endpoint.addr,
                                problem,
                            },
                            unseen: false,
                        };
                    }
                }
            }
            if conn.buf.capacity() - conn.buf.len() < 1024 {
                conn.buf.reserve(CLIENT_BUFFER);
            }
            match conn.stream.read_buf(&mut conn.buf).await {
                Ok(0) => {
                    // Closed before the answer: on a pooled connection,
                    // most likely closed while idle; sent again if safe to.
                    return failed(std::io::ErrorKind::UnexpectedEof.into(), false);
                }
                Ok(_) => {}
                Err(err) => return failed(err, false),
            }
        }
    }
}

enum Attempt {
    Answered(ResponseHead),
    ClientGone,
    /// `unseen`: the replica cannot have acted on the request.
    Failed {
        error: UpstreamError,
        unseen: bool,
    },
}

async fn connect(endpoint: &Endpoint) -> Result<Conn, UpstreamError> {
    endpoint.connect_tcp().await.map(Conn::new)
}

/// How an answer went to the client.
enum Passed {
    /// Whole, and the upstream connection can carry another request.
    Reusable(Conn),
    /// Whole; the upstream connection closes.
    Sent,
    /// The client connection cannot go on: a write failed, or the body
    /// could not be followed.
    Broken,
}

/// Writes the response head in `answer` and the body after it from `conn`.
async fn pass_body<S: AsyncWrite + Unpin>(
    client: &mut S,
    mut conn: Conn,
    response: &ResponseHead,
    answer: &mut Vec<u8>,
    endpoint: &Endpoint,
) -> Passed {
    let mut head = Some(answer);
    let ended = match response.framing {
        Framing::Empty => write_parts(client, &mut head, &[]).await,
        Framing::Length(mut left) => loop {
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(conn.buf.len());
            if n > 0 || head.is_some() {
                if !write_parts(client, &mut head, &conn.buf[..n]).await {
                    break false;
                }
                conn.buf.advance(n);
                left -= n as u64;
            }
            if left == 0 {
                break true;
            }
            if !fill(&mut conn).await {
                break false;
            }
        },
        Framing::Chunked => {
            let mut chunked = Chunked::new();
            loop {
                let Ok(n) = chunked.scan(&conn.buf) else {
                    debug!(addr = %endpoint.addr, "malformed chunked body from upstream; closing");
                    break false;
                };
                if n > 0 || head.is_some() {
                    if !write_parts(client, &mut head, &conn.buf[..n]).await {
                        break false;
                    }
                    conn.buf.advance(n);
                }
                if chunked.done() {
                    break true;
                }
                if !fill(&mut conn).await {
                    break false;
                }
            }
        }
        Framing::UntilClose => loop {
            let n = conn.buf.len();
            if !write_parts(client, &mut head, &conn.buf[..n]).await {
                break false;
            }
            conn.buf.advance(n);
            if !fill(&mut conn).await {
                // The end of the body is the end of the connection.
                break true;
            }
        },
    };
    // Bytes after the body are no answer to anything: the connection is
    // broken, as is one that closes.
    match ended {
        true if !response.upstream_closes && conn.buf.is_empty() => Passed::Reusable(conn),
        true => Passed::Sent,
        false => Passed::Broken,
    }
}

/// Reads more of a body into the connection's buffer; false at its end or
/// on an error.
async fn fill(conn: &mut Conn) -> bool {
    if conn.buf.capacity() - conn.buf.len() < 1024 {
        conn.buf.reserve(BODY_CHUNK);
    }
    matches!(conn.stream.read_buf(&mut conn.buf).await, Ok(n) if n > 0)
}

/// Writes the head (on its first call) and `body` to the client, in one
/// write when the body is small.
async fn write_parts<S: AsyncWrite + Unpin>(
    client: &mut S,
    head: &mut Option<&mut Vec<u8>>,
    body: &[u8],
) -> bool {
    let result = match head.take() {
        Some(h) if body.len() <= BODY_CHUNK => {
            h.extend_from_slice(body);
            client.write_all(h).await
        }
        Some(h) => match client.write_all(h).await {
            Ok(()) => client.write_all(body).await,
            Err(err) => Err(err),
        },
        None => client.write_all(body).await,
    };
    result.is_ok()
}

/// Writes an answer of the proxy's own (with a sticky route's assignment,
/// as the hyper path's answers carry it).
async fn write_plain<S: AsyncWrite + Unpin>(
    client: &mut S,
    status: &str,
    body: &str,
    close: bool,
    set_cookie: Option<&HeaderValue>,
) -> std::io::Result<()> {
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n",
        body.len()
    )
    .into_bytes();
    if let Some(cookie) = set_cookie {
        answer.extend_from_slice(b"set-cookie: ");
        answer.extend_from_slice(cookie.as_bytes());
        answer.extend_from_slice(b"\r\n");
    }
    if close {
        answer.extend_from_slice(b"connection: close\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(body.as_bytes());
    client.write_all(&answer).await
}
