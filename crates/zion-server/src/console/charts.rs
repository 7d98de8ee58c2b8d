//! Inline SVG charts: the traffic split over time and a measured figure
//! against its bound over the analysis rounds. Numbers only go into the
//! SVG (labels are escaped by the page around it), so a chart is built as
//! text here.

use std::fmt::Write;

const W: f64 = 600.0;
const H: f64 = 160.0;
const PAD: f64 = 30.0;

/// Where `v` in `lo..=hi` falls on an axis of `len` from `start`.
fn scale(v: f64, lo: f64, hi: f64, start: f64, len: f64) -> f64 {
    if hi > lo {
        start + (v - lo) / (hi - lo) * len
    } else {
        start + len / 2.0
    }
}

fn frame(label: &str, body: &str, y_max: &str) -> String {
    frame_between(label, body, y_max, "0")
}

/// The axes, labelled `y_max` at the top and `y_min` at the bottom.
fn frame_between(label: &str, body: &str, y_max: &str, y_min: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{label}\" \
         preserveAspectRatio=\"none\">\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\"/>\
         <text x=\"2\" y=\"{t}\">{y_max}</text><text x=\"2\" y=\"{b}\">{y_min}</text>{body}</svg>",
        b = H - PAD,
        r = W - 5.0,
        t = PAD + 4.0,
    )
}

/// The canary's share of traffic (0..=100) as a step line over time:
/// `points` are (seconds since the start, weight), in time order.
pub(crate) fn traffic(points: &[(f64, u8)]) -> String {
    let end = points.last().map_or(1.0, |p| p.0.max(1.0));
    let mut path = String::new();
    let mut last_y = None;
    for (t, w) in points {
        let x = scale(*t, 0.0, end, PAD, W - PAD - 5.0);
        let y = scale(f64::from(*w), 0.0, 100.0, H - PAD, -(H - 2.0 * PAD));
        match last_y {
            None => write!(path, "M{x:.1},{y:.1}"),
            Some(prev) => write!(path, " L{x:.1},{prev:.1} L{x:.1},{y:.1}"),
        }
        .expect("writing to a String");
        last_y = Some(y);
    }
    if let Some(y) = last_y {
        write!(path, " L{:.1},{y:.1}", W - 5.0).expect("writing to a String");
    }
    frame(
        "canary traffic share over time",
        &format!("<path class=\"series\" d=\"{path}\"/>"),
        "100%",
    )
}

/// A measured figure over the rounds (None: no data that round) against
/// its bound (a horizontal line, when it is a fixed value).
pub(crate) fn figure(values: &[Option<f64>], bound: Option<f64>) -> String {
    let top = values
        .iter()
        .flatten()
        .copied()
        .chain(bound)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    let n = values.len().max(2) - 1;
    let mut body = String::new();
    if let Some(b) = bound {
        let y = scale(b, 0.0, top, H - PAD, -(H - 2.0 * PAD));
        write!(
            body,
            "<line class=\"bound\" x1=\"{PAD}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\"/>",
            W - 5.0
        )
        .expect("writing to a String");
    }
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let x = scale(i as f64, 0.0, n as f64, PAD + 10.0, W - 2.0 * PAD);
        let y = scale(*v, 0.0, top, H - PAD, -(H - 2.0 * PAD));
        write!(
            body,
            "<circle class=\"point\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\"/>"
        )
        .expect("writing to a String");
    }
    frame(
        "measured value per round against its bound",
        &body,
        &super::layout::figure(top),
    )
}

/// The share of an error budget left (1.0: all of it) after each of
/// equal spans of time, as a line from the first span to the last. The
/// axis reaches down to the lowest value or 0, but no further than −100%
/// (an overspent budget is drawn at the bottom), with a line at 0.
pub(crate) fn budget(left: &[f64]) -> String {
    let lo = left.iter().copied().fold(0.0_f64, f64::min).max(-1.0);
    let hi = 1.0;
    let n = left.len().max(2) - 1;
    let y_of = |v: f64| scale(v.clamp(lo, hi), lo, hi, H - PAD, -(H - 2.0 * PAD));
    let mut body = String::new();
    if lo < 0.0 {
        let y = y_of(0.0);
        write!(
            body,
            "<line class=\"bound\" x1=\"{PAD}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\"/>",
            W - 5.0
        )
        .expect("writing to a String");
    }
    let mut path = String::new();
    for (i, v) in left.iter().enumerate() {
        let x = scale(i as f64, 0.0, n as f64, PAD + 10.0, W - 2.0 * PAD);
        let y = y_of(*v);
        let step = if i == 0 { 'M' } else { 'L' };
        write!(path, "{step}{x:.1},{y:.1} ").expect("writing to a String");
    }
    write!(body, "<path class=\"series\" d=\"{}\"/>", path.trim_end())
        .expect("writing to a String");
    frame_between(
        "error budget left over time",
        &body,
        "100%",
        &super::layout::percent(lo),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_steps_up_and_stays() {
        let svg = traffic(&[(0.0, 0), (10.0, 20), (20.0, 100)]);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(
            svg.contains("M30.0,130.0"),
            "starts at 0% on the left: {svg}"
        );
        assert!(svg.contains(",30.0"), "reaches 100% at the top: {svg}");
    }

    #[test]
    fn figures_are_points_under_their_bound_line() {
        let svg = figure(&[Some(1.0), None, Some(2.0)], Some(4.0));
        assert_eq!(
            svg.matches("<circle").count(),
            2,
            "a round without data has no point"
        );
        assert!(svg.contains("class=\"bound\""));
    }

    #[test]
    fn a_budget_line_falls_to_its_lowest_and_overspending_is_clamped() {
        let svg = budget(&[1.0, 0.5, 0.0]);
        assert!(svg.contains("M40.0,30.0 "), "starts full at the top: {svg}");
        assert!(svg.contains(">0.0%</text>"), "the axis ends at 0: {svg}");
        assert!(!svg.contains("class=\"bound\""), "no zero line: {svg}");
        let svg = budget(&[1.0, -998.0]);
        assert!(svg.contains(">-100.0%</text>"), "{svg}");
        assert!(svg.contains("L580.0,130.0"), "drawn at the bottom: {svg}");
        assert!(svg.contains("class=\"bound\""), "a line at 0: {svg}");
    }
}
