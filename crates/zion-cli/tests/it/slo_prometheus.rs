//! `sli: prometheus`: a real Prometheus scraping a small exporter served
//! here, whose counters the test drives, and the SLO's rows, budget and
//! alerts as `zion up` records them from the two queries.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::metric_sources::Prometheus;
use crate::slo::promtool;
use crate::support::*;

/// Counters that grow steadily at a rate the test sets: `requests_total`
/// and `requests_failed_total`, floats, so that Prometheus's `rate` over
/// any whole minute is exactly the rate set (a counter stepping by whole
/// requests would be off by the extrapolation of a step at the edges).
#[derive(Clone)]
struct Counters(Arc<Mutex<Rates>>);

struct Rates {
    /// The counters when the rates last changed, and when.
    total: f64,
    failed: f64,
    since: Instant,
    /// Per minute.
    total_per_minute: f64,
    failed_per_minute: f64,
}

impl Counters {
    fn new(total_per_minute: f64, failed_per_minute: f64) -> Counters {
        Counters(Arc::new(Mutex::new(Rates {
            total: 0.0,
            failed: 0.0,
            since: Instant::now(),
            total_per_minute,
            failed_per_minute,
        })))
    }

    fn now(r: &Rates) -> (f64, f64) {
        let minutes = r.since.elapsed().as_secs_f64() / 60.0;
        (
            r.total + r.total_per_minute * minutes,
            r.failed + r.failed_per_minute * minutes,
        )
    }

    fn set(&self, total_per_minute: f64, failed_per_minute: f64) {
        let mut r = self.0.lock().unwrap();
        let (total, failed) = Counters::now(&r);
        *r = Rates {
            total,
            failed,
            since: Instant::now(),
            total_per_minute,
            failed_per_minute,
        };
    }

    /// Serves `/metrics` on a free port until the test ends.
    fn serve(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let (total, failed) = Counters::now(&counters.0.lock().unwrap());
                let body = format!(
                    "# TYPE requests_total counter\nrequests_total {total}\n\
                     # TYPE requests_failed_total counter\nrequests_failed_total {failed}\n"
                );
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }
}

fn prometheus_config(exporter: SocketAddr) -> String {
    format!(
        "global: {{ scrape_interval: 1s, scrape_timeout: 800ms, evaluation_interval: 1s }}\n\
         scrape_configs:\n  - job_name: api\n    static_configs:\n      - targets: ['{exporter}']\n"
    )
}

const BAD: &str = "sum(rate(requests_failed_total{job=\"api\"}[{{.window}}]))";
const TOTAL: &str = "sum(rate(requests_total{job=\"api\"}[{{.window}}]))";

fn slo_spec(api: SocketAddr, target: SocketAddr, prom: SocketAddr) -> String {
    let base = spec(api, target, "        - { weight: 100 }", &[], "10s");
    format!(
        "{base}providers:\n  prom: {{ prometheus: {{ url: \"http://{prom}\", timeout: 2s }} }}\n\
         slos:\n  - name: api\n    service: web\n    environment: staging\n    objective: 97%\n    \
         sli: prometheus\n    prometheus:\n      provider: prom\n      bad: '{BAD}'\n      total: '{TOTAL}'\n"
    )
}

/// What Prometheus answers for `query` at `time` (Unix seconds): the one
/// value of an instant query.
fn rate_at(prom: SocketAddr, query: &str, time: i64) -> f64 {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, _, body) =
        http_get(prom, &format!("/api/v1/query?query={encoded}&time={time}")).unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value for {query}: {body}"))
}

fn status(p: &Project) -> Value {
    p.json(&["slo", "status"])[0].clone()
}

fn firing(slo: &Value, alert: &str) -> bool {
    slo["alerts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["alert"] == alert && x["firing"] == true))
}

fn minute(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str().and_then(|s| s.parse().ok())
}

#[test]
fn a_prometheus_sli_records_each_minute_pages_on_a_burst_and_shows_a_dead_prometheus() {
    // A steady 1000 requests a minute, 20 of them failed.
    let counters = Counters::new(1000.0, 20.0);
    let exporter = counters.serve();
    let prom = free_addr();
    let mut p = Project::with_spec(|api, target| slo_spec(api, target, prom));
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("prometheus.yml"), prometheus_config(exporter)).unwrap();
    let mut prometheus = Prometheus::start(&dir, prom);

    // Its rules are Sloth's, from the queries, and promtool accepts them.
    let rules = p.zion(&["slo", "rules"]);
    assert!(rules.status.success(), "{}", describe(&rules));
    let rules = String::from_utf8(rules.stdout).unwrap();
    assert!(
        rules.contains(r#"(sum(rate(requests_failed_total{job=\"api\"}[5m])))\n/\n(sum(rate(requests_total{job=\"api\"}[5m])))"#),
        "{rules}"
    );
    let file = dir.join("slo-rules.yaml");
    std::fs::write(&file, &rules).unwrap();
    let check = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));

    p.start();
    // The first whole minute after the start is measured ten seconds after
    // it ends: at most two minutes and ten seconds from now.
    let first = eventually(Duration::from_secs(180), "a first minute recorded", || {
        let s = status(&p);
        (s["total"].as_u64().unwrap_or(0) > 0).then_some(s)
    });
    // One minute: exactly what Prometheus answers for it, each rate × 60
    // rounded. That is about 1000 events, 20 bad: on a loaded machine
    // scrapes come late or are missed, and `rate` extrapolates less at a
    // window's edges, so the counts are near the rates set, not exact;
    // the share of bad ones holds (both counters are scraped together).
    assert_eq!(first["sli"], "prometheus", "{first}");
    let total = first["total"].as_u64().unwrap();
    let good = first["good"].as_u64().unwrap();
    let measured = minute(&first["measurement"]["last_minute"]).expect("a minute measured");
    let end = measured.as_second() + 60;
    let count = |query: &str| {
        (rate_at(prom, &query.replace("{{.window}}", "1m"), end) * 60.0).round() as u64
    };
    assert_eq!(total, count(TOTAL), "{first}");
    assert_eq!(good, total - count(BAD), "{first}");
    assert!((800..=1100).contains(&total), "{first}");
    let bad_ratio = (total - good) as f64 / total as f64;
    assert!((bad_ratio - 0.02).abs() < 0.003, "{first}");
    assert!(
        (first["sli_now"].as_f64().unwrap() - good as f64 / total as f64).abs() < 1e-12,
        "{first}"
    );
    // Budget, from the recorded counts: (3% − bad) / 3% left, the burn
    // rate bad / 3% (about 1/3 and 2/3).
    let budget = &first["budget"];
    let burn = bad_ratio / 0.03;
    assert!(
        (budget["remaining"].as_f64().unwrap() - (1.0 - burn)).abs() < 1e-9,
        "{first}"
    );
    assert!(
        (budget["burn_rate"].as_f64().unwrap() - burn).abs() < 1e-9,
        "{first}"
    );
    assert!(!firing(&first, "page"), "{first}");
    let m = &first["measurement"];
    assert_eq!(m["stale"], false, "{first}");
    assert!(minute(&m["last_minute"]).is_some(), "{first}");

    // A burst: every request fails, ten times the traffic. The page alert
    // (14.4 × 3% over 1h and 5m) fires from the next minute's row.
    counters.set(10_000.0, 10_000.0);
    let burst = eventually(Duration::from_secs(150), "the page alert to fire", || {
        let s = status(&p);
        firing(&s, "page").then_some(s)
    });
    assert!(burst["total"].as_u64().unwrap() > 1000, "{burst}");
    let audit = p.json(&["audit", "log", "--action", "slo.alert_firing"]);
    assert!(audit.to_string().contains("web/staging/api"), "{audit}");

    // Prometheus gone: the minutes after record nothing (never a made-up
    // 100%), and the status says why and, after a few, that it is stale.
    prometheus.kill();
    let dead = eventually(Duration::from_secs(240), "two minutes not measured", || {
        let s = status(&p);
        let m = &s["measurement"];
        let last = minute(&m["last_minute"])?;
        let failed = minute(&m["error_minute"])?;
        (failed.duration_since(last).as_secs() >= 120).then_some(s)
    });
    let m = &dead["measurement"];
    assert!(
        m["error"].as_str().unwrap().contains("did not answer"),
        "{dead}"
    );
    assert_eq!(m["stale"], true, "{dead}");
    let total = dead["total"].as_u64().unwrap();
    // No row was written for the failed minutes: the counts stay.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(status(&p)["total"].as_u64(), Some(total));
    let text = String::from_utf8(p.zion(&["slo", "status"]).stdout).unwrap();
    assert!(text.contains("measurement: STALE"), "{text}");
    assert!(text.contains("not measured"), "{text}");
    p.stop(nix::sys::signal::Signal::SIGTERM);
}
