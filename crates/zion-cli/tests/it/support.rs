//! Test harness: a spec in a temporary folder, `zion up` as a child process,
//! CLI invocations, and raw HTTP requests through a target's proxy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ZION: &str = env!("CARGO_BIN_EXE_zion");

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Polls `f` until it returns Some, or panics naming `what` after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A project folder with a spec, and the `zion up` serving it.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub api: SocketAddr,
    pub target: SocketAddr,
    pub up: Option<Child>,
    /// Variables set in `zion up`'s environment (secrets the spec names).
    pub env: Vec<(String, String)>,
    /// Held while `zion up` runs: see [`MACHINE`].
    machine: Option<std::sync::RwLockReadGuard<'static, ()>>,
}

/// The machine these tests share. Each running `zion up` holds it shared;
/// a test whose outcome depends on latencies measured against each other
/// (the demo judges p95 against stable's within 1 ms) holds it alone, so
/// that a dozen other servers starting beside it on two cores cannot be
/// what it measures.
pub static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// The machine to oneself, for as long as the guard lives.
pub fn machine_alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The spec of a `web` service in `staging` whose versions are the zion
/// binary's demo-app; `steps` and `faults` vary per test.
pub fn spec(
    api: SocketAddr,
    target: SocketAddr,
    steps: &str,
    faults: &[&str],
    start_timeout: &str,
) -> String {
    let mut command =
        format!(r#"["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}""#);
    for f in faults {
        command.push_str(&format!(r#", "--fault", "{f}""#));
    }
    command.push(']');
    format!(
        r#"server:
  listen: {api}
  data_dir: state
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: {command}
        replicas: 2
    health:
      http: /healthz
      interval: 300ms
      timeout: 250ms
      start_timeout: {start_timeout}
    targets:
      staging: {{ listen: {target} }}
    canary:
      steps:
{steps}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: 5
      # The baseline comparison is exercised, but loose enough that a loaded
      # CI machine's scheduling noise cannot fail a good version.
      checks:
        - {{ metric: error_rate, max: 0.01 }}
        - {{ metric: latency_p95, max_ratio_to_baseline: 3 }}
        - {{ metric: health, min: 0.95 }}
"#
    )
}

impl Project {
    pub fn new(steps: &str, faults: &[&str], start_timeout: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let api = free_addr();
        let target = free_addr();
        std::fs::write(
            dir.path().join("zion.yaml"),
            spec(api, target, steps, faults, start_timeout),
        )
        .unwrap();
        Project {
            dir,
            api,
            target,
            up: None,
            env: Vec::new(),
            machine: None,
        }
    }

    /// A project whose spec is `make(api, target)` (the one target listens
    /// on `target`; other listeners come from `free_addr`).
    pub fn with_spec(make: impl FnOnce(SocketAddr, SocketAddr) -> String) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let api = free_addr();
        let target = free_addr();
        std::fs::write(dir.path().join("zion.yaml"), make(api, target)).unwrap();
        Project {
            dir,
            api,
            target,
            up: None,
            env: Vec::new(),
            machine: None,
        }
    }

    /// Runs a CLI command as the principal holding `token`.
    pub fn zion_as(&self, token: &str, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--token", token]);
        self.zion(&all)
    }

    /// Creates a token for `name` with `role` and returns it.
    pub fn token(&self, name: &str, role: &str) -> String {
        let t = self.json(&["token", "create", name, "--role", role]);
        t["token"].as_str().unwrap().to_string()
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("zion.yaml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn clock_file(&self) -> PathBuf {
        self.dir.path().join("clock")
    }

    /// Runs the server (once started) on a test clock `offset` seconds off
    /// the system clock; [`Project::advance_clock`] moves it forward.
    pub fn set_clock(&self, offset: i64) {
        // A whole new file renamed over the old: the server never reads
        // half of one.
        let next = self.dir.path().join("clock.next");
        std::fs::write(&next, offset.to_string()).unwrap();
        std::fs::rename(next, self.clock_file()).unwrap();
    }

    /// Moves the server's test clock `seconds` forward.
    pub fn advance_clock(&self, seconds: i64) {
        let now: i64 = std::fs::read_to_string(self.clock_file())
            .expect("set_clock before start")
            .parse()
            .unwrap();
        self.set_clock(now + seconds);
    }

    /// Starts `zion up` and waits until its API answers.
    pub fn start(&mut self) {
        if self.machine.is_none() {
            self.machine = Some(
                MACHINE
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("up.log"))
            .unwrap();
        let mut up = Command::new(ZION);
        up.args(["up", "-f"])
            .arg(self.spec_path())
            .env("ZION_LOG", "info")
            .env_remove("ZION_TEST_CLOCK_FILE")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.clock_file().exists() {
            up.env("ZION_TEST_CLOCK_FILE", self.clock_file());
        }
        let mut child = up.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        // A server that stopped at once says why in its log; one that never
        // answers shows how far it got.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http_get(self.api, "/healthz").is_ok_and(|(s, _, _)| s == 200) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "zion up exited ({status}) before its API answered:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("zion up's API did not answer within 30 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.up = Some(child);
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }

    /// Runs a CLI command against this project.
    pub fn zion(&self, args: &[&str]) -> Output {
        Command::new(ZION)
            .args(args)
            .arg("-f")
            .arg(self.spec_path())
            .env_remove("ZION_TOKEN")
            .env_remove("ZION_SERVER")
            .output()
            .unwrap()
    }

    /// Runs a CLI command with `--output json` and parses stdout; asserts exit 0.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.zion(&all);
        assert!(
            out.status.success(),
            "zion {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "zion {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The deployment `id` with events and rounds.
    pub fn deployment(&self, id: i64) -> Value {
        self.json(&["get", &id.to_string()])
    }

    /// Waits for deployment `id` to satisfy `pred`.
    pub fn wait_for(
        &self,
        id: i64,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(limit, what, || {
            let d = self.deployment(id);
            pred(&d).then_some(d)
        })
    }

    /// The `web/staging` entry of `zion status`.
    pub fn target_status(&self) -> Value {
        let all = self.json(&["status"]);
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["service"] == "web")
            .cloned()
            .unwrap()
    }

    /// PIDs and ports of every running replica.
    pub fn replicas(&self) -> Vec<(u32, u16)> {
        let t = self.target_status();
        let mut out = Vec::new();
        for v in t["versions"].as_array().unwrap() {
            let pids = v["pids"].as_array().unwrap();
            let ports = v["ports"].as_array().unwrap();
            for (p, port) in pids.iter().zip(ports) {
                out.push((p.as_u64().unwrap() as u32, port.as_u64().unwrap() as u16));
            }
        }
        out
    }

    /// Sends `signal` to `zion up` and waits for it to exit.
    pub fn stop(&mut self, signal: nix::sys::signal::Signal) {
        if let Some(mut child) = self.up.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, signal);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "zion up did not exit after {signal}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Leave nothing running, whatever the test did.
        self.stop(nix::sys::signal::Signal::SIGTERM);
    }
}

/// One HTTP/1.1 GET on a fresh connection: (status, x-version, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, String)> {
    let r = http_request(addr, path, &[])?;
    Ok((r.status, r.version, r.body))
}

/// What [`http_request`] got back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The `x-version` header (the demo-app's version).
    pub version: String,
    pub body: String,
    /// `name=value` of every Set-Cookie header.
    pub cookies: Vec<String>,
}

/// One HTTP/1.1 GET with extra headers, on a fresh connection.
pub fn http_request(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    // One write: `write!` sends each piece of the format on its own, and a
    // proxy that delays its ACK (HAProxy) then holds the rest 40 ms.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    let header = |name: &str| -> Vec<String> {
        head.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .collect()
    };
    let version = header("x-version").into_iter().next().unwrap_or_default();
    let cookies = header("set-cookie")
        .into_iter()
        .filter_map(|c| c.split(';').next().map(|kv| kv.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        version,
        body: body.to_string(),
        cookies,
    })
}

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    // Zombies are gone for our purposes: they hold no port and run nothing.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Whether a port on 127.0.0.1 can be bound (nobody listens on it).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Exit code and both outputs, for messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The key under which [`Load`] counts requests that got no answer at all.
pub const NO_ANSWER: &str = "(no answer)";

/// Steady load through the proxy from a background thread, counting which
/// version answered (requests without an answer as errors under
/// [`NO_ANSWER`]); stops when dropped.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<std::collections::BTreeMap<String, (u64, u64)>>>,
}

impl Load {
    pub fn start(addr: SocketAddr) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match http_get(addr, "/") {
                    Ok((status, version, _)) => {
                        let e = seen.entry(version).or_default();
                        if status >= 500 {
                            e.1 += 1;
                        } else {
                            e.0 += 1;
                        }
                    }
                    // Refused, reset, timed out or closed without an answer:
                    // a dropped request, whichever version it went to.
                    Err(_) => seen.entry(NO_ANSWER.to_owned()).or_default().1 += 1,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        });
        Load {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops and returns version → (ok, errors).
    pub fn finish(mut self) -> std::collections::BTreeMap<String, (u64, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Reads a file's mode bits.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The spec of a `web` service in `staging` routed by an external router:
/// the `providers:` entry `provider`, the target's `route`, two replicas of
/// the demo-app (3.0 answers half its requests with 500s), three canary
/// steps, and an error-rate check (then `more_checks`, whole lines).
pub fn routed_spec(api: SocketAddr, provider: &str, route: &str, more_checks: &str) -> String {
    format!(
        r#"server:
  listen: {api}
  data_dir: state
providers:
  {provider}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}", "--fault", "3.0:errors=0.5"]
        replicas: 2
    health:
      http: /healthz
      interval: 300ms
      timeout: 250ms
      start_timeout: 20s
    targets:
      staging: {route}
    canary:
      steps:
        - {{ weight: 10 }}
        - {{ weight: 50 }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: 5
      checks:
        - {{ metric: error_rate, max: 0.01 }}
{more_checks}"#
    )
}

/// `n` requests to `frontend`, one after another: the share each version
/// answered, in percent; panics on any failed request.
pub fn shares(frontend: SocketAddr, n: u32) -> std::collections::BTreeMap<String, f64> {
    let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
    for _ in 0..n {
        let (status, version, body) = http_get(frontend, "/").unwrap();
        assert_eq!(status, 200, "{version}: {body}");
        *counts.entry(version).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(v, c)| (v, f64::from(c) * 100.0 / f64::from(n)))
        .collect()
}

/// Panics if any request a [`Load`] saw failed across the weight changes.
pub fn no_failure(seen: &std::collections::BTreeMap<String, (u64, u64)>) {
    assert!(
        seen.values().all(|(_, errors)| *errors == 0),
        "requests failed across the weight changes: {seen:?}"
    );
}

/// Deploys the faulty `version` of web to staging while a load runs
/// through `frontend`, and checks that it is rolled back on its own
/// (`zion deploy --wait` exits 1) after it got some traffic and failed a
/// round on its errors. Returns the deployment and its first failed round.
pub fn faulty_version_rolled_back(
    p: &Project,
    frontend: SocketAddr,
    version: &str,
) -> (Value, Value) {
    let load = Load::start(frontend);
    let out = p.zion(&["deploy", "web", version, "--env", "staging", "--wait"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        describe(&out),
        p.log()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rolled_back"),
        "{}",
        describe(&out)
    );
    let seen = load.finish();
    eprintln!("requests during the faulty canary: {seen:?}");
    assert!(
        seen.get(version).is_some_and(|c| c.1 > 0),
        "the faulty version answered no error: {seen:?}"
    );
    let history = p.json(&["history", "web", "--env", "staging"]);
    let bad = history.as_array().unwrap()[0].clone();
    assert_eq!(
        (bad["version"].as_str(), bad["phase"].as_str()),
        (Some(version), Some("rolled_back")),
        "{bad}"
    );
    let d = p.deployment(bad["id"].as_i64().unwrap());
    let failed = d["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "fail")
        .expect("a failed round")
        .clone();
    assert!(failed["canary"]["errors"].as_u64().unwrap() > 0, "{failed}");
    (d, failed)
}

/// A fresh sign-in form of the web console: the `zion_login=<nonce>`
/// cookie it came with, and the form's body fields before the token
/// (`login_csrf=<nonce>&`).
pub fn console_login_form(addr: SocketAddr) -> (String, String) {
    let form = http_request(addr, "/ui/login", &[]).unwrap();
    let cookie = form
        .cookies
        .iter()
        .find(|c| c.starts_with("zion_login="))
        .unwrap_or_else(|| panic!("the sign-in form sets no nonce cookie: {form:?}"))
        .clone();
    let key = r#"name="login_csrf" value=""#;
    let at = form.body.find(key).expect("the form holds its nonce") + key.len();
    let nonce = &form.body[at..at + form.body[at..].find('"').unwrap()];
    (cookie, format!("login_csrf={nonce}&"))
}
