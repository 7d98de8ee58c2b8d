//! How the report words and scales its figures: counts with their share,
//! rates, durations, the DORA rows, and the charts' axes. Shared by the
//! sections in `mod.rs`.

use zion_core::delivery::DoraMetrics;
use zion_core::delivery::dora::{DurationFigure, FrequencyFigure, RateFigure};
use zion_core::delivery::report::DurationExtreme;
use zion_core::deployment::PlanKind;

use crate::text::{self, NO_DATA, or_no_data};

pub(super) fn fact(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_string(), value.into())
}

pub(super) fn of(part: u64, whole: u64, rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!(
            "{} ({} of {})",
            text::percent(r),
            text::count(part),
            text::count(whole)
        ),
        None => NO_DATA.to_string(),
    }
}

pub(super) fn strategy_name(s: PlanKind) -> &'static str {
    match s {
        PlanKind::Canary => "Canary",
        PlanKind::BlueGreen => "Blue-green",
        PlanKind::Rolling => "Rolling",
        // A target's first version and rollbacks: no steps, one switch.
        PlanKind::Direct => "Direct",
    }
}

/// A deployment's id is printed as it is: Zion's own already read `#42`,
/// and an imported one reads as the other tool wrote it (`gh-1234`).
pub(super) fn extreme(e: &DurationExtreme) -> String {
    format!(
        "{} ({}, {} in {}, {})",
        text::duration(e.seconds),
        e.id,
        e.service,
        e.environment,
        text::kind(e.kind).to_lowercase()
    )
}

pub(super) fn rate_text(f: &Option<RateFigure>) -> String {
    or_no_data(f.as_ref(), |f| text::percent(f.value))
}

pub(super) fn frequency_text(f: &Option<FrequencyFigure>) -> String {
    or_no_data(f.as_ref(), |f| {
        format!("{} ({})", text::per_day(f.value), text::bucket(f.bucket))
    })
}

pub(super) fn duration_text(f: &Option<DurationFigure>) -> String {
    or_no_data(f.as_ref(), |f| text::duration(f.value))
}

/// The five metrics as table rows: metric, value, cluster, basis.
pub(super) fn dora_rows(m: &DoraMetrics) -> Vec<Vec<String>> {
    let cluster = |c: Option<zion_core::delivery::Cluster>| {
        c.map(|c| text::cluster(c).to_string())
            .unwrap_or_else(|| "—".to_string())
    };
    vec![
        vec![
            "Deployment frequency".to_string(),
            frequency_text(&m.deployment_frequency),
            cluster(m.deployment_frequency.as_ref().map(|f| f.cluster)),
            or_no_data(m.deployment_frequency.as_ref(), |f| {
                format!(
                    "{} successful deployments over {} days",
                    text::count(f.deployments),
                    text::decimal(f.length_days)
                )
            }),
        ],
        vec![
            "Lead time for changes".to_string(),
            duration_text(&m.lead_time_for_changes),
            cluster(m.lead_time_for_changes.as_ref().map(|f| f.cluster)),
            or_no_data(m.lead_time_for_changes.as_ref(), |f| {
                format!(
                    "median of {} commit-to-deploy times",
                    text::count(f.samples)
                )
            }),
        ],
        vec![
            "Change failure rate".to_string(),
            rate_text(&m.change_failure_rate),
            cluster(m.change_failure_rate.as_ref().and_then(|f| f.cluster)),
            or_no_data(m.change_failure_rate.as_ref(), |f| {
                format!(
                    "{} of {} deployments",
                    text::count(f.count),
                    text::count(f.deployments)
                )
            }),
        ],
        vec![
            "Failed deployment recovery time".to_string(),
            duration_text(&m.failed_deployment_recovery_time),
            cluster(
                m.failed_deployment_recovery_time
                    .as_ref()
                    .map(|f| f.cluster),
            ),
            or_no_data(m.failed_deployment_recovery_time.as_ref(), |f| {
                format!("median of {} restored failures", text::count(f.samples))
            }),
        ],
        vec![
            "Deployment rework rate".to_string(),
            rate_text(&m.deployment_rework_rate),
            cluster(m.deployment_rework_rate.as_ref().and_then(|f| f.cluster)),
            or_no_data(m.deployment_rework_rate.as_ref(), |f| {
                format!(
                    "{} hotfix or rollback of {} deployments",
                    text::count(f.count),
                    text::count(f.deployments)
                )
            }),
        ],
    ]
}

/// One row per stream: name, then the five values with their clusters.
pub(super) fn dora_breakdown_row(name: String, m: &DoraMetrics) -> Vec<String> {
    let mut row = vec![name];
    row.extend(dora_cells(m));
    row
}

/// The five values with their clusters, as table cells.
pub(super) fn dora_cells(m: &DoraMetrics) -> [String; 5] {
    let with = |value: String, c: Option<zion_core::delivery::Cluster>| match c {
        Some(c) => format!("{value}, {}", text::cluster(c).to_lowercase()),
        None => value,
    };
    [
        with(
            frequency_text(&m.deployment_frequency),
            m.deployment_frequency.as_ref().map(|f| f.cluster),
        ),
        with(
            duration_text(&m.lead_time_for_changes),
            m.lead_time_for_changes.as_ref().map(|f| f.cluster),
        ),
        with(
            rate_text(&m.change_failure_rate),
            m.change_failure_rate.as_ref().and_then(|f| f.cluster),
        ),
        with(
            duration_text(&m.failed_deployment_recovery_time),
            m.failed_deployment_recovery_time
                .as_ref()
                .map(|f| f.cluster),
        ),
        rate_text(&m.deployment_rework_rate),
    ]
}

/// The headings of the five columns [`dora_cells`] fills, shared by every
/// table that carries them so they read alike.
pub(super) const DORA_HEADERS: [&str; 5] = [
    "Frequency",
    "Lead time",
    "Change failure rate",
    "Recovery time",
    "Rework rate",
];

/// The smallest of 1, 2, 4, 5 or 10 × 10ⁿ at or above `v` (at least 2, so
/// the half-way tick of a count is whole).
pub(super) fn nice_count(v: f64) -> f64 {
    if v <= 2.0 {
        return 2.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 4.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|top| *top >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A duration top whose half is a round duration.
pub(super) fn nice_duration(v: f64) -> f64 {
    const TOPS: [f64; 16] = [
        2.0, 10.0, 20.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14_400.0,
        21_600.0, 43_200.0, 86_400.0, 172_800.0,
    ];
    TOPS.into_iter()
        .find(|top| *top >= v)
        .unwrap_or_else(|| (v / 172_800.0).ceil() * 172_800.0)
}

pub(super) fn nice_rate(_: f64) -> f64 {
    1.0
}

pub(super) fn axis_count(v: f64) -> String {
    text::decimal(v)
}

pub(super) fn axis_percent(v: f64) -> String {
    text::percent(v)
}

pub(super) fn axis_duration(v: f64) -> String {
    text::duration(v)
}
