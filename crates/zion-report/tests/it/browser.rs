//! The HTML report opened in headless Chromium: the document the browser
//! parsed holds every section and chart, nothing reads NaN or undefined,
//! nothing is fetched, and the page prints to a PDF of a few pages and
//! draws a screenshot that is not blank.

use zion_core::delivery::build_report;
use zion_report::render_html;
use zion_report::text;

use crate::chromium::Browser;
use crate::history::{self, DAYS, MONTHS};
use crate::{CHARTS, NO_DATA, SECTIONS};

/// The element with this id, from its start tag to the first closing
/// `</tag>` after it (the report's sections and figures do not nest their
/// own kind).
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let open = format!("<{tag} id=\"{id}\"");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag} id=\"{id}\"> in the page"));
    let close = format!("</{tag}>");
    let end = dom[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("<{tag} id=\"{id}\"> is not closed"));
    &dom[start..start + end + close.len()]
}

/// The start tags named `tag` in `html`, each up to its `>`.
fn start_tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let end = rest[at..].find('>').expect("tag is closed") + at;
        tags.push(&rest[at..=end]);
        rest = &rest[end..];
    }
    tags
}

/// A numeric attribute of a start tag.
fn number(tag: &str, name: &str) -> f64 {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    let end = tag[at..].find('"').expect("attribute is quoted") + at;
    tag[at..end]
        .parse()
        .unwrap_or_else(|e| panic!("{name} of {tag} is not a number: {e}"))
}

/// Words a broken figure prints in a browser: a float that went wrong, or a
/// value that was never set.
fn assert_no_broken_values(dom: &str) {
    for word in dom.split(|c: char| !c.is_ascii_alphanumeric()) {
        let lower = word.to_ascii_lowercase();
        assert!(
            !matches!(lower.as_str(), "nan" | "inf" | "infinity" | "undefined"),
            "the page shows {word:?}"
        );
    }
}

/// No resource the page would fetch: no src or href, no CSS url() or
/// @import, no address but the SVG namespace name.
fn assert_self_contained(dom: &str) {
    let lower = dom.to_ascii_lowercase();
    for needle in [
        "src=", "href=", "url(", "@import", "<script", "<link", "<iframe",
    ] {
        assert!(!lower.contains(needle), "the page holds {needle:?}");
    }
    let without_namespace = lower.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for scheme in ["http:", "https:", "//"] {
        // "//" outside the namespace would be a protocol-relative address.
        assert!(
            !without_namespace.contains(scheme),
            "the page names an address ({scheme:?})"
        );
    }
}

/// Every section is there once, in order, under its heading.
fn assert_sections(dom: &str) {
    assert_eq!(dom.matches("<section ").count(), SECTIONS.len());
    let mut last = 0;
    for (id, title) in SECTIONS {
        let at = dom.find(&format!("<section id=\"{id}\">")).unwrap();
        assert!(at > last, "{id} is out of order");
        last = at;
        let section = element(dom, "section", id);
        assert!(
            section.contains(&format!("<h2>{title}</h2>")),
            "{id} has no heading {title:?}: {section}"
        );
    }
}

/// The number of pages in a PDF: its `/Type /Page` objects (not the
/// `/Type /Pages` tree nodes).
fn pdf_pages(pdf: &[u8]) -> usize {
    let mut pages = 0;
    for needle in [&b"/Type /Page"[..], &b"/Type/Page"[..]] {
        pages += pdf
            .windows(needle.len() + 1)
            .filter(|w| w.starts_with(needle) && !w[needle.len()].is_ascii_alphanumeric())
            .count();
    }
    pages
}

fn assert_pdf(pdf: &[u8], pages: std::ops::RangeInclusive<usize>) -> usize {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let end = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(32)..]).into_owned();
    assert!(end.contains("%%EOF"), "the PDF is cut short: {end:?}");
    assert!(
        (8 * 1024..8 * 1024 * 1024).contains(&pdf.len()),
        "a PDF of {} bytes",
        pdf.len()
    );
    let count = pdf_pages(pdf);
    assert!(pages.contains(&count), "{count} pages, expected {pages:?}");
    count
}

/// The width and height a PNG declares in its header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn chromium_parses_every_section_and_draws_every_chart() {
    let history = history::three_months();
    let report = history.report();
    let mut browser = Browser::new();
    let page = browser.page("report.html", &render_html(&report));
    let dom = browser.dom(&page);

    assert!(dom.contains("<h1>Deployment report</h1>"));
    // Whole local days, but the March clock change takes an hour away.
    assert!(
        dom.contains("(90 calendar days, 89.96 days long, Europe/Berlin)"),
        "{dom}"
    );
    assert!(dom.contains(&format!(
        "Total deployments: {}",
        text::count(history.deployments.len() as u64)
    )));
    assert_sections(&dom);
    for (id, _) in SECTIONS {
        assert!(
            !element(&dom, "section", id).contains(NO_DATA),
            "{id} has no data in a three-month history"
        );
    }

    let bins = report.speed.as_ref().expect("speed").histogram.len();
    assert!(bins > 1, "{bins} histogram bins");
    let expected = [
        ("chart-per-day", "Deployments per day", DAYS),
        ("chart-success-month", "Success rate per month", MONTHS),
        ("chart-duration-month", "Mean duration per month", MONTHS),
        ("chart-duration-histogram", "Duration distribution", bins),
    ];
    assert_eq!(expected.map(|(id, ..)| id), CHARTS);
    for (id, caption, bars) in expected {
        let figure = element(&dom, "figure", id);
        assert!(
            figure.contains(&format!("<figcaption>{caption}</figcaption>")),
            "{id}: {figure}"
        );
        let svg = start_tags(figure, "svg");
        assert_eq!(svg.len(), 1, "{id} holds one svg");
        assert!(svg[0].contains("viewBox=\"0 0 720 220\""), "{}", svg[0]);
        let rects = start_tags(figure, "rect");
        assert_eq!(rects.len(), bars, "{id} bars");
        let mut drawn = 0;
        for rect in rects {
            let (x, y, w, h) = (
                number(rect, "x"),
                number(rect, "y"),
                number(rect, "width"),
                number(rect, "height"),
            );
            assert!(w > 0.0 && h >= 0.0, "{id}: {rect}");
            assert!(
                x >= 0.0 && x + w <= 720.0 && y >= 0.0 && y + h <= 220.0,
                "{id}: a bar outside the chart: {rect}"
            );
            drawn += usize::from(h > 0.0);
        }
        assert!(drawn > 0, "{id} draws no bar taller than zero");
        // Two axes and three grid lines.
        assert_eq!(start_tags(figure, "line").len(), 5, "{id} axes");
    }
    // The period's first and last days label the per-day chart.
    let per_day = element(&dom, "figure", "chart-per-day");
    assert!(per_day.contains(">2026-01-01</text>"), "{per_day}");
    assert!(per_day.contains(">2026-03-31</text>"), "{per_day}");
    // Each month labels its own bar, centred under it.
    for id in ["chart-success-month", "chart-duration-month"] {
        let figure = element(&dom, "figure", id);
        let rects = start_tags(figure, "rect");
        for (month, rect) in ["2026-01", "2026-02", "2026-03"].into_iter().zip(rects) {
            let label = figure
                .split("<text ")
                .find(|t| t.contains(&format!(">{month}</text>")))
                .unwrap_or_else(|| panic!("{id} has no label {month}"));
            let centre = number(rect, "x") + number(rect, "width") / 2.0;
            assert!(
                (number(&format!(" {label}"), "x") - centre).abs() < 0.1
                    && label.contains("text-anchor=\"middle\""),
                "{id}: {month} is not under its bar: {label}"
            );
        }
    }

    // The trends carry each month's DORA figures: two tables (the figures
    // of the month, then its DORA metrics), one row a month in each.
    let trends = element(&dom, "section", "trends");
    for heading in [
        "Frequency",
        "Lead time",
        "Change failure rate",
        "Recovery time",
    ] {
        assert!(
            trends.contains(&format!("<th>{heading}</th>")),
            "trends lack {heading}"
        );
    }
    assert_eq!(trends.matches("<table").count(), 2, "two trend tables");
    assert_eq!(
        trends.matches("<tr>").count(),
        2 * (MONTHS + 1),
        "in each, a heading row and one per month"
    );

    assert_no_broken_values(&dom);
    assert_self_contained(&dom);
}

#[test]
fn the_report_prints_to_a_pdf_of_a_few_pages() {
    let report = history::three_months().report();
    let mut browser = Browser::new();
    let page = browser.page("report.html", &render_html(&report));
    let pdf = browser.pdf(&page);
    assert_pdf(&pdf, 2..=20);
}

#[test]
fn the_screenshot_shows_a_drawn_page() {
    let report = history::three_months().report();
    let mut browser = Browser::new();
    let page = browser.page("report.html", &render_html(&report));
    let shot = browser.screenshot(&page, 1280, 4000);
    assert_eq!(png_size(&shot), (1280, 4000));
    // A blank page of the same size compresses to almost nothing; text,
    // tables and charts do not.
    let blank = browser.page("blank.html", "<!DOCTYPE html><html><body></body></html>");
    let empty = browser.screenshot(&blank, 1280, 4000);
    assert_eq!(png_size(&empty), (1280, 4000));
    assert!(
        shot.len() > 4 * empty.len(),
        "the report's screenshot is {} bytes, a blank page's {}",
        shot.len(),
        empty.len()
    );
}

#[test]
fn an_empty_history_opens_and_says_no_data_everywhere() {
    let report = build_report(&[], &[], &history::query());
    let mut browser = Browser::new();
    let page = browser.page("empty.html", &render_html(&report));
    let dom = browser.dom(&page);
    assert!(dom.contains("Total deployments: 0"));
    assert_sections(&dom);
    for (id, _) in SECTIONS {
        let section = element(&dom, "section", id);
        assert!(
            section.contains(&format!("<p class=\"empty\">{NO_DATA}</p>")),
            "{id}: {section}"
        );
    }
    assert!(!dom.contains("<figure"), "a chart drawn without data");
    assert!(!dom.contains("<svg"), "a chart drawn without data");
    assert_no_broken_values(&dom);
    assert_self_contained(&dom);
    // Twelve headings and notes fit on one page.
    let pdf = browser.pdf(&page);
    assert_pdf(&pdf, 1..=1);
}
