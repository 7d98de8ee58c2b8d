//! `zion audit …`: the transparency log's entries, its verification (from
//! the server, or offline from an exported folder), inclusion and
//! consistency proofs, the signed checkpoint, the verifier key, and export.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::{AuditCmd, Global, Output};
use crate::client::Client;
use crate::commands::urlencode;
use crate::exit::Failure;
use crate::render::{self, s, table};

/// Entries fetched per request while exporting.
const PAGE: u64 = 10_000;

/// Runs one `zion audit` subcommand.
pub async fn run(g: &Global, cmd: AuditCmd) -> Result<(), Failure> {
    if let AuditCmd::Verify {
        bundle: Some(dir),
        key,
    } = &cmd
    {
        return verify_bundle(g, dir, key.as_deref());
    }
    let client = Client::new(g)?;
    match cmd {
        AuditCmd::Log {
            since,
            action,
            subject,
            limit,
        } => {
            let mut q = vec![format!("limit={limit}")];
            for (k, v) in [("since", since), ("action", action), ("subject", subject)] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", urlencode(&v)));
                }
            }
            let list = client
                .get(&format!("/audit/entries?{}", q.join("&")))
                .await?;
            let shown = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
            match g.output {
                Output::Json => println!("{list}"),
                Output::Text => print!("{}", log_text(shown)),
            }
            if shown.len() >= limit {
                eprintln!(
                    "note: showing the first {limit} matching entries; pass --limit N for more, or narrow with --since/--action/--subject"
                );
            }
            Ok(())
        }
        AuditCmd::Verify { .. } => {
            let r = client.get("/audit/verify").await?;
            match g.output {
                Output::Json => println!("{r}"),
                Output::Text => println!("{}", verify_text(&r)),
            }
            if r["ok"] == true {
                Ok(())
            } else {
                Err(Failure::negative(format!(
                    "the audit log does not verify: {}",
                    s(&r["error"])
                )))
            }
        }
        AuditCmd::Proof { index, size } => {
            let path = match size {
                Some(n) => format!("/audit/proof/{index}?size={n}"),
                None => format!("/audit/proof/{index}"),
            };
            let p = client.get(&path).await?;
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            Ok(())
        }
        AuditCmd::Consistency { old, new } => {
            let p = client
                .get(&format!("/audit/consistency?old={old}&new={new}"))
                .await?;
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            Ok(())
        }
        AuditCmd::Checkpoint => {
            let c = client.get("/audit/checkpoint").await?;
            match g.output {
                Output::Json => println!("{c}"),
                Output::Text => print!("{}", s(&c["note"])),
            }
            Ok(())
        }
        AuditCmd::Key => {
            let k = client.get("/audit/key").await?;
            match g.output {
                Output::Json => println!("{k}"),
                Output::Text => println!("{}", s(&k["verifier_key"])),
            }
            Ok(())
        }
        AuditCmd::Export { dir } => export(g, &client, &dir).await,
    }
}

fn log_text(list: &[Value]) -> String {
    if list.is_empty() {
        return "no audit entries match\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            let x = &e["entry"];
            vec![
                e["index"].to_string(),
                s(&x["time"]).to_string(),
                s(&x["actor"]).to_string(),
                s(&x["action"]).to_string(),
                s(&x["subject"]).to_string(),
                summary(&x["details"]),
            ]
        })
        .collect();
    table(
        &["INDEX", "TIME", "ACTOR", "ACTION", "SUBJECT", "DETAILS"],
        &rows,
    )
}

/// A few words of an entry's details.
fn summary(d: &Value) -> String {
    if let (Some(from), Some(to)) = (d["from"].as_str(), d["to"].as_str()) {
        return format!("{from} → {to}: {}", s(&d["reason"]));
    }
    let text = d.to_string();
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(100).collect::<String>())
    } else {
        text
    }
}

fn verify_text(r: &Value) -> String {
    if r["ok"] == true {
        format!(
            "audit log verified: {}, {}, root {}",
            render::counted(&r["entries"], "entry", "entries"),
            render::counted(&r["checkpoints"], "signed checkpoint", "signed checkpoints"),
            s(&r["root"])
        )
    } else {
        match r["index"].as_u64() {
            Some(i) => format!(
                "audit log FAILED verification at entry {i}: {}",
                s(&r["error"])
            ),
            None => format!("audit log FAILED verification: {}", s(&r["error"])),
        }
    }
}

/// Writes every entry, the latest checkpoint and the verifier key.
async fn export(g: &Global, client: &Client, dir: &Path) -> Result<(), Failure> {
    let checkpoint = client.get("/audit/checkpoint").await?;
    let key = client.get("/audit/key").await?;
    let size = checkpoint["size"].as_u64().unwrap_or(0);
    let io = |e: zion_audit::BundleError| Failure::negative(format!("{}: {e}", dir.display()));
    let mut w = zion_audit::BundleWriter::create(dir).map_err(io)?;
    let mut from = 0;
    // Only the entries the checkpoint covers: later ones are not signed yet.
    while from < size {
        let limit = PAGE.min(size - from);
        let page = client
            .get(&format!("/audit/entries?from={from}&limit={limit}"))
            .await?;
        let list = page.as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            return Err(Failure::negative(format!(
                "the server returned no entry from index {from} although the checkpoint covers {size}"
            )));
        }
        for e in &list {
            w.push(s(&e["canonical"]).as_bytes()).map_err(io)?;
            from += 1;
        }
    }
    let written = w
        .finish(s(&checkpoint["note"]), s(&key["verifier_key"]))
        .map_err(io)?;
    match g.output {
        Output::Json => println!(
            "{}",
            json!({ "dir": dir.display().to_string(), "entries": written })
        ),
        Output::Text => println!(
            "exported {}, the checkpoint at size {size} and the verifier key to {}; check it anywhere with `zion audit verify --bundle {}`",
            render::count(written as u64, "entry", "entries"),
            dir.display(),
            dir.display()
        ),
    }
    Ok(())
}

/// Offline: no server, no database. Without a pinned key, the folder's own
/// key proves the bundle intact, not who signed it: say so.
fn verify_bundle(g: &Global, dir: &Path, key: Option<&str>) -> Result<(), Failure> {
    let result = match key {
        Some(k) => {
            let v = zion_audit::Verifier::parse(k.trim())
                .map_err(|e| Failure::usage(format!("--key `{k}` is not a verifier key: {e}")))?;
            zion_audit::verify_bundle_with(dir, &v)
        }
        None => {
            eprintln!(
                "note: using the verifier key shipped in {}; pass --key with the key you trust (`zion audit key`) to check who signed it",
                dir.display()
            );
            zion_audit::verify_bundle(dir)
        }
    };
    match result {
        Ok(report) => {
            let out = json!({
                "ok": true,
                "entries": report.entries,
                "root": zion_audit::hash::to_hex(&report.root),
                "checkpoints": report.checkpoints,
            });
            match g.output {
                Output::Json => println!("{out}"),
                Output::Text => println!("{}", verify_text(&out)),
            }
            Ok(())
        }
        Err(e) => {
            let out = json!({ "ok": false, "error": e.to_string() });
            if g.output == Output::Json {
                println!("{out}");
            }
            Err(Failure::negative(format!(
                "the bundle in {} does not verify: {e}",
                dir.display()
            )))
        }
    }
}

/// `zion compliance report`.
pub async fn compliance(g: &Global, cmd: crate::cli::ComplianceCmd) -> Result<(), Failure> {
    let crate::cli::ComplianceCmd::Report { since, format } = cmd;
    let path = match &since {
        Some(s) => format!("/compliance?since={}", urlencode(s)),
        None => "/compliance".to_string(),
    };
    let r = Client::new(g)?.get(&path).await?;
    if format == crate::cli::ReportFormat::Json || g.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print!("{}", compliance_markdown(&r));
    }
    Ok(())
}

fn share_text(v: &Value) -> String {
    match v["share"].as_f64() {
        Some(x) => format!("{:.1}% ({} of {})", x * 100.0, v["compliant"], v["total"]),
        None => "no data for this period".to_string(),
    }
}

fn exceptions(out: &mut String, list: &Value, title: &str) {
    use std::fmt::Write;
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        let _ = writeln!(out, "- {title}: none");
        return;
    }
    let _ = writeln!(out, "- {title}:");
    for e in items {
        let _ = writeln!(
            out,
            "  - deployment {}: {}",
            e["deployment"],
            s(&e["reason"])
        );
    }
}

fn indexes(v: &Value) -> String {
    let list: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Deployment ids as `#42, #43`.
fn ids(v: &Value) -> String {
    let list: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(|x| format!("#{x}")).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// The report as Markdown: every figure with the evidence it rests on.
fn compliance_markdown(r: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let period = match r["since"].as_str() {
        Some(t) => format!("since {t}"),
        None => "whole log".to_string(),
    };
    let _ = writeln!(out, "# Compliance report ({period})\n");
    let _ = writeln!(
        out,
        "Computed from {} audit entries; every figure cites the entries (by index) or deployments it rests on.\n",
        r["entries_read"]
    );
    let cm = &r["change_management"];
    let _ = writeln!(out, "## Change management\n");
    let _ = writeln!(
        out,
        "- Production deployments with complete approvals or a break-glass reason: {}",
        share_text(&cm["production_deployments"])
    );
    exceptions(&mut out, &cm["break_glass"], "Break glass");
    exceptions(&mut out, &cm["exceptions"], "Exceptions");
    let _ = writeln!(
        out,
        "- Evidence entries: {}",
        indexes(&cm["evidence_entries"])
    );
    match cm["refused_requests"].as_array().filter(|a| !a.is_empty()) {
        None => {
            let _ = writeln!(out, "- Requests refused by policy: none\n");
        }
        Some(list) => {
            let _ = writeln!(out, "- Requests refused by policy: {}", list.len());
            for x in list {
                let _ = writeln!(
                    out,
                    "  - entry {}: {} on {}: {}",
                    x["entry"],
                    s(&x["by"]),
                    s(&x["subject"]),
                    s(&x["reason"])
                );
            }
            out.push('\n');
        }
    }
    let ac = &r["access_control"];
    let _ = writeln!(out, "## Access control\n");
    let _ = writeln!(
        out,
        "- Mutating actions recorded: {} ({} by the controller itself, {} unattributed: {})",
        ac["mutating_actions"],
        ac["by_controller"],
        ac["unattributed"].as_array().map(Vec::len).unwrap_or(0),
        indexes(&ac["unattributed"])
    );
    if let Some(m) = ac["by_principal"].as_object() {
        for (who, n) in m {
            let _ = writeln!(
                out,
                "  - {who}: {n} (entries {})",
                indexes(&ac["principal_entries"][who])
            );
        }
    }
    let refused = ac["refused"].as_object().cloned().unwrap_or_default();
    if refused.is_empty() {
        let _ = writeln!(out, "- Refused authentications: none");
    } else {
        let _ = writeln!(out, "- Refused authentications:");
        for (who, n) in refused {
            let _ = writeln!(out, "  - {who}: {n}");
        }
        let _ = writeln!(out, "  - entries: {}", indexes(&ac["refused_entries"]));
    }
    let forbidden = ac["forbidden"].as_object().cloned().unwrap_or_default();
    if forbidden.is_empty() {
        let _ = writeln!(out, "- Actions refused to authenticated principals: none");
    } else {
        let _ = writeln!(out, "- Actions refused to authenticated principals:");
        for (who, n) in forbidden {
            let _ = writeln!(out, "  - {who}: {n}");
        }
        let _ = writeln!(out, "  - entries: {}", indexes(&ac["forbidden_entries"]));
    }
    let dc = &r["deployment_control"];
    let _ = writeln!(out, "\n## Deployment control\n");
    let _ = writeln!(
        out,
        "- Production deployments rolled out progressively with analysis: {}",
        share_text(&dc["production_deployments"])
    );
    exceptions(&mut out, &dc["exceptions"], "Exceptions");
    let _ = writeln!(
        out,
        "- Evidence entries: {}\n",
        indexes(&dc["evidence_entries"])
    );
    let m = &r["monitoring"];
    let _ = writeln!(out, "## Monitoring\n");
    let _ = writeln!(
        out,
        "- Deployments with recorded analysis: {}",
        share_text(&m["deployments"])
    );
    let _ = writeln!(out, "- With analysis: {}", ids(&m["with_analysis"]));
    let _ = writeln!(out, "- Without analysis: {}", ids(&m["without_analysis"]));
    let _ = writeln!(
        out,
        "- Evidence entries (each deployment's outcome with its rounds): {}\n",
        indexes(&m["evidence_entries"])
    );
    let li = &r["log_integrity"];
    let _ = writeln!(out, "## Log integrity\n");
    if li["ok"] == true {
        let _ = writeln!(
            out,
            "- `zion audit verify`: clean over {}",
            render::counted(&li["entries"], "entry", "entries")
        );
    } else {
        let _ = writeln!(out, "- `zion audit verify`: FAILED: {}", s(&li["error"]));
    }
    match li["checkpoint_size"].as_u64() {
        Some(n) => {
            let _ = writeln!(
                out,
                "- Latest signed checkpoint: size {n}, root {}",
                s(&li["checkpoint_root"])
            );
        }
        None => {
            let _ = writeln!(out, "- No signed checkpoint yet");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_verified_log_counts_in_the_singular_for_one() {
        let one = json!({ "ok": true, "entries": 1, "checkpoints": 1, "root": "ab" });
        assert_eq!(
            verify_text(&one),
            "audit log verified: 1 entry, 1 signed checkpoint, root ab"
        );
        let many = json!({ "ok": true, "entries": 12, "checkpoints": 0, "root": "cd" });
        assert_eq!(
            verify_text(&many),
            "audit log verified: 12 entries, 0 signed checkpoints, root cd"
        );
    }
}
