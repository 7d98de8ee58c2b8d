//! The nginx router end to end: a real nginx (Debian's package) started
//! per test in the foreground (`daemon off`, master process on) on a free
//! port, every file it reads or writes in the project's folder; `zion up`
//! writes its upstream's include, reloads it, and judges the versions on
//! its JSON access log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// An nginx whose one server proxies to the upstream `web` of
/// `up/web.conf`, logging in Zion's format to `logs/web.json`.
struct Nginx {
    child: Child,
    frontend: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let frontend = free_addr();
        for sub in ["tmp", "up", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        let cfg = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log notice;\nevents {{ worker_connections 512; }}\n\
             http {{\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
             \x20 scgi_temp_path {d}/tmp/scgi;\n  access_log off;\n\
             \x20 log_format zion escape=json '{{\"time\":\"$msec\",\"upstream\":\"$upstream_addr\",\
             \"status\":\"$status\",\"request_time\":\"$request_time\",\"upstream_status\":\"$upstream_status\"}}';\n\
             \x20 include {d}/up/*.conf;\n\
             \x20 server {{\n    listen {frontend};\n    access_log {d}/logs/web.json zion;\n\
             \x20   location / {{ proxy_pass http://web; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), cfg).unwrap();
        // nginx refuses `proxy_pass` to an upstream nobody declares: the
        // include starts with one whose only server is down (502).
        std::fs::write(
            dir.join("up/web.conf"),
            "upstream web { server 127.0.0.1:1 down; }\n",
        )
        .unwrap();
        let child = Command::new(nginx_program())
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed (apt-get install nginx)");
        let n = Nginx {
            child,
            frontend,
            dir: dir.to_owned(),
        };
        eventually(Duration::from_secs(10), "nginx's frontend", || {
            http_get(frontend, "/").ok()
        });
        n
    }

    fn include(&self) -> String {
        std::fs::read_to_string(self.dir.join("up/web.conf")).unwrap_or_default()
    }

    /// What nginx's log says of its reloads: how many were asked for, and
    /// how many took effect (the old worker stopped taking connections).
    fn reloads(&self) -> (usize, usize) {
        let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        (
            log.matches("(SIGHUP) received").count(),
            log.matches("gracefully shutting down").count(),
        )
    }

    /// Waits until the include gives `version` `weight`% and a reload
    /// after `since` (a count of reloads asked for) took effect.
    fn wait_weight(&self, version: &str, weight: u32, since: usize) {
        let start = std::time::Instant::now();
        loop {
            let (asked, done) = self.reloads();
            let text = self.include();
            if text.contains(&format!("# version {version}: {weight}%"))
                && asked > since
                && done >= asked
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "nginx not reloaded with {version} at {weight}% ({asked} reloads asked for, \
                 {done} done, {since} before):\n{text}\n{}",
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers (a killed master would leave them).
        let _ = Command::new(nginx_program())
            .args(["-s", "stop", "-c"])
            .arg(self.dir.join("nginx.conf"))
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

fn spec(api: SocketAddr) -> String {
    routed_spec(
        api,
        "edge: { nginx: { config: nginx.conf } }",
        "{ nginx: { provider: edge, upstream: web, include: up/web.conf, access_log: logs/web.json } }",
        "        - { metric: latency_p95, max: 2000 }\n",
    )
}

#[test]
fn a_canary_through_nginx_follows_each_step_and_a_faulty_one_is_rolled_back() {
    let mut p = Project::with_spec(|api, _| spec(api));
    let n = Nginx::start(p.dir.path());
    p.start();

    let since = n.reloads().0;
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    n.wait_weight("1.0", 100, since);
    assert_eq!(
        shares(n.frontend, 50),
        BTreeMap::from([("1.0".into(), 100.0)])
    );
    assert_eq!(
        p.target_status()["listen"],
        "nginx edge upstream web",
        "{}",
        p.target_status()
    );

    // Each step: the include and a reload, then 1,000 requests, say the
    // step's weight; the reloads under load drop no request.
    let mut since = n.reloads().0;
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    let mut load = Some(Load::start(n.frontend));
    for (step, weight) in [(1, 10), (2, 50)] {
        p.wait_for(id, Duration::from_secs(30), "the step", |d| {
            d["step"] == step && d["canary_weight"].as_u64() == Some(weight)
        });
        n.wait_weight("2.0", weight as u32, since);
        no_failure(&load.take().unwrap().finish());
        let seen = shares(n.frontend, 1000);
        let got = seen.get("2.0").copied().unwrap_or(0.0);
        eprintln!("step {step} at {weight}%: 2.0 answered {got}% of 1,000 requests");
        assert!(
            (got - weight as f64).abs() <= 2.0,
            "step {step}: {seen:?}\n{}",
            n.include()
        );
        load = Some(Load::start(n.frontend));
        since = n.reloads().0;
        p.json(&["promote", &id.to_string()]);
    }
    p.wait_for(id, Duration::from_secs(30), "2.0 succeeded", |d| {
        d["phase"] == "succeeded"
    });
    // 1.0's servers leave the upstream once 2.0 has all the traffic.
    eventually(Duration::from_secs(20), "1.0 out of nginx", || {
        (!n.include().contains("version 1.0")).then_some(())
    });
    n.wait_weight("2.0", 100, since);
    let across = load.take().unwrap().finish();
    no_failure(&across);
    eprintln!("requests across the last reloads: {across:?}");
    assert_eq!(
        shares(n.frontend, 50),
        BTreeMap::from([("2.0".into(), 100.0)])
    );

    // A faulty version (half its answers 500), judged on nginx's access
    // log: rolled back on its own.
    faulty_version_rolled_back(&p, n.frontend, "3.0");
    eventually(Duration::from_secs(10), "3.0 out of nginx", || {
        let text = n.include();
        (!text.contains("version 3.0") || text.contains("# version 3.0: 0%")).then_some(())
    });
    eventually(Duration::from_secs(10), "the rollback reloaded", || {
        let (asked, done) = n.reloads();
        (done >= asked).then_some(())
    });
    assert_eq!(
        shares(n.frontend, 50),
        BTreeMap::from([("2.0".into(), 100.0)])
    );
}

#[test]
fn a_configuration_nginx_refuses_is_reported_and_traffic_stays_on_stable() {
    let mut p = Project::with_spec(|api, _| spec(api));
    let n = Nginx::start(p.dir.path());
    p.start();
    let since = n.reloads().0;
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    n.wait_weight("1.0", 100, since);
    let before = n.include();

    // Another file declares the upstream too: nginx -t refuses the clash.
    let clash = p.dir.path().join("up/clash.conf");
    std::fs::write(&clash, "upstream web { server 127.0.0.1:1; }\n").unwrap();
    let reloads = n.reloads();
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    let t = eventually(Duration::from_secs(30), "the router's reason", || {
        Some(p.target_status()).filter(|t| t["router_error"].is_string())
    });
    let why = t["router_error"].as_str().unwrap();
    assert!(
        why.contains("duplicate upstream \"web\"") && why.contains("not reloaded"),
        "{why}"
    );
    let text = String::from_utf8_lossy(&p.zion(&["status"]).stdout).to_string();
    assert!(text.contains("traffic unchanged"), "{text}");
    assert_eq!(n.reloads(), reloads, "nginx was reloaded");
    assert_eq!(n.include(), before);
    assert_eq!(
        shares(n.frontend, 100),
        BTreeMap::from([("1.0".into(), 100.0)])
    );

    // The clash gone: the step's weight is set, the reason gone.
    std::fs::remove_file(&clash).unwrap();
    n.wait_weight("2.0", 10, reloads.0);
    eventually(Duration::from_secs(10), "no reason left", || {
        Some(p.target_status()).filter(|t| t["router_error"].is_null())
    });
    assert_eq!(p.deployment(id)["canary_weight"], 10);
}

#[test]
fn a_last_step_nginx_refuses_keeps_the_old_version_running_until_it_is_applied() {
    let mut p = Project::with_spec(|api, _| spec(api));
    let n = Nginx::start(p.dir.path());
    p.start();
    let since = n.reloads().0;
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    n.wait_weight("1.0", 100, since);
    let since = n.reloads().0;
    let d = p.json(&["deploy", "web", "2.0", "--env", "staging"]);
    let id = d["id"].as_i64().unwrap();
    n.wait_weight("2.0", 10, since);
    // The include is written before `nginx -t` and the reload: wait until
    // nginx routes by it.
    eventually(Duration::from_secs(10), "2.0 answering", || {
        shares(n.frontend, 100).contains_key("2.0").then_some(())
    });
    let at_10 = n.include();

    // nginx refuses every change from now on; promoted through 50% to the
    // last step (100%), the deployment succeeds as the plan says, but
    // nginx still sends 90% to 1.0: 1.0 must keep running and serving.
    let clash = p.dir.path().join("up/clash.conf");
    std::fs::write(&clash, "upstream web { server 127.0.0.1:1; }\n").unwrap();
    p.json(&["promote", &id.to_string()]);
    eventually(Duration::from_secs(30), "the router's reason", || {
        Some(p.target_status()).filter(|t| t["router_error"].is_string())
    });
    p.json(&["promote", &id.to_string()]);
    p.wait_for(id, Duration::from_secs(30), "2.0 succeeded", |d| {
        d["phase"] == "succeeded"
    });
    // Past the controller's drain, several ticks: nothing stopped 1.0.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(n.include(), at_10, "{}\n{}", p.deployment(id), p.log());
    let seen = shares(n.frontend, 200);
    assert!(
        seen.get("1.0").is_some_and(|s| *s > 50.0),
        "1.0 stopped while nginx still routes to it: {seen:?}\n{}",
        p.log()
    );

    // The clash gone: 2.0 takes all traffic, then 1.0 stops.
    let reloads = n.reloads().0;
    std::fs::remove_file(&clash).unwrap();
    n.wait_weight("2.0", 100, reloads);
    assert_eq!(
        shares(n.frontend, 50),
        BTreeMap::from([("2.0".into(), 100.0)])
    );
    eventually(Duration::from_secs(20), "1.0 stopped", || {
        let t = p.target_status();
        let running = t["versions"].as_array().cloned().unwrap_or_default();
        (!running.iter().any(|v| v["version"] == "1.0")).then_some(())
    });
}

/// nginx's program: on the PATH, else where Debian puts it (/usr/sbin is
/// off a plain user's PATH).
fn nginx_program() -> PathBuf {
    let debian = PathBuf::from("/usr/sbin/nginx");
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nginx"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or(debian)
}
