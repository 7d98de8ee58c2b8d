//! Checks reading external metric sources, against the real programs: a
//! Prometheus (started here on a free port) scraping the replicas' own
//! `/metrics`, a command, and a small HTTP server answering JSON.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A replica reporting a business counter Zion's proxy cannot see: the
/// faulty versions (listed in `FAULTY`) count failed checkouts. It writes
/// its own scrape target for Prometheus's file discovery.
const APP: &str = r#"
import http.server, json, os, sys
port, version, targets = int(sys.argv[1]), sys.argv[2], sys.argv[3]
failures = 3 if version in os.environ.get("FAULTY", "").split(",") else 0
tmp = os.path.join(targets, ".%s-%d.tmp" % (version, port))
with open(tmp, "w") as f:
    json.dump([{"targets": ["127.0.0.1:%d" % port]}], f)
os.rename(tmp, os.path.join(targets, "%s-%d.json" % (version, port)))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/metrics":
            body = ('# TYPE app_checkout_failures_total counter\n'
                    'app_checkout_failures_total{version="%s"} %d\n' % (version, failures))
        else:
            body = "ok\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.send_header("x-version", version)
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

const PROMETHEUS_CONFIG: &str =
    "global: { scrape_interval: 1s, scrape_timeout: 800ms, evaluation_interval: 1s }
scrape_configs:
  - job_name: app
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_interval: 1s
";

/// A Prometheus on `addr` keeping its data in `dir/prometheus`; stopped
/// when dropped.
pub(crate) struct Prometheus {
    child: Child,
}

impl Prometheus {
    pub(crate) fn start(dir: &Path, addr: SocketAddr) -> Prometheus {
        let binary = ["/usr/bin/prometheus", "prometheus"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect("prometheus is not installed: scripts/test.sh installs Debian's package");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("prometheus.log"))
            .unwrap();
        let child = Command::new(binary)
            .current_dir(dir)
            .arg("--config.file=prometheus.yml")
            .arg("--storage.tsdb.path=prometheus")
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        eventually(Duration::from_secs(30), "Prometheus to be ready", || {
            http_get(addr, "/-/ready")
                .ok()
                .filter(|(s, _, _)| *s == 200)
        });
        Prometheus { child }
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

fn prometheus_spec(api: SocketAddr, target: SocketAddr, prom: SocketAddr, query: &str) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
providers:
  prom: {{ prometheus: {{ url: "http://{prom}", timeout: 2s }} }}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: ["python3", "app.py", "{{port}}", "{{version}}", "targets"]
        env: {{ FAULTY: "3.0" }}
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {target} }}
    canary:
      steps:
        - {{ weight: 50, pause: 2s }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 2
      min_requests: 0
      checks:
        - name: checkout_failures
          prometheus: {{ provider: prom, query: '{query}' }}
          max: 0
"#
    )
}

const QUERY: &str = r#"sum(app_checkout_failures_total{version="{{version}}"})"#;

fn deploy(p: &Project, version: &str) -> i64 {
    let d = p.json(&["deploy", "web", version, "--env", "staging"]);
    d["id"].as_i64().unwrap_or_else(|| panic!("{d}"))
}

fn settled(p: &Project, id: i64) -> Value {
    p.wait_for(id, Duration::from_secs(60), "the deployment to end", |d| {
        ["succeeded", "rolled_back", "failed"].contains(&d["phase"].as_str().unwrap_or(""))
    })
}

/// Every result of the check called `name` in `d`'s rounds.
fn results<'a>(d: &'a Value, name: &str) -> Vec<&'a Value> {
    d["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["checks"].as_array().unwrap())
        .filter(|c| c["name"] == name)
        .collect()
}

#[test]
fn a_prometheus_check_rolls_a_faulty_canary_back_and_waits_out_an_outage() {
    let prom = free_addr();
    let mut p = Project::with_spec(|api, target| prometheus_spec(api, target, prom, QUERY));
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("app.py"), APP).unwrap();
    std::fs::write(dir.join("prometheus.yml"), PROMETHEUS_CONFIG).unwrap();
    std::fs::create_dir(dir.join("targets")).unwrap();
    let mut prometheus = Prometheus::start(&dir, prom);

    // A query Prometheus refuses is refused at apply, named by its path.
    let good_yaml = std::fs::read_to_string(p.spec_path()).unwrap();
    std::fs::write(
        p.spec_path(),
        prometheus_spec(p.api, p.target, prom, "sum(app_checkout_failures_total"),
    )
    .unwrap();
    p.start();
    let out = p.zion(&["apply"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("services[0].analysis.checks[0].prometheus.query: Prometheus refused"),
        "{err}"
    );
    std::fs::write(p.spec_path(), &good_yaml).unwrap();
    let out = p.zion(&["apply"]);
    assert!(out.status.success(), "{}", describe(&out));

    let first = deploy(&p, "1.0");
    assert_eq!(settled(&p, first)["phase"], "succeeded");

    // A good canary: the query finds 0 failed checkouts and it is promoted.
    let good = deploy(&p, "2.0");
    let d = settled(&p, good);
    assert_eq!(d["phase"], "succeeded", "{d}\n{}", p.log());
    let passed = results(&d, "checkout_failures");
    let pass = passed
        .iter()
        .find(|c| c["verdict"] == "pass")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(
        pass["query"],
        r#"sum(app_checkout_failures_total{version="2.0"})"#
    );
    assert_eq!(pass["source"], "prometheus");
    assert_eq!(pass["canary"], 0.0);

    // A faulty canary: 3 failed checkouts, rolled back; the proxy saw no error.
    let faulty = deploy(&p, "3.0");
    let d = settled(&p, faulty);
    assert_eq!(d["phase"], "rolled_back", "{d}\n{}", p.log());
    let failed = results(&d, "checkout_failures");
    let fail = failed
        .iter()
        .find(|c| c["verdict"] == "fail")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(fail["canary"], 3.0);
    assert_eq!(fail["message"], "checkout_failures 3 > max 0");
    assert_eq!(p.target_status()["stable_version"], "2.0");
    let text = String::from_utf8_lossy(&p.zion(&["get", &faulty.to_string()]).stdout).to_string();
    assert!(
        text.contains(r#"prometheus checkout_failures = 3.0000 (fail) ← sum(app_checkout_failures_total{version="3.0"})"#),
        "{text}"
    );

    // Prometheus down during a rollout: rounds are inconclusive with the
    // reason and traffic stays where it is; back up, the rollout goes on.
    let during = deploy(&p, "4.0");
    prometheus.kill();
    let d = p.wait_for(
        during,
        Duration::from_secs(30),
        "an inconclusive round",
        |d| {
            results(d, "checkout_failures").iter().any(|c| {
                c["verdict"] == "inconclusive"
                    && c["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("did not answer")
            })
        },
    );
    assert_eq!(d["phase"], "progressing", "{d}");
    assert_eq!(d["canary_weight"], 50, "{d}");
    assert_eq!(p.target_status()["stable_version"], "2.0");
    std::thread::sleep(Duration::from_secs(2));
    let d = p.deployment(during);
    assert_eq!(
        d["phase"], "progressing",
        "held while Prometheus is down: {d}"
    );
    let _prometheus = Prometheus::start(&dir, prom);
    let d = settled(&p, during);
    assert_eq!(d["phase"], "succeeded", "{d}\n{}", p.log());
}

/// Answers `{"data": {"score": …}}` for `/score?v=VERSION`: low for 4.0.
const SCORE: &str = r#"
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        version = self.path.split("v=", 1)[-1]
        data = json.dumps({"data": {"score": 0.2 if version == "4.0" else 0.95}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// Prints 0 for a good version; exits 1 for 3.0.
const SMOKE: &str =
    "if [ \"$1\" = 3.0 ]; then echo \"checkout smoke test failed\" >&2; exit 1; fi\necho 0\n";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn exec_and_web_checks_pass_and_fail() {
    let web = free_addr();
    let mut p = Project::with_spec(|api, target| {
        format!(
            r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {target} }}
    canary:
      steps:
        - {{ weight: 50, pause: 1s }}
        - {{ weight: 100 }}
    analysis:
      interval: 1s
      failure_limit: 1
      min_requests: 0
      checks:
        - name: smoke
          exec: {{ command: [sh, smoke.sh, "{{{{version}}}}"], timeout: 5s }}
          max: 0
        - name: api_score
          web: {{ url: "http://{web}/score?v={{{{version}}}}", json_path: $.data.score, timeout: 2s }}
          min: 0.9
"#
        )
    });
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("smoke.sh"), SMOKE).unwrap();
    std::fs::write(dir.join("score.py"), SCORE).unwrap();
    let _score = Killed(
        Command::new("python3")
            .arg(dir.join("score.py"))
            .arg(web.port().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually(Duration::from_secs(10), "the score server", || {
        http_get(web, "/score?v=1.0")
            .ok()
            .filter(|(s, _, _)| *s == 200)
    });
    p.start();
    assert_eq!(settled(&p, deploy(&p, "1.0"))["phase"], "succeeded");

    // Both pass.
    let d = settled(&p, deploy(&p, "2.0"));
    assert_eq!(d["phase"], "succeeded", "{d}\n{}", p.log());
    let smoke = results(&d, "smoke");
    assert!(
        smoke
            .iter()
            .any(|c| c["verdict"] == "pass" && c["query"] == "sh smoke.sh 2.0"),
        "{d}"
    );
    let score = results(&d, "api_score");
    assert!(
        score.iter().any(|c| c["verdict"] == "pass"
            && c["canary"] == 0.95
            && c["query"] == format!("http://{web}/score?v=2.0")),
        "{d}"
    );

    // The command exits 1: the smoke check fails and the canary is rolled back.
    let d = settled(&p, deploy(&p, "3.0"));
    assert_eq!(d["phase"], "rolled_back", "{d}");
    let smoke = results(&d, "smoke");
    assert!(
        smoke.iter().any(|c| c["verdict"] == "fail"
            && c["message"] == "smoke: exited with 1: checkout smoke test failed"),
        "{d}"
    );

    // The score is too low: the web check fails.
    let d = settled(&p, deploy(&p, "4.0"));
    assert_eq!(d["phase"], "rolled_back", "{d}");
    let score = results(&d, "api_score");
    assert!(
        score
            .iter()
            .any(|c| c["verdict"] == "fail" && c["message"] == "api_score 0.2 < min 0.9"),
        "{d}"
    );
    assert_eq!(p.target_status()["stable_version"], "2.0");
}
