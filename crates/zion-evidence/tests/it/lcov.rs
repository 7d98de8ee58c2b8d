use zion_evidence::{CoverageFormat, CoverageSummary, ReportKind, parse_coverage, parse_lcov};

/// As `cargo llvm-cov --lcov` writes it: mangled function names, FN/FNDA,
/// BRF/BRH, one record per file, LF/LH summaries.
const LLVM_COV: &str = "\
SF:/home/ci/zion/crates/zion-core/src/duration.rs
FN:14,_RNvNtCsdBDxv0QpFqT_9zion_core8duration14parse_duration
FN:41,_RNvNtCsdBDxv0QpFqT_9zion_core8duration15format_duration
FNDA:25,_RNvNtCsdBDxv0QpFqT_9zion_core8duration14parse_duration
FNDA:0,_RNvNtCsdBDxv0QpFqT_9zion_core8duration15format_duration
FNF:2
FNH:1
DA:14,25
DA:15,25
DA:16,25
DA:17,3
DA:18,3
DA:20,22
DA:41,0
DA:42,0
BRF:0
BRH:0
LF:8
LH:6
end_of_record
SF:/home/ci/zion/crates/zion-core/src/metrics.rs
FN:9,_RNvNtCsdBDxv0QpFqT_9zion_core7metrics4name
FNDA:4,_RNvNtCsdBDxv0QpFqT_9zion_core7metrics4name
FNF:1
FNH:1
DA:9,4
DA:10,4
DA:11,4
BRF:0
BRH:0
LF:3
LH:3
end_of_record
";

#[test]
fn cargo_llvm_cov_tracefile() {
    // 8 + 3 lines, 6 + 3 hit.
    assert_eq!(
        parse_lcov(LLVM_COV).unwrap(),
        CoverageSummary {
            lines_total: 11,
            lines_covered: 9
        }
    );
    assert_eq!(
        parse_coverage(LLVM_COV.as_bytes()).unwrap(),
        (
            CoverageFormat::Lcov,
            CoverageSummary {
                lines_total: 11,
                lines_covered: 9
            }
        )
    );
}

#[test]
fn records_without_summaries_are_counted_from_da_lines() {
    // geninfo-style, TN first, CRLF line ends, no LF/LH in the second record.
    let text = "TN:unit\r\nSF:src/a.c\r\nDA:1,1\r\nDA:2,0\r\nLF:2\r\nLH:1\r\nend_of_record\r\n\
                TN:unit\r\nSF:src/b.c\r\nDA:3,7\r\nDA:4,0\r\nDA:5,0\r\nend_of_record\r\n";
    assert_eq!(
        parse_lcov(text).unwrap(),
        CoverageSummary {
            lines_total: 5,
            lines_covered: 2
        }
    );
}

#[track_caller]
fn error(text: &str) -> zion_evidence::EvidenceError {
    let err = parse_lcov(text).unwrap_err();
    assert_eq!(err.kind, ReportKind::Lcov);
    err
}

#[test]
fn malformed_tracefiles_are_refused_with_their_line() {
    let err = error("SF:a.rs\nDA:1,1\nLF:1\nLH:2\nend_of_record\n");
    assert_eq!(err.at.unwrap().line, 5);
    assert!(err.message.contains("LH cannot exceed LF"), "{err}");

    let err = error("SF:a.rs\nLF:ten\nend_of_record\n");
    assert_eq!(
        err.to_string(),
        "LCOV report: line 2, column 1: LF (lines found) `ten` is not a whole number of 0 or more"
    );

    let err = error("SF:a.rs\nDA:1,1\nSF:b.rs\nend_of_record\n");
    assert_eq!(err.at.unwrap().line, 3);
    assert!(err.message.contains("end_of_record is missing"), "{err}");

    let cut = &LLVM_COV[..LLVM_COV.rfind("LF:3").unwrap()];
    let err = error(cut);
    assert_eq!(err.at.unwrap().line, 21, "{err}");
    assert!(
        err.message.contains("metrics.rs` has no end_of_record"),
        "{err}"
    );

    let err = error("DA:1,1\n");
    assert!(err.message.contains("outside a record"), "{err}");
    let err = error("SF:a.rs\nDA:7\nend_of_record\n");
    assert!(err.message.contains("no execution count"), "{err}");
    let err = error("SF:a.rs\nthis is not lcov\n");
    assert!(err.message.contains("not an LCOV line"), "{err}");
    let err = error("TN:\n");
    assert!(err.message.contains("no record"), "{err}");
}

#[test]
fn coverage_detection_refuses_what_is_neither_format() {
    let err = parse_coverage(b"").unwrap_err();
    assert_eq!(err.kind, ReportKind::Coverage);
    let err = parse_coverage(b"{\"totals\": {\"percent_covered\": 80}}").unwrap_err();
    assert_eq!(err.kind, ReportKind::Coverage);
    assert!(
        err.message.contains("neither Cobertura XML nor LCOV"),
        "{err}"
    );
    let err = parse_coverage(b"SF:\xff\xfe").unwrap_err();
    assert!(err.message.contains("neither XML nor UTF-8"), "{err}");
}
