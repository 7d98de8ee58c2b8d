//! The router against a real nginx (Debian's `nginx` package), started per
//! test in the foreground (`daemon off`, with its master process so
//! `nginx -s reload` works) on a free port, every file it writes in a
//! temporary folder; the replicas are small HTTP servers answering with
//! their version.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// nginx's configuration for the tests: one server proxying to the
/// upstream `web` that `up/web.conf` declares, logging in Zion's format.
pub fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log notice;\nevents {{ worker_connections 512; }}\n\
         http {{\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
         \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
         \x20 scgi_temp_path {d}/tmp/scgi;\n  access_log off;\n\
         \x20 log_format zion escape=json '{{\"time\":\"$msec\",\"upstream\":\"$upstream_addr\",\
         \"status\":\"$status\",\"request_time\":\"$request_time\",\"upstream_status\":\"$upstream_status\"}}';\n\
         \x20 include {d}/up/*.conf;\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    access_log {d}/logs/web.json zion;\n\
         \x20   location / {{ proxy_pass http://web; }}\n  }}\n}}\n"
    )
}

struct TestNginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl TestNginx {
    fn start() -> TestNginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        for sub in ["tmp", "up", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("nginx.conf"), config(dir.path(), port)).unwrap();
        // nginx refuses `proxy_pass` to an upstream nobody declares: the
        // file Zion takes over starts with one whose server is down.
        std::fs::write(dir.path().join("up/web.conf"), include::render("web", &[])).unwrap();
        let child = Command::new(control::program("nginx"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed (apt-get install nginx)");
        let n = TestNginx { child, dir, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(n.addr()).is_err() || !n.path("nginx.pid").exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not start: {}",
                std::fs::read_to_string(n.path("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// How many times an old worker was told to stop (one per reload).
    fn reloads(&self) -> usize {
        std::fs::read_to_string(self.path("error.log"))
            .unwrap_or_default()
            .matches("gracefully shutting down")
            .count()
    }

    /// Waits until the reload after `before` took effect: the old worker
    /// stopped taking connections, so every new one gets the new upstream.
    async fn reloaded(&self, before: usize) {
        let start = Instant::now();
        while self.reloads() <= before {
            assert!(start.elapsed() < Duration::from_secs(10), "no reload");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fn settings(&self) -> NginxSettings {
        NginxSettings {
            nginx: Nginx {
                binary: "nginx".into(),
                config: self.path("nginx.conf"),
            },
            upstream: "web".into(),
            include: self.path("up/web.conf"),
            access_log: Some(self.path("logs/web.json")),
        }
    }
}

impl Drop for TestNginx {
    fn drop(&mut self) {
        // The master stops its workers (a killed master would leave them).
        let _ = Command::new(control::program("nginx"))
            .args(["-s", "stop", "-c"])
            .arg(self.path("nginx.conf"))
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A replica: answers every request with `status` and its version in
/// `x-version`, until the test ends.
async fn replica(version: &'static str, status: u16) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nx-version: {version}\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{version}",
                    version.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

fn pool(version: &str, endpoints: &[SocketAddr]) -> Option<Pool> {
    Some(Pool {
        version: version.into(),
        endpoints: endpoints.to_vec(),
    })
}

/// One GET through nginx: its status and the version that answered.
async fn get(addr: SocketAddr) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).await?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {answer:?}")))?;
    let version = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-version: "))
        .unwrap_or("")
        .to_owned();
    Ok((status, version))
}

/// `n` requests: the share of them `version` answered, in percent.
async fn share(addr: SocketAddr, version: &str, n: u32) -> f64 {
    let mut of = 0;
    for _ in 0..n {
        let (status, v) = get(addr).await.unwrap();
        assert_eq!(status, 200);
        of += u32::from(v == version);
    }
    f64::from(of) * 100.0 / f64::from(n)
}

#[tokio::test]
async fn each_split_is_reloaded_and_seen_in_the_responses_without_a_dropped_request() {
    let n = TestNginx::start();
    let router = NginxRouter::new(n.settings());
    let stable = [replica("1.0", 200).await, replica("1.0", 200).await];
    let new = [replica("2.0", 200).await];
    let before = n.reloads();
    router
        .set_traffic(pool("1.0", &stable), None, 0)
        .await
        .unwrap();
    n.reloaded(before).await;
    assert_eq!(share(n.addr(), "1.0", 50).await, 100.0);

    // A client loop across the reloads: not one request fails.
    let addr = n.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let load = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !flag.load(Ordering::Relaxed) {
            match get(addr).await {
                Ok((200, _)) => ok += 1,
                other => failed.push(format!("{other:?}")),
            }
        }
        (ok, failed)
    });
    for weight in [10u8, 25, 50, 100] {
        let before = n.reloads();
        router
            .set_traffic(pool("1.0", &stable), pool("2.0", &new), weight)
            .await
            .unwrap();
        let text = std::fs::read_to_string(n.path("up/web.conf")).unwrap();
        assert!(
            text.contains(&format!("# version 2.0: {weight}%")),
            "{text}"
        );
        n.reloaded(before).await;
        let got = share(n.addr(), "2.0", 400).await;
        assert!(
            (got - f64::from(weight)).abs() <= 2.0,
            "{weight}%: {got}% answered by 2.0\n{text}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    assert!(ok > 50, "{ok}");
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(router.last_error(), None);
}

#[tokio::test]
async fn a_configuration_nginx_refuses_is_not_reloaded_and_says_why() {
    let n = TestNginx::start();
    let router = NginxRouter::new(n.settings());
    let stable = [replica("1.0", 200).await];
    let new = [replica("2.0", 200).await];
    let reloads = n.reloads();
    router
        .set_traffic(pool("1.0", &stable), None, 0)
        .await
        .unwrap();
    n.reloaded(reloads).await;
    let before = std::fs::read_to_string(n.path("up/web.conf")).unwrap();

    // Another file declares the same upstream: nginx refuses the clash.
    std::fs::write(
        n.path("up/other.conf"),
        "upstream web { server 127.0.0.1:1; }\n",
    )
    .unwrap();
    let e = router
        .set_traffic(pool("1.0", &stable), pool("2.0", &new), 50)
        .await
        .unwrap_err();
    assert!(
        e.contains("duplicate upstream \"web\"") && e.contains("not reloaded"),
        "{e}"
    );
    assert_eq!(n.reloads(), reloads + 1, "reloaded anyway");
    assert_eq!(router.last_error().as_deref(), Some(e.as_str()));
    assert_eq!(
        std::fs::read_to_string(n.path("up/web.conf")).unwrap(),
        before
    );
    assert_eq!(share(n.addr(), "1.0", 50).await, 100.0);

    // The clash gone: the step is applied and the reason cleared.
    std::fs::remove_file(n.path("up/other.conf")).unwrap();
    let reloads = n.reloads();
    router
        .set_traffic(pool("1.0", &stable), pool("2.0", &new), 100)
        .await
        .unwrap();
    assert_eq!(router.last_error(), None);
    n.reloaded(reloads).await;
    assert_eq!(share(n.addr(), "2.0", 20).await, 100.0);

    // A broken main configuration: the reason is nginx's own words.
    let conf = std::fs::read_to_string(n.path("nginx.conf")).unwrap();
    std::fs::write(
        n.path("nginx.conf"),
        conf.replace("events {", "events { bogus_directive on;"),
    )
    .unwrap();
    let e = router
        .set_traffic(pool("1.0", &stable), pool("2.0", &new), 0)
        .await
        .unwrap_err();
    assert!(e.contains("unknown directive \"bogus_directive\""), "{e}");
    assert_eq!(n.reloads(), reloads + 1, "reloaded anyway");
    assert_eq!(share(n.addr(), "2.0", 20).await, 100.0);

    // No nginx program there.
    let mut s = n.settings();
    s.nginx.binary = "/nonexistent/nginx".into();
    let e = NginxRouter::new(s)
        .set_traffic(pool("1.0", &stable), None, 0)
        .await
        .unwrap_err();
    assert!(e.contains("no nginx program `/nonexistent/nginx`"), "{e}");
}

#[tokio::test]
async fn the_access_log_becomes_per_version_requests_errors_and_latencies() {
    let n = TestNginx::start();
    let router = NginxRouter::new(n.settings());
    let good = [replica("1.0", 200).await];
    let bad = [replica("2.0", 500).await];
    let before = n.reloads();
    router
        .set_traffic(pool("1.0", &good), pool("2.0", &bad), 50)
        .await
        .unwrap();
    n.reloaded(before).await;
    let metrics = Arc::new(TrafficMetrics::new());
    router.sample(&metrics);
    // Let the tail start at the log's end, then send 40 requests.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut sent: HashMap<String, u64> = HashMap::new();
    for _ in 0..40 {
        let (_, v) = get(n.addr()).await.unwrap();
        *sent.entry(v).or_default() += 1;
    }
    let start = Instant::now();
    loop {
        let (g, b) = (metrics.totals("1.0"), metrics.totals("2.0"));
        if g.0 + b.0 == 40 {
            assert_eq!(g, (sent["1.0"], 0));
            assert_eq!(b, (sent["2.0"], sent["2.0"]));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{g:?} {b:?} {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let w = metrics.window("2.0", SystemTime::now(), Duration::from_secs(30));
    assert_eq!(w.requests, sent["2.0"]);
    assert!(
        w.errors == w.requests && w.latency_p95_ms.is_some(),
        "{w:?}"
    );

    // Released: another replica drives the target and counts.
    router.release();
    tokio::time::sleep(Duration::from_millis(700)).await;
    get(n.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(metrics.totals("1.0").0 + metrics.totals("2.0").0, 40);
}
