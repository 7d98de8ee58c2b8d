//! `zion report` and `zion import`: the delivery report of a period, built
//! by the server from what it recorded and rendered here, and history made
//! by other tools sent to the server to be counted from day one.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use zion_core::api::ImportSummary;
use zion_core::delivery::Report;

use crate::cli::{Global, HistoryFormat, Output, ReportArgs};
use crate::client::Client;
use crate::commands::urlencode;
use crate::exit::Failure;
use crate::render;

/// A report over millions of records takes seconds; an import of millions
/// of lines, tens of seconds on a slow disk.
const SLOW_REQUEST: Duration = Duration::from_secs(600);

/// `zion report`.
pub async fn report(g: &Global, args: ReportArgs) -> Result<(), Failure> {
    let mut query = Vec::new();
    for (key, value) in [
        ("since", &args.since),
        ("until", &args.until),
        ("env", &args.env),
        ("service", &args.service),
        ("tz", &args.tz),
    ] {
        if let Some(v) = value {
            query.push(format!("{key}={}", urlencode(v)));
        }
    }
    let path = if query.is_empty() {
        "/report".to_owned()
    } else {
        format!("/report?{}", query.join("&"))
    };
    let value = Client::new(g)?.get_within(&path, SLOW_REQUEST).await?;
    let format = if g.output == Output::Json {
        HistoryFormat::Json
    } else {
        args.format
    };
    let text = match format {
        // The server's figures exactly as sent.
        HistoryFormat::Json => {
            let mut t = serde_json::to_string_pretty(&value).unwrap_or_default();
            t.push('\n');
            t
        }
        HistoryFormat::Md | HistoryFormat::Html => {
            let report: Report = serde_json::from_value(value).map_err(|e| {
                Failure::negative(format!(
                    "the server's report cannot be read ({e}); is the server the same Zion version as this command?"
                ))
            })?;
            if format == HistoryFormat::Md {
                zion_report::render_markdown(&report)
            } else {
                zion_report::render_html(&report)
            }
        }
    };
    match &args.out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
        Some(file) => {
            write_atomically(file, text.as_bytes())?;
            eprintln!(
                "wrote the report to {} ({})",
                file.display(),
                render::count(text.len() as u64, "byte", "bytes")
            );
        }
    }
    Ok(())
}

/// Writes beside the target and renames, so that an interrupted run never
/// leaves half a report where a whole one was.
fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fail = |e: &dyn std::fmt::Display| {
        Failure::usage(format!(
            "cannot write the report to {}: {e}; check that the folder exists and is writable",
            file.display()
        ))
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| fail(&e))?;
    tmp.write_all(bytes).map_err(|e| fail(&e))?;
    tmp.persist(file).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// `zion import FILE`.
pub async fn import(g: &Global, file: &Path) -> Result<(), Failure> {
    let body = std::fs::read(file).map_err(|e| {
        Failure::usage(format!(
            "cannot read {}: {e}; give the path of a JSON-lines file",
            file.display()
        ))
    })?;
    let lines = bytecount_lines(&body);
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let client = Client::new(g)?;
    let spinner = progress(&format!(
        "importing {name}: {}, {:.1} MB…",
        render::count(lines as u64, "line", "lines"),
        body.len() as f64 / 1e6
    ));
    let started = Instant::now();
    let sent = client
        .post_bytes(
            &format!("/import?source={}", urlencode(&name)),
            body,
            SLOW_REQUEST,
        )
        .await;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let r: ImportSummary = client.view("POST", "/import", sent?)?;
    let seconds = started.elapsed().as_secs_f64();
    if g.output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::json(&r)).unwrap_or_default()
        );
        return Ok(());
    }
    println!("{}", import_text(&name, &r, seconds));
    Ok(())
}

/// The summary of an import the server answered, in `seconds`.
fn import_text(name: &str, r: &ImportSummary, seconds: f64) -> String {
    let records = r.records;
    if r.import_id.is_none() {
        let all = match records {
            1 => "its one record was".to_string(),
            n => format!("all {n} records were"),
        };
        return format!("nothing new in {name}: {all} imported before; nothing was changed");
    }
    format!(
        "imported {name}: {} and {} added, {} resolved, {} unchanged, in {seconds:.1} s ({:.0} lines/s)",
        render::count(r.deployments_added, "deployment", "deployments"),
        render::count(r.incidents_added, "incident", "incidents"),
        render::count(r.incidents_resolved, "incident", "incidents"),
        render::count(r.unchanged, "record", "records"),
        records as f64 / seconds.max(1e-9),
    )
}

fn bytecount_lines(body: &[u8]) -> usize {
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(!body.is_empty() && !body.ends_with(b"\n"))
}

/// A spinner on a terminal; nothing when stderr is piped.
fn progress(message: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        eprintln!("{message}");
        return None;
    }
    let s = ProgressBar::new_spinner();
    s.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    s.set_message(message.to_owned());
    s.enable_steady_tick(Duration::from_millis(120));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(import_id: Option<i64>, records: u64, added: [u64; 4]) -> ImportSummary {
        let [
            deployments_added,
            incidents_added,
            incidents_resolved,
            unchanged,
        ] = added;
        ImportSummary {
            source: "h.jsonl".into(),
            sha256: "00".repeat(32),
            records,
            import_id,
            deployments_added,
            incidents_added,
            incidents_resolved,
            unchanged,
            seconds: 0.5,
        }
    }

    #[test]
    fn one_of_a_kind_is_named_in_the_singular() {
        let r = summary(Some(3), 2, [1, 1, 1, 1]);
        assert_eq!(
            import_text("h.jsonl", &r, 2.0),
            "imported h.jsonl: 1 deployment and 1 incident added, 1 incident resolved, \
             1 record unchanged, in 2.0 s (1 lines/s)"
        );
        let r = summary(Some(4), 9, [2, 0, 3, 4]);
        assert!(
            import_text("h.jsonl", &r, 1.0)
                .starts_with("imported h.jsonl: 2 deployments and 0 incidents added, 3 incidents resolved, 4 records unchanged")
        );
        let again = |records: u64| import_text("h.jsonl", &summary(None, records, [0; 4]), 1.0);
        assert_eq!(
            again(1),
            "nothing new in h.jsonl: its one record was imported before; nothing was changed"
        );
        assert_eq!(
            again(7),
            "nothing new in h.jsonl: all 7 records were imported before; nothing was changed"
        );
    }
}
