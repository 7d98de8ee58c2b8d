//! The report as Markdown (CommonMark with GitHub tables).

use crate::document::{Block, Document};
use crate::text::{NO_DATA_SECTION, markdown_escape as esc};

pub(crate) fn render(doc: &Document) -> String {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(&format!("# {}\n\n", esc(&doc.title)));
    for line in &doc.lead {
        out.push_str(&esc(line));
        out.push_str("  \n");
    }
    for section in &doc.sections {
        out.push_str(&format!("\n## {}\n\n", esc(&section.title)));
        if section.blocks.is_empty() {
            out.push_str(NO_DATA_SECTION);
            out.push('\n');
            continue;
        }
        let mut first = true;
        for block in &section.blocks {
            if matches!(block, Block::Chart(_)) {
                continue;
            }
            if !first {
                out.push('\n');
            }
            first = false;
            match block {
                Block::Facts(facts) => {
                    for (label, value) in facts {
                        out.push_str(&format!("- **{}**: {}\n", esc(label), esc(value)));
                    }
                }
                Block::Table(table) => {
                    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
                    out.push_str(&row(table.headers.iter().map(|h| esc(h)).collect()));
                    out.push_str(&row(table
                        .headers
                        .iter()
                        .map(|_| "---".to_string())
                        .collect()));
                    for cells in &table.rows {
                        out.push_str(&row(cells.iter().map(|c| esc(c)).collect()));
                    }
                }
                Block::Note(note) => {
                    out.push_str(&format!("_{}_\n", esc(note)));
                }
                Block::Chart(_) => {}
            }
        }
    }
    out
}
