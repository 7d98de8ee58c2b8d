//! One relayed request's trip to its replica and back to a response head:
//! a pooled connection (or a new one, or another replica's when the first
//! cannot be reached), the head and body written, interim answers dropped.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use super::head::{AnswerHead, RequestHead, ResponseHead};
use super::pool::{Conn, HeadFailed};
use super::{BODY_CHUNK, ClientGone, Routed};
use crate::proxy::ConnContext;
use crate::proxy::waiting::Miss;
use crate::upstream::{Endpoint, UpstreamError};

/// One request's trip to its replica and back to a response head.
pub(super) struct Exchange<'r> {
    pub(super) request: &'r RequestHead,
    /// A sticky route's assignment, sent back with the answer.
    pub(super) set_cookie: Option<&'r [u8]>,
    /// Body bytes still to read from the client.
    pub(super) rest: u64,
    pub(super) close: bool,
}

impl Exchange<'_> {
    /// Whether the client's body was read whole (a request cut short can
    /// not be told from the next one).
    pub(super) fn client_done(&self) -> bool {
        self.rest == 0
    }

    /// Sends the head in `out` (with the body bytes that came with it) and
    /// the rest of the body, and reads the response head, whose rewritten
    /// form lands in `answer`. A connection from the pool that turns out
    /// closed is replaced by a new one when that is safe: nothing of the
    /// body was read from the client yet, and the replica saw nothing or
    /// the request is safe to repeat.
    pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        ctx: &ConnContext,
        routed: &Routed,
        out: &[u8],
        client: &mut S,
        client_buf: &mut BytesMut,
        answer: &mut Vec<u8>,
    ) -> Result<Result<(Conn, ResponseHead, Arc<Endpoint>), ClientGone>, Miss> {
        let mut endpoint = Arc::clone(&routed.endpoint);
        let mut conn = match Conn::open(&endpoint, routed.started).await {
            Ok(conn) => conn,
            Err(err) if self.request.idempotent => {
                // As the hyper path: once to another replica of the same
                // version, the failure still counted.
                let Some(other) = ctx.shared.other_replica(&routed.version, endpoint.addr) else {
                    return Err(Miss::Failed(err));
                };
                routed
                    .metrics
                    .record(true, Default::default(), SystemTime::now());
                debug!(version = %routed.version, from = %endpoint.addr, to = %other.addr, %err, "connection failed; sending the request to another replica");
                endpoint = other;
                Conn::open(&endpoint, routed.started)
                    .await
                    .map_err(Miss::Failed)?
            }
            Err(err) => return Err(Miss::Failed(err)),
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
                    // Only before any body byte beyond the head's write was
                    // taken from the client: `unseen` is a failed first
                    // write, and a repeatable request has no body.
                    let again =
                        reused && (unseen || (self.request.idempotent && self.request.body == 0));
                    if !again {
                        return Err(Miss::Failed(error));
                    }
                    debug!(addr = %endpoint.addr, %error, "pooled connection closed; sending the request on a new one");
                    conn = endpoint
                        .connect_tcp()
                        .await
                        .map(Conn::new)
                        .map_err(Miss::Failed)?;
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
        let mut head = AnswerHead::new(answer);
        match conn.read_response_head(self.request.head, &mut head).await {
            Ok(response) => {
                head.finish(&response, self.close, self.set_cookie);
                Attempt::Answered(response)
            }
            Err(HeadFailed::Bad(problem)) => Attempt::Failed {
                error: UpstreamError::Response {
                    addr: endpoint.addr,
                    problem,
                },
                unseen: false,
            },
            // Closed before the answer: on a pooled connection most likely
            // closed while idle, and sent again if safe to.
            Err(HeadFailed::Io { source, .. }) => failed(source, false),
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
