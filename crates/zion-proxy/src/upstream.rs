//! Keep-alive HTTP/1.1 connections to upstream replicas.
//!
//! A pooled connection is driven by the task of the request that uses it
//! (while waiting for the response head, then from the response body as the
//! client side pulls it) instead of by a task of its own. That keeps a proxied
//! request on one task: no wake-up of another task, possibly on another
//! thread, for each hop between the client side and the upstream side, and
//! no task per request to put the connection back in the pool.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::{HeaderMap, Request, Response};
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use crate::client_body::ClientBody;
use crate::workers::Workers;

/// Idle connections older than this are closed rather than reused: replicas
/// drop idle keep-alive connections after timeouts of their own, and a
/// request sent on a connection the peer is closing fails.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per replica and worker thread; more are closed
/// when returned (as many as a busy listener's clients may need at once).
const MAX_IDLE: usize = 1024;

/// What is sent upstream: the client's body streamed through, or one held
/// in memory (empty for bodyless requests, which can then be repeated; the
/// buffered body of a mirrored request).
pub(crate) type OutBody = Either<ClientBody, Full<Bytes>>;

/// The client's body to stream upstream; an empty one becomes no body at all.
pub(crate) fn streamed(body: ClientBody) -> OutBody {
    if body.is_end_stream() {
        Either::Right(Full::default())
    } else {
        Either::Left(body)
    }
}
type Connection = http1::Connection<TokioIo<TcpStream>, OutBody>;

/// Why a request could not be forwarded (the client gets a 502).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}: no answer within {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    #[error("request to {addr} failed: {source}")]
    Http {
        addr: SocketAddr,
        source: hyper::Error,
    },
    #[error("request to {addr} failed: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("request to {addr} failed: {problem}")]
    Response {
        addr: SocketAddr,
        problem: crate::proxy::relay::head::BadResponse,
    },
}

impl UpstreamError {
    /// Whether the replica never answered in time (504) rather than
    /// refused or broke the exchange (502).
    pub(crate) fn timed_out(&self) -> bool {
        matches!(self, UpstreamError::ConnectTimeout { .. })
    }
}

/// A request that could not be forwarded: why, and the request itself when
/// it never left (no connection could be made), so it can go elsewhere.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: UpstreamError,
    pub(crate) unsent: Option<Request<OutBody>>,
}

impl From<UpstreamError> for Failed {
    fn from(error: UpstreamError) -> Self {
        Failed {
            error,
            unsent: None,
        }
    }
}

/// One replica address and its idle connections.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    /// A replica that does not accept within this is treated as down (the
    /// route's `connect_timeout`).
    pub(crate) connect_timeout: Duration,
    /// For requests that came without a Host field (HTTP/1.0 clients).
    pub(crate) host: HeaderValue,
    /// Idle connections per worker thread (see [`Workers::slot`]): a
    /// connection is served by the reactor of the thread that opened it, so
    /// it is only reused from that thread.
    idle: Box<[Mutex<VecDeque<Lease>>]>,
    /// The replica's HTTP/2 connection when the route says h2c (see
    /// [`crate::upstream_h2`]): one, multiplexed, shared by every thread.
    pub(crate) h2: Mutex<Option<hyper::client::conn::http2::SendRequest<OutBody>>>,
    /// The relay's idle connections (see [`crate::proxy::relay`]).
    pub(crate) relay_idle: crate::proxy::relay::pool::Idle,
}

/// A connection in use by one request, or waiting in the pool.
pub(crate) struct Lease {
    sender: http1::SendRequest<OutBody>,
    /// None once the connection finished (peer closed, `Connection: close`,
    /// error): it must not go back to the pool.
    conn: Option<Pin<Box<Connection>>>,
    since: Instant,
    /// The worker slot whose reactor serves this connection.
    slot: usize,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("alive", &self.conn.is_some())
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Polls the connection so it reads and writes; Ready once it ended.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(());
        };
        let result = std::task::ready!(conn.as_mut().poll(cx));
        if let Err(err) = result {
            debug!(%err, "upstream connection ended with an error");
        }
        // Dropping the finished connection is what fails a request still
        // queued on it (handing the request back) and ends its response
        // body; kept, they would wait forever.
        self.conn = None;
        Poll::Ready(())
    }

    /// Whether an idle connection can take a request right now. Polling it
    /// first lets it notice a close by the peer while it sat in the pool.
    fn usable(&mut self, cx: &mut Context<'_>) -> bool {
        if self.since.elapsed() > IDLE_TIMEOUT || self.drive(cx).is_ready() {
            return false;
        }
        matches!(self.sender.poll_ready(cx), Poll::Ready(Ok(())))
    }

    /// Sends `req` and drives the connection until the response head arrives.
    /// On failure, the request comes back if it was never written, so it can
    /// be retried elsewhere.
    async fn send(
        mut self,
        req: Request<OutBody>,
    ) -> Result<(Response<Incoming>, Lease), (hyper::Error, Option<Request<OutBody>>)> {
        let mut response = pin!(self.sender.try_send_request(req));
        let result = poll_fn(|cx| {
            if let Poll::Ready(result) = response.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if self.drive(cx).is_ready() {
                // The connection is gone, so the response resolves now.
                return response.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await;
        match result {
            Ok(resp) => Ok((resp, self)),
            Err(mut err) => {
                let req = err.take_message();
                Err((err.into_error(), req))
            }
        }
    }
}

impl Endpoint {
    pub(crate) fn new(addr: SocketAddr, connect_timeout: Duration) -> Endpoint {
        Endpoint {
            addr,
            connect_timeout,
            host: HeaderValue::try_from(addr.to_string())
                .expect("a socket address is a valid header value"),
            idle: (0..Workers::slots())
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            h2: Mutex::new(None),
            relay_idle: crate::proxy::relay::pool::Idle::new(),
        }
    }

    /// Forwards `req` over a pooled connection (or a new one) and returns the
    /// response whose body keeps driving that connection.
    pub(crate) async fn request(
        self: &Arc<Self>,
        mut req: Request<OutBody>,
    ) -> Result<Response<UpstreamBody>, Failed> {
        self.ensure_host(req.headers_mut());
        let bodyless = req.body().is_end_stream();
        if let Some(lease) = self.checkout().await {
            // A replica may close an idle connection just as a request goes
            // out on it. A request that is safe to repeat is then sent again
            // on a new connection (RFC 9110 §9.2.2), as other proxies do.
            let replay = (bodyless && req.method().is_idempotent()).then(|| copy_head(&req));
            match lease.send(req).await {
                Ok((resp, lease)) => return Ok(self.wrap(resp, Some(lease))),
                // Never written: a new connection is safe for any request.
                Err((err, Some(unsent))) => {
                    debug!(addr = %self.addr, %err, "pooled connection unusable; reconnecting");
                    req = unsent;
                }
                Err((err, None)) => match replay {
                    Some(again) => {
                        debug!(addr = %self.addr, %err, "pooled connection failed; repeating the request");
                        req = again;
                    }
                    None => return Err(self.http_err(err).into()),
                },
            }
        }
        let lease = match self.connect().await {
            Ok(lease) => lease,
            Err(error) => {
                return Err(Failed {
                    error,
                    unsent: Some(req),
                });
            }
        };
        match lease.send(req).await {
            Ok((resp, lease)) => Ok(self.wrap(resp, Some(lease))),
            Err((err, _)) => Err(self.http_err(err).into()),
        }
    }

    /// Forwards a protocol-switch request over a connection of its own, run
    /// by its own task so that on `101` it can hand its socket over for the
    /// tunnel.
    pub(crate) async fn request_upgrade(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let (mut parts, body) = req.into_parts();
        self.ensure_host(&mut parts.headers);
        let (body, _) = ClientBody::watch(body);
        let req: Request<OutBody> = Request::from_parts(parts, Either::Left(body));
        let stream = self.connect_tcp().await?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.http_err(source))?;
        tokio::spawn(async move {
            if let Err(err) = conn.with_upgrades().await {
                debug!(%err, "upstream upgrade connection ended with an error");
            }
        });
        sender
            .send_request(req)
            .await
            .map_err(|source| self.http_err(source))
    }

    pub(crate) fn http_err(&self, source: hyper::Error) -> UpstreamError {
        UpstreamError::Http {
            addr: self.addr,
            source,
        }
    }

    pub(crate) fn ensure_host(&self, headers: &mut HeaderMap) {
        if !headers.contains_key(HOST) {
            headers.insert(HOST, self.host.clone());
        }
    }

    /// The response whose body drives `lease`'s connection (None: a
    /// connection driven by a task of its own, HTTP/2's).
    pub(crate) fn wrap(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        lease: Option<Lease>,
    ) -> Response<UpstreamBody> {
        resp.map(|incoming| UpstreamBody {
            incoming,
            lease,
            endpoint: Arc::clone(self),
            finished: false,
        })
    }

    /// The most recently used idle connection that still works, if any:
    /// this thread's own first, then another thread's, which beats opening a
    /// new one (its events then arrive through that thread's reactor, and it
    /// goes back to that thread's pool afterwards).
    async fn checkout(&self) -> Option<Lease> {
        let home = Workers::slot();
        let slots = self.idle.len();
        for slot in (0..slots).map(|k| (home + k) % slots) {
            loop {
                // Most recent first: it is the least likely to have been closed.
                let popped = self.idle[slot]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop_back();
                let Some(mut lease) = popped else { break };
                if poll_fn(|cx| Poll::Ready(lease.usable(cx))).await {
                    return Some(lease);
                }
            }
        }
        None
    }

    fn checkin(&self, lease: Lease) {
        let mut idle = self.idle[lease.slot]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while idle
            .front()
            .is_some_and(|l| l.since.elapsed() > IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE {
            idle.push_back(Lease {
                since: Instant::now(),
                ..lease
            });
        }
    }

    pub(crate) async fn connect_tcp(&self) -> Result<TcpStream, UpstreamError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout {
                addr: self.addr,
                after: self.connect_timeout,
            })?
            .map_err(|source| UpstreamError::Connect {
                addr: self.addr,
                source,
            })?;
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%err, "set_nodelay failed");
        }
        Ok(stream)
    }

    async fn connect(&self) -> Result<Lease, UpstreamError> {
        let stream = self.connect_tcp().await?;
        let (sender, conn) = http1::Builder::new()
            // As towards clients: one buffer and a plain write, not writev.
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.http_err(source))?;
        Ok(Lease {
            sender,
            conn: Some(Box::pin(conn)),
            since: Instant::now(),
            slot: Workers::slot(),
        })
    }
}

/// A bodyless request with the same head, for sending it again.
fn copy_head(req: &Request<OutBody>) -> Request<OutBody> {
    let mut copy = Request::new(Either::Right(Full::default()));
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// An upstream response body that drives its connection while it is read,
/// and returns the connection to the pool once read to the end.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    incoming: Incoming,
    lease: Option<Lease>,
    endpoint: Arc<Endpoint>,
    finished: bool,
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let mut frame = Pin::new(&mut this.incoming).poll_frame(cx);
        if frame.is_pending() {
            if let Some(lease) = this.lease.as_mut() {
                // The connection reads the next part into the body channel;
                // then the body has it within this same poll.
                let _ = lease.drive(cx);
                frame = Pin::new(&mut this.incoming).poll_frame(cx);
            }
        }
        if let Poll::Ready(None) = frame {
            this.finished = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // Only a connection whose response was read to the end can carry the
        // next request; one dropped mid-body is closed.
        if let Some(lease) = self.lease.take() {
            if lease.conn.is_some() && (self.finished || self.incoming.is_end_stream()) {
                self.endpoint.checkin(lease);
            }
        }
    }
}
