//! The report over hand-computed histories.

use jiff::tz::TimeZone;

use super::dora::{Cluster, FrequencyBucket};
use super::record::DeploymentResult::*;
use super::record::{DeploymentRecord, GateOutcome, IncidentRecord};
use super::report::*;
use super::test_support::*;
use crate::deployment::DeploymentType::{self, *};
use crate::deployment::PlanKind::*;

fn query(since: &str, until: &str) -> ReportQuery {
    ReportQuery {
        since: ts(since),
        until: ts(until),
        environment: None,
        service: None,
        tz: TimeZone::UTC,
    }
}

/// Six UTC days, 28 January – 2 February 2026, across a month boundary.
fn six_days() -> ReportQuery {
    query("2026-01-28T00:00:00Z", "2026-02-03T00:00:00Z")
}

fn history() -> (Vec<DeploymentRecord>, Vec<IncidentRecord>) {
    let deployments = vec![
        dep(
            "d1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-28T10:00:00Z",
            60,
        )
        .strategy(Canary)
        .rounds(4)
        .approval_wait(600.0)
        .committed("2026-01-27T10:00:00Z")
        .gates(GateOutcome {
            passed: true,
            tests_passed_ratio: Some(1.0),
            coverage: Some(0.75),
            findings_error: Some(0),
            findings_warning: Some(2),
        }),
        dep(
            "d2",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-01-28T12:00:00Z",
            300,
        )
        .strategy(Canary)
        .rounds(2)
        .rollback(true, 30.0),
        dep(
            "d3",
            "web",
            "staging",
            Feature,
            Succeeded,
            "2026-01-29T09:00:00Z",
            120,
        )
        .strategy(Canary)
        .gates(GateOutcome {
            passed: false,
            tests_passed_ratio: None,
            coverage: Some(0.625),
            findings_error: Some(3),
            findings_warning: None,
        }),
        dep(
            "d4",
            "api",
            "production",
            Hotfix,
            Succeeded,
            "2026-01-29T11:00:00Z",
            240,
        )
        .strategy(BlueGreen)
        .approval_wait(1200.0)
        .committed("2026-01-29T10:00:00Z"),
        dep(
            "d5",
            "api",
            "production",
            Feature,
            Rejected,
            "2026-01-29T12:00:00Z",
            0,
        )
        .strategy(Canary)
        .approval_wait(3600.0),
        dep(
            "d6",
            "api",
            "staging",
            Config,
            Succeeded,
            "2026-01-31T08:00:00Z",
            90,
        )
        .strategy(Rolling),
        dep(
            "d12",
            "api",
            "production",
            Feature,
            Expired,
            "2026-01-31T10:00:00Z",
            0,
        )
        .strategy(Canary),
        // Imported: no strategy. A rollback deployment (09:59:30 – 10:00):
        // it reverses d1, the latest web production success before it
        // started (d2 was rolled back, never live).
        dep(
            "d7",
            "web",
            "production",
            Rollback,
            Succeeded,
            "2026-02-01T10:00:00Z",
            30,
        ),
        dep(
            "d8",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-02-01T15:00:00Z",
            400,
        )
        .strategy(Canary)
        .rollback(false, 120.0),
        dep(
            "d9",
            "api",
            "production",
            Feature,
            Failed,
            "2026-02-02T09:00:00Z",
            50,
        )
        .rollback(true, 10.0),
        dep(
            "d10",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-02-02T20:00:00Z",
            600,
        )
        .strategy(Canary)
        .committed("2026-02-02T20:00:00Z")
        .gates(GateOutcome {
            passed: true,
            tests_passed_ratio: Some(0.5),
            coverage: None,
            findings_error: None,
            findings_warning: Some(1),
        }),
        // After the period.
        dep(
            "d11",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-02-03T01:00:00Z",
            60,
        ),
    ];
    let incidents = vec![incident(
        "i1",
        "api",
        "d4",
        "2026-01-29T11:10:00Z",
        Some("2026-01-29T13:00:00Z"),
    )];
    (deployments, incidents)
}

#[test]
fn every_section_of_a_known_history() {
    let (deployments, incidents) = history();
    let r = build_report(&deployments, &incidents, &six_days());

    assert_eq!(r.period.days, 6);
    assert_eq!(r.period.time_zone, "UTC");
    // d1–d10 and d12; d11 finished after the period.
    assert_eq!(r.total_deployments, 11);

    let s = r.summary.as_ref().unwrap();
    // Succeeded d1 d3 d4 d6 d7 d10; failed d9; rolled back d2 d8.
    assert_eq!((s.succeeded, s.failed, s.rolled_back), (6, 1, 2));
    assert_eq!((s.cancelled, s.rejected, s.expired), (0, 1, 1));
    assert_eq!(s.attempted, 9);
    assert_eq!(s.success_rate, Some(6.0 / 9.0));
    // d1 d2 d4 d5 d7 d8 d9 d10 d12.
    assert_eq!(s.production, 9);

    let envs = r.environments.as_ref().unwrap();
    assert_eq!(envs.len(), 2);
    let prod = &envs[0];
    assert_eq!(
        (prod.environment.as_str(), prod.production),
        ("production", true)
    );
    assert_eq!(
        (prod.deployments, prod.attempted, prod.succeeded),
        (9, 7, 4)
    );
    assert_eq!(prod.share, 9.0 / 11.0);
    assert_eq!(prod.success_rate, Some(4.0 / 7.0));
    // Succeeded: d1 60 + d4 240 + d7 30 + d10 600 = 930; / 4.
    assert_eq!(prod.mean_duration_seconds, Some(232.5));
    let staging = &envs[1];
    assert_eq!(
        (staging.environment.as_str(), staging.production),
        ("staging", false)
    );
    assert_eq!((staging.deployments, staging.succeeded), (2, 2));
    assert_eq!(staging.success_rate, Some(1.0));
    // (120 + 90) / 2.
    assert_eq!(staging.mean_duration_seconds, Some(105.0));

    let types = r.types.as_ref().unwrap();
    let t = |k: DeploymentType| types.iter().find(|t| t.kind == k).unwrap();
    assert_eq!(types.len(), 4);
    // Feature: d1 d2 d3 d5 d8 d9 d10 d12; attempted d1 d2 d3 d8 d9 d10;
    // succeeded d1 d3 d10.
    assert_eq!(
        (
            t(Feature).deployments,
            t(Feature).attempted,
            t(Feature).succeeded
        ),
        (8, 6, 3)
    );
    assert_eq!(t(Feature).share, 8.0 / 11.0);
    assert_eq!(t(Feature).success_rate, Some(0.5));
    assert_eq!(
        (t(Hotfix).deployments, t(Hotfix).success_rate),
        (1, Some(1.0))
    );
    assert_eq!(
        (t(Config).deployments, t(Config).success_rate),
        (1, Some(1.0))
    );
    assert_eq!(
        (t(Rollback).deployments, t(Rollback).success_rate),
        (1, Some(1.0))
    );

    let strategies = r.strategies.as_ref().unwrap();
    assert_eq!(strategies.len(), 3);
    // Canary: d1 d2 d3 d5 d8 d10 d12; attempted d1 d2 d3 d8 d10; rounds
    // 4 + 2 = 6 over 5 attempted.
    let canary = &strategies[0];
    assert_eq!(canary.strategy, Canary);
    assert_eq!(
        (canary.deployments, canary.attempted, canary.succeeded),
        (7, 5, 3)
    );
    assert_eq!(canary.success_rate, Some(0.6));
    assert_eq!(canary.mean_analysis_rounds, Some(1.2));
    assert_eq!(
        (strategies[1].strategy, strategies[1].deployments),
        (BlueGreen, 1)
    );
    assert_eq!(strategies[1].mean_analysis_rounds, Some(0.0));
    assert_eq!(
        (strategies[2].strategy, strategies[2].deployments),
        (Rolling, 1)
    );

    let f = r.frequency.as_ref().unwrap();
    // Per day: 28th 2, 29th 3, 30th 0, 31st 2, 1st 2, 2nd 2.
    let counts: Vec<u64> = f.per_day.iter().map(|d| d.deployments).collect();
    assert_eq!(counts, [2, 3, 0, 2, 2, 2]);
    let ok: Vec<u64> = f.per_day.iter().map(|d| d.succeeded).collect();
    assert_eq!(ok, [1, 2, 0, 1, 1, 1]);
    assert_eq!(f.per_day[0].date.to_string(), "2026-01-28");
    assert_eq!(f.daily_average, 11.0 / 6.0);
    assert_eq!(
        (f.peak.date.to_string(), f.peak.deployments),
        ("2026-01-29".into(), 3)
    );
    assert_eq!(
        (f.lowest.date.to_string(), f.lowest.deployments),
        ("2026-01-30".into(), 0)
    );

    let sp = r.speed.as_ref().unwrap();
    // Succeeded durations 30 60 90 120 240 600 (n = 6): mean 1140 / 6.
    assert_eq!(sp.measured, 6);
    assert_eq!(sp.mean_seconds, 190.0);
    assert_eq!(
        (sp.fastest.seconds, sp.fastest.id.as_str(), sp.fastest.kind),
        (30.0, "d7", Rollback)
    );
    assert_eq!((sp.slowest.seconds, sp.slowest.id.as_str()), (600.0, "d10"));
    // Nearest rank: p50 → rank ⌈3⌉ = 3 → 90; p95 → rank ⌈5.7⌉ = 6 → 600.
    assert_eq!(sp.p50_seconds, 90.0);
    assert_eq!(sp.p95_seconds, 600.0);
    // Widths 1…15 need more than 20 bins over 30..600; 30 s needs
    // (600/30 − 30/30) + 1 = 20: bins [30, 60), [60, 90) … [600, 630).
    assert_eq!(sp.histogram.len(), 20);
    assert_eq!(
        (sp.histogram[0].from_seconds, sp.histogram[0].to_seconds),
        (30.0, 60.0)
    );
    let binned: Vec<u64> = sp.histogram.iter().map(|b| b.deployments).collect();
    let mut expected = vec![0u64; 20];
    for i in [0, 1, 2, 3, 7, 19] {
        expected[i] = 1; // 30, 60, 90, 120, 240, 600
    }
    assert_eq!(binned, expected);

    let rb = r.rollbacks.as_ref().unwrap();
    // d2 (automatic 30 s, rolled back), d8 (manual 120 s, rolled back),
    // d9 (automatic 10 s, failed anyway), d1 (reversed by the rollback
    // deployment d7: manual, d7's 30 s).
    assert_eq!(
        (rb.count, rb.automatic, rb.manual, rb.trigger_unknown),
        (4, 2, 2, 0)
    );
    assert_eq!(rb.share, Some(4.0 / 9.0));
    assert_eq!(rb.timed, 4);
    // (30 + 120 + 10 + 30) / 4 = 47.5; sorted 10, 30, 30, 120 → 30.
    assert_eq!(rb.mean_seconds, Some(47.5));
    assert_eq!(rb.median_seconds, Some(30.0));
    // d2 and d8 came back, and d7 succeeded in bringing back d1's
    // predecessor: 3 of 4.
    assert_eq!((rb.succeeded, rb.success_rate), (3, Some(0.75)));
    assert_eq!(
        (rb.rollback_deployments, rb.rollback_deployments_succeeded),
        (1, 1)
    );

    let ap = r.approvals.as_ref().unwrap();
    // Waits 600, 1200, 3600.
    assert_eq!(ap.with_approval, 3);
    assert_eq!(ap.median_wait_seconds, Some(1200.0));
    assert_eq!(ap.mean_wait_seconds, Some(1800.0));
    assert_eq!(ap.longest_wait_seconds, Some(3600.0));
    assert_eq!((ap.rejected, ap.expired), (1, 1));

    let g = r.quality_gates.as_ref().unwrap();
    // d1 passed, d3 failed, d10 passed.
    assert_eq!((g.with_evidence, g.passed, g.failed), (3, 2, 1));
    assert_eq!(g.pass_rate, 2.0 / 3.0);
    // Coverage (0.75 + 0.625) / 2; tests (1.0 + 0.5) / 2.
    assert_eq!((g.mean_coverage, g.coverage_samples), (Some(0.6875), 2));
    assert_eq!(
        (g.mean_tests_passed_ratio, g.tests_samples),
        (Some(0.75), 2)
    );
    // Errors 0 + 3; warnings 2 + 1.
    assert_eq!((g.findings_error, g.findings_warning), (Some(3), Some(3)));

    let trends = r.trends.as_ref().unwrap();
    assert_eq!(trends.len(), 2);
    // January: d1 d2 d3 d4 d5 d6 d12; attempted d1 d2 d3 d4 d6; succeeded
    // d1 d3 d4 d6 with 60 + 120 + 240 + 90 = 510 s.
    assert_eq!(trends[0].month, "2026-01");
    assert_eq!(
        (
            trends[0].deployments,
            trends[0].attempted,
            trends[0].succeeded
        ),
        (7, 5, 4)
    );
    assert_eq!(trends[0].success_rate, Some(0.8));
    assert_eq!(trends[0].mean_duration_seconds, Some(127.5));
    // February: d7 d8 d9 d10; succeeded d7 d10 with 30 + 600 s.
    assert_eq!(trends[1].month, "2026-02");
    assert_eq!((trends[1].deployments, trends[1].succeeded), (4, 2));
    assert_eq!(trends[1].success_rate, Some(0.5));
    assert_eq!(trends[1].mean_duration_seconds, Some(315.0));

    // DORA over production: attempted d1 d2 d4 d7 d8 d9 d10 = 7.
    // Successes d1 d4 d7 d10 on days 0, 1, 4, 5 of 6: one partial week with
    // 4 deploy days → daily → elite; 4 / 6 per day.
    let df = r.deployment_frequency.as_ref().unwrap();
    assert_eq!(
        (df.value, df.bucket, df.cluster),
        (4.0 / 6.0, FrequencyBucket::Daily, Cluster::Elite)
    );
    // Leads: d1 86 400, d4 3 600 (d10 is 0: ignored) → (3 600 + 86 400) / 2.
    let lt = r.lead_time_for_changes.as_ref().unwrap();
    assert_eq!(
        (lt.value, lt.samples, lt.cluster),
        (45_000.0, 2, Cluster::Elite)
    );
    // Failures: d1 (reversed by d7), d2, d8 (rolled back), d9 (failed),
    // d4 (incident i1) = 5/7.
    let cfr = r.change_failure_rate.as_ref().unwrap();
    assert_eq!(
        (cfr.value, cfr.count, cfr.cluster),
        (5.0 / 7.0, 5, Some(Cluster::Low))
    );
    // Recovery: d1 until d7 finished (28 Jan 10:00 → 1 Feb 10:00 = 4 days
    // = 345 600 s); d2, d8 and d9 ended their own failure after 300, 400
    // and 50 s; d4 until i1 was resolved 2 h after it finished (7 200 s).
    // Sorted 50, 300, 400, 7 200, 345 600: median 400 s → elite.
    let rec = r.failed_deployment_recovery_time.as_ref().unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (400.0, 5, Cluster::Elite)
    );
    // Rework: d4 hotfix, d7 rollback.
    let rw = r.deployment_rework_rate.as_ref().unwrap();
    assert_eq!((rw.value, rw.count, rw.cluster), (2.0 / 7.0, 2, None));

    let dora = r.dora.as_ref().unwrap();
    let names: Vec<&str> = dora.by_service.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    let api = &dora.by_service[0].metrics;
    // api: attempted d4 d9; success d4 on one day → weekly/high, 1/6 a day.
    let af = api.deployment_frequency.as_ref().unwrap();
    assert_eq!(
        (af.value, af.bucket, af.cluster),
        (1.0 / 6.0, FrequencyBucket::Weekly, Cluster::High)
    );
    assert_eq!(api.lead_time_for_changes.as_ref().unwrap().value, 3600.0);
    assert_eq!(api.change_failure_rate.as_ref().unwrap().value, 1.0);
    // d4 7 200 s, d9 50 s: (50 + 7 200) / 2 = 3 625 s → high.
    let ar = api.failed_deployment_recovery_time.as_ref().unwrap();
    assert_eq!((ar.value, ar.cluster), (3625.0, Cluster::High));
    assert_eq!(api.deployment_rework_rate.as_ref().unwrap().value, 0.5);
    let web = &dora.by_service[1].metrics;
    // web: attempted d1 d2 d7 d8 d10; successes on 3 days → daily.
    let wf = web.deployment_frequency.as_ref().unwrap();
    assert_eq!((wf.value, wf.bucket), (0.5, FrequencyBucket::Daily));
    // Lead exactly one day: high (the boundary belongs to the slower one).
    let wl = web.lead_time_for_changes.as_ref().unwrap();
    assert_eq!((wl.value, wl.cluster), (86_400.0, Cluster::High));
    // Failures d1 (reversed), d2, d8: 3 of 5.
    let wc = web.change_failure_rate.as_ref().unwrap();
    assert_eq!((wc.value, wc.cluster), (0.6, Some(Cluster::Low)));
    // Sorted 300, 400, 345 600: 400.
    assert_eq!(
        web.failed_deployment_recovery_time.as_ref().unwrap().value,
        400.0
    );
    assert_eq!(web.deployment_rework_rate.as_ref().unwrap().value, 0.2);

    let envs: Vec<&str> = dora
        .by_environment
        .iter()
        .map(|e| e.environment.as_str())
        .collect();
    assert_eq!(envs, ["production", "staging"]);
    assert_eq!(
        dora.by_environment[0].metrics.change_failure_rate,
        r.change_failure_rate
    );
    let st = &dora.by_environment[1].metrics;
    // staging: d3 and d6 succeeded on 2 days: median week 2 → weekly.
    let sf = st.deployment_frequency.as_ref().unwrap();
    assert_eq!((sf.value, sf.bucket), (2.0 / 6.0, FrequencyBucket::Weekly));
    let sc = st.change_failure_rate.as_ref().unwrap();
    assert_eq!((sc.value, sc.cluster), (0.0, Some(Cluster::Elite)));
    assert_eq!(st.lead_time_for_changes, None);
    assert_eq!(st.failed_deployment_recovery_time, None);
    assert_eq!(r.audit, None);
}

#[test]
fn json_puts_dora_at_the_top_and_round_trips() {
    let (deployments, incidents) = history();
    let r = build_report(&deployments, &incidents, &six_days());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["total_deployments"], 11);
    assert_eq!(json["deployment_frequency"]["cluster"], "elite");
    assert_eq!(json["deployment_frequency"]["bucket"], "daily");
    assert_eq!(json["lead_time_for_changes"]["value"], 45_000.0);
    assert_eq!(json["change_failure_rate"]["cluster"], "low");
    assert_eq!(json["failed_deployment_recovery_time"]["value"], 400.0);
    assert_eq!(
        json["deployment_rework_rate"]["cluster"],
        serde_json::Value::Null
    );
    assert_eq!(json["types"][1]["type"], "hotfix");
    assert_eq!(json["frequency"]["peak"]["date"], "2026-01-29");
    assert_eq!(json["dora"]["by_service"][0]["service"], "api");
    assert_eq!(
        json["dora"]["by_service"][0]["change_failure_rate"]["value"],
        1.0
    );
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn an_empty_period_has_no_data_anywhere() {
    let (deployments, incidents) = history();
    // A week in 2025: nothing finished then.
    let r = build_report(
        &deployments,
        &incidents,
        &query("2025-01-01T00:00:00Z", "2025-01-08T00:00:00Z"),
    );
    assert_eq!(r.period.days, 7);
    assert_eq!(r.total_deployments, 0);
    assert_eq!(r.summary, None);
    assert_eq!(r.environments, None);
    assert_eq!(r.types, None);
    assert_eq!(r.strategies, None);
    assert_eq!(r.frequency, None);
    assert_eq!(r.speed, None);
    assert_eq!(r.rollbacks, None);
    assert_eq!(r.approvals, None);
    assert_eq!(r.quality_gates, None);
    assert_eq!(r.dora, None);
    assert_eq!(r.trends, None);
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "deployment_frequency",
        "lead_time_for_changes",
        "change_failure_rate",
        "failed_deployment_recovery_time",
        "deployment_rework_rate",
        "summary",
        "speed",
        "audit",
    ] {
        assert!(json[key].is_null(), "{key}: {}", json[key]);
    }
    assert_eq!(json["total_deployments"], 0);

    // No records at all, and a reversed period: no days either.
    let r = build_report(
        &[],
        &[],
        &query("2025-01-08T00:00:00Z", "2025-01-01T00:00:00Z"),
    );
    assert_eq!((r.period.days, r.total_deployments), (0, 0));
    assert_eq!(r.deployment_frequency, None);
}

#[test]
fn a_single_deployment() {
    let deployments = vec![
        dep(
            "42",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-28T10:00:00Z",
            150,
        )
        .strategy(Canary),
    ];
    let r = build_report(
        &deployments,
        &[],
        &query("2026-01-28T00:00:00Z", "2026-01-29T00:00:00Z"),
    );
    assert_eq!(r.total_deployments, 1);
    assert_eq!(r.summary.as_ref().unwrap().success_rate, Some(1.0));
    let sp = r.speed.as_ref().unwrap();
    assert_eq!(
        (sp.mean_seconds, sp.p50_seconds, sp.p95_seconds),
        (150.0, 150.0, 150.0)
    );
    assert_eq!(
        (sp.fastest.id.as_str(), sp.slowest.id.as_str()),
        ("42", "42")
    );
    // One 1-second bin holding it.
    assert_eq!(sp.histogram.len(), 1);
    assert_eq!(
        (
            sp.histogram[0].from_seconds,
            sp.histogram[0].to_seconds,
            sp.histogram[0].deployments
        ),
        (150.0, 151.0, 1)
    );
    let f = r.frequency.as_ref().unwrap();
    assert_eq!((f.days, f.daily_average), (1, 1.0));
    assert_eq!(f.peak, f.lowest);
    // One day with a deploy in a one-day period: judged on its rate, 7
    // deploy days a week ≥ 3 → daily → elite.
    let df = r.deployment_frequency.as_ref().unwrap();
    assert_eq!(
        (df.value, df.bucket, df.cluster),
        (1.0, FrequencyBucket::Daily, Cluster::Elite)
    );
    assert_eq!(r.lead_time_for_changes, None);
    let cfr = r.change_failure_rate.as_ref().unwrap();
    assert_eq!((cfr.value, cfr.cluster), (0.0, Some(Cluster::Elite)));
    assert_eq!(r.failed_deployment_recovery_time, None);
    assert_eq!(r.deployment_rework_rate.as_ref().unwrap().value, 0.0);
    assert_eq!(r.rollbacks, None);
    assert_eq!(r.approvals, None);
    assert_eq!(r.quality_gates, None);
    let trends = r.trends.as_ref().unwrap();
    assert_eq!(trends.len(), 1);
    assert_eq!(
        (trends[0].month.as_str(), trends[0].mean_duration_seconds),
        ("2026-01", Some(150.0))
    );
}

#[test]
fn days_are_cut_in_the_query_time_zone() {
    // 23:30 UTC on 1 March is 00:30 on 2 March in Paris (UTC+1).
    let deployments = vec![
        dep(
            "late",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-01T23:30:00Z",
            60,
        ),
        dep(
            "noon",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-01T12:00:00Z",
            60,
        ),
    ];
    let utc = build_report(
        &deployments,
        &[],
        &query("2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z"),
    );
    let per_day: Vec<(String, u64)> = utc
        .frequency
        .as_ref()
        .unwrap()
        .per_day
        .iter()
        .map(|d| (d.date.to_string(), d.deployments))
        .collect();
    assert_eq!(
        per_day,
        [("2026-03-01".to_string(), 2), ("2026-03-02".to_string(), 0)]
    );

    let mut paris = query("2026-02-28T23:00:00Z", "2026-03-02T23:00:00Z");
    paris.tz = TimeZone::get("Europe/Paris").unwrap();
    let r = build_report(&deployments, &[], &paris);
    assert_eq!(r.period.time_zone, "Europe/Paris");
    let per_day: Vec<(String, u64)> = r
        .frequency
        .as_ref()
        .unwrap()
        .per_day
        .iter()
        .map(|d| (d.date.to_string(), d.deployments))
        .collect();
    assert_eq!(
        per_day,
        [("2026-03-01".to_string(), 1), ("2026-03-02".to_string(), 1)]
    );
    // Peak and lowest tie at 1: the earliest day is named for both.
    let f = r.frequency.as_ref().unwrap();
    assert_eq!(f.peak.date.to_string(), "2026-03-01");
    assert_eq!(f.lowest.date.to_string(), "2026-03-01");

    // A month boundary moves too: 23:30 UTC on 31 March is April in Paris.
    let deployments = vec![dep(
        "m",
        "web",
        "production",
        Feature,
        Succeeded,
        "2026-03-31T22:30:00Z",
        60,
    )];
    let mut q = query("2026-03-30T22:00:00Z", "2026-04-02T22:00:00Z");
    q.tz = TimeZone::get("Europe/Paris").unwrap();
    let r = build_report(&deployments, &[], &q);
    let trends = r.trends.as_ref().unwrap();
    let months: Vec<(&str, u64)> = trends
        .iter()
        .map(|t| (t.month.as_str(), t.deployments))
        .collect();
    assert_eq!(months, [("2026-03", 0), ("2026-04", 1)]);
    // March has no deployment in the period: no DORA figure, not zeros.
    assert!(trends[0].dora.is_empty());
    assert_eq!(
        trends[1]
            .dora
            .deployment_frequency
            .as_ref()
            .unwrap()
            .deployments,
        1
    );
}

#[test]
fn filters_select_a_service_or_an_environment() {
    let (deployments, incidents) = history();
    let mut q = six_days();
    q.service = Some("api".into());
    let r = build_report(&deployments, &incidents, &q);
    // api: d4 d5 d6 d9 d12.
    assert_eq!(r.total_deployments, 5);
    assert_eq!(r.period.service.as_deref(), Some("api"));
    let cfr = r.change_failure_rate.as_ref().unwrap();
    // Production attempted d4 (incident) and d9 (failed): 2 of 2.
    assert_eq!((cfr.count, cfr.deployments), (2, 2));

    let mut q = six_days();
    q.environment = Some("staging".into());
    let r = build_report(&deployments, &incidents, &q);
    assert_eq!(r.total_deployments, 2);
    // No production deployment passes the filter: the headline DORA
    // figures have no data, the environment's own stream does.
    assert_eq!(r.deployment_frequency, None);
    assert_eq!(r.change_failure_rate, None);
    let dora = r.dora.as_ref().unwrap();
    assert!(dora.by_service.is_empty());
    assert_eq!(dora.by_environment.len(), 1);
    assert_eq!(dora.by_environment[0].environment, "staging");
}

#[test]
fn unknown_rollback_triggers_and_bad_clocks() {
    let mut backwards = dep(
        "b",
        "web",
        "production",
        Feature,
        Succeeded,
        "2026-01-28T10:00:00Z",
        60,
    );
    std::mem::swap(&mut backwards.started_at, &mut backwards.finished_at);
    let deployments = vec![
        // Imported rolled-back deployment: no trigger, no duration.
        dep(
            "x",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-01-28T12:00:00Z",
            60,
        ),
        backwards,
    ];
    let r = build_report(&deployments, &[], &six_days());
    let rb = r.rollbacks.as_ref().unwrap();
    assert_eq!((rb.count, rb.trigger_unknown, rb.timed), (1, 1, 0));
    assert_eq!((rb.mean_seconds, rb.median_seconds), (None, None));
    assert_eq!(rb.success_rate, Some(1.0));
    // The succeeded deployment finished before it started: counted, but it
    // has no duration, so there is no speed section.
    assert_eq!(r.summary.as_ref().unwrap().succeeded, 1);
    assert_eq!(r.speed, None);
    assert_eq!(
        r.environments.as_ref().unwrap()[0].mean_duration_seconds,
        None
    );
}

#[test]
fn the_lowest_day_is_a_whole_day_when_there_is_one() {
    // 20:00 on the 28th to 20:00 on the 30th (UTC): the 28th and the 30th
    // are partial, the 29th is whole.
    let deployments = vec![
        dep(
            "a",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-29T10:00:00Z",
            60,
        ),
        dep(
            "b",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-30T08:00:00Z",
            60,
        ),
        dep(
            "c",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-30T09:00:00Z",
            60,
        ),
    ];
    let r = build_report(
        &deployments,
        &[],
        &query("2026-01-28T20:00:00Z", "2026-01-30T20:00:00Z"),
    );
    let f = r.frequency.as_ref().unwrap();
    let days: Vec<(u64, bool)> = f
        .per_day
        .iter()
        .map(|d| (d.deployments, d.partial))
        .collect();
    assert_eq!(days, [(0, true), (1, false), (2, true)]);
    // 3 deployments over a period 48 h long (it lists 3 calendar days):
    // 1.5 a day. Dividing by calendar days read 1.0.
    assert_eq!((f.days, f.length_days), (3, 2.0));
    assert_eq!(f.daily_average, 1.5);
    // All three succeeded in production: 1.5 a day too.
    let df = r.deployment_frequency.as_ref().unwrap();
    assert_eq!((df.value, df.days, df.length_days), (1.5, 3, 2.0));
    // The empty partial 28th does not count as the quietest day.
    assert_eq!(
        (f.lowest.date.to_string(), f.lowest.deployments),
        ("2026-01-29".into(), 1)
    );
    assert_eq!(
        (f.peak.date.to_string(), f.peak.deployments),
        ("2026-01-30".into(), 2)
    );

    // A period inside one day: its only (partial) day is both.
    let r = build_report(
        &deployments,
        &[],
        &query("2026-01-29T09:00:00Z", "2026-01-29T11:00:00Z"),
    );
    let f = r.frequency.as_ref().unwrap();
    assert!(f.per_day[0].partial);
    assert_eq!((f.lowest.deployments, f.peak.deployments), (1, 1));
}

#[test]
fn a_manual_rollback_counts_once_in_every_section() {
    let deployments = vec![
        dep(
            "#1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-28T10:00:00Z",
            60,
        ),
        // Rolled back by the controller: p1 serves again. Never live, so
        // the rollback deployment below does not reverse it.
        dep(
            "#2",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-01-28T11:00:00Z",
            120,
        )
        .rollback(true, 30.0),
        // `zion rollback` 12:00 – 12:05: reverses #1.
        dep(
            "#3",
            "web",
            "production",
            Rollback,
            Succeeded,
            "2026-01-28T12:05:00Z",
            300,
        ),
    ];
    let r = build_report(&deployments, &[], &six_days());
    let rb = r.rollbacks.as_ref().unwrap();
    // #2 (automatic, 30 s) and #1 (manual, #3's 300 s): 2, not 3, and #1
    // was not counted before.
    assert_eq!(
        (rb.count, rb.automatic, rb.manual, rb.trigger_unknown),
        (2, 1, 1, 0)
    );
    assert_eq!(rb.share, Some(2.0 / 3.0));
    // (30 + 300) / 2 = 165 for both the mean and the median of two.
    assert_eq!(
        (rb.timed, rb.mean_seconds, rb.median_seconds),
        (2, Some(165.0), Some(165.0))
    );
    assert_eq!((rb.succeeded, rb.success_rate), (2, Some(1.0)));
    assert_eq!(
        (rb.rollback_deployments, rb.rollback_deployments_succeeded),
        (1, 1)
    );
    // Results are what the records say: one rolled back, two succeeded.
    let s = r.summary.as_ref().unwrap();
    assert_eq!((s.succeeded, s.rolled_back), (2, 1));
    // #1 and #2 failed: 2 of 3.
    let cfr = r.change_failure_rate.as_ref().unwrap();
    assert_eq!((cfr.count, cfr.deployments), (2, 3));
    // #1 served 10:00 → 12:05 (7 500 s); #2 took traffic 120 s: median
    // (120 + 7 500) / 2 = 3 810 s → high.
    let rec = r.failed_deployment_recovery_time.as_ref().unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (3810.0, 2, Cluster::High)
    );

    // Records marked beforehand (the reversed one now carries the rollback
    // itself) give the same report: nothing is counted twice.
    let mut marked = deployments.clone();
    super::reversal::mark_reversals(&mut marked);
    assert_eq!(
        marked[0].rollback,
        Some(super::record::RollbackInfo {
            automatic: false,
            seconds: 300.0
        })
    );
    assert_eq!(build_report(&marked, &[], &six_days()), r);
}

#[test]
fn per_day_averages_divide_by_the_periods_real_length() {
    // The default window: 30 days back from a mid-day "now", 1 January
    // 12:00 to 31 January 12:00 (UTC). It touches 31 calendar days but
    // lasts 30.
    let deployments = vec![
        dep(
            "#1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-01T13:00:00Z",
            60,
        ),
        dep(
            "#2",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-10T10:00:00Z",
            60,
        ),
        dep(
            "#3",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-31T11:00:00Z",
            60,
        ),
        dep(
            "#4",
            "web",
            "staging",
            Feature,
            Succeeded,
            "2026-01-15T10:00:00Z",
            60,
        ),
        dep(
            "#5",
            "web",
            "staging",
            Feature,
            Succeeded,
            "2026-01-16T10:00:00Z",
            60,
        ),
        dep(
            "#6",
            "web",
            "staging",
            Feature,
            Failed,
            "2026-01-17T10:00:00Z",
            60,
        ),
    ];
    let r = build_report(
        &deployments,
        &[],
        &query("2026-01-01T12:00:00Z", "2026-01-31T12:00:00Z"),
    );
    let f = r.frequency.as_ref().unwrap();
    // Every calendar day is still listed, the two ends as partial days.
    assert_eq!((f.days, f.per_day.len(), f.length_days), (31, 31, 30.0));
    assert!(f.per_day[0].partial && f.per_day[30].partial);
    assert_eq!(f.per_day[30].deployments, 1);
    // 6 deployments over 30 days = 0.2 (over 31 it read 0.194).
    assert_eq!(f.daily_average, 0.2);
    // 3 production successes over 30 days = 0.1 a day, the same for the
    // month (its part of the period is the whole period).
    let df = r.deployment_frequency.as_ref().unwrap();
    assert_eq!((df.value, df.days, df.length_days), (0.1, 31, 30.0));
    let trends = r.trends.as_ref().unwrap();
    let mf = trends[0].dora.deployment_frequency.as_ref().unwrap();
    assert_eq!((mf.value, mf.days, mf.length_days), (0.1, 31, 30.0));
    // staging: 2 successes over 30 days.
    let dora = r.dora.as_ref().unwrap();
    let st = dora.by_environment[1].metrics.deployment_frequency.as_ref();
    assert_eq!(st.unwrap().value, 2.0 / 30.0);
}

#[test]
fn trends_carry_each_months_dora_figures() {
    let (deployments, incidents) = history();
    let r = build_report(&deployments, &incidents, &six_days());
    let trends = r.trends.as_ref().unwrap();
    let (jan, feb) = (&trends[0].dora, &trends[1].dora);

    // January: 28–31 (4 days, 4 days long). Production d1 d2 d4 attempted
    // (d5 rejected, d12 expired); successes d1 d4 on the 28th and 29th.
    let f = jan.deployment_frequency.as_ref().unwrap();
    // 2 / 4 = 0.5 a day; the only (partial) week has 2 deploy days in 4,
    // judged on its rate: 2 × 7 / 4 = 3.5 a week ≥ 3 → daily → elite.
    assert_eq!(
        (f.value, f.deployments, f.days, f.length_days),
        (0.5, 2, 4, 4.0)
    );
    assert_eq!(
        (f.bucket, f.cluster),
        (FrequencyBucket::Daily, Cluster::Elite)
    );
    // Leads d1 86 400, d4 3 600: 45 000 → elite.
    let lt = jan.lead_time_for_changes.as_ref().unwrap();
    assert_eq!(
        (lt.value, lt.samples, lt.cluster),
        (45_000.0, 2, Cluster::Elite)
    );
    // d1 (reversed by d7, in February), d2, d4 (incident): 3 of 3 → low.
    let cfr = jan.change_failure_rate.as_ref().unwrap();
    assert_eq!(
        (cfr.value, cfr.count, cfr.deployments, cfr.cluster),
        (1.0, 3, 3, Some(Cluster::Low))
    );
    // d1 345 600, d2 300, d4 7 200: median 7 200 → high.
    let rec = jan.failed_deployment_recovery_time.as_ref().unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (7200.0, 3, Cluster::High)
    );
    // d4 (hotfix) of 3.
    let rw = jan.deployment_rework_rate.as_ref().unwrap();
    assert_eq!((rw.value, rw.count, rw.cluster), (1.0 / 3.0, 1, None));

    // February: 1–2 (2 days). Attempted d7 d8 d9 d10; successes d7 d10 on
    // both days: 2 / 2 = 1 a day; the partial week's 2 deploy days in 2
    // are 7 a week → daily → elite.
    let f = feb.deployment_frequency.as_ref().unwrap();
    assert_eq!(
        (f.value, f.deployments, f.days, f.length_days),
        (1.0, 2, 2, 2.0)
    );
    assert_eq!(
        (f.bucket, f.cluster),
        (FrequencyBucket::Daily, Cluster::Elite)
    );
    // d10's lead is 0 (ignored) and d7 has no commit: no lead time.
    assert_eq!(feb.lead_time_for_changes, None);
    // d8, d9 of 4 → low.
    let cfr = feb.change_failure_rate.as_ref().unwrap();
    assert_eq!(
        (cfr.value, cfr.count, cfr.deployments, cfr.cluster),
        (0.5, 2, 4, Some(Cluster::Low))
    );
    // d8 400, d9 50: 225 s → elite.
    let rec = feb.failed_deployment_recovery_time.as_ref().unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (225.0, 2, Cluster::Elite)
    );
    // d7 (rollback) of 4.
    let rw = feb.deployment_rework_rate.as_ref().unwrap();
    assert_eq!((rw.value, rw.count), (0.25, 1));

    // The months add up to the period: 3 + 2 failures of 3 + 4.
    let headline = r.change_failure_rate.as_ref().unwrap();
    assert_eq!((headline.count, headline.deployments), (5, 7));

    // In the JSON, each month carries the five figures beside its counts.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["trends"][0]["month"], "2026-01");
    assert_eq!(json["trends"][0]["change_failure_rate"]["value"], 1.0);
    assert_eq!(
        json["trends"][0]["lead_time_for_changes"]["cluster"],
        "elite"
    );
    assert_eq!(json["trends"][1]["deployment_frequency"]["bucket"], "daily");
    assert_eq!(
        json["trends"][1]["failed_deployment_recovery_time"]["value"],
        225.0
    );
    assert!(json["trends"][1]["lead_time_for_changes"].is_null());
}
