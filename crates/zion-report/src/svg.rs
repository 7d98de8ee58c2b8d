//! Hand-drawn bar charts as inline SVG: no script, no external resource,
//! readable when printed. Each bar carries a `<title>` so a browser shows
//! its exact figure on hover.

use std::fmt::Write;

use crate::document::Chart;
use crate::text::html_escape;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
/// Room above the tallest bar for its value label.
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;
const MAX_BAR: f64 = 64.0;
/// The width of one character of an 11px label, a little over the average
/// of a sans-serif font, to decide whether labels would overlap.
const CHAR_WIDTH: f64 = 6.6;
/// Charts with this many bars or fewer print each bar's value above it.
const VALUE_LABELS_UP_TO: usize = 12;

/// The chart as an `<svg>` element.
pub(crate) fn bar_chart(chart: &Chart) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base = TOP + plot_h;
    let largest = chart
        .bars
        .iter()
        .filter_map(|b| b.value)
        .fold(0.0_f64, f64::max);
    let max = (chart.nice)(largest);
    let max = if max > 0.0 { max } else { 1.0 };
    let n = chart.bars.len().max(1);
    let slot = plot_w / n as f64;
    // Thin bars touch; wide ones keep a gap and never grow past MAX_BAR.
    let bar_w = if slot > 4.0 {
        (slot * 0.85).min(MAX_BAR)
    } else {
        slot
    };
    let value_labels = n <= VALUE_LABELS_UP_TO;

    let mut svg = String::with_capacity(256 + chart.bars.len() * 160);
    let title = html_escape(&chart.title);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
    // Axes and the value scale: zero, half and the top.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}"/><line class="axis" x1="{LEFT}" y1="{base}" x2="{}" y2="{base}"/>"#,
        WIDTH - RIGHT
    );
    for fraction in [0.0, 0.5, 1.0] {
        let y = base - fraction * plot_h;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            html_escape(&(chart.axis)(fraction * max))
        );
    }
    for (i, bar) in chart.bars.iter().enumerate() {
        let Some(value) = bar.value else {
            continue;
        };
        let h = (value / max).clamp(0.0, 1.0) * plot_h;
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.2}" y="{:.2}" width="{:.2}" height="{h:.2}"><title>{}</title></rect>"#,
            base - h,
            bar_w.max(0.5),
            html_escape(&bar.tooltip)
        );
        if value_labels {
            let _ = write!(
                svg,
                r#"<text class="value" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar_w / 2.0,
                base - h - 4.0,
                html_escape(&(chart.axis)(value))
            );
        }
    }
    // When every label fits its slot, each bar gets one centred under it;
    // otherwise only the first, middle and last do, the outer two kept
    // inside the chart, so long periods stay legible.
    let longest = chart
        .bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let every_label = longest as f64 * CHAR_WIDTH <= slot - 4.0;
    let last = chart.bars.len().saturating_sub(1);
    let labelled: Vec<usize> = if every_label {
        (0..chart.bars.len()).collect()
    } else {
        let mut ends = vec![0, last / 2, last];
        ends.dedup();
        ends
    };
    for i in labelled {
        let Some(bar) = chart.bars.get(i) else {
            continue;
        };
        let (x, anchor) = if every_label {
            (LEFT + (i as f64 + 0.5) * slot, "middle")
        } else if i == 0 {
            (LEFT, "start")
        } else if i == last {
            (WIDTH - RIGHT, "end")
        } else {
            (LEFT + (i as f64 + 0.5) * slot, "middle")
        };
        let _ = write!(
            svg,
            r#"<text class="label" x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            base + 18.0,
            html_escape(&bar.label)
        );
    }
    svg.push_str("</svg>");
    svg
}
