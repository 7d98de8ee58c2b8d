//! The HAProxy router end to end: a real HAProxy (Debian's package) started
//! per test in the foreground on free ports, its admin socket in the
//! project's folder; `zion up` drives its backend's servers through the
//! Runtime API and judges the versions on its statistics, or on its
//! request log sent to Zion over syslog.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// An HAProxy with one frontend and the backend `web`, sockets in `dir`.
struct Haproxy {
    child: Child,
    frontend: SocketAddr,
    socket: PathBuf,
}

impl Haproxy {
    fn start(dir: &Path) -> Haproxy {
        Self::start_logging(dir, None)
    }

    /// With each request logged to `syslog` in Zion's `log-format`.
    fn start_logging(dir: &Path, syslog: Option<SocketAddr>) -> Haproxy {
        Self::start_with(dir, syslog, "")
    }

    /// With `backend` lines added to the backend `web`.
    fn start_with(dir: &Path, syslog: Option<SocketAddr>, backend: &str) -> Haproxy {
        let frontend = free_addr();
        let socket = dir.join("admin.sock");
        let log = syslog
            .map(|a| format!("  log {a} local0\n  log-format \"%b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST\"\n"))
            .unwrap_or_default();
        let cfg = format!(
            "global\n  stats socket {} level admin\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n{log}\
             frontend fe\n  bind {frontend}\n  default_backend web\n\
             backend web\n  balance roundrobin\n{backend}",
            socket.display()
        );
        std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
        let child = Command::new(haproxy_program())
            .arg("-f")
            .arg(dir.join("haproxy.cfg"))
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy must be installed (apt-get install haproxy)");
        let h = Haproxy {
            child,
            frontend,
            socket,
        };
        eventually(Duration::from_secs(10), "haproxy's admin socket", || {
            h.ask("show info").ok()
        });
        h
    }

    /// One Runtime API command on the admin socket.
    fn ask(&self, command: &str) -> std::io::Result<String> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.write_all(format!("{command}\n").as_bytes())?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// Each server of `web` and its weight, read back with `get weight`.
    fn weights(&self) -> BTreeMap<String, u32> {
        let state = self.ask("show servers state web").unwrap();
        state
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(3))
            .map(|name| {
                let w = self.ask(&format!("get weight web/{name}")).unwrap();
                let w = w.split_whitespace().next().unwrap().parse().unwrap();
                (name.to_owned(), w)
            })
            .collect()
    }

    /// `version`'s share of the backend's weight, in percent.
    fn share(&self, version: &str) -> Option<f64> {
        let w = self.weights();
        let total: u32 = w.values().sum();
        let of: u32 = w
            .iter()
            .filter(|(n, _)| n.starts_with(&format!("zion-{version}-")))
            .map(|(_, w)| w)
            .sum();
        (total > 0).then(|| f64::from(of) * 100.0 / f64::from(total))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec(api: SocketAddr, socket: &str) -> String {
    routed_spec(
        api,
        &format!("edge: {{ haproxy: {{ socket: {socket} }} }}"),
        "{ haproxy: { provider: edge, backend: web } }",
        "",
    )
}

#[test]
fn a_canary_through_haproxy_follows_each_step_and_a_faulty_one_is_rolled_back() {
    let mut p = Project::with_spec(|api, _| spec(api, "admin.sock"));
    let h = Haproxy::start(p.dir.path());
    p.start();

    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    assert_eq!(h.share("1.0"), Some(100.0), "{:?}", h.weights());
    assert_eq!(
        shares(h.frontend, 50),
        BTreeMap::from([("1.0".into(), 100.0)])
    );
    assert_eq!(
        p.target_status()["listen"],
        "haproxy edge backend web",
        "{}",
        p.target_status()
    );

    // Each step: HAProxy's weights, then 1,000 requests, say the step's
    // weight; moving between steps under load drops no request.
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    let mut load = Some(Load::start(h.frontend));
    for (step, weight) in [(1, 10.0), (2, 50.0)] {
        p.wait_for(id, Duration::from_secs(30), "the step", |d| {
            d["step"] == step && d["canary_weight"].as_f64() == Some(weight)
        });
        eventually(Duration::from_secs(10), "HAProxy's weights", || {
            h.share("2.0").filter(|s| (s - weight).abs() <= 1.0)
        });
        no_failure(&load.take().unwrap().finish());
        let seen = shares(h.frontend, 1000);
        let got = seen.get("2.0").copied().unwrap_or(0.0);
        assert!((got - weight).abs() <= 2.0, "step {step}: {seen:?}");
        load = Some(Load::start(h.frontend));
        p.json(&["promote", &id.to_string()]);
    }
    p.wait_for(id, Duration::from_secs(30), "2.0 succeeded", |d| {
        d["phase"] == "succeeded"
    });
    // 1.0's servers leave the backend once its replicas are stopped.
    eventually(Duration::from_secs(20), "1.0 out of HAProxy", || {
        (h.share("1.0") == Some(0.0)).then_some(())
    });
    no_failure(&load.take().unwrap().finish());
    assert_eq!(
        shares(h.frontend, 50),
        BTreeMap::from([("2.0".into(), 100.0)])
    );

    // A faulty version (half its answers 500), judged on HAProxy's
    // statistics: rolled back on its own.
    faulty_version_rolled_back(&p, h.frontend, "3.0");
    eventually(Duration::from_secs(10), "3.0 at weight 0", || {
        (h.share("3.0").unwrap_or(0.0) == 0.0).then_some(())
    });
    assert_eq!(
        shares(h.frontend, 50),
        BTreeMap::from([("2.0".into(), 100.0)])
    );
}

#[test]
fn a_missing_admin_socket_is_reported_and_traffic_stays_on_stable() {
    // A step that would move on after 2 s if its weights were applied.
    let mut p = Project::with_spec(|api, _| {
        spec(api, "admin.sock").replace("- { weight: 10 }", "- { weight: 10, pause: 2s }")
    });
    let h = Haproxy::start(p.dir.path());
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());

    // The socket moves away: Zion cannot reach HAProxy's Runtime API.
    let away = p.dir.path().join("away.sock");
    std::fs::rename(&h.socket, &away).unwrap();
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    let t = eventually(Duration::from_secs(30), "the router's reason", || {
        Some(p.target_status()).filter(|t| t["router_error"].is_string())
    });
    let why = t["router_error"].as_str().unwrap();
    assert!(
        why.contains("admin.sock") && why.contains("does not exist"),
        "{why}"
    );
    let text = String::from_utf8_lossy(&p.zion(&["status"]).stdout).to_string();
    assert!(text.contains("traffic unchanged"), "{text}");
    assert_eq!(
        shares(h.frontend, 100),
        BTreeMap::from([("1.0".into(), 100.0)])
    );
    // On the deployment: the reason, once, and the step held past its
    // pause.
    std::thread::sleep(Duration::from_secs(4));
    let d = p.deployment(id);
    assert_eq!(d["step"], 1, "{d}");
    let held: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .filter(|r| r.contains("the router did not apply"))
        .collect();
    assert_eq!(held.len(), 1, "{d}");
    assert!(
        held[0].contains("does not exist") && held[0].contains("held"),
        "{held:?}"
    );

    // Back in place: the step's weight is set, the reason gone.
    std::fs::rename(&away, &h.socket).unwrap();
    eventually(Duration::from_secs(10), "HAProxy at 10%", || {
        h.share("2.0").filter(|s| (s - 10.0).abs() <= 1.0)
    });
    eventually(Duration::from_secs(10), "no reason left", || {
        Some(p.target_status()).filter(|t| t["router_error"].is_null())
    });
    // The step starts then, and moves on after its pause and a passing
    // round (on traffic).
    let load = Load::start(h.frontend);
    p.wait_for(id, Duration::from_secs(20), "step 2", |d| {
        d["step"] == 2 && d["canary_weight"] == 50
    });
    no_failure(&load.finish());
    let d = p.deployment(id);
    let said = |words: &str| {
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"].as_str().is_some_and(|r| r.contains(words)))
    };
    assert!(said("the router applied step 1/3's weights"), "{d}");
}

#[test]
fn a_slow_canary_is_rolled_back_on_the_latencies_of_haproxys_request_log() {
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut p = Project::with_spec(|api, _| {
        spec(api, "admin.sock")
            .replace(
                "{ socket: admin.sock }",
                &format!("{{ socket: admin.sock, syslog: \"{syslog}\" }}"),
            )
            .replace("3.0:errors=0.5", "2.0:latency=200ms")
            .replace(
                "- { metric: error_rate, max: 0.01 }",
                "- { metric: error_rate, max: 0.01 }\n        - { metric: latency_p95, max: 100 }",
            )
    });
    let h = Haproxy::start_logging(p.dir.path(), Some(syslog));
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());

    // 2.0 answers every request after 200 ms: HAProxy's log says so.
    let load = Load::start(h.frontend);
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        describe(&out),
        p.log()
    );
    let seen = load.finish();
    assert!(seen.get("2.0").is_some_and(|c| c.0 > 0), "{seen:?}");
    let history = p.json(&["history", "web", "--env", "staging"]);
    let slow = &history.as_array().unwrap()[0];
    assert_eq!(slow["phase"], "rolled_back", "{slow}");
    let d = p.deployment(slow["id"].as_i64().unwrap());
    let failed = d["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "fail")
        .expect("a failed round");
    // Judged on latencies, not errors: none failed.
    let p95 = failed["canary"]["latency_p95_ms"].as_f64().unwrap();
    assert!(p95 >= 200.0, "{failed}");
    assert_eq!(failed["canary"]["errors"], 0, "{failed}");
    let stable = failed["stable"]["latency_p95_ms"].as_f64().unwrap();
    assert!(stable < 100.0, "{failed}");
    eventually(Duration::from_secs(10), "2.0 at weight 0", || {
        (h.share("2.0").unwrap_or(0.0) == 0.0).then_some(())
    });
}

#[test]
fn a_sticky_client_keeps_its_version_through_haproxys_cookie_across_steps() {
    let mut p = Project::with_spec(|api, _| {
        spec(api, "admin.sock").replace("    canary:\n", "    canary:\n      sticky: true\n")
    });
    let h = Haproxy::start_with(
        p.dir.path(),
        None,
        "  cookie ZION insert indirect nocache dynamic\n  dynamic-cookie-key any-text\n",
    );
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    p.wait_for(id, Duration::from_secs(30), "step 1", |d| d["step"] == 1);
    eventually(Duration::from_secs(10), "HAProxy at 10%", || {
        h.share("2.0").filter(|s| (s - 10.0).abs() <= 1.0)
    });
    // A client of each version, pinned by the cookie of its first answer.
    let mut pinned: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..200 {
        let r = http_request(h.frontend, "/", &[]).unwrap();
        if let Some(c) = r.cookies.iter().find(|c| c.starts_with("ZION=")) {
            pinned.insert(r.version, c.clone());
        }
        if pinned.len() == 2 {
            break;
        }
    }
    assert_eq!(pinned.len(), 2, "{pinned:?}");
    let stays = |weight: u32| {
        for (version, cookie) in &pinned {
            for _ in 0..20 {
                let r = http_request(h.frontend, "/", &[("cookie", cookie.as_str())]).unwrap();
                assert_eq!(&r.version, version, "at {weight}% with {cookie}");
            }
        }
    };
    stays(10);
    p.json(&["promote", &id.to_string()]);
    p.wait_for(id, Duration::from_secs(30), "step 2", |d| d["step"] == 2);
    eventually(Duration::from_secs(10), "HAProxy at 50%", || {
        h.share("2.0").filter(|s| (s - 50.0).abs() <= 1.0)
    });
    stays(50);
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
