//! The API's HTTP over raw sockets: the header-read timeout, the connection
//! cap, HTTP/2 and HTTP/1.1 rules, and an `{"error": {"code", "message"}}`
//! body on every error, whatever refused the request.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zion_core::spec::parse_spec;
use zion_server::{ApiLimits, Running, ServerOptions};

use crate::support::{call, free, request};

/// Far longer than any answer takes, even on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn yaml() -> String {
    format!(
        r#"server: {{ listen: {}, data_dir: state }}
environments:
  - {{ name: staging }}
services:
  - name: web
    workload:
      process:
        command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
    targets: {{ staging: {{ listen: {} }} }}
"#,
        free(),
        free()
    )
}

async fn start(dir: &std::path::Path, limits: ApiLimits) -> Running {
    let yaml = yaml();
    let mut opts = ServerOptions::new(parse_spec(&yaml).unwrap(), yaml, dir.to_path_buf());
    opts.api_limits = limits;
    zion_server::start(opts).await.unwrap()
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Reads one HTTP/1.1 response (its body framed by Content-Length).
async fn read_answer<R: AsyncRead + Unpin>(s: &mut R) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("no answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed without an answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("no body in time")
            .unwrap();
        assert!(n > 0, "closed in the middle of the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    Answer { status, head, body }
}

/// Sends `bytes` on a new connection and reads one answer.
async fn ask(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    read_answer(&mut s).await
}

/// Waits until the server closes `s`, returning what it sent before.
async fn closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut out))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    out
}

fn code(a: &Answer) -> &str {
    a.body["error"]["code"]
        .as_str()
        .unwrap_or("(no JSON error)")
}

fn message(a: &Answer) -> &str {
    a.body["error"]["message"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_not_sent_in_time_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ApiLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ApiLimits::default()
    };
    let r = start(dir.path(), limits).await;

    // Half a head: answered 408 and closed.
    let mut half = TcpStream::connect(r.api_addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: zion\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut half).await;
    assert_eq!((answer.status, code(&answer)), (408, "request_timeout"));
    closed(&mut half).await;

    // Nothing at all: closed without a word.
    let mut silent = TcpStream::connect(r.api_addr).await.unwrap();
    assert!(closed(&mut silent).await.is_empty());

    // A kept-alive connection: its next head is held to the same timeout.
    let mut kept = TcpStream::connect(r.api_addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: zion\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: zi")
        .await
        .unwrap();
    closed(&mut kept).await;
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ApiLimits {
        // Long: the held connections must not time out during the test.
        header_read_timeout: Duration::from_secs(600),
        max_connections: 3,
    };
    let r = start(dir.path(), limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(r.api_addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    // The fourth connects (the kernel's backlog) but is not served while
    // the three hold every slot.
    let mut fourth = TcpStream::connect(r.api_addr).await.unwrap();
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: zion\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(2), fourth.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "a connection beyond the cap was served: {early:?}"
    );
    // One closes: the fourth is served.
    drop(held.pop());
    let answer = read_answer(&mut fourth).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // A stop does not wait for the heads still coming.
    let stopping = std::time::Instant::now();
    r.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the stop waited for half-sent heads"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_is_told_to_use_http1() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path(), ApiLimits::default()).await;
    let mut s = TcpStream::connect(r.api_addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // The client's SETTINGS frame (empty).
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let got = closed(&mut s).await;
    // The server's preface: an empty SETTINGS frame.
    assert_eq!(&got[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0], "{got:?}");
    // Then GOAWAY (type 7, stream 0) with HTTP_1_1_REQUIRED (0xd).
    let goaway = &got[9..];
    let len = u32::from_be_bytes([0, goaway[0], goaway[1], goaway[2]]) as usize;
    assert_eq!(goaway[3], 7, "{got:?}");
    assert_eq!(&goaway[5..9], &[0, 0, 0, 0]);
    let payload = &goaway[9..9 + len];
    assert_eq!(&payload[4..8], &[0, 0, 0, 0xd]);
    let debug: Value = serde_json::from_slice(&payload[8..]).unwrap();
    assert_eq!(debug["error"]["code"], "http2_not_supported");
    assert!(
        debug["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send HTTP/1.1"),
        "{debug}"
    );
    // Another HTTP version on the request line: 505, in JSON.
    let a = ask(r.api_addr, b"GET /healthz HTTP/3.0\r\nHost: zion\r\n\r\n").await;
    assert_eq!((a.status, code(&a)), (505, "http_version_not_supported"));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_in_any_case_and_host_as_http_1_1_requires() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path(), ApiLimits::default()).await;
    let token = &r.admin_token;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let a = ask(
            r.api_addr,
            format!(
                "GET /api/v1/whoami HTTP/1.1\r\nHost: zion\r\nAuthorization: {scheme}  {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(
            (a.status, &a.body["name"]),
            (200, &json!("admin")),
            "{scheme}: {a:?}"
        );
    }
    let a = ask(
        r.api_addr,
        format!(
            "GET /api/v1/whoami HTTP/1.1\r\nHost: zion\r\nAuthorization: Basic {token}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!((a.status, code(&a)), (401, "unauthorized"));

    // HTTP/1.1 without Host, or with two: 400. HTTP/1.0 may leave it out.
    let a = ask(r.api_addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!((a.status, code(&a)), (400, "bad_request"), "{a:?}");
    assert!(message(&a).contains("Host"), "{a:?}");
    let a = ask(
        r.api_addr,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    )
    .await;
    assert_eq!((a.status, code(&a)), (400, "bad_request"), "{a:?}");
    let a = ask(r.api_addr, b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(a.status, 200, "{a:?}");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path(), ApiLimits::default()).await;
    let addr = r.api_addr;
    let admin = r.admin_token.clone();
    let auth = format!("Authorization: Bearer {admin}\r\n");

    // A method the route does not take.
    let a = ask(
        addr,
        format!("DELETE /api/v1/deployments HTTP/1.1\r\nHost: zion\r\n{auth}\r\n").as_bytes(),
    )
    .await;
    assert_eq!((a.status, code(&a)), (405, "method_not_allowed"), "{a:?}");
    assert!(message(&a).contains("GET"), "{a:?}");
    assert!(a.head.to_lowercase().contains("allow:"), "{a:?}");

    // Unknown routes point to the README, not to notes that do not ship.
    let a = ask(
        addr,
        format!("GET /api/v1/nothing HTTP/1.1\r\nHost: zion\r\n{auth}\r\n").as_bytes(),
    )
    .await;
    assert_eq!((a.status, code(&a)), (404, "not_found"));
    assert!(message(&a).contains("README"), "{a:?}");
    assert!(!message(&a).contains("DESIGN"), "{a:?}");

    // Targets too long: on a first request (before hyper parses it, which
    // answers a bare 414 past 64 KiB), and on a kept-alive connection.
    for len in [9 * 1024, 70 * 1024] {
        let long = "a".repeat(len);
        let a = ask(
            addr,
            format!("GET /api/v1/deployments?x={long} HTTP/1.1\r\nHost: zion\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!((a.status, code(&a)), (414, "uri_too_long"), "{len}");
    }
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: zion\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
    let long = "a".repeat(9 * 1024);
    kept.write_all(format!("GET /healthz?x={long} HTTP/1.1\r\nHost: zion\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let a = read_answer(&mut kept).await;
    assert_eq!((a.status, code(&a)), (414, "uri_too_long"));
    // A head too large, and a request line that is not HTTP.
    let big = "b".repeat(70 * 1024);
    let a = ask(
        addr,
        format!("GET /healthz HTTP/1.1\r\nHost: zion\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!((a.status, code(&a)), (431, "header_fields_too_large"));
    let a = ask(addr, b"HELLO\r\n\r\n").await;
    assert_eq!((a.status, code(&a)), (400, "bad_request"), "{a:?}");

    // Query strings: a bad value and an unknown parameter, each named.
    let (s, body) = call(
        &r,
        "GET",
        "/api/v1/deployments?limit=abc",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    let (s, body) = call(&r, "GET", "/api/v1/history?servce=web", Some(&admin), None).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`servce`"),
        "{body}"
    );
    let (s, body) = call(
        &r,
        "GET",
        "/api/v1/audit/consistency?old=1",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("new"),
        "{body}"
    );

    // Bodies too large: the same 413 in JSON on every route.
    for (method, path, kind) in [
        ("PUT", "/api/v1/spec", "text/yaml"),
        ("POST", "/api/v1/deployments", "application/json"),
    ] {
        let body = vec![b' '; 2 * 1024 * 1024 + 1];
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: zion\r\n{auth}Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        // Written beside the reading: the answer may come before the end.
        let (mut rd, mut wr) = s.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&body).await;
            wr
        });
        let a = read_answer(&mut rd).await;
        assert_eq!(
            (a.status, code(&a)),
            (413, "payload_too_large"),
            "{path}: {a:?}"
        );
        drop(writer.await);
    }

    // A body that is not JSON, not declared as JSON, or carries a field the
    // request does not have.
    let (s, body, _) = request(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&admin),
        Some(json!("{")),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    for (path, body, field) in [
        (
            "/api/v1/deployments",
            json!({ "service": "web", "environment": "staging", "version": "1.0", "verison": "2" }),
            "verison",
        ),
        (
            "/api/v1/rollback",
            json!({ "service": "web", "environment": "staging", "break_glas": "x" }),
            "break_glas",
        ),
        (
            "/api/v1/deployments/1/promote",
            json!({ "ful": true }),
            "ful",
        ),
    ] {
        let (s, resp) = call(&r, "POST", path, Some(&admin), Some(body)).await;
        assert_eq!(s, 400, "{path}: {resp}");
        let m = resp["error"]["message"].as_str().unwrap();
        assert!(
            m.contains(&format!("unknown field `{field}`")),
            "{path}: {m}"
        );
    }
    let (_, list) = call(&r, "GET", "/api/v1/deployments", Some(&admin), None).await;
    assert_eq!(list, json!([]), "a refused request created a deployment");

    // Long input comes back as a short prefix.
    let long = "9".repeat(10_000);
    let cut = format!("`{}…`", "9".repeat(zion_core::text::ECHO_CHARS));
    let (s, resp) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&admin),
        Some(json!({ "service": "web", "environment": "staging", "version": format!("1.{long}") })),
    )
    .await;
    let m = resp["error"]["message"].as_str().unwrap();
    assert_eq!(s, 400, "{m}");
    assert!(
        m.len() < 400 && m.contains("is 10002 characters long") && m.contains("`1.999"),
        "{m}"
    );
    let (s, resp) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&admin),
        Some(
            json!({ "service": "web", "environment": "staging", "version": "1", "strategy": long }),
        ),
    )
    .await;
    let m = resp["error"]["message"].as_str().unwrap();
    assert!(s == 400 && m.len() < 400 && m.contains(&cut), "{m}");
    let (s, resp) = call(
        &r,
        "GET",
        &format!("/api/v1/history?since={}", &long[..5_000]),
        Some(&admin),
        None,
    )
    .await;
    let m = resp["error"]["message"].as_str().unwrap();
    assert!(s == 400 && m.len() < 400 && m.contains(&cut), "{m}");
    r.shutdown().await;
}
