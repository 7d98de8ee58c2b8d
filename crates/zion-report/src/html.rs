//! The report as one self-contained HTML file: inline CSS, inline SVG
//! charts, no script and no external resource, so it can be mailed,
//! archived or printed as it is.

use std::fmt::Write;

use crate::document::{Block, Document};
use crate::svg::bar_chart;
use crate::text::{NO_DATA_SECTION, html_escape as esc};

const STYLE: &str = r#"
:root { --ink: #1d2430; --muted: #5b6575; --line: #d8dde5; --bar: #3b6fd8; --bg: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 2rem 1.5rem; color: var(--ink); background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.8rem; margin: 0 0 .5rem; }
h2 { font-size: 1.25rem; margin: 0 0 .75rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
header p { margin: .1rem 0; color: var(--muted); }
section { margin: 2rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.5rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; margin: .75rem 0; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
p.note, p.empty { color: var(--muted); font-size: .9rem; }
/* On a narrow screen a wide table or chart scrolls sideways inside its own
   box rather than running off the page, and chart text stays legible. */
.table { overflow-x: auto; }
figure { margin: 1rem 0; overflow-x: auto; }
figcaption { color: var(--muted); font-size: .9rem; }
svg { width: 100%; min-width: 34rem; height: auto; display: block; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .grid { stroke: var(--line); stroke-width: 1; stroke-dasharray: 3 3; }
svg .bar { fill: var(--bar); }
svg text { fill: var(--muted); font-size: 11px; font-family: inherit; }
pre { background: #f5f7fa; padding: .75rem; overflow-x: auto; font-size: .85rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  section { margin: .8rem 0; break-inside: avoid; page-break-inside: avoid; }
  p.note, p.empty { margin: .3rem 0; }
  /* A section too long for one page still never splits a chart, a row or a
     list of facts, nor leaves its heading alone at the foot of a page. */
  h2 { font-size: 1.1rem; margin-bottom: .5rem; break-after: avoid; page-break-after: avoid; }
  figure, tr, dl { break-inside: avoid; page-break-inside: avoid; }
  .table, figure { overflow: visible; }
  svg .bar { fill: #4d4d4d; }
  pre { white-space: pre-wrap; }
}
"#;

pub(crate) fn render(doc: &Document) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let title = esc(&doc.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{title}</h1>\n"
    );
    for line in &doc.lead {
        let _ = writeln!(out, "<p>{}</p>", esc(line));
    }
    out.push_str("</header>\n<main>\n");
    for section in &doc.sections {
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>{}</h2>",
            section.id,
            esc(&section.title)
        );
        if section.blocks.is_empty() {
            let _ = writeln!(out, "<p class=\"empty\">{NO_DATA_SECTION}</p>");
        }
        for block in &section.blocks {
            render_block(&mut out, block);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn render_block(out: &mut String, block: &Block) {
    match block {
        Block::Facts(facts) => {
            out.push_str("<dl>\n");
            for (label, value) in facts {
                let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(value));
            }
            out.push_str("</dl>\n");
        }
        Block::Table(table) => {
            out.push_str("<div class=\"table\">\n<table>\n<thead><tr>");
            for h in &table.headers {
                let _ = write!(out, "<th>{}</th>", esc(h));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in &table.rows {
                out.push_str("<tr>");
                for cell in row {
                    let _ = write!(out, "<td>{}</td>", esc(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table>\n</div>\n");
        }
        Block::Chart(chart) => {
            let _ = writeln!(
                out,
                "<figure id=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
                chart.id,
                bar_chart(chart),
                esc(&chart.title)
            );
        }
        Block::Note(note) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(note));
        }
    }
}
