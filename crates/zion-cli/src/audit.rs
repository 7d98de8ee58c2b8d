//! `zion audit …`: the transparency log's entries, its verification (from
//! the server, or offline from an exported folder), inclusion and
//! consistency proofs, the signed checkpoint, the verifier key, and export.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use zion_core::api::{
    AuditEntryView, AuditKey, AuditVerification, CheckpointView, ConsistencyProof, InclusionProof,
};
use zion_core::compliance::{ComplianceReport, Exception, Share};

use crate::cli::{AuditCmd, Global, Output};
use crate::client::Client;
use crate::commands::urlencode;
use crate::exit::Failure;
use crate::render::{self, table};

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
            let list: Vec<AuditEntryView> = client
                .get_view(&format!("/audit/entries?{}", q.join("&")))
                .await?;
            match g.output {
                Output::Json => println!("{}", render::json(&list)),
                Output::Text => print!("{}", log_text(&list)),
            }
            if list.len() >= limit {
                eprintln!(
                    "note: showing the first {limit} matching entries; pass --limit N for more, or narrow with --since/--action/--subject"
                );
            }
            Ok(())
        }
        AuditCmd::Verify { .. } => {
            let r: AuditVerification = client.get_view("/audit/verify").await?;
            match g.output {
                Output::Json => println!("{}", render::json(&r)),
                Output::Text => println!("{}", verify_text(&r)),
            }
            match r {
                AuditVerification::Verified(_) => Ok(()),
                AuditVerification::Failed(f) => Err(Failure::negative(format!(
                    "the audit log does not verify: {}",
                    f.error
                ))),
            }
        }
        AuditCmd::Proof { index, size } => {
            let path = match size {
                Some(n) => format!("/audit/proof/{index}?size={n}"),
                None => format!("/audit/proof/{index}"),
            };
            let p: InclusionProof = client.get_view(&path).await?;
            println!("{}", pretty(&p));
            Ok(())
        }
        AuditCmd::Consistency { old, new } => {
            let p: ConsistencyProof = client
                .get_view(&format!("/audit/consistency?old={old}&new={new}"))
                .await?;
            println!("{}", pretty(&p));
            Ok(())
        }
        AuditCmd::Checkpoint => {
            let c: CheckpointView = client.get_view("/audit/checkpoint").await?;
            match g.output {
                Output::Json => println!("{}", render::json(&c)),
                Output::Text => print!("{}", c.note),
            }
            Ok(())
        }
        AuditCmd::Key => {
            let k: AuditKey = client.get_view("/audit/key").await?;
            match g.output {
                Output::Json => println!("{}", render::json(&k)),
                Output::Text => println!("{}", k.verifier_key),
            }
            Ok(())
        }
        AuditCmd::Export { dir } => export(g, &client, &dir).await,
    }
}

/// A view as indented JSON, its keys in the order of their names.
fn pretty<T: serde::Serialize>(view: &T) -> String {
    serde_json::to_string_pretty(&render::json(view)).unwrap_or_default()
}

fn log_text(list: &[AuditEntryView]) -> String {
    if list.is_empty() {
        return "no audit entries match\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            let mut row = vec![e.index.to_string()];
            match &e.entry {
                Some(x) => row.extend([
                    x.time.clone(),
                    x.actor.clone(),
                    x.action.clone(),
                    x.subject.clone(),
                    summary(&x.details),
                ]),
                None => row.extend(["-", "-", "-", "-", "null"].map(String::from)),
            }
            row
        })
        .collect();
    table(
        &["INDEX", "TIME", "ACTOR", "ACTION", "SUBJECT", "DETAILS"],
        &rows,
    )
}

/// The details of an entry recording a deployment's transition.
#[derive(Deserialize)]
struct Transition {
    from: String,
    to: String,
    #[serde(default)]
    reason: Option<String>,
}

/// A few words of an entry's details.
fn summary(d: &Value) -> String {
    if let Ok(t) = Transition::deserialize(d) {
        return format!(
            "{} → {}: {}",
            t.from,
            t.to,
            t.reason.as_deref().unwrap_or("-")
        );
    }
    let text = d.to_string();
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(100).collect::<String>())
    } else {
        text
    }
}

fn verify_text(r: &AuditVerification) -> String {
    match r {
        AuditVerification::Verified(v) => verified_text(v.entries, v.checkpoints, &v.root),
        AuditVerification::Failed(f) => match f.index {
            Some(i) => format!("audit log FAILED verification at entry {i}: {}", f.error),
            None => format!("audit log FAILED verification: {}", f.error),
        },
    }
}

fn verified_text(entries: u64, checkpoints: usize, root: &str) -> String {
    format!(
        "audit log verified: {}, {}, root {root}",
        render::count(entries, "entry", "entries"),
        render::count(
            checkpoints as u64,
            "signed checkpoint",
            "signed checkpoints"
        ),
    )
}

/// Writes every entry, the latest checkpoint and the verifier key.
async fn export(g: &Global, client: &Client, dir: &Path) -> Result<(), Failure> {
    let checkpoint: CheckpointView = client.get_view("/audit/checkpoint").await?;
    let key: AuditKey = client.get_view("/audit/key").await?;
    let size = checkpoint.size;
    let io = |e: zion_audit::BundleError| Failure::negative(format!("{}: {e}", dir.display()));
    let mut w = zion_audit::BundleWriter::create(dir).map_err(io)?;
    let mut from = 0;
    // Only the entries the checkpoint covers: later ones are not signed yet.
    while from < size {
        let limit = PAGE.min(size - from);
        let list: Vec<AuditEntryView> = client
            .get_view(&format!("/audit/entries?from={from}&limit={limit}"))
            .await?;
        if list.is_empty() {
            return Err(Failure::negative(format!(
                "the server returned no entry from index {from} although the checkpoint covers {size}"
            )));
        }
        for e in &list {
            w.push(e.canonical.as_bytes()).map_err(io)?;
            from += 1;
        }
    }
    let written = w.finish(&checkpoint.note, &key.verifier_key).map_err(io)?;
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
            let root = zion_audit::hash::to_hex(&report.root);
            match g.output {
                Output::Json => println!(
                    "{}",
                    json!({
                        "ok": true,
                        "entries": report.entries,
                        "root": root,
                        "checkpoints": report.checkpoints,
                    })
                ),
                Output::Text => println!(
                    "{}",
                    verified_text(report.entries, report.checkpoints, &root)
                ),
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
    let r: ComplianceReport = Client::new(g)?.get_view(&path).await?;
    if format == crate::cli::ReportFormat::Json || g.output == Output::Json {
        println!("{}", pretty(&r));
    } else {
        print!("{}", compliance_markdown(&r));
    }
    Ok(())
}

fn share_text(v: &Share) -> String {
    match v.share {
        Some(x) => format!("{:.1}% ({} of {})", x * 100.0, v.compliant, v.total),
        None => "no data for this period".to_string(),
    }
}

fn exceptions(out: &mut String, items: &[Exception], title: &str) {
    use std::fmt::Write;
    if items.is_empty() {
        let _ = writeln!(out, "- {title}: none");
        return;
    }
    let _ = writeln!(out, "- {title}:");
    for e in items {
        let _ = writeln!(out, "  - deployment {}: {}", e.deployment, e.reason);
    }
}

/// Entry indexes as `3, 4`.
fn indexes(list: &[u64]) -> String {
    if list.is_empty() {
        "none".into()
    } else {
        let list: Vec<String> = list.iter().map(u64::to_string).collect();
        list.join(", ")
    }
}

/// Deployment ids as `#42, #43`.
fn ids(list: &[i64]) -> String {
    if list.is_empty() {
        "none".into()
    } else {
        let list: Vec<String> = list.iter().map(|x| format!("#{x}")).collect();
        list.join(", ")
    }
}

/// The report as Markdown: every figure with the evidence it rests on.
fn compliance_markdown(r: &ComplianceReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let period = match r.since {
        Some(t) => format!("since {t}"),
        None => "whole log".to_string(),
    };
    let _ = writeln!(out, "# Compliance report ({period})\n");
    let _ = writeln!(
        out,
        "Computed from {} audit entries; every figure cites the entries (by index) or deployments it rests on.\n",
        r.entries_read
    );
    let cm = &r.change_management;
    let _ = writeln!(out, "## Change management\n");
    let _ = writeln!(
        out,
        "- Production deployments with complete approvals or a break-glass reason: {}",
        share_text(&cm.production_deployments)
    );
    exceptions(&mut out, &cm.break_glass, "Break glass");
    exceptions(&mut out, &cm.exceptions, "Exceptions");
    let _ = writeln!(out, "- Evidence entries: {}", indexes(&cm.evidence_entries));
    if cm.refused_requests.is_empty() {
        let _ = writeln!(out, "- Requests refused by policy: none\n");
    } else {
        let list = &cm.refused_requests;
        let _ = writeln!(out, "- Requests refused by policy: {}", list.len());
        for x in list {
            let _ = writeln!(
                out,
                "  - entry {}: {} on {}: {}",
                x.entry, x.by, x.subject, x.reason
            );
        }
        out.push('\n');
    }
    let ac = &r.access_control;
    let _ = writeln!(out, "## Access control\n");
    let _ = writeln!(
        out,
        "- Mutating actions recorded: {} ({} by the controller itself, {} unattributed: {})",
        ac.mutating_actions,
        ac.by_controller,
        ac.unattributed.len(),
        indexes(&ac.unattributed)
    );
    for (who, n) in &ac.by_principal {
        let entries = ac.principal_entries.get(who).map_or(&[][..], Vec::as_slice);
        let _ = writeln!(out, "  - {who}: {n} (entries {})", indexes(entries));
    }
    if ac.refused.is_empty() {
        let _ = writeln!(out, "- Refused authentications: none");
    } else {
        let _ = writeln!(out, "- Refused authentications:");
        for (who, n) in &ac.refused {
            let _ = writeln!(out, "  - {who}: {n}");
        }
        let _ = writeln!(out, "  - entries: {}", indexes(&ac.refused_entries));
    }
    if ac.forbidden.is_empty() {
        let _ = writeln!(out, "- Actions refused to authenticated principals: none");
    } else {
        let _ = writeln!(out, "- Actions refused to authenticated principals:");
        for (who, n) in &ac.forbidden {
            let _ = writeln!(out, "  - {who}: {n}");
        }
        let _ = writeln!(out, "  - entries: {}", indexes(&ac.forbidden_entries));
    }
    let dc = &r.deployment_control;
    let _ = writeln!(out, "\n## Deployment control\n");
    let _ = writeln!(
        out,
        "- Production deployments rolled out progressively with analysis: {}",
        share_text(&dc.production_deployments)
    );
    exceptions(&mut out, &dc.exceptions, "Exceptions");
    let _ = writeln!(
        out,
        "- Evidence entries: {}\n",
        indexes(&dc.evidence_entries)
    );
    let m = &r.monitoring;
    let _ = writeln!(out, "## Monitoring\n");
    let _ = writeln!(
        out,
        "- Deployments with recorded analysis: {}",
        share_text(&m.deployments)
    );
    let _ = writeln!(out, "- With analysis: {}", ids(&m.with_analysis));
    let _ = writeln!(out, "- Without analysis: {}", ids(&m.without_analysis));
    let _ = writeln!(
        out,
        "- Evidence entries (each deployment's outcome with its rounds): {}\n",
        indexes(&m.evidence_entries)
    );
    let li = &r.log_integrity;
    let _ = writeln!(out, "## Log integrity\n");
    if li.ok {
        let _ = writeln!(
            out,
            "- `zion audit verify`: clean over {}",
            render::count(li.entries, "entry", "entries")
        );
    } else {
        let _ = writeln!(
            out,
            "- `zion audit verify`: FAILED: {}",
            li.error.as_deref().unwrap_or("-")
        );
    }
    match li.checkpoint_size {
        Some(n) => {
            let _ = writeln!(
                out,
                "- Latest signed checkpoint: size {n}, root {}",
                li.checkpoint_root.as_deref().unwrap_or("-")
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
    use zion_core::api::Verified;

    use super::*;

    #[test]
    fn a_verified_log_counts_in_the_singular_for_one() {
        let verified = |entries, checkpoints, root: &str| {
            AuditVerification::verified(Verified {
                checkpoints,
                entries,
                last_full_verification: "2026-01-02T03:04:05Z".parse().unwrap(),
                latest_checkpoint: None,
                ok: true,
                root: root.into(),
                verified_from_entry: 0,
            })
        };
        assert_eq!(
            verify_text(&verified(1, 1, "ab")),
            "audit log verified: 1 entry, 1 signed checkpoint, root ab"
        );
        assert_eq!(
            verify_text(&verified(12, 0, "cd")),
            "audit log verified: 12 entries, 0 signed checkpoints, root cd"
        );
    }

    #[test]
    fn a_transition_is_summarised_and_other_details_shown_as_json() {
        let t = json!({ "from": "progressing", "to": "succeeded", "reason": "all steps passed" });
        assert_eq!(summary(&t), "progressing → succeeded: all steps passed");
        let no_reason = json!({ "from": "pending", "to": "progressing" });
        assert_eq!(summary(&no_reason), "pending → progressing: -");
        let other = json!({ "role": "admin", "github": null });
        assert_eq!(summary(&other), r#"{"github":null,"role":"admin"}"#);
    }
}
