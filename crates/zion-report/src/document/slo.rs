//! The SLO report laid out: one section per SLO with its figures over the
//! period, a chart of its SLI per hour (a day's report) or per day, and
//! the same figures in a table.

use zion_core::slo::policy::percent as objective_text;
use zion_core::slo::report::{Period, SloPeriod, SloReport};

use super::{Bar, Block, Chart, Document, Section, Table};
use crate::text::{count, or_no_data};

impl Document {
    pub(crate) fn from_slo_report(r: &SloReport) -> Document {
        let lead = vec![format!(
            "Period: the last {} ({} to {}, UTC)",
            r.period.name(),
            minute(r.since),
            minute(r.until)
        )];
        let mut sections: Vec<Section> = r.slos.iter().map(|s| slo_section(s, r.period)).collect();
        if sections.is_empty() {
            sections.push(Section {
                id: "slos".into(),
                title: "SLOs".into(),
                blocks: vec![Block::Note(
                    "No SLO is declared: add `slos:` to the spec.".into(),
                )],
            });
        }
        Document {
            title: "SLO report".into(),
            lead,
            sections,
        }
    }
}

fn minute(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

/// An SLI as a percentage to three decimals at most.
fn sli_text(sli: f64) -> String {
    let text = format!("{:.3}", sli * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

fn slo_section(s: &SloPeriod, period: Period) -> Section {
    let id = format!("slo-{}", s.id.replace('/', "-"));
    let unit = if s.budgeting == "time_slices" {
        "minutes"
    } else {
        "events"
    };
    let facts = vec![
        ("Objective".to_string(), objective_text(s.objective)),
        (
            "SLI over the period".to_string(),
            or_no_data(s.sli, sli_text),
        ),
        (
            format!("Good {unit}"),
            format!("{} of {}", count(s.good), count(s.total)),
        ),
        (
            "Error budget left (this period's events)".to_string(),
            if s.total == 0 {
                "no data".to_string()
            } else {
                sli_text(s.budget.remaining)
            },
        ),
        (
            "Burn rate".to_string(),
            format!("{:.2}x", s.budget.burn_rate),
        ),
    ];
    let label = |b: &zion_core::slo::report::SloBucket| match period {
        Period::Day => b.start.strftime("%H:00").to_string(),
        _ => b.start.strftime("%m-%d").to_string(),
    };
    let chart = Chart {
        id: format!("chart-{id}"),
        title: format!(
            "{} SLI per {}",
            s.id,
            if period == Period::Day { "hour" } else { "day" }
        ),
        bars: s
            .buckets
            .iter()
            .map(|b| Bar {
                label: label(b),
                value: b.sli.map(|v| v * 100.0),
                tooltip: format!(
                    "{}: {} ({} good of {})",
                    minute(b.start),
                    or_no_data(b.sli, sli_text),
                    count(b.good),
                    count(b.total)
                ),
            })
            .collect(),
        axis: |v| format!("{v:.0}%"),
        nice: |_| 100.0,
    };
    let table = Table {
        headers: vec!["from", "good", "total", "SLI"],
        rows: s
            .buckets
            .iter()
            .map(|b| {
                vec![
                    minute(b.start),
                    count(b.good),
                    count(b.total),
                    or_no_data(b.sli, sli_text),
                ]
            })
            .collect(),
    };
    Section {
        id,
        title: s.id.clone(),
        blocks: vec![
            Block::Facts(facts),
            Block::Chart(chart),
            Block::Table(table),
        ],
    }
}

/// The delivery report's SLO section: each SLO over the report's period.
/// None when the spec declares no SLO.
pub(crate) fn delivery_section(r: &zion_core::delivery::Report) -> Option<Section> {
    let slos = r.slos.as_ref()?;
    let rows: Vec<Vec<String>> = slos
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                objective_text(s.objective),
                or_no_data(s.sli, sli_text),
                format!("{} of {}", count(s.good), count(s.total)),
                if s.total == 0 {
                    "no data".to_string()
                } else {
                    sli_text(s.budget.remaining)
                },
            ]
        })
        .collect();
    let blocks = if rows.is_empty() {
        Vec::new()
    } else {
        vec![
            Block::Table(Table {
                headers: vec!["SLO", "objective", "SLI", "good", "budget left"],
                rows,
            }),
            Block::Note(
                "Over the report's period and its events alone; `zion slo status` shows each \
                 SLO over its own window."
                    .into(),
            ),
        ]
    };
    Some(Section {
        id: "slos".into(),
        title: "Service level objectives".into(),
        blocks,
    })
}
