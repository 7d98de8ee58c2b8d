//! Zion's own `GET /metrics` and the replicas' service discovery, read by
//! the real tools: `promtool check metrics` lints the text, and a
//! Prometheus started here scrapes `/metrics` with a bearer token and
//! discovers the replicas through `http_sd_configs`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zion_server::Running;

use crate::support::{call, free, start_spec};

/// Far longer than any step takes, even on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A target `web/production` whose replica is a Python HTTP server: it
/// answers GET, and 501 (a 5xx) to DELETE.
async fn start_with_web(dir: &Path) -> (Running, String) {
    start_with(dir, "").await
}

/// [`start_with_web`] with more of the service's spec (`canary:`,
/// `analysis:`), indented as its fields.
async fn start_with(dir: &Path, more: &str) -> (Running, String) {
    let listen = free();
    let yaml = format!(
        r#"server: {{ listen: {}, data_dir: state }}
environments:
  - {{ name: production }}
services:
  - name: web
    workload:
      process:
        command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
    targets: {{ production: {{ listen: {listen} }} }}
{more}"#,
        free()
    );
    (start_spec(dir, yaml).await, listen)
}

/// Deploys `web` 1.0 to production and waits until it succeeded.
async fn deploy_web(r: &Running) {
    deploy(r, "1.0", "succeeded").await;
}

/// Deploys `web` `version` to production and waits for `phase`.
async fn deploy(r: &Running, version: &str, phase: &str) {
    let body = json!({ "service": "web", "environment": "production", "version": version });
    let (s, d) = call(
        r,
        "POST",
        "/api/v1/deployments",
        Some(&r.admin_token),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let path = format!("/api/v1/deployments/{}", d["id"]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, d) = call(r, "GET", &path, Some(&r.admin_token), None).await;
        if d["phase"] == phase {
            return;
        }
        assert!(Instant::now() < deadline, "not {phase}: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `ok` GETs and `failed` DELETEs through the target's listener.
async fn traffic(listen: &str, ok: usize, failed: usize) {
    let http = reqwest::Client::new();
    for i in 0..ok + failed {
        let req = if i < ok {
            http.get(format!("http://{listen}/"))
        } else {
            http.delete(format!("http://{listen}/"))
        };
        let status = req.send().await.unwrap().status().as_u16();
        assert_eq!(status, if i < ok { 200 } else { 501 });
    }
}

/// `GET /metrics` with `accept`: (status, content type, body).
async fn scrape(r: &Running, token: Option<&str>, accept: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new().get(format!("http://{}/metrics", r.api_addr));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, resp.text().await.unwrap())
}

/// The value of the sample `series` (name and labels exactly as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A tool the test command installs (`scripts/test.sh`): the test fails
/// without it rather than pass without checking.
fn tool(name: &str) -> String {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!(
            "`{name}` is not on PATH: install Prometheus (Debian: apt-get install prometheus); scripts/test.sh does"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_the_traffic_and_rollouts_and_pass_promtool() {
    let promtool = tool("promtool");
    let dir = tempfile::tempdir().unwrap();
    let (r, listen) = start_with_web(dir.path()).await;
    deploy_web(&r).await;
    traffic(&listen, 7, 3).await;

    let (s, _, body) = scrape(&r, None, None).await;
    assert_eq!(s, 401, "{body}");
    let (s, kind, text) = scrape(&r, Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    let web = r#"{service="web",environment="production",version="1.0"}"#;
    assert_eq!(
        sample(&text, &format!("zion_requests_total{web}")),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("zion_request_errors_total{web}")),
        Some(3.0)
    );
    let count = format!("zion_request_duration_seconds_count{web}");
    assert_eq!(sample(&text, &count), Some(10.0));
    let inf = r#"zion_request_duration_seconds_bucket{le="+Inf",service="web",environment="production",version="1.0"}"#;
    assert_eq!(sample(&text, inf), Some(10.0));
    assert_eq!(
        sample(
            &text,
            r#"zion_deployments_total{service="web",environment="production",outcome="succeeded"}"#
        ),
        Some(1.0)
    );
    assert!(
        sample(&text, "zion_audit_log_entries").unwrap() >= 2.0,
        "{text}"
    );
    assert_eq!(sample(&text, "zion_approvals_waiting"), Some(0.0));
    assert_eq!(sample(&text, "zion_targets_driven"), Some(1.0));
    // The API's requests by route template: every poll of the deployment.
    let polls = r#"zion_api_requests_total{route="/api/v1/deployments/{id}",method="GET",status_class="2xx"}"#;
    assert!(sample(&text, polls).unwrap() >= 1.0, "{text}");
    assert!(
        text.contains("# TYPE zion_api_request_duration_seconds histogram\n"),
        "{text}"
    );
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );

    // promtool lints the text as a Prometheus reads it.
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n{text}"
    );

    // OpenMetrics for a client that asks for it.
    let (s, kind, om) = scrape(
        &r,
        Some(&r.admin_token),
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(
        om.ends_with("# EOF\n") && om.contains("# TYPE zion_requests counter\n"),
        "{om}"
    );

    // Every replica, labelled, for http_sd_configs.
    let (s, groups) = call(&r, "GET", "/api/v1/sd/replicas", None, None).await;
    assert_eq!(s, 401, "{groups}");
    let (s, groups) = call(&r, "GET", "/api/v1/sd/replicas", Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "{groups}");
    let groups = groups.as_array().unwrap().clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let labels = &groups[0]["labels"];
    assert_eq!(
        (
            &labels["service"],
            &labels["environment"],
            &labels["version"]
        ),
        (&json!("web"), &json!("production"), &json!("1.0"))
    );
    let (_, services) = call(&r, "GET", "/api/v1/services", Some(&r.admin_token), None).await;
    let port = &services[0]["versions"][0]["ports"][0];
    assert_eq!(groups[0]["targets"], json!([format!("127.0.0.1:{port}")]));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_shows_its_phase_weights_and_analysis_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let more = "    canary:
      steps:
        - { weight: 40, pause: 1h }
        - { weight: 100 }
    analysis:
      interval: 1s
      min_requests: 1
      checks:
        - { metric: error_rate, max: 0.5 }
";
    let (r, listen) = start_with(dir.path(), more).await;
    deploy_web(&r).await;
    deploy(&r, "2.0", "progressing").await;
    let deadline = Instant::now() + PATIENCE;
    let passed = r#"zion_analysis_checks_total{service="web",environment="production",check="error_rate",verdict="pass"}"#;
    let text = loop {
        traffic(&listen, 20, 0).await;
        let (s, _, text) = scrape(&r, Some(&r.admin_token), None).await;
        assert_eq!(s, 200, "{text}");
        if sample(&text, passed).is_some_and(|n| n >= 1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "no passed check yet:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let target = |version: &str| {
        format!(r#"{{service="web",environment="production",version="{version}"}}"#)
    };
    assert_eq!(
        sample(
            &text,
            &format!("zion_traffic_weight_ratio{}", target("2.0"))
        ),
        Some(0.4),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("zion_traffic_weight_ratio{}", target("1.0"))
        ),
        Some(0.6),
        "{text}"
    );
    let phase = r#"zion_rollout_phase{service="web",environment="production",version="2.0",phase="progressing"}"#;
    assert_eq!(sample(&text, phase), Some(1.0), "{text}");
    // Both versions served, each counted apart.
    for version in ["1.0", "2.0"] {
        let n = sample(&text, &format!("zion_requests_total{}", target(version)));
        assert!(n.is_some_and(|n| n >= 1.0), "{version}: {text}");
    }
    r.shutdown().await;
}

/// A Prometheus of its own, under `dir`, on a free port; killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, config: &str) -> Prometheus {
        let addr = free();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus { child, addr }
    }

    /// `GET /api/v1/{path}`'s `data`, once `ready` accepts it.
    async fn until(&self, dir: &Path, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Ok(resp) = http
                .get(format!("http://{}/api/v1/{path}", self.addr))
                .send()
                .await
                && let Ok(body) = resp.json::<Value>().await
            {
                if ready(&body["data"]) {
                    return body["data"].clone();
                }
                last = body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        panic!("Prometheus's {path} never got there: {last}\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_scrapes_zion_and_discovers_its_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let (r, listen) = start_with_web(dir.path()).await;
    deploy_web(&r).await;
    traffic(&listen, 4, 1).await;
    let home = dir.path().join("prometheus");
    std::fs::create_dir(&home).unwrap();
    let token = home.join("zion.token");
    std::fs::write(&token, &r.admin_token).unwrap();
    let token = token.display();
    let api = r.api_addr;
    let config = format!(
        r#"global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
scrape_configs:
  - job_name: zion
    authorization: {{ credentials_file: {token} }}
    static_configs: [{{ targets: ["{api}"] }}]
  - job_name: replicas
    http_sd_configs:
      - url: http://{api}/api/v1/sd/replicas
        refresh_interval: 1s
        # Said outright: Prometheus 2.42 sends a service discovery's
        # credentials without the scheme otherwise.
        authorization: {{ type: Bearer, credentials_file: {token} }}
"#
    );
    let prometheus = Prometheus::start(&home, &config);

    // Zion's own series, with their labels, scraped with the token.
    let query = r#"query?query=zion_requests_total{job="zion",service="web"}"#;
    let data = prometheus
        .until(&home, query, |d| {
            d["result"].as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
    let series = &data["result"][0];
    assert_eq!(series["metric"]["environment"], "production", "{data}");
    assert_eq!(series["metric"]["version"], "1.0", "{data}");
    assert_eq!(series["value"][1], "5", "{data}");
    let up = prometheus
        .until(&home, r#"query?query=up{job="zion"}"#, |d| {
            d["result"].as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
    assert_eq!(up["result"][0]["value"][1], "1", "{up}");

    // The replica, discovered through http_sd with its labels.
    let (_, services) = call(&r, "GET", "/api/v1/services", Some(&r.admin_token), None).await;
    let replica = format!("127.0.0.1:{}", services[0]["versions"][0]["ports"][0]);
    let targets = prometheus
        .until(&home, "targets?state=active", |d| {
            d["activeTargets"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["labels"]["job"] == "replicas"))
        })
        .await;
    let found: Vec<&Value> = targets["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["labels"]["job"] == "replicas")
        .collect();
    assert_eq!(found.len(), 1, "{targets}");
    let labels = &found[0]["labels"];
    assert_eq!(labels["instance"], json!(replica), "{targets}");
    assert_eq!(
        (
            &labels["service"],
            &labels["environment"],
            &labels["version"]
        ),
        (&json!("web"), &json!("production"), &json!("1.0")),
        "{targets}"
    );
    assert!(
        found[0]["discoveredLabels"]["__meta_zion_host"].is_string(),
        "{targets}"
    );
    drop(prometheus);
    r.shutdown().await;
}
