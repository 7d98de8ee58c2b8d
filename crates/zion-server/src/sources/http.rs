//! One HTTP/1.1 request with a deadline, for the sources, hooks and
//! notifications: http:// in the clear, https:// over TLS (`tls.rs`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HOST;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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
/// `https://` URLs go over TLS (`tls.rs`), `http://` in the clear.
pub(crate) async fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<String>,
    timeout: Duration,
) -> Result<(u16, Bytes), Fault> {
    let invalid = |why: String| Fault::Invalid(format!("cannot send a request to `{url}`: {why}"));
    let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
    let secure = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(invalid("give an http:// or https:// URL".to_owned())),
    };
    let Some(authority) = uri.authority().cloned() else {
        return Err(invalid("the URL names no host".to_owned()));
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut req = Request::builder()
        .method(method)
        .uri(target)
        .header(HOST, authority.as_str());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| invalid(e.to_string()))?;
    let host = authority.host().to_owned();
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    let exchange = async {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare, port))
            .await
            .map_err(|e| Fault::Unreachable(format!("cannot connect to {host}:{port}: {e}")))?;
        if secure {
            let tls = super::tls::connect(tcp, &host)
                .await
                .map_err(Fault::Unreachable)?;
            over(TokioIo::new(tls), req).await
        } else {
            over(TokioIo::new(tcp), req).await
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Fault::Timeout(timeout)),
    }
}

/// One HTTP/1.1 exchange over an open connection: the status and body.
async fn over<T>(io: T, req: Request<Full<Bytes>>) -> Result<(u16, Bytes), Fault>
where
    T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Fault::Unreachable(describe(&e)))?;
    // The connection is driven while the exchange lasts, then dropped.
    let conn = tokio::spawn(conn);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Fault::Unreachable(describe(&e)))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| Fault::Unreachable(format!("the answer broke off: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
    .await;
    conn.abort();
    result
}

/// The innermost cause of a client error (`Connection reset`, …).
fn describe(e: &hyper::Error) -> String {
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
