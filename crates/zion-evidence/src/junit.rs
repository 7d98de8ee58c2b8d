//! JUnit XML test reports.
//!
//! The figures come from the `<testcase>` elements themselves, wherever
//! they sit (suites may nest), not from the `tests`/`failures`/`errors`
//! attributes of the suites: tools fill those differently (some count
//! skipped tests in `tests`, some count nested suites twice, some leave
//! them stale after merging reports). A test case's outcome is decided by
//! its direct children: `<error>` makes it an error, else `<failure>` a
//! failure, else `<skipped>` skipped, else it passed. Retry records
//! (`flakyFailure`, `rerunFailure`… as cargo-nextest and Maven Surefire
//! write them) do not change the outcome: a test that passed on a retry
//! passed, and one that failed every retry also carries `<failure>`.
//!
//! The attributes are used for one cross-check: a report that lists no test
//! case while its root claims `tests` > 0 is refused, since such a file is
//! a summary or was cut, and would otherwise read as "no tests ran".

use crate::xml::{self, Node};
use crate::{EvidenceError, ReportKind, Result, TestSummary};

const KIND: ReportKind = ReportKind::Junit;

#[derive(Clone, Copy)]
struct OpenCase {
    depth: usize,
    failure: bool,
    error: bool,
    skipped: bool,
}

/// Reads a JUnit XML report (root `<testsuites>` or `<testsuite>`).
pub fn parse_junit(bytes: &[u8]) -> Result<TestSummary> {
    let mut summary = TestSummary::default();
    let mut case: Option<OpenCase> = None;
    let mut claimed: Option<u64> = None;
    xml::walk(bytes, KIND, |node| {
        match node {
            Node::Start { element, depth, at } => {
                let name = xml::local_name(element);
                if depth == 0 {
                    if name != b"testsuites" && name != b"testsuite" {
                        return Err(EvidenceError::at(
                            KIND,
                            crate::Position::at_byte(bytes, at),
                            format!(
                                "the root element is <{}>, not <testsuites> or <testsuite>: \
                                 attach the JUnit XML your test runner writes (e.g. \
                                 cargo nextest's junit.xml)",
                                String::from_utf8_lossy(name)
                            ),
                        ));
                    }
                    claimed = xml::count_attr(bytes, KIND, element, at, "tests")?;
                }
                match (name, case.as_mut()) {
                    (b"testcase", Some(_)) => {
                        return Err(EvidenceError::at(
                            KIND,
                            crate::Position::at_byte(bytes, at),
                            "a <testcase> inside another <testcase>",
                        ));
                    }
                    (b"testcase", None) => {
                        case = Some(OpenCase {
                            depth,
                            failure: false,
                            error: false,
                            skipped: false,
                        });
                    }
                    (b"failure", Some(c)) if depth == c.depth + 1 => c.failure = true,
                    (b"error", Some(c)) if depth == c.depth + 1 => c.error = true,
                    (b"skipped", Some(c)) if depth == c.depth + 1 => c.skipped = true,
                    _ => {}
                }
            }
            Node::End { name, depth } => {
                if name == b"testcase"
                    && let Some(c) = case
                    && c.depth == depth
                {
                    summary.total += 1;
                    if c.error {
                        summary.errors += 1;
                    } else if c.failure {
                        summary.failed += 1;
                    } else if c.skipped {
                        summary.skipped += 1;
                    } else {
                        summary.passed += 1;
                    }
                    case = None;
                }
            }
        }
        Ok(())
    })?;
    if summary.total == 0
        && let Some(claimed) = claimed.filter(|&n| n > 0)
    {
        return Err(EvidenceError::new(
            KIND,
            format!(
                "the root claims {claimed} test(s) but no <testcase> is listed: the file is a \
                 summary or was cut short; attach the full report"
            ),
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_precedence_error_then_failure_then_skipped() {
        let xml = br#"<testsuite name="s">
            <testcase name="both"><failure/><error/></testcase>
            <testcase name="failed-and-skipped"><skipped/><failure/></testcase>
            <testcase name="flaky"><flakyFailure><system-out>x</system-out></flakyFailure></testcase>
        </testsuite>"#;
        assert_eq!(
            parse_junit(xml).unwrap(),
            TestSummary {
                total: 3,
                passed: 1,
                failed: 1,
                skipped: 0,
                errors: 1
            }
        );
    }

    #[test]
    fn only_direct_children_decide() {
        // A <failure> nested deeper (inside a retry record) is not the verdict.
        let xml = br#"<testsuite><testcase name="t"><rerunFailure><failure/></rerunFailure></testcase></testsuite>"#;
        assert_eq!(parse_junit(xml).unwrap().passed, 1);
    }
}
