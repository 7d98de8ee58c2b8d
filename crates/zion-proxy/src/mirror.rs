//! Request mirroring: a copy of some of stable's requests goes to the canary
//! so the analysis can judge the canary on real traffic no client depends
//! on. The canary's answer is measured like served traffic, read to the end
//! and thrown away; the client only ever sees stable's.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, request};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Body;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tracing::debug;

use crate::client_body::ClientBody;
use crate::metrics::{MirrorOutcome, TrafficMetrics};
use crate::proxy::RunState;
use crate::upstream::{Endpoint, OutBody, streamed};

/// Copies in flight at most per listener; more are dropped (and counted)
/// rather than queued, so a slow canary cannot make the proxy hoard memory.
pub(crate) const MAX_IN_FLIGHT: usize = 256;
/// Largest request body copied: a body must be held in memory to be sent
/// twice, so larger ones (or ones of unknown length) are not mirrored.
pub(crate) const MAX_BODY: u64 = 1024 * 1024;
/// A copy gets this long to be answered and read, then is given up (and
/// counts as an error of the canary).
const MIRROR_TIMEOUT: Duration = Duration::from_secs(30);

/// Marks a copy so the canary can tell it from served traffic (to skip side
/// effects, say). Removed from client requests, so it cannot be forged.
pub(crate) static X_ZION_MIRROR: HeaderName = HeaderName::from_static("x-zion-mirror");

/// The listener's bound on copies in flight.
#[derive(Debug)]
pub(crate) struct Mirrors {
    permits: Arc<Semaphore>,
}

impl Mirrors {
    pub(crate) fn new(limit: usize) -> Mirrors {
        Mirrors {
            permits: Arc::new(Semaphore::new(limit)),
        }
    }
}

/// Where a copy goes: the canary's version (for the metrics) and replica.
pub(crate) struct MirrorTarget {
    pub(crate) version: Arc<str>,
    pub(crate) endpoint: Arc<Endpoint>,
}

/// A copy ready to send once stable has answered the original.
pub(crate) struct MirrorCopy {
    req: Request<OutBody>,
    target: MirrorTarget,
    permit: OwnedSemaphorePermit,
}

/// Why the client's request could not be taken in for copying.
#[derive(Debug, thiserror::Error)]
#[error("reading the request body failed: {0}")]
pub(crate) struct BodyError(hyper::Error);

/// Turns the client's request (head `parts`, `body`) into the one for
/// stable and, when it can be copied, the copy for `target`. A body is then
/// read into memory first; one too large or of unknown length is streamed to
/// stable as usual and not copied.
pub(crate) async fn prepare(
    parts: request::Parts,
    body: ClientBody,
    target: MirrorTarget,
    mirrors: &Mirrors,
    metrics: &TrafficMetrics,
) -> Result<(Request<OutBody>, Option<MirrorCopy>), BodyError> {
    let fits = body.is_end_stream() || body.size_hint().exact().is_some_and(|n| n <= MAX_BODY);
    if !fits {
        metrics.count_mirror(MirrorOutcome::Skipped);
        return Ok((Request::from_parts(parts, streamed(body)), None));
    }
    let Ok(permit) = Arc::clone(&mirrors.permits).try_acquire_owned() else {
        metrics.count_mirror(MirrorOutcome::Dropped);
        return Ok((Request::from_parts(parts, streamed(body)), None));
    };
    let bytes = if body.is_end_stream() {
        Bytes::new()
    } else {
        body.collect().await.map_err(BodyError)?.to_bytes()
    };
    let mut copy = Request::new(Either::Right(Full::new(bytes.clone())));
    *copy.method_mut() = parts.method.clone();
    *copy.uri_mut() = parts.uri.clone();
    *copy.version_mut() = parts.version;
    *copy.headers_mut() = parts.headers.clone();
    copy.headers_mut()
        .insert(X_ZION_MIRROR.clone(), HeaderValue::from_static("1"));
    let original = Request::from_parts(parts, Either::Right(Full::new(bytes)));
    Ok((
        original,
        Some(MirrorCopy {
            req: copy,
            target,
            permit,
        }),
    ))
}

impl MirrorCopy {
    /// Sends the copy on a task of its own, so nothing the canary does can
    /// hold up the client; the outcome is recorded under the canary's
    /// version. The task ends early if the proxy stops.
    pub(crate) fn send(self, metrics: Arc<TrafficMetrics>, mut state: watch::Receiver<RunState>) {
        metrics.count_mirror(MirrorOutcome::Mirrored);
        tokio::spawn(async move {
            let MirrorCopy {
                req,
                target,
                permit,
            } = self;
            tokio::select! {
                () = exchange(req, &target, &metrics) => {}
                _ = state.wait_for(|s| *s == RunState::Stopped) => {}
            }
            drop(permit);
        });
    }
}

/// Sends `req`, records the answer as served traffic is recorded (at the
/// response head: latency, 5xx or failure as an error), then reads the body
/// to the end so the connection can carry the next request.
async fn exchange(req: Request<OutBody>, target: &MirrorTarget, metrics: &TrafficMetrics) {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        MIRROR_TIMEOUT,
        crate::proxy::relay::forward::send(&target.endpoint, req),
    )
    .await;
    let answer = answer.map(|sent| sent.map_err(|failed| failed.error));
    let resp = match answer {
        Ok(Ok(resp)) => Some(resp),
        Ok(Err(err)) => {
            debug!(version = %target.version, error = %err, "mirrored request failed");
            None
        }
        Err(_) => {
            debug!(version = %target.version, "mirrored request timed out");
            None
        }
    };
    let error = resp.as_ref().is_none_or(|r| r.status().is_server_error());
    metrics.record(&target.version, error, started.elapsed(), SystemTime::now());
    if let Some(resp) = resp {
        let mut body = resp.into_body();
        let drain = async {
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    break;
                }
            }
        };
        let left = MIRROR_TIMEOUT.saturating_sub(started.elapsed());
        if tokio::time::timeout(left, drain).await.is_err() {
            debug!(version = %target.version, "mirrored response body timed out");
        }
    }
}
