//! One HTTP/1 request with a deadline, for the sources (plain http://).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Largest answer read from a source: a check needs one number.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) enum Fault {
    /// Not answered within the timeout.
    Timeout(Duration),
    /// Not sent, or the connection failed.
    Unreachable(String),
    /// The request could not be built (a bad URL after rendering).
    Invalid(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Timeout(t) => write!(
                f,
                "no answer within {}",
                zion_core::duration::format_duration(*t)
            ),
            Fault::Unreachable(e) | Fault::Invalid(e) => f.write_str(e),
        }
    }
}

/// Sends `method url` with `headers` and `body`; the status and body.
pub(crate) async fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<String>,
    timeout: Duration,
) -> Result<(u16, Bytes), Fault> {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| Fault::Invalid(format!("cannot send a request to `{url}`: {e}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| Fault::Unreachable(describe(&e)))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| Fault::Unreachable(format!("the answer broke off: {e}")))?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Fault::Timeout(timeout)),
    }
}

/// The innermost cause of a client error (`Connection refused`, …).
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut text = e.to_string();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// Percent-encodes a query-string value.
pub(super) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
