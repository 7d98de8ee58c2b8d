//! The API's listener. Each connection holds one of a fixed number of slots
//! (beyond them, new connections wait in the kernel's accept backlog and
//! hold no descriptor of ours), and must send each request head within the
//! header-read timeout. The first head of a connection is read here before
//! hyper sees it, so that what hyper would answer with a bare status or by
//! closing without a word (an HTTP/2 preface, a target or head too long, a
//! request line that is not HTTP/1) gets an answer that says what is wrong.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::{ApiError, excerpt};
use crate::http::extract::{MAX_URI, uri_too_long};

/// Limits on the API's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Every request head must arrive within this, counted from the
    /// connection's start or the previous answer: a client that sends
    /// half a head, or keeps an idle connection, is closed after it.
    pub header_read_timeout: Duration,
    /// Connections served at once. Beyond it, new ones are not accepted
    /// but wait in the kernel's backlog until one closes.
    pub max_connections: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// The largest first request head read (later ones are hyper's to limit).
const MAX_HEAD: usize = 64 * 1024;
/// How long a stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// After a refusal, how long the client's unread bytes are drained so that
/// closing does not reset the connection before the answer is read.
const LINGER: Duration = Duration::from_secs(1);
use zion_proxy::http2::{H2_PREFACE, http2_refusal};

/// Serves `router` on `listener` until `shutdown` turns true, then lets the
/// requests in flight finish (at most [`DRAIN_TIMEOUT`]).
pub(crate) async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ApiLimits,
    shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut stop = shutdown.clone();
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            // Reaps finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = accept(&listener, &slots) => accepted,
        };
        match accepted {
            Ok((stream, slot)) => {
                conns.spawn(connection(
                    stream,
                    router.clone(),
                    limits,
                    shutdown.clone(),
                    slot,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "the API could not accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "API requests still in flight after the drain timeout; closing them"
        );
        conns.shutdown().await;
    }
}

/// Takes a slot, then a connection: while every slot is taken, nothing is
/// accepted.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, _) = listener.accept().await?;
    Ok((stream, slot))
}

async fn connection(
    mut stream: TcpStream,
    router: Router,
    limits: ApiLimits,
    mut shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let first = tokio::select! {
        first = first_head(&mut stream, limits.header_read_timeout) => Some(first),
        // A stop does not wait for a head that is still coming.
        _ = shutdown.wait_for(|s| *s) => None,
    };
    let head = match first {
        Some(First::Head(head)) => head,
        Some(First::Closed) | None => return,
        Some(First::Refused(answer)) => {
            refuse(stream, answer).await;
            return;
        }
    };
    let io = TokioIo::new(Prefixed {
        head,
        read: 0,
        inner: stream,
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, TowerToHyperService::new(router));
    let mut conn = pin!(conn);
    let ended = tokio::select! {
        result = conn.as_mut() => Some(result),
        _ = shutdown.wait_for(|s| *s) => None,
    };
    let result = match ended {
        Some(result) => result,
        None => {
            // Finishes the request in progress, then closes.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "API connection ended with an error");
    }
}

/// What the start of a connection turned out to be.
enum First {
    /// A complete HTTP/1 head (and whatever followed it), for hyper.
    Head(Vec<u8>),
    /// Closed, or silent until the timeout: nothing to answer.
    Closed,
    Refused(Answer),
}

enum Answer {
    /// An HTTP/2 client with prior knowledge: told in HTTP/2.
    Http2,
    Http1(ApiError),
}

async fn first_head(stream: &mut TcpStream, within: Duration) -> First {
    let deadline = Instant::now() + within;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 8 * 1024];
    let mut scan = Scan::default();
    loop {
        if let Some(verdict) = scan.judge(&buf) {
            return match verdict {
                Ok(()) => First::Head(buf),
                Err(answer) => First::Refused(answer),
            };
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) if buf.is_empty() => return First::Closed,
            Err(_) => {
                return First::Refused(Answer::Http1(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the request head did not arrive within {} s",
                        within.as_secs_f64()
                    ),
                )));
            }
            Ok(Ok(0) | Err(_)) => return First::Closed,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Where the reading of a first head is; each byte is looked at once.
#[derive(Default)]
struct Scan {
    /// The request line's first byte (empty lines before it are skipped,
    /// as RFC 9112 allows).
    start: Option<usize>,
    /// The `\n` that ends the request line.
    line_end: Option<usize>,
    pos: usize,
}

impl Scan {
    /// `Ok` once the head is complete, `Err` with the answer once it is
    /// refused, `None` while more is needed.
    fn judge(&mut self, buf: &[u8]) -> Option<Result<(), Answer>> {
        if !buf.is_empty() && H2_PREFACE.starts_with(&buf[..buf.len().min(H2_PREFACE.len())]) {
            return (buf.len() >= H2_PREFACE.len()).then_some(Err(Answer::Http2));
        }
        while self.pos < buf.len() {
            let (i, b) = (self.pos, buf[self.pos]);
            self.pos += 1;
            match (self.start, self.line_end) {
                (None, _) => {
                    if b != b'\r' && b != b'\n' {
                        self.start = Some(i);
                    }
                }
                (Some(start), None) => {
                    if b == b'\n' {
                        self.line_end = Some(i);
                        if let Err(e) = request_line(&buf[start..i]) {
                            return Some(Err(Answer::Http1(e)));
                        }
                    }
                }
                (Some(_), Some(_)) => {
                    let blank = b == b'\n'
                        && (buf[i - 1] == b'\n' || (buf[i - 1] == b'\r' && buf[i - 2] == b'\n'));
                    if blank {
                        return Some(if i < MAX_HEAD {
                            Ok(())
                        } else {
                            Err(head_too_large())
                        });
                    }
                }
            }
        }
        if let (Some(start), None) = (self.start, self.line_end) {
            // Method and version take a few bytes more than the target.
            if buf.len() - start > MAX_URI + 32 {
                return Some(Err(Answer::Http1(uri_too_long(buf.len() - start))));
            }
        }
        (buf.len() > MAX_HEAD).then(|| Err(head_too_large()))
    }
}

fn head_too_large() -> Answer {
    Answer::Http1(ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "header_fields_too_large",
        format!("the request head is over {MAX_HEAD} bytes; the API reads at most that"),
    ))
}

/// Checks `METHOD TARGET HTTP/1.x`.
fn request_line(line: &[u8]) -> Result<(), ApiError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let parts: Vec<&str> = text.split(' ').collect();
    let [_, target, version] = parts.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "the request line `{}` is not `METHOD TARGET HTTP/1.1`",
            excerpt(&text)
        )));
    };
    if target.len() > MAX_URI {
        return Err(uri_too_long(target.len()));
    }
    match *version {
        "HTTP/1.1" | "HTTP/1.0" => Ok(()),
        v if v.starts_with("HTTP/") => Err(ApiError::new(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "http_version_not_supported",
            format!("{} is not supported: send HTTP/1.1", excerpt(v)),
        )),
        v => Err(ApiError::bad_request(format!(
            "`{}` is not an HTTP version: send HTTP/1.1",
            excerpt(v)
        ))),
    }
}

/// Answers a refused connection, then closes it.
async fn refuse(mut stream: TcpStream, answer: Answer) {
    let bytes = match answer {
        Answer::Http1(e) => {
            let body = e.body().to_string();
            format!(
                "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                e.status.as_u16(),
                e.status.canonical_reason().unwrap_or(""),
                body.len()
            )
            .into_bytes()
        }
        Answer::Http2 => api_http2_refusal(),
    };
    if stream.write_all(&bytes).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Unread bytes at close would make the kernel reset the connection,
    // and the client could lose the answer before reading it.
    let mut sink = vec![0u8; 8 * 1024];
    let _ = tokio::time::timeout(LINGER, async {
        let mut left = 1024 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// HTTP/2's refusal, its debug data the API's JSON error.
fn api_http2_refusal() -> Vec<u8> {
    let error = ApiError::new(
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        "http2_not_supported",
        "the Zion API does not speak HTTP/2 yet: send HTTP/1.1 (curl: drop --http2-prior-knowledge)",
    );
    http2_refusal(error.body().to_string().as_bytes())
}

/// A connection whose first bytes were already read: they are read again
/// first.
struct Prefixed {
    head: Vec<u8>,
    read: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read < this.head.len() {
            let n = (this.head.len() - this.read).min(buf.remaining());
            buf.put_slice(&this.head[this.read..this.read + n]);
            this.read += n;
            if this.read == this.head.len() {
                this.head = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(input: &[u8]) -> Option<Result<(), StatusCode>> {
        let mut scan = Scan::default();
        // Fed a byte at a time, as a slow client sends it.
        let mut verdict = None;
        for end in 1..=input.len() {
            verdict = scan.judge(&input[..end]);
            if verdict.is_some() {
                break;
            }
        }
        verdict.map(|v| {
            v.map_err(|a| match a {
                Answer::Http2 => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                Answer::Http1(e) => e.status,
            })
        })
    }

    #[test]
    fn a_first_head_is_complete_at_its_blank_line() {
        assert_eq!(judge(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Some(Ok(())));
        assert_eq!(judge(b"\r\nGET / HTTP/1.0\r\n\r\n"), Some(Ok(())));
        assert_eq!(judge(b"GET / HTTP/1.1\nHost: a\n\n"), Some(Ok(())));
        assert_eq!(judge(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(judge(b"PRI * HTTP/2.0\r\n\r\n"), None);
        assert_eq!(
            judge(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Some(Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED))
        );
        assert_eq!(
            judge(b"GET / HTTP/3\r\n"),
            Some(Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED))
        );
        assert_eq!(judge(b"GET /\r\n"), Some(Err(StatusCode::BAD_REQUEST)));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_URI));
        assert_eq!(judge(long.as_bytes()), Some(Err(StatusCode::URI_TOO_LONG)));
        for big in [
            format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD)),
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD)),
        ] {
            assert_eq!(
                judge(big.as_bytes()),
                Some(Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
            );
        }
    }
}
