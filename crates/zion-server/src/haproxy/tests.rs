//! The router against a real HAProxy (Debian's `haproxy` package), started
//! per test in the foreground on a free port with its sockets in a
//! temporary folder.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use zion_proxy::Pool;

use super::*;

struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Haproxy {
    fn start() -> Haproxy {
        Self::start_logging(None)
    }

    /// With each request logged over syslog to `log`, in Zion's format.
    fn start_logging(log: Option<SocketAddr>) -> Haproxy {
        Self::start_with(log, "")
    }

    /// With `backend` lines added to the backend `web`.
    fn start_with(log: Option<SocketAddr>, backend: &str) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let log = log
            .map(|a| {
                format!("  log {a} local0\n  option httplog\n  log-format \"{ZION_LOG_FORMAT}\"\n")
            })
            .unwrap_or_default();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let cfg = format!(
            "global\n  stats socket {d}/admin.sock level admin\n  stats socket {d}/user.sock level user\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n{log}\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend web\n\
             backend web\n  balance roundrobin\n{backend}"
        );
        std::fs::write(dir.path().join("haproxy.cfg"), cfg).unwrap();
        let child = Command::new(haproxy_program())
            .arg("-f")
            .arg(dir.path().join("haproxy.cfg"))
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy must be installed (apt-get install haproxy)");
        let h = Haproxy { child, dir };
        let start = Instant::now();
        while !h.path("admin.sock").exists() || !h.path("user.sock").exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "haproxy did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pool(version: &str, ports: &[u16]) -> Option<Pool> {
    Some(Pool {
        version: version.into(),
        endpoints: ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect(),
    })
}

/// Each of the backend's servers and its weight as HAProxy reports them
/// (`get weight`).
async fn weights(socket: &Path) -> BTreeMap<String, u32> {
    let rt = Runtime::new(socket);
    let state = rt.command("show servers state web").await.unwrap();
    let mut out = BTreeMap::new();
    for s in stats::parse_servers_state(&state).unwrap() {
        let w = rt
            .command(&format!("get weight web/{}", s.name))
            .await
            .unwrap();
        let w: u32 = w.split_whitespace().next().unwrap().parse().unwrap();
        out.insert(s.name, w);
    }
    out
}

fn share(weights: &BTreeMap<String, u32>, version: &str) -> f64 {
    let total: u32 = weights.values().sum();
    let of: u32 = weights
        .iter()
        .filter(|(n, _)| n.starts_with(&format!("zion-{version}-")))
        .map(|(_, w)| w)
        .sum();
    f64::from(of) * 100.0 / f64::from(total)
}

#[tokio::test]
async fn weights_are_set_live_and_read_back_from_haproxy() {
    let h = Haproxy::start();
    let router = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    router
        .set_traffic(pool("1.0", &[9001, 9002]), None, 0)
        .await
        .unwrap();
    let w = weights(&h.path("admin.sock")).await;
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(share(&w, "1.0"), 100.0);
    for step in [10u8, 33, 50, 100] {
        router
            .set_traffic(
                pool("1.0", &[9001, 9002]),
                pool("2.0", &[9101, 9102, 9103]),
                step,
            )
            .await
            .unwrap();
        let w = weights(&h.path("admin.sock")).await;
        assert_eq!(w.len(), 5, "{w:?}");
        let got = share(&w, "2.0");
        assert!((got - f64::from(step)).abs() <= 1.0, "{step}%: {got} {w:?}");
    }
    // 2.0 alone: 1.0's servers leave the backend (no connection holds them).
    router
        .set_traffic(pool("2.0", &[9101, 9102, 9103]), None, 0)
        .await
        .unwrap();
    let w = weights(&h.path("admin.sock")).await;
    assert_eq!(
        w.keys().cloned().collect::<Vec<_>>(),
        vec![
            "zion-2.0-127.0.0.1-9101",
            "zion-2.0-127.0.0.1-9102",
            "zion-2.0-127.0.0.1-9103"
        ]
    );
    assert_eq!(router.last_error(), None);
}

#[tokio::test]
async fn faults_give_a_clear_reason_and_leave_the_weights_alone() {
    let h = Haproxy::start();
    let admin = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    admin
        .set_traffic(pool("1.0", &[9001]), None, 0)
        .await
        .unwrap();
    let before = weights(&h.path("admin.sock")).await;

    // A socket at user level: HAProxy says "Permission denied".
    let user = HaproxyRouter::new(h.path("user.sock"), "web".into());
    let e = user
        .set_traffic(pool("1.0", &[9001]), pool("2.0", &[9101]), 50)
        .await
        .unwrap_err();
    assert!(
        e.contains("not at admin level") && e.contains("level admin"),
        "{e}"
    );
    assert_eq!(user.last_error().as_deref(), Some(e.as_str()));

    // No socket there.
    let missing = HaproxyRouter::new(h.path("nothing.sock"), "web".into());
    let e = missing
        .set_traffic(pool("1.0", &[9001]), pool("2.0", &[9101]), 50)
        .await
        .unwrap_err();
    assert!(
        e.contains("does not exist") && e.contains("nothing.sock"),
        "{e}"
    );

    // A backend HAProxy does not know.
    let other = HaproxyRouter::new(h.path("admin.sock"), "nope".into());
    let e = other
        .set_traffic(pool("1.0", &[9001]), pool("2.0", &[9101]), 50)
        .await
        .unwrap_err();
    assert!(e.contains("no backend `nope`"), "{e}");

    // Nothing changed: the stable version keeps all traffic.
    assert_eq!(weights(&h.path("admin.sock")).await, before);
}

#[tokio::test]
async fn statistics_become_per_version_counts() {
    let h = Haproxy::start();
    let router = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    router
        .set_traffic(pool("1.0", &[9001]), None, 0)
        .await
        .unwrap();
    let metrics = Arc::new(TrafficMetrics::new());
    let mut seen = None;
    router.sample_once(&metrics, &mut seen).await;
    assert!(seen.is_some());
    // Requests to a server that refuses connections: HAProxy answers 503
    // and counts a failed connection on the server (and each retry in
    // `stot`: one request is still one).
    let fe = std::fs::read_to_string(h.path("haproxy.cfg")).unwrap();
    let port = fe
        .split("bind 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
    router.sample_once(&metrics, &mut seen).await;
    let (requests, errors) = metrics.totals("1.0");
    assert_eq!((requests, errors), (3, 3));
}

/// The `log-format` the HAProxy router's documentation gives.
const ZION_LOG_FORMAT: &str = "%b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST";

/// An HTTP server answering every request 200 after `delay`.
async fn slow_server(delay: Duration) -> u16 {
    server(delay, "ok").await
}

/// An HTTP server answering every request 200 and `body` after `delay`.
async fn server(delay: Duration, body: &'static str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                tokio::time::sleep(delay).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

async fn get(port: &str) -> String {
    get_with(port, "").await
}

/// A GET with `headers` (each ending in CRLF): the whole answer.
async fn get_with(port: &str, headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    s.write_all(
        format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    answer
}

fn frontend_port(h: &Haproxy) -> String {
    let cfg = std::fs::read_to_string(h.path("haproxy.cfg")).unwrap();
    cfg.split("bind 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_request_log_gives_each_version_its_latencies() {
    let log = RequestLog::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let h = Haproxy::start_logging(Some(log.addr()));
    let router = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    let metrics = Arc::new(TrafficMetrics::new());
    router.receive_log(log.clone(), &metrics);
    router.sample(&metrics);
    let fast = slow_server(Duration::ZERO).await;
    let slow = slow_server(Duration::from_millis(150)).await;
    router
        .set_traffic(pool("1.0", &[fast]), pool("2.0", &[slow]), 50)
        .await
        .unwrap();
    // The statistics' first reading, so that a second one would count.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let port = frontend_port(&h);
    for _ in 0..20 {
        assert!(get(&port).await.starts_with("HTTP/1.1 200"));
    }
    // Not a syslog line: counted, dropped.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(b"web/zion-1.0 0/0/0/1/1 200", log.addr())
        .await
        .unwrap();
    let start = Instant::now();
    while log.counted() < 20 || log.malformed() < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} lines counted, {} malformed",
            log.counted(),
            log.malformed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = |v| metrics.window(v, SystemTime::now(), Duration::from_secs(30));
    let (old, new) = (window("1.0"), window("2.0"));
    assert_eq!((old.requests, new.requests), (10, 10), "{old:?} {new:?}");
    assert_eq!((old.errors, new.errors), (0, 0));
    assert!(old.latency_p95_ms.unwrap() < 50.0, "{old:?}");
    assert!(new.latency_p95_ms.unwrap() >= 150.0, "{new:?}");
    assert_eq!(log.malformed(), 1);

    // The statistics, read all along, count nothing on top: the log does.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(metrics.totals("1.0").0 + metrics.totals("2.0").0, 20);
}

/// The version that answered, and the cookie HAProxy set, if it did.
fn answered(answer: &str) -> (String, Option<String>) {
    let body = answer.rsplit("\r\n\r\n").next().unwrap_or("").to_owned();
    let cookie = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    (body, cookie)
}

#[tokio::test]
async fn sticky_clients_stay_on_their_version_across_weight_changes() {
    let h = Haproxy::start_with(
        None,
        "  cookie ZION insert indirect nocache dynamic\n  dynamic-cookie-key any-text\n",
    );
    let router = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    let (a, b) = (
        server(Duration::ZERO, "1.0").await,
        server(Duration::ZERO, "2.0").await,
    );
    // Stable servers added before sticky sessions were asked for.
    router
        .set_traffic(pool("1.0", &[a]), None, 0)
        .await
        .unwrap();
    router
        .set_split(pool("1.0", &[a]), pool("2.0", &[b]), 50, true)
        .await
        .unwrap();
    let port = frontend_port(&h);
    // One client pinned to each version by its first answer's cookie.
    let mut pinned: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..20 {
        let (version, cookie) = answered(&get(&port).await);
        let cookie = cookie.expect("HAProxy sets its cookie");
        assert!(cookie.len() > "ZION=".len(), "{cookie}");
        pinned.insert(version, cookie);
    }
    assert_eq!(pinned.len(), 2, "{pinned:?}");
    for weight in [10u8, 90, 1, 99, 50] {
        router
            .set_split(pool("1.0", &[a]), pool("2.0", &[b]), weight, true)
            .await
            .unwrap();
        for (version, cookie) in &pinned {
            for _ in 0..10 {
                let answer = get_with(&port, &format!("Cookie: {cookie}\r\n")).await;
                assert_eq!(&answered(&answer).0, version, "at {weight}%: {answer}");
            }
        }
    }
    // Rolled back: the new version's servers leave, its clients go to stable.
    router
        .set_split(pool("1.0", &[a]), None, 0, true)
        .await
        .unwrap();
    let answer = get_with(&port, &format!("Cookie: {}\r\n", pinned["2.0"])).await;
    assert_eq!(answered(&answer).0, "1.0", "{answer}");
}

#[tokio::test]
async fn sticky_without_the_backends_cookie_is_refused_saying_how_to_fix_it() {
    let h = Haproxy::start();
    let router = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    router
        .set_traffic(pool("1.0", &[9001]), None, 0)
        .await
        .unwrap();
    let before = weights(&h.path("admin.sock")).await;
    let e = router
        .set_split(pool("1.0", &[9001]), pool("2.0", &[9101]), 50, true)
        .await
        .unwrap_err();
    assert!(
        e.contains("sets no cookie") && e.contains("cookie ZION insert indirect nocache dynamic"),
        "{e}"
    );
    assert_eq!(weights(&h.path("admin.sock")).await, before);

    // A cookie without `dynamic-cookie-key`: the servers get none.
    let h = Haproxy::start_with(None, "  cookie ZION insert indirect nocache\n");
    let router = HaproxyRouter::new(h.path("admin.sock"), "web".into());
    router
        .set_traffic(pool("1.0", &[9001]), None, 0)
        .await
        .unwrap();
    let e = router
        .set_split(pool("1.0", &[9001]), pool("2.0", &[9101]), 50, true)
        .await
        .unwrap_err();
    assert!(
        e.contains("no cookie") && e.contains("dynamic-cookie-key"),
        "{e}"
    );
    assert_eq!(share(&weights(&h.path("admin.sock")).await, "2.0"), 0.0);
}

/// HAProxy's program: on the PATH, else where Debian puts it (/usr/sbin is
/// off a plain user's PATH).
fn haproxy_program() -> PathBuf {
    let debian = PathBuf::from("/usr/sbin/haproxy");
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("haproxy"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or(debian)
}
