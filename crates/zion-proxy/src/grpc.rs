//! gRPC through the proxy: a call's outcome is its `grpc-status`, not its
//! HTTP status (a failing call is answered 200). The status comes in the
//! response's trailers, or in its head for a trailers-only response, and a
//! non-zero one is an error of the version that answered, so a version
//! failing its calls is rolled back by the same `error_rate` check as one
//! answering 5xx.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName};
use hyper::body::{Body, Frame, SizeHint};

static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Whether a response (or request) is gRPC's: `application/grpc`, with or
/// without a `+proto`-like suffix.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Whether `fields` carry a `grpc-status`, and if so whether it says the
/// call failed (anything but `0`, OK).
pub(crate) fn failed(fields: &HeaderMap) -> Option<bool> {
    fields
        .get(&GRPC_STATUS)
        .map(|status| status.as_bytes().trim_ascii() != b"0")
}

/// What to do once a call's outcome is known: `true` for an error.
pub(crate) type Settle = Box<dyn FnOnce(bool) + Send>;

/// A gRPC response body, passed through frame by frame (trailers
/// included), that settles the call's outcome when its trailers arrive.
pub(crate) struct GrpcBody<B> {
    inner: B,
    settle: Option<Settle>,
}

impl<B> std::fmt::Debug for GrpcBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBody")
            .field("settled", &self.settle.is_none())
            .finish_non_exhaustive()
    }
}

impl<B> GrpcBody<B> {
    pub(crate) fn new(inner: B, settle: Settle) -> Self {
        GrpcBody {
            inner,
            settle: Some(settle),
        }
    }

    fn settle(&mut self, error: bool) {
        if let Some(settle) = self.settle.take() {
            settle(error);
        }
    }
}

impl<B> Body for GrpcBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    // No status in the trailers is a broken answer (gRPC
                    // says INTERNAL): the version's error.
                    this.settle(failed(trailers).unwrap_or(true));
                }
            }
            // Cut off, or ended without trailers: no status, an error.
            Poll::Ready(Some(Err(_)) | None) => this.settle(true),
            Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for GrpcBody<B> {
    /// The client went away before the end (it cancelled the call): counted,
    /// but not against the version.
    fn drop(&mut self) {
        self.settle(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn fields(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn grpc_content_types() {
        assert!(is_grpc(&fields(&[("content-type", "application/grpc")])));
        assert!(is_grpc(&fields(&[(
            "content-type",
            "application/grpc+proto"
        )])));
        assert!(!is_grpc(&fields(&[("content-type", "application/json")])));
        assert!(!is_grpc(&fields(&[])));
    }

    #[test]
    fn status_zero_is_ok_anything_else_failed() {
        assert_eq!(failed(&fields(&[("grpc-status", "0")])), Some(false));
        assert_eq!(failed(&fields(&[("grpc-status", "14")])), Some(true));
        assert_eq!(failed(&fields(&[])), None);
    }
}
