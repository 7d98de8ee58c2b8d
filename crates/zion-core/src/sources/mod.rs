//! External metric sources of analysis checks (`prometheus`, `web`,
//! `exec`): what the server asks (templates rendered here), how their
//! answers are read, and how a value or a failure is judged. The server
//! does the I/O when a round is due and hands the [`Reading`]s to the
//! round in [`crate::rollout::VersionObservation::readings`].
//!
//! A source that cannot be asked (down, timing out, answering 5xx) or that
//! has no value (no series, NaN, infinity) makes its check inconclusive:
//! nothing is known about the canary. A source that answers but says the
//! check itself is wrong (a 4xx, a PromQL error, several series, a command
//! exiting non-zero, no number at the JSON path) fails it.

pub mod json_path;
pub mod prometheus;
pub mod template;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis::{CheckResult, Verdict, fmt};
use crate::spec::{Bound, Check, CheckSource};

/// What the server got from one external check's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The check's name.
    pub check: String,
    /// What was asked: the rendered PromQL, the URL, or the argv.
    pub query: String,
    pub outcome: Outcome,
}

/// The answer of a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A number (possibly NaN or infinite, judged inconclusive).
    Value(f64),
    /// The source answered without a value: inconclusive.
    NoData(String),
    /// The source could not be asked: inconclusive.
    Unavailable(String),
    /// The source says the check is wrong: failed.
    Error(String),
}

/// Judges one external check from its reading (None: it was not read this
/// round, which is inconclusive).
pub fn judge(check: &Check, reading: Option<&Reading>) -> CheckResult {
    let name = &check.name;
    let (verdict, message, value) = match reading.map(|r| &r.outcome) {
        None => (
            Verdict::Inconclusive,
            format!("{name}: not read this round"),
            None,
        ),
        Some(Outcome::NoData(why)) => (Verdict::Inconclusive, format!("{name}: {why}"), None),
        Some(Outcome::Unavailable(why)) => (Verdict::Inconclusive, format!("{name}: {why}"), None),
        Some(Outcome::Error(why)) => (Verdict::Fail, format!("{name}: {why}"), None),
        Some(Outcome::Value(v)) if !v.is_finite() => (
            Verdict::Inconclusive,
            format!("{name}: the value is {v}, not a number to judge"),
            None,
        ),
        Some(Outcome::Value(v)) => {
            let v = *v;
            let (verdict, message) = match check.bound {
                Bound::Max(max) if v <= max => (
                    Verdict::Pass,
                    format!("{name} {} ≤ max {}", fmt(v), fmt(max)),
                ),
                Bound::Max(max) => (
                    Verdict::Fail,
                    format!("{name} {} > max {}", fmt(v), fmt(max)),
                ),
                Bound::Min(min) if v >= min => (
                    Verdict::Pass,
                    format!("{name} {} ≥ min {}", fmt(v), fmt(min)),
                ),
                Bound::Min(min) => (
                    Verdict::Fail,
                    format!("{name} {} < min {}", fmt(v), fmt(min)),
                ),
                // Validation refuses it: an external value has no baseline.
                Bound::MaxRatioToBaseline(_) => (
                    Verdict::Inconclusive,
                    format!("{name}: max_ratio_to_baseline needs a built-in metric"),
                ),
            };
            (verdict, message, Some(v))
        }
    };
    CheckResult {
        name: name.clone(),
        source: Some(check.source.kind().to_string()),
        query: reading.map(|r| r.query.clone()),
        metric: None,
        bound: check.bound,
        canary: value,
        baseline: None,
        verdict,
        message,
    }
}

/// The external checks of a plan: the ones the server must read.
pub fn external(checks: &[Check]) -> impl Iterator<Item = &Check> {
    checks
        .iter()
        .filter(|c| !matches!(c.source, CheckSource::Builtin(_)))
}

/// A web check's answer: the number at `json_path` in the JSON body
/// (a JSON number, or a string holding one).
pub fn web_value(body: &[u8], json_path: &str) -> Outcome {
    let steps = match json_path::parse(json_path) {
        Ok(s) => s,
        Err(e) => return Outcome::Error(e),
    };
    let doc: Value = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => return Outcome::Error(format!("the answer is not JSON ({e})")),
    };
    match json_path::select(&doc, &steps) {
        None => Outcome::Error(format!("nothing at {json_path} in the answer")),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Outcome::Value)
            .unwrap_or_else(|| Outcome::Error(format!("{n} at {json_path} is not a number"))),
        Some(Value::String(s)) => number(s)
            .map(Outcome::Value)
            .unwrap_or_else(|| Outcome::Error(format!("`{s}` at {json_path} is not a number"))),
        Some(Value::Null) => Outcome::NoData(format!("null at {json_path}")),
        Some(other) => Outcome::Error(format!("{other} at {json_path} is not a number")),
    }
}

/// An exec check's answer: its standard output is one number.
pub fn exec_value(stdout: &str) -> Outcome {
    let text = stdout.trim();
    match number(text) {
        Some(v) => Outcome::Value(v),
        None if text.is_empty() => Outcome::Error("printed nothing; print one number".into()),
        None => {
            let shown: String = text.chars().take(80).collect();
            Outcome::Error(format!("printed `{shown}`, not a number"))
        }
    }
}

/// A number as Prometheus and people write it (`NaN`, `+Inf` included).
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

#[cfg(test)]
mod tests;
