//! The data plane keeps serving while the control plane waits on its
//! database: a long import holds the audit log and SQLite's write lock, and
//! every change requested meanwhile waits for it, yet requests through the
//! target's proxy are answered as usual. Clients here are plain threads
//! with raw HTTP, so that nothing of theirs runs on the server's runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use serde_json::json;

use crate::support::{call, free, start_spec};

/// One HTTP/1.1 request on a new connection: the status, and when it was
/// sent and answered.
fn raw(addr: SocketAddr, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, Span) {
    let started = Timestamp::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, (started, Timestamp::now()))
}

/// When a request was sent, and when its answer was read.
type Span = (Timestamp, Timestamp);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_traffic_is_served_while_a_long_import_holds_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let target = free();
    let yaml = format!(
        r#"server: {{ listen: {}, data_dir: state }}
environments:
  - {{ name: staging }}
services:
  - name: web
    workload:
      process:
        command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
    targets: {{ staging: {{ listen: {target} }} }}
"#,
        free()
    );
    let r = start_spec(dir.path(), yaml).await;
    let body = json!({ "service": "web", "environment": "staging", "version": "1.0" });
    let (s, d) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some(&r.admin_token),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let path = format!("/api/v1/deployments/{}", d["id"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, d) = call(&r, "GET", &path, Some(&r.admin_token), None).await;
        if d["phase"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "1.0 never became stable: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let api = r.api_addr;
    let proxy: SocketAddr = target.parse().unwrap();
    let token = r.admin_token.clone();
    // Long enough to hold the database for many requests' time, short
    // enough that the changes waiting for it (15 s at most) still get
    // their turn on a busy machine.
    let lines: String = (0..100_000)
        .map(|i| {
            format!(
                "{{\"external_id\":\"old-{i}\",\"service\":\"web\",\"environment\":\"staging\",\"version\":\"0.{i}\",\"type\":\"feature\",\"started_at\":\"2026-01-01T00:00:00Z\",\"finished_at\":\"2026-01-01T00:01:00Z\",\"result\":\"succeeded\"}}\n"
            )
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let importing = {
        let (token, done) = (token.clone(), done.clone());
        std::thread::spawn(move || {
            let answer = raw(
                api,
                "POST",
                "/api/v1/import?source=old.jsonl",
                &token,
                lines.as_bytes(),
            );
            done.store(true, Ordering::SeqCst);
            answer
        })
    };
    // Changes asked for all along, from more threads than the runtime has
    // workers: whichever arrive while the import writes wait for it.
    let waiting: Vec<_> = (0..4)
        .map(|t| {
            let (token, done) = (token.clone(), done.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut i = 0;
                while !done.load(Ordering::SeqCst) {
                    let body = format!(r#"{{"name":"waiter-{t}-{i}","role":"viewer"}}"#);
                    statuses.push(raw(api, "POST", "/api/v1/tokens", &token, body.as_bytes()).0);
                    i += 1;
                }
                statuses
            })
        })
        .collect();
    let mut served = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let (status, span) = raw(proxy, "GET", "/", "-", b"");
        assert_eq!(status, 200);
        served.push(span);
        std::thread::sleep(Duration::from_millis(2));
    }
    let (status, (_, answered)) = importing.join().unwrap();
    assert_eq!(status, 200, "the import failed");
    for w in waiting {
        let statuses = w.join().unwrap();
        assert!(
            statuses.iter().all(|s| *s == 201),
            "a change waiting for the import failed: {statuses:?}"
        );
    }
    // The import's audit entry is stamped as it starts writing, after the
    // file was received and parsed; it holds the database from then until
    // it commits, just before it answers. Requests sent and answered in that span were served
    // while it held it: had they waited for the database, none would be
    // (each would end only after the import), however fast or slow the
    // machine makes the import.
    let (_, entries) = call(
        &r,
        "GET",
        "/api/v1/audit/entries?action=history.import",
        Some(&token),
        None,
    )
    .await;
    let writing: Timestamp = entries[0]["entry"]["time"]
        .as_str()
        .unwrap_or_else(|| panic!("no import entry: {entries}"))
        .parse()
        .unwrap();
    let inside = served
        .iter()
        .filter(|(sent, got)| *sent >= writing && *got <= answered)
        .count();
    assert!(
        inside >= 10,
        "{inside} of {} requests through the proxy were sent and answered while the import \
         held the database ({writing} to {answered})",
        served.len()
    );
    r.shutdown().await;
}
