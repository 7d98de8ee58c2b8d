//! DORA metrics over hand-computed histories, and the cluster boundaries.

use jiff::tz::TimeZone;

use super::calendar::Calendar;
use super::dora::*;
use super::record::DeploymentResult::*;
use super::test_support::*;
use crate::deployment::DeploymentType::*;

const DAY: f64 = 86_400.0;

#[test]
fn lead_time_boundaries_belong_to_the_slower_cluster() {
    assert_eq!(lead_time_cluster(0.5), Cluster::Elite);
    assert_eq!(lead_time_cluster(DAY - 1.0), Cluster::Elite);
    assert_eq!(lead_time_cluster(DAY), Cluster::High);
    assert_eq!(lead_time_cluster(7.0 * DAY - 1.0), Cluster::High);
    assert_eq!(lead_time_cluster(7.0 * DAY), Cluster::Medium);
    assert_eq!(lead_time_cluster(30.0 * DAY - 1.0), Cluster::Medium);
    assert_eq!(lead_time_cluster(30.0 * DAY), Cluster::Low);
    assert_eq!(lead_time_cluster(400.0 * DAY), Cluster::Low);
}

#[test]
fn recovery_boundaries() {
    assert_eq!(recovery_cluster(3599.0), Cluster::Elite);
    assert_eq!(recovery_cluster(3600.0), Cluster::High);
    assert_eq!(recovery_cluster(DAY - 1.0), Cluster::High);
    assert_eq!(recovery_cluster(DAY), Cluster::Low);
    // 1 day – 1 week is unassigned in the 2024 report: low.
    assert_eq!(recovery_cluster(3.0 * DAY), Cluster::Low);
}

#[test]
fn failure_rate_goes_to_the_nearest_typical_rate() {
    // Typical: elite 5%, medium 10%, high 20%, low 40%; midpoints 7.5%,
    // 15%, 30%; a midpoint goes to the lower typical rate.
    assert_eq!(change_failure_cluster(0.0), Cluster::Elite);
    assert_eq!(change_failure_cluster(3.0 / 40.0), Cluster::Elite); // 7.5%
    assert_eq!(change_failure_cluster(0.0751), Cluster::Medium);
    assert_eq!(change_failure_cluster(3.0 / 20.0), Cluster::Medium); // 15%
    assert_eq!(change_failure_cluster(0.1501), Cluster::High);
    assert_eq!(change_failure_cluster(3.0 / 10.0), Cluster::High); // 30%
    assert_eq!(change_failure_cluster(0.3001), Cluster::Low);
    assert_eq!(change_failure_cluster(1.0), Cluster::Low);
}

#[test]
fn frequency_buckets_by_the_median_week() {
    let days = |n: usize, on: &[usize]| {
        let mut d = vec![false; n];
        for i in on {
            d[*i] = true;
        }
        d
    };
    // Weeks with 3 and 2 deploy days: median (2 + 3) / 2 = 2.5 < 3, both
    // weeks have one → weekly.
    assert_eq!(
        frequency_bucket(&days(14, &[0, 1, 2, 7, 8])),
        FrequencyBucket::Weekly
    );
    // Weeks with 3 and 4: median 3.5 → daily.
    assert_eq!(
        frequency_bucket(&days(14, &[0, 1, 2, 7, 8, 9, 10])),
        FrequencyBucket::Daily
    );
    // Weeks 3, 0, 3: median 3 → daily even with an empty week.
    assert_eq!(
        frequency_bucket(&days(21, &[0, 1, 2, 14, 15, 16])),
        FrequencyBucket::Daily
    );
    // Weeks 1, 1, 0, 0: half the weeks is not more than half; the one
    // (partial, 28-day) month has a deploy → monthly.
    assert_eq!(
        frequency_bucket(&days(28, &[0, 7])),
        FrequencyBucket::Monthly
    );
    // 60 days: 8 whole weeks (1 of 8 with a deploy), 2 months (1 of 2):
    // neither more than half → yearly.
    assert_eq!(frequency_bucket(&days(60, &[0])), FrequencyBucket::Yearly);
    // Shorter than a week: the partial week is judged on its rate: 3 deploy
    // days of 5 are 4.2 a week → daily; 2 of 2 (a report on the last two
    // days) are 7 a week → daily; 1 of 5 is 1.4 a week, but the only week
    // has a deploy → weekly.
    assert_eq!(
        frequency_bucket(&days(5, &[0, 2, 4])),
        FrequencyBucket::Daily
    );
    assert_eq!(frequency_bucket(&days(2, &[0, 1])), FrequencyBucket::Daily);
    assert_eq!(frequency_bucket(&days(5, &[3])), FrequencyBucket::Weekly);
    // 10 days: weeks are cut back from the last day, so the whole week is
    // days 3–9 (3 deploy days: median 3 → daily) and the incomplete oldest
    // one (days 0–2) is left out. Cut from the first day, days 7–9 fell out
    // and this read monthly.
    assert_eq!(
        frequency_bucket(&days(10, &[7, 8, 9])),
        FrequencyBucket::Daily
    );
    // Deploys only in days 0–2 of 10: those fall in the left-out block; the
    // only (partial, 10-day) month has one → monthly.
    assert_eq!(
        frequency_bucket(&days(10, &[0, 1, 2])),
        FrequencyBucket::Monthly
    );
    assert_eq!(frequency_cluster(FrequencyBucket::Daily), Cluster::Elite);
    assert_eq!(frequency_cluster(FrequencyBucket::Weekly), Cluster::High);
    assert_eq!(frequency_cluster(FrequencyBucket::Monthly), Cluster::Medium);
    assert_eq!(frequency_cluster(FrequencyBucket::Yearly), Cluster::Low);
}

fn march() -> Calendar {
    // 14 days: 2026-03-01 .. 2026-03-14 (UTC).
    Calendar::new(
        ts("2026-03-01T00:00:00Z"),
        ts("2026-03-15T00:00:00Z"),
        &TimeZone::UTC,
    )
}

#[test]
fn five_metrics_over_a_known_history() {
    let deployments = vec![
        // Before the period: ignored.
        dep(
            "p0",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-02-28T23:00:00Z",
            60,
        ),
        // Lead 4 h = 14 400 s.
        dep(
            "p1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-01T10:00:00Z",
            60,
        )
        .committed("2026-03-01T06:00:00Z"),
        // Rolled back after 10 min of traffic: its own end restored
        // service, 600 s (p3's success 30 min later is not the restore).
        dep(
            "p2",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-03-02T10:00:00Z",
            600,
        )
        .rollback(true, 20.0),
        // Hotfix, lead 30 min = 1 800 s. Reversed by the rollback
        // deployment p8 (the latest web success before p8 started, p7
        // having failed): a failure restored when p8 finished, 2 March
        // 10:30 → 10 March 08:00 = 7 d 21 h 30 min = 682 200 s.
        dep(
            "p3",
            "web",
            "production",
            Hotfix,
            Succeeded,
            "2026-03-02T10:30:00Z",
            60,
        )
        .committed("2026-03-02T10:00:00Z"),
        // Lead 3 days = 259 200 s.
        dep(
            "p4",
            "api",
            "production",
            Feature,
            Succeeded,
            "2026-03-03T12:00:00Z",
            60,
        )
        .committed("2026-02-28T12:00:00Z"),
        // Caused incident i1 resolved 2 h later: recovery 7 200 s (the
        // incident wins over p6's success at 09:30). Lead 0: ignored.
        dep(
            "p5",
            "api",
            "production",
            Feature,
            Succeeded,
            "2026-03-04T09:00:00Z",
            60,
        )
        .committed("2026-03-04T09:00:00Z"),
        dep(
            "p6",
            "api",
            "production",
            Config,
            Succeeded,
            "2026-03-04T09:30:00Z",
            60,
        ),
        // Failed after 30 min: 1 800 s (not p8's success a day later).
        dep(
            "p7",
            "web",
            "production",
            Feature,
            Failed,
            "2026-03-09T08:00:00Z",
            1800,
        ),
        // Rollback deployment 07:59 – 08:00, lead 1 day = 86 400 s. It
        // reverses p3, not the failed p7 (never live).
        dep(
            "p8",
            "web",
            "production",
            Rollback,
            Succeeded,
            "2026-03-10T08:00:00Z",
            60,
        )
        .committed("2026-03-09T08:00:00Z"),
        // Cancelled: not attempted, in no figure.
        dep(
            "p9",
            "web",
            "production",
            Feature,
            Cancelled,
            "2026-03-11T08:00:00Z",
            60,
        ),
        // Failed on the last day after 2 min: 120 s (not p11's success
        // two days later).
        dep(
            "p10",
            "web",
            "production",
            Feature,
            Failed,
            "2026-03-14T20:00:00Z",
            120,
        ),
        dep(
            "p11",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-16T20:00:00Z",
            60,
        ),
        // Rolled back and blamed for a still-open incident: not restored.
        dep(
            "p12",
            "api",
            "production",
            Feature,
            RolledBack,
            "2026-03-12T10:00:00Z",
            60,
        ),
        // Not production: ignored (it would otherwise restore p7 sooner).
        dep(
            "s1",
            "web",
            "staging",
            Feature,
            Succeeded,
            "2026-03-09T09:00:00Z",
            60,
        ),
    ];
    let incidents = vec![
        incident(
            "i1",
            "api",
            "p5",
            "2026-03-04T09:10:00Z",
            Some("2026-03-04T11:00:00Z"),
        ),
        incident("i2", "api", "p12", "2026-03-12T10:00:00Z", None),
    ];
    let m = dora_metrics(&deployments, &incidents, &march());

    // Attempted in the period: p1 p2 p3 p4 p5 p6 p7 p8 p10 p12 = 10.
    // Succeeded: p1 p3 p4 p5 p6 p8 = 6 over 14 days.
    let f = m.deployment_frequency.unwrap();
    assert_eq!(f.value, 6.0 / 14.0);
    assert_eq!((f.deployments, f.days), (6, 14));
    // Deploy days: 1, 2, 3, 4 March (week 1: 4 days) and 10 March (week 2:
    // 1 day): median 2.5 < 3; both weeks had one → weekly → high.
    assert_eq!(f.bucket, FrequencyBucket::Weekly);
    assert_eq!(f.cluster, Cluster::High);

    // Leads 1 800, 14 400, 86 400, 259 200: median (14 400 + 86 400) / 2.
    let lead = m.lead_time_for_changes.unwrap();
    assert_eq!(lead.value, 50_400.0);
    assert_eq!(lead.samples, 4);
    assert_eq!(lead.cluster, Cluster::Elite);

    // Failures: p2 (rolled back), p3 (reversed by p8), p5 (incident), p7,
    // p10 (failed), p12 (rolled back) = 6 of 10.
    let cfr = m.change_failure_rate.unwrap();
    assert_eq!((cfr.value, cfr.count, cfr.deployments), (0.6, 6, 10));
    assert_eq!(cfr.cluster, Some(Cluster::Low));

    // Recoveries p10 120, p2 600, p7 1 800, p5 7 200, p3 682 200 (p12's
    // incident is open): median 1 800 s = 30 min → elite.
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!(rec.value, 1800.0);
    assert_eq!(rec.samples, 5);
    assert_eq!(rec.cluster, Cluster::Elite);

    // Rework: p3 (hotfix) and p8 (rollback) of 10; no published cluster.
    let rework = m.deployment_rework_rate.unwrap();
    assert_eq!(
        (rework.value, rework.count, rework.deployments),
        (0.2, 2, 10)
    );
    assert_eq!(rework.cluster, None);
}

#[test]
fn no_production_deployment_means_no_metric() {
    let deployments = vec![
        dep(
            "s1",
            "web",
            "staging",
            Feature,
            Succeeded,
            "2026-03-02T10:00:00Z",
            60,
        ),
        // Governance stopped it: never attempted.
        dep(
            "p1",
            "web",
            "production",
            Feature,
            Rejected,
            "2026-03-02T10:00:00Z",
            60,
        ),
    ];
    let m = dora_metrics(&deployments, &[], &march());
    assert!(m.is_empty(), "{m:?}");
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        serde_json::json!({
            "deployment_frequency": null,
            "lead_time_for_changes": null,
            "change_failure_rate": null,
            "failed_deployment_recovery_time": null,
            "deployment_rework_rate": null,
        })
    );
}

#[test]
fn failures_only_still_measure_frequency_as_zero() {
    // Two failed production deployments: 0 successful per day is measured
    // (the stream exists); each one's own end restored service.
    let deployments = vec![
        dep(
            "p1",
            "web",
            "production",
            Feature,
            Failed,
            "2026-03-02T10:00:00Z",
            60,
        ),
        dep(
            "p2",
            "web",
            "production",
            Feature,
            Failed,
            "2026-03-03T10:00:00Z",
            60,
        ),
    ];
    let m = dora_metrics(&deployments, &[], &march());
    let f = m.deployment_frequency.unwrap();
    assert_eq!(
        (f.value, f.bucket, f.cluster),
        (0.0, FrequencyBucket::Yearly, Cluster::Low)
    );
    assert_eq!(m.lead_time_for_changes, None);
    assert_eq!(m.change_failure_rate.unwrap().value, 1.0);
    // Each took traffic for 60 s before it failed: median 60 s.
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!((rec.value, rec.samples), (60.0, 2));
}

#[test]
fn change_failure_rate_on_the_elite_boundary_from_counts() {
    // 40 production deployments on 1 March, 3 of them failed: 3/40 = 7.5%
    // exactly, on the elite/medium midpoint → elite.
    let mut deployments = Vec::new();
    for i in 0..40 {
        let result = if i < 3 { Failed } else { Succeeded };
        let at = format!("2026-03-01T{:02}:{:02}:00Z", 10 + i / 60, i % 60);
        deployments.push(dep(
            &format!("d{i}"),
            "web",
            "production",
            Feature,
            result,
            &at,
            60,
        ));
    }
    let m = dora_metrics(&deployments, &[], &march());
    let cfr = m.change_failure_rate.unwrap();
    assert_eq!(cfr.value, 0.075);
    assert_eq!(cfr.cluster, Some(Cluster::Elite));
    // A 41st deployment that failed: 4/41 ≈ 9.8% → medium.
    deployments.push(dep(
        "d40",
        "web",
        "production",
        Feature,
        Failed,
        "2026-03-01T12:00:00Z",
        60,
    ));
    let m = dora_metrics(&deployments, &[], &march());
    assert_eq!(
        m.change_failure_rate.unwrap().cluster,
        Some(Cluster::Medium)
    );
    // Each failure ended itself after its 60 s (the next success on the
    // target does not matter): d0, d1, d2 and d40 → median 60 s → elite.
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (60.0, 4, Cluster::Elite)
    );
}

#[test]
fn recovery_uses_the_latest_resolution_and_clamps_at_zero() {
    let deployments = vec![
        dep(
            "p1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-02T10:00:00Z",
            60,
        ),
        dep(
            "p2",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-03T10:00:00Z",
            60,
        )
        .incident(),
    ];
    let incidents = vec![
        // Two incidents blamed on p1: restored at the later resolution,
        // 3 h after p1 finished.
        incident(
            "i1",
            "web",
            "p1",
            "2026-03-02T10:05:00Z",
            Some("2026-03-02T11:00:00Z"),
        ),
        incident(
            "i2",
            "web",
            "p1",
            "2026-03-02T10:06:00Z",
            Some("2026-03-02T13:00:00Z"),
        ),
    ];
    let m = dora_metrics(&deployments, &incidents, &march());
    // p2 says it caused an incident but none names it, and no later success
    // exists: a failure that is not restored.
    let cfr = m.change_failure_rate.unwrap();
    assert_eq!((cfr.count, cfr.deployments), (2, 2));
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (10_800.0, 1, Cluster::High)
    );

    // An incident resolved before the deployment finished counts 0 s.
    let incidents = vec![incident(
        "i1",
        "web",
        "p1",
        "2026-03-02T09:00:00Z",
        Some("2026-03-02T09:30:00Z"),
    )];
    let m = dora_metrics(&deployments[..1], &incidents, &march());
    assert_eq!(m.failed_deployment_recovery_time.unwrap().value, 0.0);
}

#[test]
fn a_rollback_deployment_fails_the_deployment_it_reversed() {
    let deployments = vec![
        dep(
            "#1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-02T10:00:00Z",
            60,
        ),
        // Live when the rollback started (09:58 – 10:00 on 3 March).
        dep(
            "#2",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-03T10:00:00Z",
            120,
        ),
        // `zion rollback` at 10:40, done at 10:45 (300 s): reverses #2.
        dep(
            "#3",
            "web",
            "production",
            Rollback,
            Succeeded,
            "2026-03-03T10:45:00Z",
            300,
        ),
        // Another target: untouched.
        dep(
            "gh-7",
            "api",
            "production",
            Feature,
            Succeeded,
            "2026-03-03T10:30:00Z",
            60,
        ),
    ];
    let m = dora_metrics(&deployments, &[], &march());
    // Attempted #1 #2 #3 gh-7; #2 failed (reversed): 1 of 4 = 25% → high.
    // Before reversals were found this read 0 of 4.
    let cfr = m.change_failure_rate.as_ref().unwrap();
    assert_eq!(
        (cfr.value, cfr.count, cfr.deployments, cfr.cluster),
        (0.25, 1, 4, Some(Cluster::High))
    );
    // #2 served from 10:00 until the rollback finished at 10:45: 2 700 s.
    let rec = m.failed_deployment_recovery_time.as_ref().unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (2700.0, 1, Cluster::Elite)
    );
    // All four still deployed successfully; #3 is rework.
    assert_eq!(m.deployment_frequency.as_ref().unwrap().deployments, 4);
    assert_eq!(m.deployment_rework_rate.as_ref().unwrap().count, 1);

    // Marking the records first changes no figure: the reversal is found
    // once either way.
    let mut marked = deployments.clone();
    super::reversal::mark_reversals(&mut marked);
    assert!(marked[1].rollback.is_some());
    assert_eq!(dora_metrics(&marked, &[], &march()), m);
}

#[test]
fn recovery_runs_from_the_failing_change_to_restored_service() {
    let deployments = vec![
        // Automatic rollback after 30 s of traffic: 30 s, though the next
        // web success (w2) is three days later. Before: 259 200 s.
        dep(
            "w1",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-03-02T10:00:30Z",
            30,
        )
        .rollback(true, 10.0),
        dep(
            "w2",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-03-05T10:00:30Z",
            60,
        ),
        // Failed after 120 s; its incident was resolved 1 h after it
        // ended: restored then, 120 + 3 600 = 3 720 s.
        dep(
            "a1",
            "api",
            "production",
            Feature,
            Failed,
            "2026-03-03T12:00:00Z",
            120,
        ),
        // Rolled back after 600 s; its incident was resolved before that
        // (at 09:58, the deployment ended 10:00): its own end, 600 s.
        dep(
            "a2",
            "api",
            "production",
            Feature,
            RolledBack,
            "2026-03-04T10:00:00Z",
            600,
        ),
        // Failed, blamed for an incident still open: not restored.
        dep(
            "a3",
            "api",
            "production",
            Feature,
            Failed,
            "2026-03-06T10:00:00Z",
            60,
        ),
        // Succeeded but says it caused an incident none names: restored by
        // the next billing success 2 h later, 7 200 s (rule unchanged).
        dep(
            "b1",
            "billing",
            "production",
            Feature,
            Succeeded,
            "2026-03-07T10:00:00Z",
            60,
        )
        .incident(),
        dep(
            "b2",
            "billing",
            "production",
            Config,
            Succeeded,
            "2026-03-07T12:00:00Z",
            60,
        ),
        // Reversed by s2 (finished 11:00) but its incident was resolved
        // at 12:30: restored then, 10:00 → 12:30 = 9 000 s.
        dep(
            "s1",
            "search",
            "production",
            Feature,
            Succeeded,
            "2026-03-08T10:00:00Z",
            60,
        ),
        dep(
            "s2",
            "search",
            "production",
            Rollback,
            Succeeded,
            "2026-03-08T11:00:00Z",
            120,
        ),
    ];
    let incidents = vec![
        incident(
            "i1",
            "api",
            "a1",
            "2026-03-03T11:59:00Z",
            Some("2026-03-03T13:00:00Z"),
        ),
        incident(
            "i2",
            "api",
            "a2",
            "2026-03-04T09:55:00Z",
            Some("2026-03-04T09:58:00Z"),
        ),
        incident("i3", "api", "a3", "2026-03-06T10:00:00Z", None),
        incident(
            "i4",
            "search",
            "s1",
            "2026-03-08T10:10:00Z",
            Some("2026-03-08T12:30:00Z"),
        ),
    ];
    let m = dora_metrics(&deployments, &incidents, &march());
    // Failures w1 a1 a2 a3 b1 s1 = 6 of 9 attempted.
    let cfr = m.change_failure_rate.unwrap();
    assert_eq!((cfr.count, cfr.deployments), (6, 9));
    // Restored: 30, 600, 3 720, 7 200, 9 000 (a3 open): median 3 720 s
    // = 1 h 2 min → high.
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (3720.0, 5, Cluster::High)
    );
}

#[test]
fn the_most_recent_days_always_count_for_the_bucket() {
    // A 31-day period, 1 – 31 March, with one deployment today (the 31st).
    let cal = Calendar::new(
        ts("2026-03-01T00:00:00Z"),
        ts("2026-04-01T00:00:00Z"),
        &TimeZone::UTC,
    );
    let deployments = vec![dep(
        "#1",
        "web",
        "production",
        Feature,
        Succeeded,
        "2026-03-31T09:00:00Z",
        60,
    )];
    let f = dora_metrics(&deployments, &[], &cal)
        .deployment_frequency
        .unwrap();
    // Cut back from the 31st: weeks 25–31, 18–24, 11–17, 4–10 (1–3 left
    // out); one of four weeks had a deploy: not more than half → not
    // weekly. The 30-day month 2–31 had one (1 of 1) → monthly → medium.
    // Cut from the 1st, the 31st fell out of every block: yearly.
    assert_eq!(
        (f.bucket, f.cluster, f.days),
        (FrequencyBucket::Monthly, Cluster::Medium, 31)
    );
    assert_eq!(f.value, 1.0 / 31.0);

    // The oldest incomplete blocks are the ones left out: a deploy on the
    // 1st only falls in both (weeks with one: 0 of 4; month 2–31: none).
    let deployments = vec![dep(
        "#1",
        "web",
        "production",
        Feature,
        Succeeded,
        "2026-03-01T09:00:00Z",
        60,
    )];
    let f = dora_metrics(&deployments, &[], &cal)
        .deployment_frequency
        .unwrap();
    assert_eq!(f.bucket, FrequencyBucket::Yearly);
}
