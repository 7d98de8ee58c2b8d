//! Zion's core promise against a hostile client and a hanging version,
//! through a real `zion up`, real replicas and raw sockets: a healthy
//! version is never rolled back by what clients send, and a version that
//! hangs is never kept.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// Broken requests from a background thread, about `per_sec` a second,
/// alternating a malformed chunked body and a body cut short by a client
/// that closes; counts the answers by status (0: closed without one).
struct Hostile {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<Vec<u16>>>,
}

impl Hostile {
    fn start(addr: SocketAddr, per_sec: u64) -> Hostile {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), sent.clone());
        let handle = std::thread::spawn(move || {
            let mut statuses = Vec::new();
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                if let Ok(status) = broken_request(addr, n % 2 == 0) {
                    statuses.push(status);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1000 / per_sec));
            }
            statuses
        });
        Hostile {
            stop,
            sent,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Vec<u16> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn broken_request(addr: SocketAddr, chunked: bool) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    if chunked {
        s.write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbad\r\n",
        )?;
    } else {
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")?;
        s.shutdown(std::net::Shutdown::Write)?;
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

#[test]
fn broken_client_requests_never_roll_a_healthy_canary_back() {
    let steps = "        - { weight: 50, pause: 4s }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &[], "20s");
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    let load = Load::start(p.target);
    // Thirty broken requests a second: half reach the canary. Counted as
    // its errors they would be far above the 5% that rolls back at once.
    let hostile = Hostile::start(p.target, 30);
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    let sent = hostile.sent.load(Ordering::Relaxed);
    let statuses = hostile.finish();
    let seen = load.finish();
    assert!(
        out.status.success(),
        "a healthy canary was rolled back by broken client requests: {}\n{}",
        describe(&out),
        p.log()
    );
    assert!(sent >= 40, "the hostile client sent only {sent} requests");
    // Each was answered 400, closed, or answered by a replica that did not
    // wait for the body: never a 502 blaming the version.
    assert!(
        statuses.iter().all(|s| *s < 500),
        "answers to broken requests: {statuses:?}"
    );
    assert!(statuses.contains(&400), "{statuses:?}");
    assert!(
        seen.values().all(|(_, errors)| *errors == 0),
        "good requests failed meanwhile: {seen:?}"
    );
    let history = p.json(&["history"]);
    let last = &history.as_array().unwrap()[0];
    assert_eq!(
        (last["version"].as_str(), last["phase"].as_str()),
        (Some("2.0"), Some("succeeded"))
    );
    // The log tells of them, but not once per request.
    let lines = p
        .log()
        .lines()
        .filter(|l| l.contains("request body"))
        .count();
    assert!(
        (1..=sent as usize / 4).contains(&lines),
        "{lines} log lines for {sent} broken requests"
    );
}

#[test]
fn a_version_that_hangs_is_rolled_back_within_a_few_rounds() {
    let steps = "        - { weight: 20, pause: 60s }\n        - { weight: 100 }";
    // Every request to 2.0 waits ten minutes; its health probe still passes.
    let mut p = Project::new(steps, &["2.0:latency=600s"], "20s");
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    // Several clients, each stuck (up to its own 5 s read timeout) whenever
    // the split sends it to 2.0.
    let loads: Vec<Load> = (0..6).map(|_| Load::start(p.target)).collect();
    let started = Instant::now();
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    let d = p.wait_for(id, Duration::from_secs(60), "2.0 to end", |d| {
        ["rolled_back", "succeeded", "failed"].contains(&d["phase"].as_str().unwrap_or(""))
    });
    let took = started.elapsed();
    for load in loads {
        load.finish();
    }
    assert_eq!(d["phase"], "rolled_back", "{d}\n{}", p.log());
    // Analysis runs every second; 60 s is the step's pause, never reached,
    // and the 30 s response timeout is not what caught it.
    eprintln!("a version hanging on every request: rolled back after {took:?}");
    assert!(took < Duration::from_secs(25), "rolled back after {took:?}");
    let failed = d["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "fail")
        .cloned()
        .unwrap_or_else(|| panic!("no failed round: {d}"));
    assert!(
        failed["canary"]["requests"].as_u64().unwrap() > 0,
        "the hanging requests counted: {failed}"
    );
    // Users are on 1.0 again.
    let (status, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!((status, version.as_str()), (200, "1.0"));
}
