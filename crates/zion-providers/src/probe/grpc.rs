//! The gRPC health probe: one `grpc.health.v1.Health/Check` call over
//! HTTP/2 cleartext with prior knowledge (no TLS, no HTTP/1.1 upgrade), as
//! gRPC servers listening on a plain port expect. Healthy only when the
//! answer's status is SERVING.

use std::net::Ipv4Addr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderMap, TE, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::grpc_wire::{
    CHECK_PATH, MAX_ANSWER, ServingStatus, check_request, check_response, decode_message,
    status_code_name,
};

/// Asks the server on `port` about `service` (empty: the server as a whole).
pub(crate) async fn check(port: u16, service: &str) -> Result<(), String> {
    let what = describe(service);
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| format!("{what}: connect to port {port}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| {
                format!(
                    "{what}: HTTP/2 handshake with port {port}: {}",
                    with_causes(&e)
                )
            })?;
    // The connection must be driven while the call is in flight; aborting it
    // afterwards closes the socket.
    let conn = tokio::spawn(conn);
    let result = call(&mut sender, port, service).await;
    conn.abort();
    result.map_err(|why| format!("{what}: {why}"))
}

/// How the call is named in a reason: which service it asked about.
fn describe(service: &str) -> String {
    if service.is_empty() {
        "gRPC health Check (overall)".to_owned()
    } else {
        format!("gRPC health Check of `{service}`")
    }
}

async fn call(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    port: u16,
    service: &str,
) -> Result<(), String> {
    // HTTP/2 takes `:scheme` and `:authority` from an absolute URI.
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("http://127.0.0.1:{port}{CHECK_PATH}"))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .header(USER_AGENT, "zion-health-probe")
        .body(Full::new(Bytes::from(check_request(service))))
        .map_err(|e| format!("invalid request: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| {
        format!(
            "the call failed ({}); does the replica serve gRPC over cleartext HTTP/2 on port {port}?",
            with_causes(&e)
        )
    })?;
    let status = resp.status();
    if status != StatusCode::OK {
        return Err(format!(
            "answered HTTP {status}; is a gRPC server listening on port {port}?"
        ));
    }
    // A server that fails the call at once sends a headers-only answer
    // ("Trailers-Only"): grpc-status among the headers.
    if let Some(failed) = grpc_failure(resp.headers())? {
        return Err(failed);
    }
    let collected = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {}", with_causes(e.as_ref())))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let body = collected.to_bytes();
    match grpc_failure(&trailers)? {
        Some(failed) => return Err(failed),
        None if !trailers.contains_key("grpc-status") => {
            return Err("the answer has no grpc-status trailer".into());
        }
        None => {}
    }
    match check_response(&body)? {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("answered {other}, not SERVING")),
    }
}

/// An error with its causes ("http2 error: connection error detected: …"):
/// hyper's own message alone says too little to act on.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The reason of a `grpc-status` other than 0 (OK), with its
/// `grpc-message`; None when it is absent or OK.
fn grpc_failure(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get("grpc-status") else {
        return Ok(None);
    };
    let code: u32 = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("the answer's grpc-status {value:?} is not a number"))?;
    if code == 0 {
        return Ok(None);
    }
    let name = status_code_name(code);
    let hint = match code {
        5 => " (the server does not know this service: check health.grpc.service)",
        12 => " (the server does not implement grpc.health.v1)",
        _ => "",
    };
    let message = headers
        .get("grpc-message")
        .map(|m| decode_message(m.as_bytes()))
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Ok(Some(format!(
        "failed with grpc-status {code} {name}{hint}{message}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_non_zero_grpc_status_is_a_failure_naming_its_code() {
        assert_eq!(grpc_failure(&headers(&[])), Ok(None));
        assert_eq!(grpc_failure(&headers(&[("grpc-status", "0")])), Ok(None));
        let failed = grpc_failure(&headers(&[
            ("grpc-status", "5"),
            ("grpc-message", "unknown%20service"),
        ]))
        .unwrap()
        .unwrap();
        assert!(failed.contains("grpc-status 5 NOT_FOUND"), "{failed}");
        assert!(failed.contains("health.grpc.service"), "{failed}");
        assert!(failed.ends_with(": unknown service"), "{failed}");
        let err = grpc_failure(&headers(&[("grpc-status", "five")])).unwrap_err();
        assert!(err.contains("not a number"), "{err}");
    }

    #[test]
    fn the_reason_names_the_service_asked_about() {
        assert_eq!(describe(""), "gRPC health Check (overall)");
        assert_eq!(describe("web"), "gRPC health Check of `web`");
    }
}
