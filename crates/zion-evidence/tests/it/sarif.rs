use zion_evidence::{FindingCounts, ReportKind, parse_sarif};

/// clippy-sarif: every result carries its level (rustc's), rules listed by
/// id, results pointing at them with ruleIndex.
const CLIPPY_SARIF: &str = r#"{
  "$schema": "https://schemastore.azurewebsites.net/schemas/json/sarif-2.1.0-rtm.5.json",
  "runs": [
    {
      "results": [
        {
          "level": "warning",
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "crates/zion-core/src/rollout.rs"}, "region": {"startColumn": 9, "startLine": 120, "endColumn": 24, "endLine": 120}}}],
          "message": {"text": "unneeded `return` statement"},
          "ruleId": "clippy::needless_return",
          "ruleIndex": 0
        },
        {
          "level": "warning",
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "crates/zion-core/src/spec.rs"}, "region": {"startColumn": 5, "startLine": 40, "endColumn": 30, "endLine": 40}}}],
          "message": {"text": "unneeded `return` statement"},
          "ruleId": "clippy::needless_return",
          "ruleIndex": 0
        },
        {
          "level": "error",
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "crates/zion-proxy/src/lib.rs"}, "region": {"startColumn": 13, "startLine": 77, "endColumn": 40, "endLine": 77}}}],
          "message": {"text": "this comparison involving the minimum or maximum element for this type contains a case that is always true or always false"},
          "ruleId": "clippy::absurd_extreme_comparisons",
          "ruleIndex": 1
        },
        {
          "level": "note",
          "message": {"text": "the lint level is defined here"},
          "ruleId": "clippy::absurd_extreme_comparisons",
          "ruleIndex": 1
        }
      ],
      "tool": {
        "driver": {
          "informationUri": "https://rust-lang.github.io/rust-clippy/",
          "name": "clippy",
          "rules": [
            {"fullDescription": {"text": "Checks for return statements at the end of a block."}, "helpUri": "https://rust-lang.github.io/rust-clippy/master/index.html#needless_return", "id": "clippy::needless_return"},
            {"fullDescription": {"text": "Checks for comparisons where one side of the relation is either the minimum or maximum value for its type."}, "helpUri": "https://rust-lang.github.io/rust-clippy/master/index.html#absurd_extreme_comparisons", "id": "clippy::absurd_extreme_comparisons"}
          ],
          "version": "0.1.86"
        }
      }
    }
  ],
  "version": "2.1.0"
}"#;

#[test]
fn clippy_sarif_levels_as_written() {
    assert_eq!(
        parse_sarif(CLIPPY_SARIF.as_bytes()).unwrap(),
        FindingCounts {
            error: 1,
            warning: 2,
            note: 1,
            none: 0
        }
    );
}

/// semgrep: results carry no level; each rule's defaultConfiguration does.
/// A `nosemgrep` comment shows as an inSource suppression.
const SEMGREP: &str = r#"{
  "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json",
  "runs": [
    {
      "invocations": [{"executionSuccessful": true, "toolExecutionNotifications": []}],
      "results": [
        {
          "fingerprints": {"matchBasedId/v1": "0f3a"},
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/views.py", "uriBaseId": "%SRCROOT%"}, "region": {"endColumn": 30, "endLine": 12, "snippet": {"text": "    return eval(request.args['q'])"}, "startColumn": 12, "startLine": 12}}}],
          "message": {"text": "Detected the use of eval(). eval() can be dangerous if used to evaluate dynamic content."},
          "properties": {},
          "ruleId": "python.lang.security.audit.eval-detected.eval-detected"
        },
        {
          "fingerprints": {"matchBasedId/v1": "77ab"},
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/db.py", "uriBaseId": "%SRCROOT%"}, "region": {"endColumn": 60, "endLine": 30, "startColumn": 5, "startLine": 30}}}],
          "message": {"text": "Detected string concatenation in a SQL query."},
          "properties": {},
          "ruleId": "python.lang.security.audit.formatted-sql-query.formatted-sql-query"
        },
        {
          "fingerprints": {"matchBasedId/v1": "91cc"},
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/db.py", "uriBaseId": "%SRCROOT%"}, "region": {"endColumn": 60, "endLine": 44, "startColumn": 5, "startLine": 44}}}],
          "message": {"text": "Detected string concatenation in a SQL query."},
          "properties": {},
          "ruleId": "python.lang.security.audit.formatted-sql-query.formatted-sql-query",
          "suppressions": [{"kind": "inSource"}]
        },
        {
          "fingerprints": {"matchBasedId/v1": "c0de"},
          "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/util.py", "uriBaseId": "%SRCROOT%"}, "region": {"endColumn": 20, "endLine": 3, "startColumn": 1, "startLine": 3}}}],
          "message": {"text": "Use of MD5 is weak."},
          "properties": {},
          "ruleId": "python.lang.security.insecure-hash-algorithms.insecure-hash-algorithm-md5"
        }
      ],
      "tool": {
        "driver": {
          "name": "Semgrep OSS",
          "rules": [
            {"defaultConfiguration": {"level": "error"}, "fullDescription": {"text": "Detected the use of eval()."}, "id": "python.lang.security.audit.eval-detected.eval-detected", "name": "python.lang.security.audit.eval-detected.eval-detected", "properties": {"precision": "very-high", "tags": ["CWE-95"]}, "shortDescription": {"text": "Semgrep Finding: python.lang.security.audit.eval-detected.eval-detected"}},
            {"defaultConfiguration": {"level": "warning"}, "fullDescription": {"text": "Detected string concatenation in a SQL query."}, "id": "python.lang.security.audit.formatted-sql-query.formatted-sql-query", "name": "python.lang.security.audit.formatted-sql-query.formatted-sql-query", "properties": {"precision": "very-high", "tags": ["CWE-89"]}, "shortDescription": {"text": "Semgrep Finding: formatted-sql-query"}},
            {"defaultConfiguration": {"level": "note"}, "fullDescription": {"text": "Use of MD5."}, "id": "python.lang.security.insecure-hash-algorithms.insecure-hash-algorithm-md5", "name": "insecure-hash-algorithm-md5", "properties": {"precision": "very-high", "tags": ["CWE-327"]}, "shortDescription": {"text": "Semgrep Finding: md5"}}
          ],
          "semanticVersion": "1.85.0"
        }
      }
    }
  ],
  "version": "2.1.0"
}"#;

#[test]
fn semgrep_levels_come_from_the_rules_and_suppressed_results_are_not_counted() {
    assert_eq!(
        parse_sarif(SEMGREP.as_bytes()).unwrap(),
        FindingCounts {
            error: 1,
            warning: 1,
            note: 1,
            none: 0
        }
    );
    // A suppression still under review hides nothing.
    let under_review = SEMGREP.replace(
        r#"[{"kind": "inSource"}]"#,
        r#"[{"kind": "external", "status": "underReview"}]"#,
    );
    assert_eq!(parse_sarif(under_review.as_bytes()).unwrap().warning, 2);
}

/// Hand-made to exercise SARIF §3.27.10's level rules one by one.
#[test]
fn level_defaults_follow_the_specification() {
    let log = r#"{
      "version": "2.1.0",
      "runs": [{
        "tool": {
          "driver": {"name": "scanner", "rules": [
            {"id": "R1", "defaultConfiguration": {"level": "error"}},
            {"id": "R2"},
            {"id": "R3", "defaultConfiguration": {"enabled": true}},
            {"id": "CA2101", "defaultConfiguration": {"level": "note"}}
          ]},
          "extensions": [{"name": "plugin", "rules": [
            {"id": "P1", "defaultConfiguration": {"level": "error"}}
          ]}]
        },
        "invocations": [{"executionSuccessful": true, "ruleConfigurationOverrides": [
          {"descriptor": {"id": "R2"}, "configuration": {"level": "note"}}
        ]}],
        "results": [
          {"ruleId": "R1", "message": {"text": "rule default: error"}},
          {"ruleId": "R1", "level": "warning", "message": {"text": "explicit level wins"}},
          {"ruleId": "R1", "kind": "pass", "message": {"text": "not a failure: none"}},
          {"ruleId": "R1", "kind": "fail", "message": {"text": "explicit fail: rule default error"}},
          {"ruleId": "R2", "message": {"text": "overridden by the invocation: note"}},
          {"ruleId": "R3", "message": {"text": "configuration without level: warning"}},
          {"ruleId": "CA2101/1", "message": {"text": "hierarchical id: base rule's note"}},
          {"ruleId": "UNKNOWN", "message": {"text": "undescribed rule: warning"}},
          {"message": {"text": "no rule at all: warning"}},
          {"rule": {"index": 0, "toolComponent": {"index": 0}}, "message": {"text": "extension rule: error"}},
          {"ruleIndex": 3, "message": {"text": "by index: note"}},
          {"kind": "informational", "message": {"text": "none"}}
        ]
      }, {
        "tool": {"driver": {"name": "empty"}},
        "results": []
      }, {
        "tool": {"driver": {"name": "no results array"}}
      }]
    }"#;
    assert_eq!(
        parse_sarif(log.as_bytes()).unwrap(),
        FindingCounts {
            error: 3,
            warning: 4,
            note: 3,
            none: 2
        }
    );
}

#[track_caller]
fn error(text: &str) -> zion_evidence::EvidenceError {
    let err = parse_sarif(text.as_bytes()).unwrap_err();
    assert_eq!(err.kind, ReportKind::Sarif);
    err
}

#[test]
fn malformed_logs_are_refused() {
    let err = error(&CLIPPY_SARIF.replace(r#""level": "error""#, r#""level": "critical""#));
    assert_eq!(
        err.to_string(),
        "SARIF report: runs[0].results[2].level is \"critical\", not a SARIF level (error, \
         warning, note or none)"
    );
    let err = error(&CLIPPY_SARIF.replace(r#""version": "2.1.0""#, r#""version": "2.0.0""#));
    assert!(err.message.contains("only SARIF 2.1.0"), "{err}");
    let err = error(r#"{"runs": []}"#);
    assert!(err.message.contains("no \"version\""), "{err}");
    let err = error(r#"{"version": "2.1.0"}"#);
    assert!(err.message.contains("no \"runs\""), "{err}");
    // A result without a level must find its rule; index 9 does not exist.
    // (With an explicit level the rule is not needed, and not looked up.)
    let dangling = CLIPPY_SARIF
        .replace(r#""ruleIndex": 1"#, r#""ruleIndex": 9"#)
        .replace(r#""level": "note","#, "");
    let err = error(&dangling);
    assert!(
        err.message.contains("rule index 9, but the tool lists 2"),
        "{err}"
    );

    // Cut short: the position is where the JSON ends.
    let cut = &CLIPPY_SARIF[..CLIPPY_SARIF.find("\"tool\"").unwrap()];
    let err = error(cut);
    assert!(err.message.starts_with("not a SARIF log: EOF"), "{err}");
    assert!(err.at.is_some());
    let err = error(
        "{\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\"results\": [{\"level\": 3}]}\n  ]\n}",
    );
    assert_eq!(err.at.unwrap().line, 4, "{err}");
    assert!(err.message.contains("invalid type: integer `3`"), "{err}");
    let err = error("<sarif/>");
    assert!(err.message.starts_with("not a SARIF log"), "{err}");
}
