//! `408 Request Timeout` for a client whose request head stops arriving.
//!
//! hyper enforces the head-read timeout (the slow-loris guard) but then
//! ends the connection without a word, and it owns the connection's socket
//! until then. [`Reclaimable`] wraps the socket so that it comes back once
//! hyper lets go, with whether the client had started a request since the
//! last answer: such a client is told 408 before the close. A connection
//! idle between requests is closed quietly, as other servers do (a client
//! reusing it at that moment would take an unsolicited 408 for its own
//! request's answer).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// What a timed-out client is sent.
const ANSWER: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 40\r\nconnection: close\r\n\r\nthe request head did not arrive in time\n";
/// How long the answer may take to leave before the connection is dropped
/// anyway.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a [`Reclaimable`] socket goes when hyper drops it: the socket, and
/// whether bytes arrived after the last ones written (a request begun).
pub(crate) type Returned<S> = Arc<Mutex<Option<(S, bool)>>>;

/// A client socket handed to hyper that returns to [`Returned`] when
/// dropped.
pub(crate) struct Reclaimable<S> {
    io: Option<S>,
    /// Set by a read that brought bytes, cleared by a write.
    read_since_write: bool,
    back: Returned<S>,
}

impl<S> Reclaimable<S> {
    pub(crate) fn new(io: S) -> (Reclaimable<S>, Returned<S>) {
        let back = Arc::new(Mutex::new(None));
        let io = Reclaimable {
            io: Some(io),
            read_since_write: false,
            back: Arc::clone(&back),
        };
        (io, back)
    }
}

impl<S> Drop for Reclaimable<S> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            *self.back.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((io, self.read_since_write));
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection already closed")
}

impl<S: AsyncRead + Unpin> AsyncRead for Reclaimable<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(io) = this.io.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        let before = buf.filled().len();
        let polled = Pin::new(io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.read_since_write = true;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Reclaimable<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(io) = this.io.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        let polled = Pin::new(io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                this.read_since_write = false;
            }
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(io) = this.io.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        let polled = Pin::new(io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                this.read_since_write = false;
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(S::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().io.as_mut() {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().io.as_mut() {
            Some(io) => Pin::new(io).poll_shutdown(cx),
            None => Poll::Ready(Err(gone())),
        }
    }
}

/// After hyper ended a connection on its head-read timeout: answers 408
/// when the client had begun a request, then closes.
pub(crate) async fn answer_timed_out<S: AsyncWrite + Unpin>(returned: &Returned<S>) -> bool {
    let taken = returned
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some((mut io, true)) = taken else {
        return false;
    };
    answer(&mut io).await;
    true
}

/// Tells a client whose request head did not arrive in time so, and closes
/// its connection.
pub(crate) async fn answer<S: AsyncWrite + Unpin>(io: &mut S) {
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
        let _ = io.write_all(ANSWER).await;
        let _ = io.shutdown().await;
    })
    .await;
}
