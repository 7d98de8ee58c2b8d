//! A small walk over an XML document shared by the JUnit and Cobertura
//! readers: elements only (text, comments and declarations are skipped),
//! with their depth, and errors that carry the line and column. External
//! entities are never fetched (quick-xml does not resolve them), so a report
//! cannot make Zion read files or the network.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::{EvidenceError, Position, ReportKind, Result};

/// One element boundary. An empty element (`<a/>`) gives a `Start` then an
/// `End`.
pub(crate) enum Node<'e, 'a> {
    /// An element opens; `depth` is 0 for the root.
    Start {
        element: &'e BytesStart<'a>,
        depth: usize,
        at: u64,
    },
    /// The element opened at `depth` closes.
    End { name: &'e [u8], depth: usize },
}

/// Walks `input`, calling `visit` for every element boundary. Fails on
/// malformed XML, on a document without a root element, on a second root
/// and on a document cut short inside an element.
pub(crate) fn walk<'a>(
    input: &'a [u8],
    kind: ReportKind,
    mut visit: impl FnMut(Node<'_, 'a>) -> Result<()>,
) -> Result<()> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut saw_root = false;
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            EvidenceError::at(
                kind,
                Position::at_byte(input, reader.error_position()),
                format!("not well-formed XML: {e}"),
            )
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let depth = open.len();
                if depth == 0 {
                    if saw_root {
                        return Err(EvidenceError::at(
                            kind,
                            Position::at_byte(input, at),
                            format!(
                                "a second root element <{}>: a report has one root",
                                String::from_utf8_lossy(e.name().as_ref())
                            ),
                        ));
                    }
                    saw_root = true;
                }
                visit(Node::Start {
                    element: e,
                    depth,
                    at,
                })?;
                let name = e.local_name().as_ref().to_vec();
                if matches!(event, Event::Empty(_)) {
                    visit(Node::End { name: &name, depth })?;
                } else {
                    open.push(name);
                }
            }
            Event::End(_) => {
                // check_end_names already refused a mismatched or stray end.
                let name = open.pop().unwrap_or_default();
                visit(Node::End {
                    name: &name,
                    depth: open.len(),
                })?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(inside) = open.last() {
        return Err(EvidenceError::at(
            kind,
            Position::at_byte(input, input.len() as u64),
            format!(
                "the document ends inside <{}>: the file looks cut short",
                String::from_utf8_lossy(inside)
            ),
        ));
    }
    if !saw_root {
        return Err(EvidenceError::new(
            kind,
            "no XML element found: the file is empty or not XML",
        ));
    }
    Ok(())
}

/// An attribute's value as text (matched by local name, so `xsi:` prefixes
/// do not matter); None when absent.
pub(crate) fn attr(
    input: &[u8],
    kind: ReportKind,
    element: &BytesStart<'_>,
    at: u64,
    name: &str,
) -> Result<Option<String>> {
    for a in element.attributes() {
        let a = a.map_err(|e| {
            EvidenceError::at(
                kind,
                Position::at_byte(input, at),
                format!("malformed attribute: {e}"),
            )
        })?;
        if a.key.local_name().as_ref() == name.as_bytes() {
            let value = std::str::from_utf8(&a.value).map_err(|_| {
                EvidenceError::at(
                    kind,
                    Position::at_byte(input, at),
                    format!("attribute {name} is not UTF-8 text"),
                )
            })?;
            return Ok(Some(value.trim().to_owned()));
        }
    }
    Ok(None)
}

/// An attribute that must hold a whole number of at least 0, when present.
pub(crate) fn count_attr(
    input: &[u8],
    kind: ReportKind,
    element: &BytesStart<'_>,
    at: u64,
    name: &str,
) -> Result<Option<u64>> {
    let Some(text) = attr(input, kind, element, at, name)? else {
        return Ok(None);
    };
    text.parse::<u64>().map(Some).map_err(|_| {
        EvidenceError::at(
            kind,
            Position::at_byte(input, at),
            format!(
                "<{}> has {name}=\"{text}\", which is not a whole number of 0 or more",
                String::from_utf8_lossy(element.name().as_ref())
            ),
        )
    })
}

/// The element's name without a namespace prefix.
pub(crate) fn local_name<'e>(element: &'e BytesStart<'_>) -> &'e [u8] {
    let full = element.name().into_inner();
    match full.iter().rposition(|&b| b == b':') {
        Some(i) => &full[i + 1..],
        None => full,
    }
}
