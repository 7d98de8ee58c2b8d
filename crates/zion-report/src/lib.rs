//! `zion-report` turns a deployment report computed by `zion-core` into
//! something to read: Markdown for a terminal or a pull request, and one
//! self-contained HTML file (inline CSS and SVG charts, nothing fetched,
//! fit to print). It computes nothing itself: every figure comes from the
//! [`Report`], and a section without data says so rather than showing a zero.
//! It is not the report's maths (that is `zion_core::delivery`) and does no
//! I/O; the caller writes the text where it wants.
//!
//! HTML sections carry stable ids (`summary`, `environments`, `types`,
//! `frequency`, `success`, `speed`, `rollbacks`, `approvals`,
//! `quality-gates`, `dora`, `trends`, `slos` when the spec declares SLOs,
//! `audit`), as do the charts
//! (`chart-per-day`, `chart-success-month`, `chart-duration-month`,
//! `chart-duration-histogram`), which appear when their section has data.

mod document;
mod html;
mod markdown;
mod svg;
pub mod text;

use zion_core::delivery::Report;
use zion_core::slo::report::SloReport;

use document::Document;

/// The report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    markdown::render(&Document::from_report(report))
}

/// The report as one self-contained HTML document.
pub fn render_html(report: &Report) -> String {
    html::render(&Document::from_report(report))
}

/// The report as pretty-printed JSON (the same document the API serves).
pub fn render_json(report: &Report) -> String {
    // A report holds only strings, numbers, dates and options: it always
    // serializes.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The SLO report as Markdown.
pub fn render_slo_markdown(report: &SloReport) -> String {
    markdown::render(&Document::from_slo_report(report))
}

/// The SLO report as one self-contained HTML document (an inline SVG chart
/// per SLO, ids `chart-slo-<service>-<environment>-<name>`).
pub fn render_slo_html(report: &SloReport) -> String {
    html::render(&Document::from_slo_report(report))
}

/// The SLO report as pretty-printed JSON (the document the API serves).
pub fn render_slo_json(report: &SloReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
