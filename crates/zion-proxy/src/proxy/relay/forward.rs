//! Requests that hyper read (HTTP/2 clients, mirrored routes, chunked
//! request bodies) sent to an HTTP/1.1 replica over the relay's pooled
//! connections, instead of through hyper's client: the head written
//! straight from the request's fields, the answer's head parsed by httparse,
//! its body read from the connection as the client side pulls it (see
//! [`RelayBody`]).
//!
//! hyper's client costs a channel between its request sender and its
//! connection, a task wake-up through it, and its own encoding and parsing
//! on every request; this way a request from an HTTP/2 client costs a fifth
//! less. What the answer's framing allows is checked as the relay checks
//! it (see [`super::head::read_response`]).

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use super::chunked::{Chunked, Piece};
use super::head::{BadResponse, Framing, ResponseSink, push_field};
use super::pool::{Conn, HeadFailed};
use crate::upstream::{Endpoint, Failed, OutBody, UpstreamError};

/// Sends `req` to `endpoint` and waits for the response head. A request
/// that found no connection comes back unsent (for another replica); one
/// whose pooled connection turned out closed before any answer is sent
/// again on a new connection when that is safe (bodyless and idempotent).
pub(crate) async fn send(
    endpoint: &Arc<Endpoint>,
    mut req: Request<OutBody>,
) -> Result<Response<RelayBody>, Failed> {
    endpoint.ensure_host(req.headers_mut());
    let mut conn = match Conn::open(endpoint, std::time::Instant::now()).await {
        Ok(conn) => conn,
        Err(error) => {
            return Err(Failed {
                error,
                unsent: Some(req),
            });
        }
    };
    let head_request = req.method() == http::Method::HEAD;
    let repeatable = req.body().is_end_stream() && req.method().is_idempotent();
    let (head, mut body) = encode_head(req);
    loop {
        let reused = conn.reused;
        match exchange(endpoint, &mut conn, &head, &mut body, head_request).await {
            Ok(answered) => return Ok(answered.into_response(conn, Arc::clone(endpoint))),
            Err(Exchanged::BodyFailed(error)) => return Err(error.into()),
            Err(Exchanged::Upstream { error, answered }) => {
                if !(reused && repeatable && !answered) {
                    return Err(error.into());
                }
                debug!(addr = %endpoint.addr, %error, "pooled connection closed; sending the request on a new one");
                conn = Conn::new(endpoint.connect_tcp().await?);
            }
        }
    }
}

/// A request's body and how it follows the head on the wire.
struct Outgoing {
    body: OutBody,
    /// Chunk by chunk with trailers at the end (no length known), rather
    /// than as it comes (`Content-Length` said how long).
    chunked: bool,
}

/// The request's head as HTTP/1.1 bytes, and its body when it has one.
fn encode_head(req: Request<OutBody>) -> (Vec<u8>, Option<Outgoing>) {
    let (parts, body) = req.into_parts();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes(),
    );
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        push_field(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    let body = (!body.is_end_stream()).then(|| {
        let chunked = !parts.headers.contains_key(CONTENT_LENGTH);
        if chunked {
            push_field(&mut out, b"transfer-encoding", b"chunked");
        }
        Outgoing { body, chunked }
    });
    out.extend_from_slice(b"\r\n");
    (out, body)
}

enum Exchanged {
    /// The client's body could not be read (its fault, not the version's).
    BodyFailed(UpstreamError),
    /// The replica failed; `answered` once any byte of an answer came.
    Upstream {
        error: UpstreamError,
        answered: bool,
    },
}

/// A whole response head from the replica.
struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    framing: Framing,
    upstream_closes: bool,
}

impl Answered {
    fn into_response(self, conn: Conn, endpoint: Arc<Endpoint>) -> Response<RelayBody> {
        let body = RelayBody {
            conn: Some(conn),
            endpoint,
            left: match self.framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunked: (self.framing == Framing::Chunked).then(Chunked::new),
            framing: self.framing,
            reusable: !self.upstream_closes,
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        *resp.version_mut() = Version::HTTP_11;
        *resp.headers_mut() = self.headers;
        resp
    }
}

/// Writes the head and body, then reads the response head.
async fn exchange(
    endpoint: &Endpoint,
    conn: &mut Conn,
    head: &[u8],
    body: &mut Option<Outgoing>,
    head_request: bool,
) -> Result<Answered, Exchanged> {
    let upstream = |source: std::io::Error, answered: bool| Exchanged::Upstream {
        error: UpstreamError::Io {
            addr: endpoint.addr,
            source,
        },
        answered,
    };
    if let Err(err) = conn.stream.write_all(head).await {
        return Err(upstream(err, false));
    }
    // Taken once: a request with a body is never sent twice.
    if let Some(Outgoing { mut body, chunked }) = body.take() {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                Exchanged::BodyFailed(UpstreamError::Io {
                    addr: endpoint.addr,
                    source: std::io::Error::other(err),
                })
            })?;
            let written = match frame.into_data() {
                Ok(data) if data.is_empty() => Ok(()),
                Ok(data) if chunked => {
                    let mut piece = format!("{:x}\r\n", data.len()).into_bytes();
                    piece.extend_from_slice(&data);
                    piece.extend_from_slice(b"\r\n");
                    conn.stream.write_all(&piece).await
                }
                Ok(data) => conn.stream.write_all(&data).await,
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) if chunked => {
                        let mut end = b"0\r\n".to_vec();
                        for (name, value) in &trailers {
                            push_field(&mut end, name.as_str().as_bytes(), value.as_bytes());
                        }
                        end.extend_from_slice(b"\r\n");
                        let written = conn.stream.write_all(&end).await;
                        if let Err(err) = written {
                            return Err(upstream(err, false));
                        }
                        return read_head(endpoint, conn, head_request).await;
                    }
                    _ => Ok(()),
                },
            };
            if let Err(err) = written {
                return Err(upstream(err, false));
            }
        }
        if chunked {
            if let Err(err) = conn.stream.write_all(b"0\r\n\r\n").await {
                return Err(upstream(err, false));
            }
        }
    }
    read_head(endpoint, conn, head_request).await
}

/// Reads the response head off `conn`.
async fn read_head(
    endpoint: &Endpoint,
    conn: &mut Conn,
    head_request: bool,
) -> Result<Answered, Exchanged> {
    let bad = |problem: BadResponse| Exchanged::Upstream {
        error: UpstreamError::Response {
            addr: endpoint.addr,
            problem,
        },
        answered: true,
    };
    let mut fields = Fields::default();
    let response = match conn.read_response_head(head_request, &mut fields).await {
        Ok(response) => response,
        Err(HeadFailed::Bad(problem)) => return Err(bad(problem)),
        Err(HeadFailed::Io { source, answered }) => {
            let error = UpstreamError::Io {
                addr: endpoint.addr,
                source,
            };
            return Err(Exchanged::Upstream { error, answered });
        }
    };
    let status = StatusCode::from_u16(response.status).map_err(|_| bad(BadResponse::Malformed))?;
    Ok(Answered {
        status,
        headers: fields.headers,
        framing: response.framing,
        upstream_closes: response.upstream_closes,
    })
}

/// A response head's fields as a header map.
#[derive(Default)]
struct Fields {
    headers: HeaderMap,
}

impl ResponseSink for Fields {
    fn status(&mut self, _status: u16, _reason: &[u8]) {}

    fn field(&mut self, name: &[u8], value: &[u8]) {
        // httparse checked both; a name http refuses is dropped, as hyper's
        // client drops it.
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            self.headers.append(name, value);
        }
    }
}

/// An answer's body read from its relay connection as the client side
/// pulls it; the connection goes back to the pool once the body is read
/// to its end (dropped before, it closes).
pub(crate) struct RelayBody {
    conn: Option<Conn>,
    endpoint: Arc<Endpoint>,
    framing: Framing,
    /// Bytes still to come of a `Content-Length` body.
    left: u64,
    chunked: Option<Chunked>,
    reusable: bool,
}

impl std::fmt::Debug for RelayBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayBody")
            .field("framing", &self.framing)
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        // A body with nothing left to read may be dropped unread (hyper
        // does not poll one that says it has ended): its connection still
        // goes back. One dropped mid-body closes.
        if self.is_end_stream() {
            self.finish();
        }
    }
}

impl RelayBody {
    /// The body has ended: its connection back to the pool if it can carry
    /// another request.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.reusable && conn.buf.is_empty() {
                self.endpoint
                    .relay_idle
                    .checkin(conn, std::time::Instant::now());
            }
        }
    }

    /// Reads more into the connection's buffer: Ready(true) with bytes,
    /// Ready(false) at the connection's end.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        if conn.buf.capacity() - conn.buf.len() < 1024 {
            conn.buf.reserve(16 * 1024);
        }
        match pin!(conn.stream.read_buf(&mut conn.buf)).poll(cx) {
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(n > 0)),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn cut_short() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the replica closed the connection inside a body",
    )
}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match this.framing {
                Framing::Empty => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Framing::Length(_) => {
                    if this.left == 0 {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    if !conn.buf.is_empty() {
                        let take = usize::try_from(this.left)
                            .unwrap_or(usize::MAX)
                            .min(conn.buf.len());
                        this.left -= take as u64;
                        let data = conn.buf.split_to(take).freeze();
                        if this.left == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::Chunked => {
                    let chunked = this.chunked.get_or_insert_with(Chunked::new);
                    let piece = chunked.decode(&mut conn.buf).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "malformed chunked body",
                        )
                    });
                    match piece {
                        Err(err) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(err)));
                        }
                        Ok(Piece::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Ok(Piece::Trailers(trailers)) => {
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Ok(Piece::End) => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                        Ok(Piece::More) => {}
                    }
                }
                Framing::UntilClose => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
            match std::task::ready!(this.fill(cx)) {
                Ok(true) => {}
                Ok(false) if this.framing == Framing::UntilClose => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(false) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(cut_short())));
                }
                Err(err) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none()
            || self.framing == Framing::Empty
            || (matches!(self.framing, Framing::Length(_)) && self.left == 0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Empty => SizeHint::with_exact(0),
            Framing::Length(_) => SizeHint::with_exact(self.left),
            _ => SizeHint::default(),
        }
    }
}
