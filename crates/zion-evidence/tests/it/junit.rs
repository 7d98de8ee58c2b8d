use zion_evidence::{ReportKind, TestSummary, parse_junit};

/// cargo-nextest's JUnit (Jenkins flavour): one suite per test binary, a
/// test that failed every retry (`<failure>` plus `<rerunFailure>`), and a
/// flaky test that passed on its retry (`<flakyFailure>` only).
const NEXTEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="8" failures="1" errors="0" uuid="0c8d1bb3-6a3b-4cde-9a5b-3f6f1e2a9d10" timestamp="2026-03-01T10:00:00.000+00:00" time="2.417">
    <testsuite name="zion-core" tests="5" disabled="0" errors="0" failures="1">
        <testcase name="duration::tests::parses_units" classname="zion-core" timestamp="2026-03-01T10:00:00.010+00:00" time="0.002">
        </testcase>
        <testcase name="duration::tests::rejects_garbage" classname="zion-core" timestamp="2026-03-01T10:00:00.011+00:00" time="0.001">
        </testcase>
        <testcase name="rollout::tests::canary_promotes" classname="zion-core" timestamp="2026-03-01T10:00:00.012+00:00" time="0.004">
        </testcase>
        <testcase name="rollout::tests::rolls_back_on_errors" classname="zion-core" timestamp="2026-03-01T10:00:00.013+00:00" time="0.003">
        </testcase>
        <testcase name="spec::tests::weights_increase" classname="zion-core" timestamp="2026-03-01T10:00:00.014+00:00" time="0.005">
            <failure type="test failure">thread &apos;spec::tests::weights_increase&apos; panicked at crates/zion-core/src/spec.rs:88:9:
assertion `left == right` failed
  left: 50
 right: 60</failure>
            <rerunFailure timestamp="2026-03-01T10:00:00.030+00:00" time="0.005" type="test failure">thread &apos;spec::tests::weights_increase&apos; panicked
                <system-out>
running 1 test
test spec::tests::weights_increase ... FAILED
</system-out>
                <system-err>note: run with `RUST_BACKTRACE=1`</system-err>
            </rerunFailure>
            <system-out>
running 1 test
test spec::tests::weights_increase ... FAILED
</system-out>
            <system-err>thread &apos;spec::tests::weights_increase&apos; panicked</system-err>
        </testcase>
    </testsuite>
    <testsuite name="zion-store::it" tests="3" disabled="0" errors="0" failures="0">
        <testcase name="sqlite::round_trips" classname="zion-store::it" timestamp="2026-03-01T10:00:01.000+00:00" time="0.120">
        </testcase>
        <testcase name="sqlite::concurrent_writers" classname="zion-store::it" timestamp="2026-03-01T10:00:01.100+00:00" time="0.640">
            <flakyFailure timestamp="2026-03-01T10:00:01.100+00:00" time="0.300" type="test failure">thread &apos;sqlite::concurrent_writers&apos; panicked: database is locked
                <system-out></system-out>
            </flakyFailure>
        </testcase>
        <testcase name="sqlite::migrations_apply_once" classname="zion-store::it" timestamp="2026-03-01T10:00:01.800+00:00" time="0.050"/>
    </testsuite>
</testsuites>
"#;

#[test]
fn cargo_nextest_report() {
    let summary = parse_junit(NEXTEST.as_bytes()).unwrap();
    assert_eq!(
        summary,
        TestSummary {
            total: 8,
            passed: 7,
            failed: 1,
            skipped: 0,
            errors: 0
        }
    );
    // 7 of 8 executed.
    assert_eq!(summary.pass_ratio(), Some(0.875));
}

/// pytest's `--junitxml`: one suite, with a skip, a failure and an error
/// (a fixture that failed in set-up).
const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.412" timestamp="2026-03-01T10:00:00.123456+00:00" hostname="ci-runner-7"><testcase classname="tests.test_app" name="test_health" time="0.003" /><testcase classname="tests.test_app" name="test_version" time="0.002" /><testcase classname="tests.test_app" name="test_slow_path" time="0.000"><skipped type="pytest.skip" message="needs a database">/ci/tests/test_app.py:31: needs a database</skipped></testcase><testcase classname="tests.test_app" name="test_error_rate" time="0.010"><failure message="assert 0.02 &lt; 0.01">def test_error_rate():
&gt;       assert rate() &lt; 0.01
E       assert 0.02 &lt; 0.01</failure></testcase><testcase classname="tests.test_db" name="test_insert" time="0.001"><error message="failed on setup with &quot;ConnectionRefusedError&quot;">ConnectionRefusedError: [Errno 111]</error></testcase></testsuite></testsuites>"#;

#[test]
fn pytest_report() {
    let summary = parse_junit(PYTEST.as_bytes()).unwrap();
    assert_eq!(
        summary,
        TestSummary {
            total: 5,
            passed: 2,
            failed: 1,
            skipped: 1,
            errors: 1
        }
    );
    // 2 passed of 4 executed (the skip is left out).
    assert_eq!(summary.pass_ratio(), Some(0.5));
}

#[test]
fn nested_suites_count_each_case_once_whatever_the_attributes_say() {
    // PHPUnit nests suites; its aggregate attributes here are stale on
    // purpose: the cases decide.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="All" tests="99" failures="0">
    <testsuite name="Unit" tests="2">
      <testcase name="testA" class="UnitTest" file="/app/tests/UnitTest.php" line="10" assertions="1" time="0.001"/>
      <testcase name="testB" class="UnitTest" assertions="1" time="0.001">
        <failure type="PHPUnit\Framework\ExpectationFailedException">Failed asserting that false is true.</failure>
      </testcase>
    </testsuite>
    <testsuite name="Integration" tests="1">
      <testsuite name="Integration::Db" tests="1">
        <testcase name="testConnect" assertions="0" time="0.000"><skipped/></testcase>
      </testsuite>
    </testsuite>
  </testsuite>
</testsuites>"#;
    assert_eq!(
        parse_junit(xml.as_bytes()).unwrap(),
        TestSummary {
            total: 3,
            passed: 1,
            failed: 1,
            skipped: 1,
            errors: 0
        }
    );
}

#[test]
fn a_single_suite_root_and_an_empty_run_are_fine() {
    let xml = br#"<testsuite name="s" tests="1"><testcase name="t"/></testsuite>"#;
    assert_eq!(parse_junit(xml).unwrap().passed, 1);
    let empty = br#"<testsuites name="nextest-run" tests="0" failures="0" errors="0"/>"#;
    assert_eq!(parse_junit(empty).unwrap(), TestSummary::default());
}

#[track_caller]
fn error(xml: &str) -> zion_evidence::EvidenceError {
    let err = parse_junit(xml.as_bytes()).unwrap_err();
    assert_eq!(err.kind, ReportKind::Junit);
    err
}

#[test]
fn a_cut_short_report_is_refused_with_its_position() {
    let cut = &NEXTEST[..NEXTEST.find("<testsuite name=\"zion-store::it\"").unwrap()];
    let err = error(cut);
    assert!(
        err.to_string().starts_with("JUnit XML report: line "),
        "{err}"
    );
    assert!(err.message.contains("cut short"), "{err}");
}

#[test]
fn mismatched_tags_are_refused_with_line_and_column() {
    let err = error(
        "<testsuites>\n  <testsuite>\n    <testcase name=\"a\">\n  </testsuite>\n</testsuites>",
    );
    assert!(err.message.starts_with("not well-formed XML"), "{err}");
    let at = err.at.unwrap();
    assert_eq!(at.line, 4, "{err}");
    assert!(at.byte.is_some());
}

#[test]
fn other_documents_are_refused() {
    let err = error(r#"<?xml version="1.0"?><coverage lines-valid="1" lines-covered="1"/>"#);
    assert!(
        err.message.contains("the root element is <coverage>"),
        "{err}"
    );
    assert_eq!(err.at.unwrap().column, 22);
    let err = error("");
    assert!(err.message.contains("no XML element"), "{err}");
    let err = error("tests passed: 12");
    assert!(err.message.contains("no XML element"), "{err}");
    let err = error("<testsuite/><testsuite/>");
    assert!(err.message.contains("a second root element"), "{err}");
}

#[test]
fn a_summary_without_cases_is_refused() {
    let err = error(r#"<testsuites tests="12" failures="0"></testsuites>"#);
    assert!(
        err.message.contains("claims 12 test(s) but no <testcase>"),
        "{err}"
    );
    let err = error(r#"<testsuites tests="many"/>"#);
    assert!(err.message.contains("tests=\"many\""), "{err}");
}
