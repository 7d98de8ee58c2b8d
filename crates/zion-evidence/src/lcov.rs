//! LCOV tracefiles (`geninfo`'s format, written by `cargo llvm-cov --lcov`,
//! lcov, c8 and most coverage tools).
//!
//! A tracefile is a list of records, one per source file, from `SF:` to
//! `end_of_record`. A record's lines are its `LF:` (lines found) and `LH:`
//! (lines hit) summary; a record without both is counted from its `DA:`
//! lines instead (distinct line numbers; a line is covered when any of its
//! `DA` entries has a positive count). Records are summed as written, since
//! the tools above write one record per source file. Other keys (functions,
//! branches, checksums, `TN:`, `VER:`) are skipped.

use std::collections::BTreeMap;

use crate::{CoverageSummary, EvidenceError, Position, ReportKind, Result};

const KIND: ReportKind = ReportKind::Lcov;

/// The record being read.
struct Record {
    /// Line of its `SF:`.
    line: u64,
    source: String,
    found: Option<u64>,
    hit: Option<u64>,
    /// Line number → covered, from `DA:` entries.
    lines: BTreeMap<u64, bool>,
}

/// Whether `text` has an LCOV record start at the beginning of a line.
pub(crate) fn looks_like_lcov(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("SF:"))
}

/// Reads an LCOV tracefile.
pub fn parse_lcov(text: &str) -> Result<CoverageSummary> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut summary = CoverageSummary::default();
    let mut record: Option<Record> = None;
    let mut records = 0u64;
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = raw_line.trim();
        let at = || Position {
            line: line_no,
            column: 1,
            byte: None,
        };
        let fail = |message: String| EvidenceError::at(KIND, at(), message);
        if line.is_empty() {
            continue;
        }
        if line == "end_of_record" {
            let Some(r) = record.take() else {
                return Err(fail(
                    "end_of_record without a record: every record starts with `SF:<file>`"
                        .to_owned(),
                ));
            };
            let (found, hit) = match (r.found, r.hit) {
                (Some(found), Some(hit)) => (found, hit),
                _ => (
                    r.lines.len() as u64,
                    r.lines.values().filter(|&&c| c).count() as u64,
                ),
            };
            if hit > found {
                return Err(fail(format!(
                    "the record for `{}` (from line {}) says {hit} lines hit of {found} found: \
                     LH cannot exceed LF",
                    r.source, r.line
                )));
            }
            summary.lines_total += found;
            summary.lines_covered += hit;
            records += 1;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(fail(format!(
                "`{}` is not an LCOV line: expected KEY:VALUE or end_of_record",
                clip(line)
            )));
        };
        if key == "SF" {
            if let Some(open) = &record {
                return Err(fail(format!(
                    "a new record starts before the record for `{}` (from line {}) ended: \
                     end_of_record is missing",
                    open.source, open.line
                )));
            }
            record = Some(Record {
                line: line_no,
                source: value.to_owned(),
                found: None,
                hit: None,
                lines: BTreeMap::new(),
            });
            continue;
        }
        let in_record = |key: &str| -> Result<()> {
            if record.is_none() {
                Err(fail(format!(
                    "{key}: outside a record: records start with `SF:<file>`"
                )))
            } else {
                Ok(())
            }
        };
        let number = |what: &str, text: &str| -> Result<u64> {
            text.trim().parse::<u64>().map_err(|_| {
                fail(format!(
                    "{what} `{}` is not a whole number of 0 or more",
                    clip(text)
                ))
            })
        };
        match key {
            "LF" => {
                in_record(key)?;
                let n = number("LF (lines found)", value)?;
                if let Some(r) = record.as_mut() {
                    r.found = Some(n);
                }
            }
            "LH" => {
                in_record(key)?;
                let n = number("LH (lines hit)", value)?;
                if let Some(r) = record.as_mut() {
                    r.hit = Some(n);
                }
            }
            "DA" => {
                in_record(key)?;
                let mut parts = value.split(',');
                let line = number("DA line number", parts.next().unwrap_or(""))?;
                let Some(count) = parts.next() else {
                    return Err(fail(format!(
                        "DA:{} has no execution count: expected DA:<line>,<count>",
                        clip(value)
                    )));
                };
                // Counts are signed in some gcov versions' output; only
                // "more than zero" matters.
                let count: i128 = count.trim().parse().map_err(|_| {
                    fail(format!(
                        "DA execution count `{}` is not a number",
                        clip(count)
                    ))
                })?;
                if let Some(r) = record.as_mut() {
                    *r.lines.entry(line).or_insert(false) |= count > 0;
                }
            }
            _ => {}
        }
    }
    if let Some(open) = record {
        return Err(EvidenceError::at(
            KIND,
            Position {
                line: open.line,
                column: 1,
                byte: None,
            },
            format!(
                "the record for `{}` has no end_of_record: the file looks cut short",
                open.source
            ),
        ));
    }
    if records == 0 {
        return Err(EvidenceError::new(
            KIND,
            "no record (`SF:` … `end_of_record`) found: attach the tracefile `cargo llvm-cov \
             --lcov` or `lcov --capture` writes",
        ));
    }
    Ok(summary)
}

/// Long garbage is cut in messages.
fn clip(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_win_over_da_lines() {
        // LF/LH say 10/7 although only two DA lines are listed.
        let text = "SF:a.rs\nDA:1,1\nDA:2,0\nLF:10\nLH:7\nend_of_record\n";
        assert_eq!(
            parse_lcov(text).unwrap(),
            CoverageSummary {
                lines_total: 10,
                lines_covered: 7
            }
        );
    }

    #[test]
    fn da_lines_count_distinct_lines() {
        // Line 3 appears twice (two instantiations); covered by one of them.
        let text = "SF:a.rs\nDA:1,0\nDA:3,0\nDA:3,2\nDA:4,5,abcdef\nend_of_record\n";
        assert_eq!(
            parse_lcov(text).unwrap(),
            CoverageSummary {
                lines_total: 3,
                lines_covered: 2
            }
        );
    }

    #[test]
    fn clip_keeps_messages_short() {
        assert_eq!(clip("abc"), "abc");
        assert_eq!(clip(&"x".repeat(100)).chars().count(), 61);
    }
}
