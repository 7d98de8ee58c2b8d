//! `zion slo`: the Prometheus rules of a spec's SLOs, as the real
//! `promtool` checks them.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn slo_spec(api: std::net::SocketAddr, target: std::net::SocketAddr, slos: &str) -> String {
    let base = spec(api, target, "        - { weight: 100 }", &[], "10s");
    format!("{base}slos:\n{slos}")
}

/// promtool, from Debian's prometheus package (scripts/test.sh installs it).
pub(crate) fn promtool() -> String {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!(
            "`promtool` is not on PATH: install Prometheus (Debian: apt-get install prometheus); scripts/test.sh does"
        ),
    }
}

#[test]
fn slo_rules_pass_promtool_with_sloths_names() {
    let promtool = promtool();
    let p = Project::with_spec(|api, target| {
        slo_spec(
            api,
            target,
            "  - { name: availability, service: web, environment: staging, objective: 99.9% }\n\
             \x20 - { name: fast, service: web, environment: staging, objective: 99%, sli: latency, threshold: 250ms, window: month }\n",
        )
    });
    let out = p.zion(&["slo", "rules"]);
    assert!(out.status.success(), "{}", describe(&out));
    let rules = String::from_utf8(out.stdout).unwrap();
    for name in [
        "slo:sli_error:ratio_rate5m",
        "slo:sli_error:ratio_rate30m",
        "slo:sli_error:ratio_rate1h",
        "slo:sli_error:ratio_rate2h",
        "slo:sli_error:ratio_rate6h",
        "slo:sli_error:ratio_rate1d",
        "slo:sli_error:ratio_rate3d",
        "slo:sli_error:ratio_rate30d",
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:current_burn_rate:ratio",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
    ] {
        assert!(
            rules.contains(&format!("\"{name}\"")),
            "{name} missing:\n{rules}"
        );
    }
    let file = p.dir.path().join("slo-rules.yaml");
    std::fs::write(&file, &rules).unwrap();
    let check = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        check.status.success(),
        "promtool refused the rules:\n{said}\n{rules}"
    );
    // Two SLOs: 8 + 6 recording rules and 2 alerts each.
    assert!(said.contains("SUCCESS: 32 rules found"), "{said}");

    // promtool reads what it is given: a rules file it refuses fails
    // the same check, so the check above can fail.
    std::fs::write(&file, rules.replace("sum(rate(", "sum(rate((")).unwrap();
    let broken = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!broken.status.success());
}

#[test]
fn a_latency_threshold_between_buckets_is_refused_by_name() {
    let p = Project::with_spec(|api, target| {
        slo_spec(
            api,
            target,
            "  - { name: fast, service: web, environment: staging, objective: 99%, sli: latency, threshold: 200ms }\n",
        )
    });
    let out = p.zion(&["slo", "rules"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SLO web/staging/fast"), "{err}");
    assert!(err.contains("250ms"), "{err}");
    assert!(out.stdout.is_empty());
}

fn firing(slo: &serde_json::Value, alert: &str) -> bool {
    slo["alerts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s["alert"] == alert && s["firing"] == true))
}

fn entries(p: &Project, action: &str) -> Vec<serde_json::Value> {
    p.json(&["audit", "log", "--action", action])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["details"].clone())
        .collect()
}

#[test]
fn a_failing_version_pages_spends_its_budget_and_stops_releases_until_break_glass() {
    let mut p = Project::with_spec(|api, target| {
        let base = spec(
            api,
            target,
            "        - { weight: 100 }",
            &["1.0:errors=1"],
            "10s",
        )
        .replace(
            "  - name: staging\n",
            "  - name: staging\n    checks: [error_budget]\n",
        );
        format!(
            "{base}slos:\n  - {{ name: availability, service: web, environment: staging, objective: 99.9% }}\n"
        )
    });
    p.set_clock(0);
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));

    // Every request to 1.0 fails: 1000 times the budget's pace.
    for _ in 0..40 {
        let (status, _, _) = http_get(p.target, "/").unwrap();
        assert_eq!(status, 500);
    }
    let slo = eventually(Duration::from_secs(30), "the page alert to fire", || {
        let all = p.json(&["slo", "status"]);
        let s = all[0].clone();
        (firing(&s, "page") && s["total"] == 40).then_some(s)
    });
    assert_eq!(slo["id"], "web/staging/availability");
    assert_eq!(slo["good"], 0);
    assert!(
        slo["budget"]["remaining"].as_f64().unwrap() < -998.0,
        "{slo}"
    );
    assert!(firing(&slo, "budget_exhausted"), "{slo}");
    let text = String::from_utf8(p.zion(&["slo", "status"]).stdout).unwrap();
    assert!(text.contains("alerts firing: "), "{text}");
    assert!(text.contains("page (critical)"), "{text}");
    let fired = entries(&p, "slo.alert_firing");
    let page = fired
        .iter()
        .find(|d| d["alert"] == "page")
        .expect("a page entry");
    assert_eq!(page["severity"], "critical");
    assert_eq!(page["slo"], "web/staging/availability");
    assert_eq!(page["burn_rates"][0]["long_window"], "1h");
    assert!(
        page["burn_rates"][0]["short_burn"].as_f64().unwrap() > 14.4,
        "{page}"
    );
    assert_eq!(entries(&p, "slo.budget_exhausted").len(), 1);

    // The day's report: the figures in Markdown and JSON, a chart in HTML.
    let md = String::from_utf8(p.zion(&["slo", "report", "--period", "day"]).stdout).unwrap();
    assert!(md.starts_with("# SLO report"), "{md}");
    assert!(md.contains("## web/staging/availability"), "{md}");
    assert!(md.contains("- **Good events**: 0 of 40"), "{md}");
    let html = p.zion(&["slo", "report", "--period", "week", "--format", "html"]);
    let html = String::from_utf8(html.stdout).unwrap();
    assert!(
        html.contains("<figure id=\"chart-slo-web-staging-availability\">\n<svg"),
        "{html}"
    );
    // Self-contained: nothing fetched.
    assert!(
        !html.contains("<script") && !html.contains(" src="),
        "{html}"
    );
    let json = p.json(&["slo", "report", "--period", "month"]);
    assert_eq!(json["period"], "month");
    assert_eq!(json["slos"][0]["total"], 40);
    assert_eq!(json["slos"][0]["buckets"].as_array().unwrap().len(), 30);
    // The delivery report has an SLO section.
    let delivery = String::from_utf8(p.zion(&["report", "--since", "1d"]).stdout).unwrap();
    assert!(
        delivery.contains("## Service level objectives"),
        "{delivery}"
    );
    assert!(
        delivery.contains("| web/staging/availability | 99.9% | 0% | 0 of 40 |"),
        "{delivery}"
    );
    let bad = p.zion(&["slo", "report", "--period", "year"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));

    // The error-budget policy: no release while the budget is spent.
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let said = describe(&out);
    assert!(
        said.contains("SLO web/staging/availability (99.9% objective) has"),
        "{said}"
    );
    assert!(said.contains("of its error budget left"), "{said}");
    // Break glass passes, and is recorded on the deployment.
    let d = p.json(&[
        "deploy",
        "web",
        "2.0",
        "--env",
        "staging",
        "--break-glass",
        "fix for the outage",
    ]);
    assert_eq!(d["break_glass"]["reason"], "fix for the outage", "{d}");

    // No more errors: once the 30m window (the 6x pair's short one) holds
    // none, the page resolves; the budget stays spent.
    p.advance_clock(31 * 60);
    let slo = eventually(Duration::from_secs(30), "the page alert to resolve", || {
        let s = p.json(&["slo", "status"])[0].clone();
        (!firing(&s, "page")).then_some(s)
    });
    assert!(firing(&slo, "budget_exhausted"), "{slo}");
    let resolved = entries(&p, "slo.alert_resolved");
    assert!(
        resolved.iter().any(|d| d["alert"] == "page"),
        "{resolved:?}"
    );
}

/// An HTTP server answering its `n`th request (1-based) with
/// `status(n)`, counting them.
fn flipping(
    status: impl Fn(usize) -> u16 + Send + 'static,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let code = status(n);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (addr, served)
}

#[test]
fn a_probe_sli_counts_each_probe_and_its_budget_moves_as_computed_by_hand() {
    // Probes 1-4 pass, 5 and 6 fail (500), every later one passes.
    let (health, served) = flipping(|n| if (5..=6).contains(&n) { 500 } else { 200 });
    let mut p = Project::with_spec(|api, target| {
        slo_spec(
            api,
            target,
            &format!(
                "  - name: up\n    service: web\n    environment: staging\n    objective: 50%\n    \
                 sli: probe\n    probe: {{ url: \"http://{health}/healthz\", interval: 1s, timeout: 1s }}\n"
            ),
        )
    });
    p.start();
    let slo = eventually(Duration::from_secs(60), "eight probes recorded", || {
        let s = p.json(&["slo", "status"])[0].clone();
        (s["total"].as_u64().unwrap_or(0) >= 8).then_some(s)
    });
    let total = slo["total"].as_u64().unwrap();
    let served = served.load(std::sync::atomic::Ordering::SeqCst) as u64;
    // Each probe one event: the one in flight may not be recorded yet.
    assert!(
        total == served || total + 1 == served,
        "{total} of {served}: {slo}"
    );
    assert_eq!(slo["sli"], "probe");
    // Two bad events of `total`; at 50% the budget is half the events.
    assert_eq!(slo["good"].as_u64().unwrap(), total - 2, "{slo}");
    let t = total as f64;
    let sli = slo["sli_now"].as_f64().unwrap();
    assert!((sli - (t - 2.0) / t).abs() < 1e-9, "{slo}");
    let remaining = slo["budget"]["remaining"].as_f64().unwrap();
    assert!((remaining - (1.0 - (2.0 / t) / 0.5)).abs() < 1e-9, "{slo}");

    // `zion slo rules` leaves a probe SLI out (Prometheus has no series of it).
    let rules = p.zion(&["slo", "rules"]);
    assert!(rules.status.success(), "{}", describe(&rules));
    assert_eq!(String::from_utf8_lossy(&rules.stdout), "groups: []\n");
    p.stop(nix::sys::signal::Signal::SIGTERM);
}
