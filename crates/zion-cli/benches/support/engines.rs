//! The engines a bench drives beside Zion, Debian's packages started in the
//! foreground on free ports, every file under the bench's temporary
//! directory, and stopped when dropped: an HAProxy with the backend `web`,
//! an nginx proxying to the upstream `web` of an include Zion writes, and a
//! Prometheus that finds Zion's replicas through its HTTP service
//! discovery.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `name` on `PATH`, else where Debian puts it.
fn program(name: &str, debian: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(debian))
}

/// Waits until `ready` holds, for at most `limit`.
fn wait(what: &str, limit: Duration, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} not ready after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts connections on `addr`.
fn listening(addr: SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A child process killed and reaped when dropped.
pub struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HAProxy with one frontend on `frontend` and the empty backend `web`,
/// its admin socket `dir/admin.sock`; with `syslog`, it sends each
/// request's line there in the format Zion reads.
pub fn haproxy(dir: &Path, frontend: SocketAddr, syslog: Option<SocketAddr>) -> Engine {
    let socket = dir.join("admin.sock");
    let log = syslog
        .map(|a| format!("  log {a} local0\n  log-format \"%b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST\"\n"))
        .unwrap_or_default();
    let cfg = format!(
        "global\n  stats socket {} level admin\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n{log}\
         frontend fe\n  bind {frontend}\n  default_backend web\n\
         backend web\n  balance roundrobin\n",
        socket.display()
    );
    std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
    let child = Command::new(program("haproxy", "/usr/sbin/haproxy"))
        .arg("-f")
        .arg(dir.join("haproxy.cfg"))
        .arg("-db")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy must be installed (apt-get install haproxy)");
    wait("HAProxy's admin socket", Duration::from_secs(10), || {
        socket.exists()
    });
    Engine(child)
}

/// An nginx (master and one worker) whose server on `frontend` proxies to
/// the upstream `web` declared by `dir/up/web.conf`, the include Zion
/// writes; it starts with one server that is down. With `access_log`, it
/// logs every request to `dir/web.json` in Zion's format.
pub struct Nginx {
    child: Child,
    config: PathBuf,
}

pub fn nginx(dir: &Path, frontend: SocketAddr, access_log: bool) -> Nginx {
    for sub in ["tmp", "up"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let d = dir.display();
    let log = if access_log {
        format!("access_log {d}/web.json zion;")
    } else {
        String::new()
    };
    let cfg = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log notice;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
         \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
         \x20 scgi_temp_path {d}/tmp/scgi;\n  access_log off;\n\
         \x20 log_format zion escape=json '{{\"time\":\"$msec\",\"upstream\":\"$upstream_addr\",\
         \"status\":\"$status\",\"request_time\":\"$request_time\",\"upstream_status\":\"$upstream_status\"}}';\n\
         \x20 include {d}/up/*.conf;\n\
         \x20 server {{\n    listen {frontend};\n    {log}\n    location / {{ proxy_pass http://web; }}\n  }}\n}}\n"
    );
    let config = dir.join("nginx.conf");
    std::fs::write(&config, cfg).unwrap();
    std::fs::write(
        dir.join("up/web.conf"),
        "upstream web { server 127.0.0.1:1 down; }\n",
    )
    .unwrap();
    let child = Command::new(program("nginx", "/usr/sbin/nginx"))
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx must be installed (apt-get install nginx)");
    wait("nginx's frontend", Duration::from_secs(10), || {
        listening(frontend)
    });
    Nginx { child, config }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers (a killed master would leave them).
        let _ = Command::new(program("nginx", "/usr/sbin/nginx"))
            .args(["-s", "stop", "-c"])
            .arg(&self.config)
            .stderr(Stdio::null())
            .status();
        for _ in 0..250 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prometheus on `addr` scraping every second the replicas Zion's API on
/// `api` lists (`GET /api/v1/sd/replicas`, read every second with `token`).
pub fn prometheus(dir: &Path, addr: SocketAddr, api: SocketAddr, token: &str) -> Engine {
    std::fs::write(dir.join("zion.token"), token).unwrap();
    let cfg = format!(
        "global: {{ scrape_interval: 1s, scrape_timeout: 800ms, evaluation_interval: 1s }}
scrape_configs:
  - job_name: replicas
    http_sd_configs:
      - url: http://{api}/api/v1/sd/replicas
        refresh_interval: 1s
        authorization: {{ type: Bearer, credentials_file: zion.token }}
"
    );
    std::fs::write(dir.join("prometheus.yml"), cfg).unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(program("prometheus", "/usr/bin/prometheus"))
        .current_dir(dir)
        .arg("--config.file=prometheus.yml")
        .arg("--storage.tsdb.path=prometheus")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus must be installed (apt-get install prometheus)");
    wait("Prometheus", Duration::from_secs(30), || listening(addr));
    Engine(child)
}
