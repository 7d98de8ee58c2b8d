//! `zion slo`: the Prometheus rules of a spec's SLOs, as the real
//! `promtool` checks them.

use std::process::Command;

use crate::support::*;

fn slo_spec(api: std::net::SocketAddr, target: std::net::SocketAddr, slos: &str) -> String {
    let base = spec(api, target, "        - { weight: 100 }", &[], "10s");
    format!("{base}slos:\n{slos}")
}

/// promtool, from Debian's prometheus package (scripts/test.sh installs it).
fn promtool() -> String {
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
