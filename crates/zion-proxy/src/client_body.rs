//! The client's request body on its way to a replica, watched for the
//! client's own failure to send it.
//!
//! A body that is malformed (bad chunked encoding) or cut short (the client
//! closed before sending its Content-Length) fails the upstream request in
//! the middle. That is the client's fault, never the version's: counted
//! against the version, any client could roll a healthy canary back by
//! sending broken requests. The flag tells the two apart after the fact.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// The client's body, noting in its [`ClientFault`] how reading it goes.
#[derive(Debug)]
pub(crate) struct ClientBody {
    inner: Incoming,
    fault: ClientFault,
}

/// Where the client's body stands. Shared between the body (which sets it)
/// and the request handler (which reads it once forwarding failed or timed
/// out).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientFault(Option<Arc<AtomicU8>>);

/// The last read took data, or none was tried yet: nothing waits on the client.
const FLOWING: u8 = 0;
/// The last read found nothing: the upload waits for the client.
const WAITING: u8 = 1;
const COMPLETE: u8 = 2;
const FAILED: u8 = 3;

impl ClientFault {
    fn state(&self) -> u8 {
        self.0
            .as_ref()
            .map_or(COMPLETE, |s| s.load(Ordering::Relaxed))
    }

    /// Whether reading the client's body failed (malformed, or cut short).
    pub(crate) fn happened(&self) -> bool {
        self.state() == FAILED
    }

    /// Whether the upload is stuck on the client: its body is unfinished
    /// and the last read of it found nothing to forward. A replica that
    /// stopped reading (a hanging version) leaves the body flowing instead,
    /// so its timeout stays the version's.
    pub(crate) fn stalled(&self) -> bool {
        self.state() == WAITING
    }

    fn set(&self, state: u8) {
        if let Some(s) = &self.0 {
            s.store(state, Ordering::Relaxed);
        }
    }
}

impl ClientBody {
    /// Watches `body`; the flag is allocated only when there is a body to read.
    pub(crate) fn watch(body: Incoming) -> (ClientBody, ClientFault) {
        let fault = if body.is_end_stream() {
            ClientFault(None)
        } else {
            ClientFault(Some(Arc::new(AtomicU8::new(FLOWING))))
        };
        let watched = ClientBody {
            inner: body,
            fault: fault.clone(),
        };
        (watched, fault)
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        this.fault.set(match &frame {
            Poll::Pending => WAITING,
            Poll::Ready(Some(Ok(_))) if !this.inner.is_end_stream() => FLOWING,
            Poll::Ready(Some(Ok(_)) | None) => COMPLETE,
            Poll::Ready(Some(Err(_))) => FAILED,
        });
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
