//! `zion-evidence` reads the release evidence a deployment may carry into
//! the figures Zion's quality gates judge: test results from JUnit XML (as
//! cargo-nextest, Maven Surefire, pytest and most CI runners write it),
//! line coverage from LCOV (`cargo llvm-cov --lcov`, lcov, c8) or Cobertura
//! XML (coverage.py, `cargo llvm-cov --cobertura`, gcovr), and security or
//! lint findings from SARIF 2.1.0, counted by level. It only reads bytes
//! handed to it: it opens no file, stores nothing and decides nothing; the
//! gates themselves live in `zion_core::governance::quality`.
//!
//! Every error names the kind of report and what is wrong with it, with a
//! line and column when the position is known, so that a user can fix the
//! file or the tool that wrote it.

mod cobertura;
mod junit;
mod lcov;
mod sarif;
mod xml;

use std::fmt;

pub use cobertura::parse_cobertura;
pub use junit::parse_junit;
pub use lcov::parse_lcov;
pub use sarif::parse_sarif;
pub use zion_core::governance::quality::{CoverageSummary, FindingCounts, TestSummary};

/// The kind of report being read, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Junit,
    Lcov,
    Cobertura,
    Sarif,
    /// A coverage report whose format could not be told.
    Coverage,
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReportKind::Junit => "JUnit XML report",
            ReportKind::Lcov => "LCOV report",
            ReportKind::Cobertura => "Cobertura XML report",
            ReportKind::Sarif => "SARIF report",
            ReportKind::Coverage => "coverage report",
        })
    }
}

/// Where in a report a problem is: 1-based line and column (in characters),
/// and the byte offset when the reader gave one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub byte: Option<u64>,
}

impl Position {
    /// The line and column of byte `offset` of `input`.
    pub fn at_byte(input: &[u8], offset: u64) -> Position {
        let end = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(input.len());
        let before = &input[..end];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count() as u64
            + 1;
        Position {
            line,
            column,
            byte: Some(offset),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)?;
        if let Some(byte) = self.byte {
            write!(f, " (byte {byte})")?;
        }
        Ok(())
    }
}

/// A report that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EvidenceError {
    pub kind: ReportKind,
    pub at: Option<Position>,
    /// What is wrong, and where that helps, what to do.
    pub message: String,
}

impl EvidenceError {
    pub(crate) fn new(kind: ReportKind, message: impl Into<String>) -> EvidenceError {
        EvidenceError {
            kind,
            at: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(kind: ReportKind, at: Position, message: impl Into<String>) -> EvidenceError {
        EvidenceError {
            kind,
            at: Some(at),
            message: message.into(),
        }
    }
}

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{}: {at}: {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

/// The result of reading one report.
pub type Result<T> = std::result::Result<T, EvidenceError>;

/// A coverage format told apart by [`parse_coverage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverageFormat {
    Lcov,
    Cobertura,
}

/// Reads a coverage report in either format: XML (after an optional BOM and
/// whitespace the first byte is `<`) is read as Cobertura, anything else as
/// LCOV. Returns the format found with the figures.
pub fn parse_coverage(bytes: &[u8]) -> Result<(CoverageFormat, CoverageSummary)> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(EvidenceError::new(
            ReportKind::Coverage,
            "the file is empty: attach an LCOV or Cobertura XML report",
        )),
        Some(b'<') => parse_cobertura(bytes).map(|c| (CoverageFormat::Cobertura, c)),
        Some(_) => {
            let text = std::str::from_utf8(body).map_err(|e| {
                EvidenceError::at(
                    ReportKind::Coverage,
                    Position::at_byte(body, e.valid_up_to() as u64),
                    "neither XML nor UTF-8 text: attach an LCOV (.info) or Cobertura XML report",
                )
            })?;
            if !lcov::looks_like_lcov(text) {
                return Err(EvidenceError::new(
                    ReportKind::Coverage,
                    "neither Cobertura XML nor LCOV (no `SF:` record): attach the report \
                     `cargo llvm-cov --lcov` or `coverage xml` writes",
                ));
            }
            parse_lcov(text).map(|c| (CoverageFormat::Lcov, c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let input = "ab\ncdé\nf".as_bytes();
        assert_eq!(
            Position::at_byte(input, 0),
            Position {
                line: 1,
                column: 1,
                byte: Some(0)
            }
        );
        // Byte 7 is the `\n` after `é` (2 bytes): line 2, 4th character.
        let p = Position::at_byte(input, 7);
        assert_eq!((p.line, p.column), (2, 4));
        let p = Position::at_byte(input, 8);
        assert_eq!((p.line, p.column), (3, 1));
        assert_eq!(p.to_string(), "line 3, column 1 (byte 8)");
        // Past the end: the end.
        assert_eq!(Position::at_byte(input, 99).column, 2);
    }
}
