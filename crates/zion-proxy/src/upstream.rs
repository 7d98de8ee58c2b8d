//! The replicas as the forwarding side sees them: an address, its
//! connection timeout, the relay's idle connections to it (see
//! [`crate::proxy::relay`]) and its HTTP/2 connection on an h2c route (see
//! [`crate::upstream_h2`]); why a request could not be forwarded.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::{HeaderMap, Request, Response};
use http_body_util::{Either, Full};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use crate::client_body::ClientBody;
use crate::workers::Workers;

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
    /// The replica's HTTP/2 connections when the route says h2c (see
    /// [`crate::upstream_h2`]): one per worker thread, multiplexed.
    pub(crate) h2: Box<[Mutex<Option<hyper::client::conn::http2::SendRequest<OutBody>>>]>,
    /// The relay's idle connections (see [`crate::proxy::relay`]).
    pub(crate) relay_idle: crate::proxy::relay::pool::Idle,
}

impl Endpoint {
    pub(crate) fn new(addr: SocketAddr, connect_timeout: Duration) -> Endpoint {
        Endpoint {
            addr,
            connect_timeout,
            host: HeaderValue::try_from(addr.to_string())
                .expect("a socket address is a valid header value"),
            h2: (0..Workers::slots()).map(|_| Mutex::new(None)).collect(),
            relay_idle: crate::proxy::relay::pool::Idle::new(),
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
}
