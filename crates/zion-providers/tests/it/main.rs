//! Integration tests of process workloads with real child processes: a small
//! Python HTTP server (steerable through its environment) and `/bin/sh`.

mod adopt;
mod grpc_probes;
mod lifecycle;
mod probes;
mod reap;
mod supervision;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zion_core::spec::{HealthSpec, Probe, ProcessSpec};
use zion_providers::{
    MemoryRegistry, ProcessRecord, ProcessRegistry, ProcessWorkloads, VersionKey, VersionStatus,
};

/// The test service. Environment knobs: `HEALTHY_IF_FILE` (healthy only while
/// that file exists), `FAIL_HEALTH`, `TERM_FILE` (written on SIGTERM, then
/// exit 0), `IGNORE_TERM`, `CRASH_ONCE_FILE` (first run exits 3 after 0.5 s),
/// `EXIT_AFTER` (seconds, then exit 4), `BURN` (spin a thread),
/// `LOG_REQUESTS` (a line on stderr per request, as http.server does).
/// `/info` echoes its arguments, environment and folder.
pub const SERVER_PY: &str = r#"
import http.server, json, os, signal, sys, threading

env = os.environ
port = int(env["PORT"])

if env.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif env.get("TERM_FILE"):
    def on_term(signum, frame):
        with open(env["TERM_FILE"], "w") as f:
            f.write("terminated")
        os._exit(0)
    signal.signal(signal.SIGTERM, on_term)

crash_file = env.get("CRASH_ONCE_FILE")
if crash_file and not os.path.exists(crash_file):
    open(crash_file, "w").close()
    threading.Timer(0.5, lambda: os._exit(3)).start()

if env.get("EXIT_AFTER"):
    threading.Timer(float(env["EXIT_AFTER"]), lambda: os._exit(4)).start()

if env.get("BURN"):
    def burn():
        x = 0
        while True:
            x += 1
    threading.Thread(target=burn, daemon=True).start()

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        if env.get("LOG_REQUESTS"):
            super().log_message(*args)

    def do_GET(self):
        if self.path == "/healthz":
            flag = env.get("HEALTHY_IF_FILE")
            ok = not env.get("FAIL_HEALTH") and (not flag or os.path.exists(flag))
            code, body = (200, b"ok") if ok else (503, b"unhealthy")
        elif self.path == "/info":
            code = 200
            body = json.dumps({
                "argv": sys.argv[1:],
                "port": env.get("PORT"),
                "version": env.get("ZION_VERSION"),
                "extra": env.get("EXTRA"),
                "cwd": os.getcwd(),
                "pid": os.getpid(),
            }).encode()
        else:
            code, body = 404, b"not found"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening on", port, flush=True)
server.serve_forever()
"#;

/// Generous: the machine running these tests may be busy.
pub const WAIT: Duration = Duration::from_secs(40);

/// A temporary spec folder with `app/server.py`, an in-memory registry and
/// workloads rooted at the folder.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub registry: Arc<MemoryRegistry>,
    pub workloads: ProcessWorkloads,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_server(dir.path());
        let registry = Arc::new(MemoryRegistry::new());
        let workloads = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone());
        Fixture {
            dir,
            registry,
            workloads,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes `app/server.py` under `base`.
pub fn write_server(base: &Path) {
    std::fs::create_dir_all(base.join("app")).expect("app dir");
    std::fs::write(base.join("app/server.py"), SERVER_PY).expect("server.py");
}

pub fn key(version: &str) -> VersionKey {
    VersionKey::new("web", "staging", version)
}

/// The Python server, run from the relative workdir `app`.
pub fn server(env: &[(&str, &str)]) -> ProcessSpec {
    process(
        &[
            "python3",
            "server.py",
            "--port",
            "{port}",
            "--version",
            "{version}",
        ],
        env,
    )
}

pub fn process(command: &[&str], env: &[(&str, &str)]) -> ProcessSpec {
    ProcessSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        workdir: Some("app".into()),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        replicas: 1,
        artifact: None,
    }
}

/// Frequent probes with a timeout that tolerates a loaded machine.
pub fn health(probe: Probe) -> HealthSpec {
    HealthSpec {
        probe,
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        start_timeout: Duration::from_secs(60),
    }
}

pub fn http_health() -> HealthSpec {
    health(Probe::Http("/healthz".into()))
}

/// Polls `check` until it yields a value, panicking with `what` after `limit`.
pub async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Async flavour of [`eventually`].
pub async fn eventually_async<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `desired` replicas of `key` are ready and returns the status.
pub async fn ready(w: &ProcessWorkloads, key: &VersionKey, desired: u32) -> VersionStatus {
    eventually(&format!("{desired} ready replicas of {key}"), WAIT, || {
        w.status(key).filter(|s| s.ready == desired)
    })
    .await
}

/// A plain HTTP/1.0 GET to 127.0.0.1:port: (status code, body).
pub async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// (state, pgrp, start ticks) from `/proc/PID/stat`.
pub fn stat(pid: u32) -> Option<(char, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some((
        rest[0].chars().next()?,
        rest[2].parse().ok()?,
        rest[19].parse().ok()?,
    ))
}

/// Running code (not a zombie, not gone).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _, _)| !matches!(state, 'Z' | 'X'))
}

/// Live members of process group `pgid`.
pub fn group(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            stat(p).is_some_and(|(state, pg, _)| pg == pgid && !matches!(state, 'Z' | 'X'))
        })
        .collect()
}

pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A registry kept in a text file, one record a line, so that a process that
/// gets killed leaves its records to the next one.
pub struct FileRegistry {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileRegistry {
    pub fn new(path: PathBuf) -> Self {
        FileRegistry {
            path,
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> Vec<ProcessRecord> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some(ProcessRecord {
                    pid: f.first()?.parse().ok()?,
                    start_ticks: f.get(1)?.parse().ok()?,
                    port: f.get(2)?.parse().ok()?,
                    service: f.get(3)?.to_string(),
                    environment: f.get(4)?.to_string(),
                    version: f.get(5)?.to_string(),
                    host: f.get(6).unwrap_or(&"").to_string(),
                })
            })
            .collect()
    }

    fn write(&self, records: &[ProcessRecord]) {
        let text: String = records
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {} {} {}\n",
                    r.pid, r.start_ticks, r.port, r.service, r.environment, r.version, r.host
                )
            })
            .collect();
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write registry");
        std::fs::rename(&tmp, &self.path).expect("replace registry");
    }
}

impl ProcessRegistry for FileRegistry {
    fn record(&self, rec: &ProcessRecord) {
        let _g = self.lock.lock().unwrap();
        let mut all = self.read();
        all.retain(|r| (&r.host, r.pid) != (&rec.host, rec.pid));
        all.push(rec.clone());
        self.write(&all);
    }

    fn forget(&self, host: &str, pid: u32) {
        let _g = self.lock.lock().unwrap();
        let mut all = self.read();
        all.retain(|r| (r.host.as_str(), r.pid) != (host, pid));
        self.write(&all);
    }

    fn list(&self) -> Vec<ProcessRecord> {
        let _g = self.lock.lock().unwrap();
        self.read()
    }
}
