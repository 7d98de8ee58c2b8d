//! The relay's idle upstream connections: plain sockets, kept per replica
//! and worker thread (a socket is served by the reactor of the thread that
//! opened it, and only that thread takes it again), most recently used
//! first.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::workers::Workers;

/// Idle connections older than this are closed rather than reused (as the
/// hyper pool's: replicas close idle connections after timeouts of their own).
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

impl Conn {
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
