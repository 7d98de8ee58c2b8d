//! HTTP/2 in clear text (prior knowledge) to the replicas of a target whose
//! route says `h2c`, as gRPC services want.
//!
//! Unlike HTTP/1.1's pool (the relay's), a replica has one connection per
//! worker thread that carries all of that thread's requests at once, driven
//! by a task of its own on that thread (a stream's frames belong to whoever
//! reads them, not to one request's task); one connection shared by every
//! thread would wake a task on another thread for each answer. A
//! connection that closed (the replica restarted, a GOAWAY) is replaced by
//! the next request.

use std::sync::{Arc, PoisonError};

use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tracing::debug;

use crate::upstream::{Endpoint, Failed, OutBody, UpstreamError};
use crate::workers::Workers;

impl Endpoint {
    /// Forwards `req` over the replica's HTTP/2 connection (opened when
    /// there is none or it closed) and returns the response, streamed.
    pub(crate) async fn request_h2(
        self: &Arc<Self>,
        req: Request<OutBody>,
    ) -> Result<Response<Incoming>, Failed> {
        let mut req = self.as_h2(req);
        if let Some(mut sender) = self.open_sender() {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(resp),
                // Never sent (the connection closed meanwhile): a new
                // connection is safe for any request.
                Err(mut err) => match err.take_message() {
                    Some(unsent) => {
                        debug!(addr = %self.addr, error = %err.error(), "HTTP/2 connection unusable; reconnecting");
                        req = unsent;
                    }
                    None => return Err(self.http_err(err.into_error()).into()),
                },
            }
        }
        let mut sender = match self.connect_h2().await {
            Ok(sender) => sender,
            Err(error) => {
                return Err(Failed {
                    error,
                    unsent: Some(req),
                });
            }
        };
        sender
            .send_request(req)
            .await
            .map_err(|err| self.http_err(err).into())
    }

    /// The HTTP/2 form of a request: `:scheme` and `:authority` (the
    /// client's Host, else the replica's address) in the URI, no Host field.
    fn as_h2(&self, mut req: Request<OutBody>) -> Request<OutBody> {
        self.ensure_host(req.headers_mut());
        let authority = req
            .headers_mut()
            .remove(HOST)
            .and_then(|host| Authority::try_from(host.as_bytes()).ok())
            .unwrap_or_else(|| {
                Authority::try_from(self.addr.to_string())
                    .expect("a socket address is a valid authority")
            });
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(authority);
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        *req.version_mut() = Version::HTTP_2;
        req
    }

    /// A sender on this thread's connection to the replica, if it has one
    /// still open.
    fn open_sender(&self) -> Option<http2::SendRequest<OutBody>> {
        let mut slot = self.h2[Workers::slot()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match slot.as_ref() {
            Some(sender) if !sender.is_closed() => Some(sender.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    /// Opens the replica's HTTP/2 connection, keeps its sender for the
    /// requests that follow and spawns the task that drives it.
    async fn connect_h2(&self) -> Result<http2::SendRequest<OutBody>, UpstreamError> {
        let stream = self.connect_tcp().await?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.http_err(source))?;
        let addr = self.addr;
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                debug!(%addr, %err, "upstream HTTP/2 connection ended with an error");
            }
        });
        *self.h2[Workers::slot()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sender.clone());
        Ok(sender)
    }
}
