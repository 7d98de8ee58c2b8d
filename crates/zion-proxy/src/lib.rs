//! Zion's built-in traffic router: one listener per target (HTTP/1.1, and
//! HTTP/2 in clear text with prior knowledge on the same port) that
//! splits requests between a stable and a canary pool of upstream replicas by
//! weight, header and cookie rules, and sticky-session cookies, optionally
//! mirrors a share of stable's requests to the canary, forwards them over
//! pooled keep-alive connections (WebSocket-style upgrades included), and
//! records per-version request metrics (counts, errors, latency histograms
//! in one-second buckets) for the analysis. Replicas are reached over
//! HTTP/1.1, or over h2c when the route says so (`upstream_h2`); a gRPC
//! call streams through with its trailers and counts as an error of its
//! version when its `grpc-status` is not OK (`grpc`).
//!
//! Each request has a response timeout (504, the version's error); a
//! client's broken or stalled body is answered 400/408 and counted against
//! no version; a request that has waited 500 ms counts in flight in the
//! windows it spans.
//!
//! A listener may terminate TLS (`tls`: rustls, SNI, ALPN `h2` and
//! `http/1.1`, certificates reloaded when their files change).
//!
//! It is not a general-purpose reverse proxy: no client certificates, no HTTP/2 upgrade
//! from HTTP/1.1 (`Upgrade: h2c`), no path routing, no caching, and no retries of failed requests beyond two:
//! an idempotent bodyless request is sent once more when a replica closed
//! the kept-alive connection it went out on, and an idempotent request
//! whose connection could not be made goes once to another replica of the
//! same version.
//! It knows nothing about deployments: the controller decides the [`Route`]
//! and reads the [`TrafficMetrics`]; this crate only carries out the split and
//! counts what happened.

mod client_body;
mod deadlines;
mod error;
mod grpc;
mod head_timeout;
mod headers;
pub mod http2;
mod metrics;
mod mirror;
mod proxy;
mod route;
mod rules;
mod throttle;
mod tls;
mod upstream;
mod upstream_h2;
mod workers;

pub use error::ProxyError;
pub use metrics::InFlight;
pub use metrics::{
    LATENCY_BOUNDS_SECONDS, MirrorStats, SecondBucket, TrafficMetrics, VersionTotals,
    decode_latency, encode_latency, window_seconds,
};
pub use proxy::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, ListenerSettings,
    TargetProxy,
};
pub use route::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, Pool, Route};
pub use rules::STICKY_COOKIE;
pub use tls::{TlsCertificate, TlsSettings};
/// A rule of [`Route::matches`]: the spec's own type.
pub use zion_core::spec::MatchRule;
/// [`Route::upstream_protocol`]: the spec's own type.
pub use zion_core::spec::UpstreamProtocol;
