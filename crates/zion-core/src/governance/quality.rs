//! Quality gates: the release evidence a deployment carries (test results,
//! line coverage, security findings by SARIF level) and an environment's
//! minimums for it. [`evaluate`] says which gates the evidence misses, each
//! with the required and the measured value. Reading the reports themselves
//! (JUnit, LCOV, Cobertura, SARIF) happens elsewhere; this module only
//! judges the figures they produced.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The release evidence attached to one deployment; each kind is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    #[serde(default)]
    pub tests: Option<TestSummary>,
    #[serde(default)]
    pub coverage: Option<CoverageSummary>,
    #[serde(default)]
    pub findings: Option<FindingCounts>,
}

impl Evidence {
    /// True when no kind of evidence is attached.
    pub fn is_empty(&self) -> bool {
        self.tests.is_none() && self.coverage.is_none() && self.findings.is_none()
    }
}

/// Test results: every test case counted once, in exactly one outcome
/// (`total = passed + failed + errors + skipped`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestSummary {
    pub total: u64,
    pub passed: u64,
    /// Assertions that did not hold.
    pub failed: u64,
    pub skipped: u64,
    /// Tests that could not run to a verdict (panics outside assertions,
    /// timeouts, set-up failures), as JUnit's `<error>` reports them.
    pub errors: u64,
}

impl TestSummary {
    /// Tests that ran to a verdict or an error: `total − skipped`.
    pub fn executed(&self) -> u64 {
        self.total.saturating_sub(self.skipped)
    }

    /// Share of executed tests that passed: `passed / (total − skipped)`.
    /// Skipped tests neither help nor hurt; failures and errors both count
    /// against. None when no test was executed.
    pub fn pass_ratio(&self) -> Option<f64> {
        let executed = self.executed();
        (executed > 0).then(|| self.passed as f64 / executed as f64)
    }
}

/// Line coverage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageSummary {
    /// Instrumented (coverable) lines.
    pub lines_total: u64,
    /// Instrumented lines executed at least once.
    pub lines_covered: u64,
}

impl CoverageSummary {
    /// `lines_covered / lines_total`; None when no line is instrumented.
    pub fn ratio(&self) -> Option<f64> {
        (self.lines_total > 0).then(|| self.lines_covered as f64 / self.lines_total as f64)
    }
}

/// A SARIF 2.1.0 result level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingLevel {
    Error,
    Warning,
    Note,
    /// SARIF's `none`: a result that is not a problem (e.g. a pass).
    None,
}

impl FindingLevel {
    /// Every level, most severe first.
    pub const ALL: [FindingLevel; 4] = [
        FindingLevel::Error,
        FindingLevel::Warning,
        FindingLevel::Note,
        FindingLevel::None,
    ];

    /// The SARIF (and spec) name.
    pub const fn name(self) -> &'static str {
        match self {
            FindingLevel::Error => "error",
            FindingLevel::Warning => "warning",
            FindingLevel::Note => "note",
            FindingLevel::None => "none",
        }
    }

    /// Parses a SARIF level name.
    pub fn from_name(name: &str) -> Option<FindingLevel> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }
}

impl fmt::Display for FindingLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Security or lint findings counted by level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FindingCounts {
    pub error: u64,
    pub warning: u64,
    pub note: u64,
    pub none: u64,
}

impl FindingCounts {
    /// The count at one level.
    pub fn get(&self, level: FindingLevel) -> u64 {
        match level {
            FindingLevel::Error => self.error,
            FindingLevel::Warning => self.warning,
            FindingLevel::Note => self.note,
            FindingLevel::None => self.none,
        }
    }

    /// Adds one finding at `level`.
    pub fn add(&mut self, level: FindingLevel) {
        let slot = match level {
            FindingLevel::Error => &mut self.error,
            FindingLevel::Warning => &mut self.warning,
            FindingLevel::Note => &mut self.note,
            FindingLevel::None => &mut self.none,
        };
        *slot += 1;
    }

    /// All findings, whatever their level.
    pub fn total(&self) -> u64 {
        self.error + self.warning + self.note + self.none
    }
}

/// An environment's `gates:`. A gate that is not set is not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityGates {
    /// Minimum [`TestSummary::pass_ratio`], 0..=1.
    #[serde(default)]
    pub tests_passed: Option<f64>,
    /// Minimum [`CoverageSummary::ratio`], 0..=1.
    #[serde(default)]
    pub coverage: Option<f64>,
    /// Maximum findings per level; each level is limited on its own (a
    /// `warning: 5` limit does not count errors).
    #[serde(default)]
    pub findings: BTreeMap<FindingLevel, u64>,
}

impl QualityGates {
    /// True when no gate is set.
    pub fn is_empty(&self) -> bool {
        self.tests_passed.is_none() && self.coverage.is_none() && self.findings.is_empty()
    }
}

/// Which gate failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityGate {
    TestsPassed,
    Coverage,
    /// The limit on findings at this level.
    Findings(FindingLevel),
}

impl fmt::Display for QualityGate {
    /// The gate's path in the spec: `tests_passed`, `coverage`, `findings.error`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QualityGate::TestsPassed => f.write_str("tests_passed"),
            QualityGate::Coverage => f.write_str("coverage"),
            QualityGate::Findings(level) => write!(f, "findings.{level}"),
        }
    }
}

/// What a gate asked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Required {
    /// At least this ratio (0..=1).
    AtLeast(f64),
    /// At most this many.
    AtMost(u64),
}

/// What the evidence showed for a gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measured {
    /// The deployment carries no evidence of the kind the gate needs.
    NoEvidence,
    /// The report is there but measured nothing: no test executed (all
    /// `skipped` were skipped), or no line instrumented.
    Nothing { skipped: u64 },
    /// A ratio (0..=1) from `of` units (executed tests or lines).
    Ratio { value: f64, hits: u64, of: u64 },
    /// A count of findings.
    Count(u64),
}

/// One gate the evidence does not meet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateFailure {
    pub gate: QualityGate,
    pub required: Required,
    pub measured: Measured,
}

/// Measured ratios may fall short of a required one by float rounding only
/// (e.g. `72.4%` parsed from the spec against 724/1000 lines); this much is
/// treated as equal.
const RATIO_TOLERANCE: f64 = 1e-9;

/// The gates `evidence` misses, in a fixed order (tests, coverage, then
/// findings from the most severe level). Empty when every gate is met or no
/// gate is set. A gate whose kind of evidence is absent fails with
/// [`Measured::NoEvidence`], so an environment with gates refuses a
/// deployment that attached nothing; a report that measured nothing (no test
/// executed, no line instrumented) fails a ratio gate too, since it shows
/// nothing about the version.
pub fn evaluate(gates: &QualityGates, evidence: &Evidence) -> Vec<GateFailure> {
    let mut failures = Vec::new();
    let ratio_gate = |gate, min: f64, measured: Option<(u64, u64, u64)>| -> Option<GateFailure> {
        let required = Required::AtLeast(min);
        let measured = match measured {
            None => Measured::NoEvidence,
            Some((_, 0, skipped)) => Measured::Nothing { skipped },
            Some((hits, of, _)) => {
                let value = hits as f64 / of as f64;
                if value + RATIO_TOLERANCE >= min {
                    return None;
                }
                Measured::Ratio { value, hits, of }
            }
        };
        Some(GateFailure {
            gate,
            required,
            measured,
        })
    };
    if let Some(min) = gates.tests_passed {
        let measured = evidence.tests.map(|t| (t.passed, t.executed(), t.skipped));
        failures.extend(ratio_gate(QualityGate::TestsPassed, min, measured));
    }
    if let Some(min) = gates.coverage {
        let measured = evidence
            .coverage
            .map(|c| (c.lines_covered, c.lines_total, 0));
        failures.extend(ratio_gate(QualityGate::Coverage, min, measured));
    }
    for level in FindingLevel::ALL {
        let Some(&max) = gates.findings.get(&level) else {
            continue;
        };
        let measured = match evidence.findings {
            None => Measured::NoEvidence,
            Some(counts) if counts.get(level) <= max => continue,
            Some(counts) => Measured::Count(counts.get(level)),
        };
        failures.push(GateFailure {
            gate: QualityGate::Findings(level),
            required: Required::AtMost(max),
            measured,
        });
    }
    failures
}

impl fmt::Display for GateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, flag, remedy) = match self.gate {
            QualityGate::TestsPassed => (
                "tests passed",
                "--junit",
                "fix the failing tests and attach a new --junit report",
            ),
            QualityGate::Coverage => (
                "coverage",
                "--coverage",
                "attach a better --coverage report",
            ),
            QualityGate::Findings(_) => (
                "findings",
                "--sarif",
                "fix them or attach a new --sarif report",
            ),
        };
        match (self.required, self.measured) {
            (required, Measured::NoEvidence) => {
                let need = match (self.gate, required) {
                    (QualityGate::Findings(level), Required::AtMost(max)) => {
                        format!("at most {max} {level} finding(s)")
                    }
                    (_, Required::AtLeast(min)) => format!("at least {}", percent(min)),
                    (_, Required::AtMost(max)) => format!("at most {max}"),
                };
                let kind = match self.gate {
                    QualityGate::TestsPassed => "test results (JUnit XML)",
                    QualityGate::Coverage => "a coverage report (LCOV or Cobertura XML)",
                    QualityGate::Findings(_) => "security findings (SARIF)",
                };
                write!(
                    f,
                    "{} gate: no evidence attached; the environment requires {need} \
                     (attach {kind} with {flag} FILE)",
                    self.gate
                )
            }
            (Required::AtLeast(min), Measured::Nothing { skipped }) => {
                let nothing = match self.gate {
                    QualityGate::TestsPassed if skipped > 0 => {
                        format!("no test ran (all {skipped} were skipped)")
                    }
                    QualityGate::TestsPassed => "the report holds no test".to_owned(),
                    _ => "the report instruments no line".to_owned(),
                };
                write!(
                    f,
                    "{what}: {nothing}, but the environment requires {} \
                     (attach a {flag} report of a run that measured something)",
                    percent(min)
                )
            }
            (Required::AtLeast(min), Measured::Ratio { value, hits, of }) => {
                let measured = measured_percent(value);
                let required = percent(min);
                match self.gate {
                    QualityGate::TestsPassed => write!(
                        f,
                        "tests passed {measured} ({hits} of {of} executed) is below the required \
                         {required} ({remedy})"
                    ),
                    _ => write!(
                        f,
                        "{what} {measured} is below the required {required} ({remedy})"
                    ),
                }
            }
            (Required::AtMost(max), Measured::Count(count)) => {
                let level = match self.gate {
                    QualityGate::Findings(level) => level.name(),
                    _ => "",
                };
                write!(
                    f,
                    "{count} {level} finding(s) exceed the allowed {max} ({remedy})"
                )
            }
            // Not produced by `evaluate`; said plainly all the same.
            (required, measured) => write!(
                f,
                "{} gate failed: required {required:?}, measured {measured:?}",
                self.gate
            ),
        }
    }
}

/// A required ratio as a percentage, as exactly as the spec can say it
/// (`80%`, `99.95%`).
fn percent(ratio: f64) -> String {
    trim_zeros(&format!("{:.6}", ratio * 100.0))
}

/// A measured ratio as a percentage with at most one decimal, cut rather
/// than rounded so that a value below a gate never reads as reaching it
/// (79.99% reads `79.9%`, not `80%`).
fn measured_percent(ratio: f64) -> String {
    // The nudge keeps 72.4 (stored as 72.3999…) from reading 72.3.
    let cut = ((ratio * 100.0 + 1e-9) * 10.0).floor() / 10.0;
    trim_zeros(&format!("{cut:.1}"))
}

/// `80.000000` → `80%`, `72.400000` → `72.4%`.
fn trim_zeros(digits: &str) -> String {
    let digits = if digits.contains('.') {
        digits.trim_end_matches('0').trim_end_matches('.')
    } else {
        digits
    };
    format!("{digits}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests(total: u64, passed: u64, failed: u64, skipped: u64, errors: u64) -> TestSummary {
        TestSummary {
            total,
            passed,
            failed,
            skipped,
            errors,
        }
    }

    fn coverage(lines_total: u64, lines_covered: u64) -> CoverageSummary {
        CoverageSummary {
            lines_total,
            lines_covered,
        }
    }

    fn gates(
        tests_passed: Option<f64>,
        cov: Option<f64>,
        findings: &[(FindingLevel, u64)],
    ) -> QualityGates {
        QualityGates {
            tests_passed,
            coverage: cov,
            findings: findings.iter().copied().collect(),
        }
    }

    #[test]
    fn pass_ratio_leaves_skipped_tests_out() {
        // 200 cases, 10 skipped: 190 executed, 185 passed, 3 failed, 2 errors.
        let t = tests(200, 185, 3, 10, 2);
        assert_eq!(t.executed(), 190);
        assert_eq!(t.pass_ratio(), Some(185.0 / 190.0));
        assert_eq!(tests(4, 0, 0, 4, 0).pass_ratio(), None);
        assert_eq!(tests(0, 0, 0, 0, 0).pass_ratio(), None);
    }

    #[test]
    fn coverage_ratio() {
        assert_eq!(coverage(1000, 724).ratio(), Some(0.724));
        assert_eq!(coverage(0, 0).ratio(), None);
    }

    #[test]
    fn no_gates_means_no_failures_even_without_evidence() {
        assert!(QualityGates::default().is_empty());
        assert!(evaluate(&QualityGates::default(), &Evidence::default()).is_empty());
    }

    #[test]
    fn met_gates_pass_including_exact_thresholds() {
        let g = gates(
            Some(1.0),
            Some(0.724),
            &[(FindingLevel::Error, 0), (FindingLevel::Warning, 5)],
        );
        let e = Evidence {
            tests: Some(tests(120, 118, 0, 2, 0)),
            coverage: Some(coverage(1000, 724)),
            findings: Some(FindingCounts {
                error: 0,
                warning: 5,
                note: 40,
                none: 3,
            }),
        };
        assert_eq!(evaluate(&g, &e), vec![]);
    }

    #[test]
    fn each_missed_gate_is_named_with_required_and_measured() {
        let g = gates(
            Some(1.0),
            Some(0.8),
            &[
                (FindingLevel::Error, 0),
                (FindingLevel::Warning, 5),
                (FindingLevel::Note, 100),
            ],
        );
        let e = Evidence {
            tests: Some(tests(200, 195, 4, 0, 1)),
            coverage: Some(coverage(1000, 724)),
            findings: Some(FindingCounts {
                error: 2,
                warning: 6,
                note: 100,
                none: 0,
            }),
        };
        let failures = evaluate(&g, &e);
        assert_eq!(
            failures,
            vec![
                GateFailure {
                    gate: QualityGate::TestsPassed,
                    required: Required::AtLeast(1.0),
                    measured: Measured::Ratio {
                        value: 0.975,
                        hits: 195,
                        of: 200
                    },
                },
                GateFailure {
                    gate: QualityGate::Coverage,
                    required: Required::AtLeast(0.8),
                    measured: Measured::Ratio {
                        value: 0.724,
                        hits: 724,
                        of: 1000
                    },
                },
                GateFailure {
                    gate: QualityGate::Findings(FindingLevel::Error),
                    required: Required::AtMost(0),
                    measured: Measured::Count(2),
                },
                GateFailure {
                    gate: QualityGate::Findings(FindingLevel::Warning),
                    required: Required::AtMost(5),
                    measured: Measured::Count(6),
                },
            ]
        );
        let texts: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "tests passed 97.5% (195 of 200 executed) is below the required 100% (fix the \
                 failing tests and attach a new --junit report)",
                "coverage 72.4% is below the required 80% (attach a better --coverage report)",
                "2 error finding(s) exceed the allowed 0 (fix them or attach a new --sarif report)",
                "6 warning finding(s) exceed the allowed 5 (fix them or attach a new --sarif report)",
            ]
        );
    }

    #[test]
    fn missing_evidence_fails_every_gate_that_needs_it() {
        let g = gates(Some(0.95), Some(0.8), &[(FindingLevel::Error, 0)]);
        let only_tests = Evidence {
            tests: Some(tests(10, 10, 0, 0, 0)),
            ..Evidence::default()
        };
        let failures = evaluate(&g, &only_tests);
        let gates_failed: Vec<QualityGate> = failures.iter().map(|f| f.gate).collect();
        assert_eq!(
            gates_failed,
            [
                QualityGate::Coverage,
                QualityGate::Findings(FindingLevel::Error)
            ]
        );
        assert!(failures.iter().all(|f| f.measured == Measured::NoEvidence));
        assert_eq!(
            failures[0].to_string(),
            "coverage gate: no evidence attached; the environment requires at least 80% \
             (attach a coverage report (LCOV or Cobertura XML) with --coverage FILE)"
        );
        assert_eq!(
            failures[1].to_string(),
            "findings.error gate: no evidence attached; the environment requires at most 0 \
             error finding(s) (attach security findings (SARIF) with --sarif FILE)"
        );
        assert_eq!(evaluate(&g, &Evidence::default()).len(), 3);
    }

    #[test]
    fn a_report_that_measured_nothing_fails_ratio_gates() {
        let g = gates(Some(0.0), Some(0.0), &[]);
        let e = Evidence {
            tests: Some(tests(3, 0, 0, 3, 0)),
            coverage: Some(coverage(0, 0)),
            findings: None,
        };
        let failures = evaluate(&g, &e);
        assert_eq!(failures[0].measured, Measured::Nothing { skipped: 3 });
        assert_eq!(
            failures[0].to_string(),
            "tests passed: no test ran (all 3 were skipped), but the environment requires 0% \
             (attach a --junit report of a run that measured something)"
        );
        assert_eq!(failures[1].measured, Measured::Nothing { skipped: 0 });
        assert!(failures[1].to_string().contains("instruments no line"));
    }

    #[test]
    fn findings_limits_apply_per_level_only() {
        // Lots of notes do not matter when only errors are limited.
        let g = gates(None, None, &[(FindingLevel::Error, 1)]);
        let e = Evidence {
            findings: Some(FindingCounts {
                error: 1,
                warning: 50,
                note: 500,
                none: 0,
            }),
            ..Evidence::default()
        };
        assert!(evaluate(&g, &e).is_empty());
        let none_gate = gates(None, None, &[(FindingLevel::None, 0)]);
        let mut counts = FindingCounts::default();
        counts.add(FindingLevel::None);
        let e = Evidence {
            findings: Some(counts),
            ..Evidence::default()
        };
        assert_eq!(
            evaluate(&none_gate, &e)[0].gate.to_string(),
            "findings.none"
        );
    }

    #[test]
    fn rounding_never_hides_a_miss() {
        // 7999 of 10000 lines: 79.99%, which must not read as 80%.
        let g = gates(None, Some(0.8), &[]);
        let e = Evidence {
            coverage: Some(coverage(10_000, 7_999)),
            ..Evidence::default()
        };
        assert_eq!(
            evaluate(&g, &e)[0].to_string(),
            "coverage 79.9% is below the required 80% (attach a better --coverage report)"
        );
        // 2 of 3 lines is 66.66…%: cut to 66.6%, never rounded up to 66.7%.
        assert_eq!(measured_percent(2.0 / 3.0), "66.6%");
        assert_eq!(measured_percent(0.724), "72.4%");
        assert_eq!(measured_percent(0.0), "0%");
        assert_eq!(measured_percent(1.0), "100%");
        // Required values are shown as written.
        assert_eq!(percent(0.9995), "99.95%");
        assert_eq!(percent(0.8), "80%");
    }

    #[test]
    fn evidence_round_trips_through_json() {
        let e = Evidence {
            tests: Some(tests(5, 4, 1, 0, 0)),
            coverage: Some(coverage(10, 9)),
            findings: Some(FindingCounts {
                error: 1,
                warning: 2,
                note: 3,
                none: 4,
            }),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), e);
        assert_eq!(
            serde_json::from_str::<Evidence>("{}").unwrap(),
            Evidence::default()
        );
        let g = gates(Some(1.0), None, &[(FindingLevel::Warning, 5)]);
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["findings"]["warning"], 5);
        assert_eq!(serde_json::from_value::<QualityGates>(json).unwrap(), g);
    }
}
