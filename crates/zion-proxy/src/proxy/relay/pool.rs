//! The relay's upstream connections: plain sockets to a replica, opened or
//! taken idle, read for response heads, and kept idle per replica and
//! worker thread (a socket is served by the reactor of the thread that
//! opened it, and only that thread takes it again), most recently used
//! first.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::head::{self, BadResponse, ResponseHead, ResponseSink};
use crate::upstream::{Endpoint, UpstreamError};
use crate::workers::Workers;

/// Idle connections older than this are closed rather than reused:
/// replicas close idle connections after timeouts of their own, and a
/// request sent on one the replica is closing fails.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per replica and worker thread: as many as a busy
/// listener's clients may need at once, or each request beyond them opens
/// and closes a connection.
const MAX_IDLE: usize = 1024;
/// Read buffer of a new connection; grows for larger heads.
const BUFFER: usize = 8 * 1024;

/// One upstream connection and what was read from it but not yet used.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) buf: BytesMut,
    /// Whether it carried a request before (it may have been closed by the
    /// replica while idle).
    pub(crate) reused: bool,
    since: Instant,
    slot: usize,
}

/// Why a response head did not come.
#[derive(Debug)]
pub(crate) enum HeadFailed {
    /// The replica answered something that cannot be relayed.
    Bad(BadResponse),
    /// The connection failed or closed; `answered` once any byte of an
    /// answer had come.
    Io {
        source: std::io::Error,
        answered: bool,
    },
}

impl Conn {
    /// This thread's idle connection to `endpoint` (`now`: the request's
    /// start), else a new one.
    pub(crate) async fn open(endpoint: &Endpoint, now: Instant) -> Result<Conn, UpstreamError> {
        match endpoint.relay_idle.checkout(now) {
            Some(conn) => Ok(conn),
            None => endpoint.connect_tcp().await.map(Conn::new),
        }
    }

    /// Reads the next response head (to a HEAD request when
    /// `head_request`) into `sink`; interim (1xx) answers are dropped, as
    /// hyper's client drops them.
    pub(crate) async fn read_response_head(
        &mut self,
        head_request: bool,
        sink: &mut impl ResponseSink,
    ) -> Result<ResponseHead, HeadFailed> {
        loop {
            if !self.buf.is_empty() {
                match head::read_response(&self.buf, head_request, sink).map_err(HeadFailed::Bad)? {
                    head::Response::Partial => {}
                    head::Response::Interim(len) => {
                        self.buf.advance(len);
                        continue;
                    }
                    head::Response::Final(response) => {
                        self.buf.advance(response.len);
                        return Ok(response);
                    }
                }
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(BUFFER);
            }
            let answered = !self.buf.is_empty();
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => {
                    let source = std::io::ErrorKind::UnexpectedEof.into();
                    return Err(HeadFailed::Io { source, answered });
                }
                Ok(_) => {}
                Err(source) => return Err(HeadFailed::Io { source, answered }),
            }
        }
    }

    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(BUFFER),
            reused: false,
            since: Instant::now(),
            slot: Workers::slot(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Idle(Box<[Mutex<Vec<Conn>>]>);

impl Idle {
    pub(crate) fn new() -> Idle {
        Idle((0..Workers::slots()).map(|_| Mutex::default()).collect())
    }

    /// This thread's most recently used idle connection that still looks
    /// open (`now`: the request's start). Never another thread's: its
    /// events would come through that thread's reactor, and each answer
    /// would cost a wake-up across threads (at 1,024 clients that showed
    /// in the tail latency); a new connection costs once.
    pub(crate) fn checkout(&self, now: Instant) -> Option<Conn> {
        let idle = &self.0[Workers::slot()];
        loop {
            let popped = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = popped?;
            if now.saturating_duration_since(conn.since) > IDLE_TIMEOUT {
                continue;
            }
            // Nothing may arrive on an idle connection: bytes or an end
            // mean the replica closed it or broke it. The check reads the
            // socket only when its reactor saw it turn readable.
            let mut probe = [0u8; 1];
            match conn.stream.try_read(&mut probe) {
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Some(conn),
                _ => continue,
            }
        }
    }

    /// Keeps `conn` for a later request (the buffer must be empty), idle
    /// from `now`.
    pub(crate) fn checkin(&self, mut conn: Conn, now: Instant) {
        debug_assert!(conn.buf.is_empty());
        let mut idle = self.0[conn.slot]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            conn.reused = true;
            conn.since = now;
            idle.push(conn);
        }
    }
}
