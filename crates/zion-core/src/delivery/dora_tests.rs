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
    // Shorter than a week: the partial week is judged: 3 days → daily.
    assert_eq!(
        frequency_bucket(&days(5, &[0, 2, 4])),
        FrequencyBucket::Daily
    );
    // 10 days: the incomplete second week (days 7–9) is left out, so the
    // only week has no deploy; the only (partial) month has → monthly.
    assert_eq!(
        frequency_bucket(&days(10, &[7, 8, 9])),
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
        // Rolled back; restored by p3 30 min later: 1 800 s.
        dep(
            "p2",
            "web",
            "production",
            Feature,
            RolledBack,
            "2026-03-02T10:00:00Z",
            60,
        )
        .rollback(true, 20.0),
        // Hotfix, lead 30 min = 1 800 s.
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
        // Failed; restored by p8 a day later: 86 400 s.
        dep(
            "p7",
            "web",
            "production",
            Feature,
            Failed,
            "2026-03-09T08:00:00Z",
            60,
        ),
        // Rollback deployment, lead 1 day = 86 400 s.
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
        // Failed on the last day; restored after the period by p11: 2 days.
        dep(
            "p10",
            "web",
            "production",
            Feature,
            Failed,
            "2026-03-14T20:00:00Z",
            60,
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

    // Failures: p2 (rolled back), p5 (incident), p7, p10 (failed), p12
    // (rolled back) = 5 of 10.
    let cfr = m.change_failure_rate.unwrap();
    assert_eq!((cfr.value, cfr.count, cfr.deployments), (0.5, 5, 10));
    assert_eq!(cfr.cluster, Some(Cluster::Low));

    // Recoveries 1 800, 7 200, 86 400, 172 800 (p12 open): median
    // (7 200 + 86 400) / 2 = 46 800 s = 13 h → high.
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!(rec.value, 46_800.0);
    assert_eq!(rec.samples, 4);
    assert_eq!(rec.cluster, Cluster::High);

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
    // (the stream exists), and nothing restored them.
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
    // p1 is not restored by p2 (a failure), so no recovery at all.
    assert_eq!(m.failed_deployment_recovery_time, None);
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
    // The failures were restored by the next success on the same target:
    // d0, d1, d2 at 10:00, 10:01, 10:02 by d3 at 10:03 → 180, 120, 60 s;
    // d40 at 12:00 never → median of 60, 120, 180 = 120 s → elite.
    let rec = m.failed_deployment_recovery_time.unwrap();
    assert_eq!(
        (rec.value, rec.samples, rec.cluster),
        (120.0, 3, Cluster::Elite)
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
