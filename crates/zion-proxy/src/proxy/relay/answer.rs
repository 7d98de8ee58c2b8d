//! A relayed answer on its way to the client: the head and the body
//! after it as the replica sends it, framed as it said, and the proxy's own
//! answers (408, 502, 504).

use bytes::Buf;
use http::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use super::BODY_CHUNK;
use super::chunked::Chunked;
use super::head::{Framing, ResponseHead};
use super::pool::Conn;
use crate::upstream::Endpoint;

/// How an answer went to the client.
pub(super) enum Passed {
    /// Whole, and the upstream connection can carry another request.
    Reusable(Conn),
    /// Whole; the upstream connection closes.
    Sent,
    /// The client connection cannot go on: a write failed, or the body
    /// could not be followed.
    Broken,
}

/// Writes the response head in `answer` and the body after it from `conn`.
pub(super) async fn pass_body<S: AsyncWrite + Unpin>(
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
pub(super) async fn write_plain<S: AsyncWrite + Unpin>(
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
