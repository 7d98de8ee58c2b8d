//! `zion import` and `zion report` as a user meets them: history made by
//! other tools is imported once (again: nothing new; a bad line: nothing at
//! all), and the report's JSON carries figures computed by hand below,
//! including a median of an even count, an empty day, a time zone that
//! moves a deployment across midnight, a single deployment and an empty
//! period. Zion's own deployment then shows up beside the imported ones.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::support::*;

fn spec(api: SocketAddr, production: SocketAddr) -> String {
    let staging = free_addr();
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
  - name: production
    production: true
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {staging} }}
      production: {{ listen: {production} }}
    canary:
      steps: [{{ weight: 50 }}, {{ weight: 100 }}]
"#
    )
}

/// The history, with the facts each figure below is computed from:
///
/// | id | target          | type    | started → finished (UTC) | s    | result      | committed |
/// |----|-----------------|---------|--------------------------|------|-------------|-----------|
/// | d0 | web/production  | feature | 02-20 10:00 → 10:05      | 300  | succeeded   | —         |
/// | d1 | web/production  | feature | 03-01 10:00 → 10:10      | 600  | succeeded   | 08:00     |
/// | d2 | web/production  | feature | 03-02 10:00 → 10:20      | 1200 | rolled_back | 09:00     |
/// | d3 | web/production  | hotfix  | 03-02 12:00 → 12:05      | 300  | succeeded   | 11:30     |
/// | d4 | api/production  | feature | 03-04 23:30 → 23:40      | 600  | succeeded   | —         |
/// | d5 | web/staging     | feature | 03-03 09:00 → 09:15      | 900  | succeeded   | 08:00     |
///
/// Incident i1 on web/production, opened 03-02 10:25, resolved 11:00,
/// caused by d2. d0 is before every period asked.
const HISTORY: &str = r#"{"external_id":"d0","service":"web","environment":"production","version":"0.9","type":"feature","started_at":"2026-02-20T10:00:00Z","finished_at":"2026-02-20T10:05:00Z","result":"succeeded"}
{"external_id":"d1","service":"web","environment":"production","version":"1.0","type":"feature","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:10:00Z","result":"succeeded","commit":"a1","committed_at":"2026-03-01T08:00:00Z"}

{"external_id":"d2","service":"web","environment":"production","version":"1.1","type":"feature","started_at":"2026-03-02T10:00:00Z","finished_at":"2026-03-02T10:20:00Z","result":"rolled_back","commit":"a2","committed_at":"2026-03-02T09:00:00Z"}
{"kind":"incident","external_id":"i1","service":"web","environment":"production","opened_at":"2026-03-02T10:25:00Z","resolved_at":"2026-03-02T11:00:00Z","caused_by":"d2"}
{"external_id":"d3","service":"web","environment":"production","version":"1.2","type":"hotfix","started_at":"2026-03-02T12:00:00Z","finished_at":"2026-03-02T12:05:00Z","result":"succeeded","commit":"a3","committed_at":"2026-03-02T11:30:00Z"}
{"external_id":"d4","service":"api","environment":"production","version":"7","type":"feature","started_at":"2026-03-04T23:30:00Z","finished_at":"2026-03-04T23:40:00Z","result":"succeeded"}
{"external_id":"d5","service":"web","environment":"staging","version":"1.2","type":"feature","started_at":"2026-03-03T09:00:00Z","finished_at":"2026-03-03T09:15:00Z","result":"succeeded","commit":"a3","committed_at":"2026-03-03T08:00:00Z"}
"#;

fn report(p: &Project, args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    let out = p.zion(&all);
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).expect("the JSON report")
}

fn days(r: &Value) -> Vec<(String, u64)> {
    r["frequency"]["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["deployments"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn audit_entries(p: &Project) -> u64 {
    p.json(&["audit", "verify"])["entries"].as_u64().unwrap()
}

#[test]
fn imported_history_is_reported_with_exact_figures() {
    let mut p = Project::with_spec(spec);
    p.start();
    let file = p.dir.path().join("history.jsonl");
    std::fs::write(&file, HISTORY).unwrap();
    let file = file.to_str().unwrap();

    // A bad line (line 4 misspells a result) refuses the whole file.
    let bad = p.dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        HISTORY.replacen("\"rolled_back\"", "\"rolledback\"", 1),
    )
    .unwrap();
    let out = p.zion(&["import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.jsonl: line 4: result:") && err.contains("nothing was imported"),
        "{err}"
    );
    let entries_before = audit_entries(&p);

    let first = p.json(&["import", file]);
    assert_eq!(
        (
            &first["records"],
            &first["deployments_added"],
            &first["incidents_added"],
            &first["unchanged"]
        ),
        (&json!(7), &json!(6), &json!(1), &json!(0))
    );
    assert_eq!(audit_entries(&p), entries_before + 1);
    let again = p.zion(&["import", file]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("nothing new in history.jsonl: all 7 records were imported before"),
        "{}",
        describe(&again)
    );
    assert_eq!(
        audit_entries(&p),
        entries_before + 1,
        "a no-op import logs nothing"
    );

    // The same id with another result, on line 3 of a new file: refused.
    let changed = p.dir.path().join("changed.jsonl");
    let d2 = HISTORY.lines().nth(3).unwrap();
    std::fs::write(
        &changed,
        format!(
            "{}\n\n{}\n",
            HISTORY.lines().nth(1).unwrap(),
            d2.replace("rolled_back", "succeeded")
        ),
    )
    .unwrap();
    let out = p.zion(&["import", changed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("changed.jsonl: line 3 (external id `d2`): `result` is `succeeded` but that id was imported before with `rolled_back`"),
        "{err}"
    );

    let r = report(&p, &["--since", "2026-03-01", "--until", "2026-03-05"]);
    assert_eq!(r["period"]["since"], "2026-03-01T00:00:00Z");
    assert_eq!(r["period"]["until"], "2026-03-06T00:00:00Z");
    assert_eq!(r["period"]["days"], 5);
    assert_eq!(r["total_deployments"], 5);
    // Production: d1, d2, d3, d4 attempted; 3 succeeded on 3 distinct days
    // of a 5-day period (shorter than a week: judged on its days).
    assert_eq!(
        r["deployment_frequency"],
        json!({"value": 0.6, "cluster": "elite", "bucket": "daily", "deployments": 3, "days": 5, "length_days": 5.0})
    );
    // d1 7800 s and d3 2100 s: the median of an even count is their mean.
    assert_eq!(
        r["lead_time_for_changes"],
        json!({"value": 4950.0, "cluster": "elite", "samples": 2})
    );
    assert_eq!(
        r["change_failure_rate"],
        json!({"value": 0.25, "cluster": "high", "count": 1, "deployments": 4})
    );
    // d2 started 10:00 and was rolled back by 10:20, but its incident was
    // resolved only at 11:00: service was restored then.
    assert_eq!(
        r["failed_deployment_recovery_time"],
        json!({"value": 3600.0, "cluster": "high", "samples": 1})
    );
    assert_eq!(
        r["deployment_rework_rate"],
        json!({"value": 0.25, "cluster": null, "count": 1, "deployments": 4})
    );
    let s = &r["summary"];
    assert_eq!(
        (
            &s["total"],
            &s["attempted"],
            &s["succeeded"],
            &s["rolled_back"],
            &s["production"],
            &s["success_rate"]
        ),
        (
            &json!(5),
            &json!(5),
            &json!(4),
            &json!(1),
            &json!(4),
            &json!(0.8)
        )
    );
    // Succeeded durations 600, 300, 600, 900.
    let speed = &r["speed"];
    assert_eq!(speed["measured"], 4);
    assert_eq!(speed["mean_seconds"], 600.0);
    assert_eq!(speed["p50_seconds"], 600.0);
    assert_eq!(speed["p95_seconds"], 900.0);
    assert_eq!(
        (&speed["fastest"]["id"], &speed["fastest"]["seconds"]),
        (&json!("d3"), &json!(300.0))
    );
    assert_eq!(
        (&speed["slowest"]["id"], &speed["slowest"]["seconds"]),
        (&json!("d5"), &json!(900.0))
    );
    assert_eq!(
        days(&r),
        [
            ("2026-03-01".to_owned(), 1),
            ("2026-03-02".to_owned(), 2),
            ("2026-03-03".to_owned(), 1),
            ("2026-03-04".to_owned(), 1),
            ("2026-03-05".to_owned(), 0),
        ]
    );
    assert_eq!(r["frequency"]["daily_average"], 1.0);
    assert_eq!(r["frequency"]["peak"]["date"], "2026-03-02");
    assert_eq!(r["frequency"]["lowest"]["date"], "2026-03-05");
    let envs: Vec<(String, u64, f64)> = r["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["environment"].as_str().unwrap().to_owned(),
                e["deployments"].as_u64().unwrap(),
                e["success_rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        envs.contains(&("production".to_owned(), 4, 0.75)),
        "{envs:?}"
    );
    assert!(envs.contains(&("staging".to_owned(), 1, 1.0)), "{envs:?}");
    assert_eq!(r["rollbacks"]["count"], 1);
    assert_eq!(r["rollbacks"]["trigger_unknown"], 1);
    assert_eq!(r["audit"]["verified"], "yes");

    // At +02:00 the days start two hours earlier: d4 (23:40 UTC) falls on
    // March 5, and March 4 is the quietest day (the earliest of the ties).
    let r = report(
        &p,
        &[
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-05",
            "--tz",
            "+02:00",
        ],
    );
    assert_eq!(r["period"]["since"], "2026-02-28T22:00:00Z");
    assert_eq!(
        days(&r).into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
        [1, 2, 1, 0, 1]
    );
    assert_eq!(r["frequency"]["lowest"]["date"], "2026-03-04");

    // One deployment: staging's d5. Staging is not production, so there is
    // no DORA headline, and a single duration is every percentile.
    let r = report(
        &p,
        &[
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-05",
            "--env",
            "staging",
        ],
    );
    assert_eq!(r["total_deployments"], 1);
    assert_eq!(r["deployment_frequency"], Value::Null);
    assert_eq!(
        (&r["speed"]["p50_seconds"], &r["speed"]["p95_seconds"]),
        (&json!(900.0), &json!(900.0))
    );

    // An empty period: every section says so.
    let r = report(&p, &["--since", "2025-01-01", "--until", "2025-01-31"]);
    assert_eq!(r["total_deployments"], 0);
    for key in ["summary", "speed", "rollbacks", "lead_time_for_changes"] {
        assert_eq!(r[key], Value::Null, "{key}");
    }
    let md = p.zion(&["report", "--since", "2025-01-01", "--until", "2025-01-31"]);
    assert!(md.status.success(), "{}", describe(&md));
    assert!(
        String::from_utf8_lossy(&md.stdout).contains("No data"),
        "{}",
        describe(&md)
    );

    // An incident filed on web that blames api's d4 (d4 finished 03-04
    // 23:40; resolved 03-05 00:30): a report on api alone still sees it,
    // so d4 is a failed change (1 of 1), restored 3,000 s after it finished.
    let blame = p.dir.path().join("blame.jsonl");
    std::fs::write(
        &blame,
        r#"{"kind":"incident","external_id":"i2","service":"web","environment":"production","opened_at":"2026-03-04T23:50:00Z","resolved_at":"2026-03-05T00:30:00Z","caused_by":"d4"}
"#,
    )
    .unwrap();
    let out = p.zion(&["import", blame.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "imported blame.jsonl: 0 deployments and 1 incident added, 0 incidents resolved, \
             0 records unchanged"
        ),
        "{}",
        describe(&out)
    );
    let r = report(
        &p,
        &[
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-05",
            "--service",
            "api",
        ],
    );
    assert_eq!(
        r["change_failure_rate"],
        json!({"value": 1.0, "cluster": "low", "count": 1, "deployments": 1}),
        "{r:#}"
    );
    assert_eq!(
        r["failed_deployment_recovery_time"]["value"], 3000.0,
        "{r:#}"
    );

    // Bad periods are refused with what to write instead.
    let out = p.zion(&["report", "--since", "2026-03-05", "--until", "2026-03-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = p.zion(&["report", "--since", "1900-01-01", "--until", "2026-03-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more than the 7320 (20 years)"),
        "{}",
        describe(&out)
    );
    let out = p.zion(&["report", "--tz", "Mars/Olympus"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("IANA"),
        "{}",
        describe(&out)
    );
}

#[test]
fn zions_own_deployments_are_reported_beside_imported_ones_in_every_format() {
    let mut p = Project::with_spec(spec);
    // The default period ends now: the server runs on a clock pinned at
    // 2026-04-01 11:00 UTC, so that what falls in it does not depend on
    // the day the test runs.
    let pinned: jiff::Timestamp = "2026-04-01T11:00:00Z".parse().unwrap();
    p.set_clock(pinned.as_second() - jiff::Timestamp::now().as_second());
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "production", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let file = p.dir.path().join("history.jsonl");
    std::fs::write(&file, HISTORY).unwrap();
    p.json(&["import", file.to_str().unwrap()]);

    // The default period is the last 30 days, from 03-02 11:00 (and the
    // few seconds the test took): d3, d4, d5 and Zion's own deployment;
    // d0, d1 and d2 are older.
    let r = report(&p, &[]);
    let at = |k: &str| {
        r["period"][k]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    assert_eq!(
        at("until").duration_since(at("since")),
        jiff::SignedDuration::from_hours(30 * 24),
        "{:#}",
        r["period"]
    );
    assert!(
        at("until") >= pinned && at("until") < "2026-04-01T12:00:00Z".parse().unwrap(),
        "{:#}",
        r["period"]
    );
    assert_eq!(r["total_deployments"], 4);
    assert_eq!(r["speed"]["fastest"]["id"], "#1");
    assert_eq!(r["summary"]["production"], 3, "d3, d4 and Zion's own");
    // Imported deployments name no strategy, and the target's first
    // version switches directly: it is no canary.
    assert_eq!(r["strategies"][0]["strategy"], "direct");
    assert_eq!(r["strategies"].as_array().map(Vec::len), Some(1));

    let r = report(&p, &["--since", "2026-02-01"]);
    assert_eq!(r["total_deployments"], 7, "6 imported and Zion's own");

    let html = p.dir.path().join("out/report.html");
    std::fs::create_dir_all(html.parent().unwrap()).unwrap();
    let out = p.zion(&[
        "report",
        "--since",
        "2026-02-01",
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    for id in ["summary", "frequency", "speed", "dora", "trends", "audit"] {
        assert!(page.contains(&format!("<section id=\"{id}\"")), "{id}");
    }
    assert!(page.contains("<svg"));
    let out = p.zion(&["report", "--since", "2026-02-01"]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.starts_with('#') && md.contains("Change failure rate"),
        "{md}"
    );
    assert!(md.contains("| Direct |"), "{md}");

    // A viewer may read the report but not import.
    let viewer = p.token("vera", "viewer");
    let out = p.zion_as(&viewer, &["report"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = p.zion_as(&viewer, &["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
}
