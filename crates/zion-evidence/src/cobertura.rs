//! Cobertura XML coverage reports (coverage.py's `coverage xml`, gcovr,
//! `cargo llvm-cov --cobertura`, Istanbul's `cobertura` reporter).
//!
//! The root `<coverage>` carries `lines-valid` and `lines-covered` in the
//! DTD version 04 that these tools write; when both are there they are the
//! figures. Older reports carry only `line-rate`, which is a ratio without
//! its base, so the `<line number hits>` elements are counted instead:
//! those of `<class><lines>` only, because classes may repeat their
//! methods' lines under `<methods>`, and a line counts once per class.

use std::collections::BTreeMap;

use crate::xml::{self, Node};
use crate::{CoverageSummary, EvidenceError, Position, ReportKind, Result};

const KIND: ReportKind = ReportKind::Cobertura;

/// Reads a Cobertura XML report.
pub fn parse_cobertura(bytes: &[u8]) -> Result<CoverageSummary> {
    let mut totals: Option<(u64, u64)> = None;
    let mut root_at = 0;
    // Names of the open elements, to tell class lines from method lines.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut class_lines: BTreeMap<u64, bool> = BTreeMap::new();
    let mut counted = CoverageSummary::default();
    let mut saw_line = false;
    xml::walk(bytes, KIND, |node| {
        match node {
            Node::Start { element, depth, at } => {
                let name = xml::local_name(element);
                if depth == 0 {
                    if name != b"coverage" {
                        let hint = if name == b"report" {
                            " (JaCoCo's XML is a different format: convert it to Cobertura)"
                        } else {
                            ""
                        };
                        return Err(EvidenceError::at(
                            KIND,
                            Position::at_byte(bytes, at),
                            format!(
                                "the root element is <{}>, not <coverage>{hint}",
                                String::from_utf8_lossy(name)
                            ),
                        ));
                    }
                    root_at = at;
                    let valid = xml::count_attr(bytes, KIND, element, at, "lines-valid")?;
                    let covered = xml::count_attr(bytes, KIND, element, at, "lines-covered")?;
                    totals = valid.zip(covered);
                }
                let parent_is_class_lines = path.len() >= 2
                    && path[path.len() - 1] == b"lines"
                    && path[path.len() - 2] == b"class";
                if name == b"line" && parent_is_class_lines {
                    saw_line = true;
                    let number = xml::count_attr(bytes, KIND, element, at, "number")?;
                    let hits = xml::attr(bytes, KIND, element, at, "hits")?;
                    let (Some(number), Some(hits)) = (number, hits) else {
                        return Err(EvidenceError::at(
                            KIND,
                            Position::at_byte(bytes, at),
                            "<line> needs both number and hits attributes",
                        ));
                    };
                    // Hits may be written as a large or float-looking number.
                    let hit = hits.parse::<f64>().map_err(|_| {
                        EvidenceError::at(
                            KIND,
                            Position::at_byte(bytes, at),
                            format!("<line> has hits=\"{hits}\", which is not a number"),
                        )
                    })? > 0.0;
                    *class_lines.entry(number).or_insert(false) |= hit;
                }
                path.push(name.to_vec());
            }
            Node::End { name, .. } => {
                path.pop();
                if name == b"class" {
                    counted.lines_total += class_lines.len() as u64;
                    counted.lines_covered += class_lines.values().filter(|&&c| c).count() as u64;
                    class_lines.clear();
                }
            }
        }
        Ok(())
    })?;
    match totals {
        Some((valid, covered)) if covered > valid => Err(EvidenceError::at(
            KIND,
            Position::at_byte(bytes, root_at),
            format!(
                "<coverage> says lines-covered=\"{covered}\" of lines-valid=\"{valid}\": \
                 covered lines cannot exceed valid ones"
            ),
        )),
        Some((valid, covered)) => Ok(CoverageSummary {
            lines_total: valid,
            lines_covered: covered,
        }),
        None if saw_line => Ok(counted),
        None => Err(EvidenceError::at(
            KIND,
            Position::at_byte(bytes, root_at),
            "<coverage> has neither lines-valid/lines-covered nor any <class><lines><line>: \
             nothing to measure",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_lines_are_not_counted_twice() {
        // Old Cobertura (Java) style: no totals on the root, methods repeat
        // the class's lines.
        let xml = br#"<?xml version="1.0"?>
<coverage line-rate="0.5" branch-rate="0" version="1.9" timestamp="1">
  <packages><package name="p"><classes>
    <class name="A" filename="A.java" line-rate="0.5">
      <methods><method name="m" signature="()V"><lines>
        <line number="3" hits="1"/><line number="4" hits="0"/>
      </lines></method></methods>
      <lines>
        <line number="3" hits="1"/><line number="4" hits="0"/>
      </lines>
    </class>
    <class name="B" filename="B.java"><lines>
      <line number="1" hits="12" branch="false"/>
      <line number="2" hits="0"/>
      <line number="2" hits="3"/>
    </lines></class>
  </classes></package></packages>
</coverage>"#;
        assert_eq!(
            parse_cobertura(xml).unwrap(),
            CoverageSummary {
                lines_total: 4,
                lines_covered: 3
            }
        );
    }
}
