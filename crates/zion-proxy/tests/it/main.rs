//! Integration tests: a real proxy on 127.0.0.1:0 in front of real upstream
//! HTTP servers started by the tests.

mod faults;
mod forwarding;
mod framing;
mod grpc;
mod http2;
mod lifecycle;
mod limits;
mod matching;
mod metrics;
mod mirroring;
mod relay_stream;
mod routing;
mod sticky;
mod support;
mod tls;
