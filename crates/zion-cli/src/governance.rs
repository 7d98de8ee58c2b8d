//! `zion approve|reject|approvals|incident`: the governance commands.

use serde::{Deserialize, Serialize};
use serde_json::json;
use zion_core::api::{
    ApprovalsView, AwaitingApproval, DeploymentView, IncidentView, ResolveIncident,
};

use crate::answer;
use crate::cli::{Global, IncidentCmd, Output};
use crate::client::Client;
use crate::exit::Failure;
use crate::render;

/// `zion approve ID` / `zion reject ID`.
pub async fn decide(
    g: &Global,
    id: i64,
    kind: &str,
    comment: Option<String>,
) -> Result<(), Failure> {
    let body = json!({ "comment": comment });
    let path = format!("/deployments/{id}/{kind}");
    let answer = Client::new(g)?.post(&path, &body).await?;
    let d: DeploymentView = answer::view(answer, &format!("POST /api/v1{path}"))?;
    let json = answer::json(&d);
    match g.output {
        Output::Json => println!("{json}"),
        Output::Text => {
            let done = if kind == "approve" {
                "approved"
            } else {
                "rejected"
            };
            println!("deployment {id} {done}: {}", render::progress(&json));
            if let Some(needed) = d.approvals.as_ref().and_then(|a| a.still_needed.as_ref()) {
                println!("still needed: {needed}");
            }
        }
    }
    Ok(())
}

/// `zion approvals`: what waits for an approval, the caller's first.
pub async fn approvals(g: &Global) -> Result<(), Failure> {
    let all: Vec<AwaitingApproval> = Client::new(g)?.get_view("/approvals").await?;
    if g.output == Output::Json {
        println!("{}", answer::json(&all));
        return Ok(());
    }
    let (mine, others): (Vec<AwaitingApproval>, Vec<AwaitingApproval>) =
        all.into_iter().partition(|a| a.you_may_approve);
    if mine.is_empty() {
        println!("nothing waits for your approval");
    } else {
        println!("waiting for your approval:");
        for a in &mine {
            println!("  {}", line(&a.deployment));
        }
        println!("approve with `zion approve ID --comment …`, or `zion reject ID --comment …`");
    }
    if !others.is_empty() {
        println!("waiting for others:");
        for a in &others {
            println!(
                "  {} (not you: {})",
                line(&a.deployment),
                a.why_not.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

/// What a waiting deployment's line shows: fields every deployment body
/// has (`DeploymentView` and the bodies that flatten it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Waiting {
    id: i64,
    service: Option<String>,
    environment: Option<String>,
    previous_version: Option<String>,
    version: Option<String>,
    requested_by: Option<String>,
    approvals: Option<ApprovalsView>,
}

/// One deployment waiting for approvals, on a line. It takes any body of
/// a deployment (the view, or a part of one) and reads what it shows.
pub(crate) fn line(d: &impl Serialize) -> String {
    let w: Waiting = serde_json::to_value(d)
        .and_then(serde_json::from_value)
        .unwrap_or_default();
    let (given, required, needed, expires) = match &w.approvals {
        Some(a) => (
            a.given.len(),
            a.required.to_string(),
            a.still_needed.as_deref(),
            a.expires_at,
        ),
        None => (0, "-".to_string(), None, None),
    };
    format!(
        "#{} {}/{} {} → {} requested by {}: {}/{} approvals{}{}",
        w.id,
        w.service.as_deref().unwrap_or("-"),
        w.environment.as_deref().unwrap_or("-"),
        w.previous_version.as_deref().unwrap_or("(none)"),
        w.version.as_deref().unwrap_or("-"),
        w.requested_by.as_deref().unwrap_or("-"),
        given,
        required,
        needed.map(|n| format!(" ({n})")).unwrap_or_default(),
        match expires {
            Some(at) => format!(", expires at {}", zion_core::governance::expiry_text(at)),
            None => String::new(),
        }
    )
}

/// `zion incident list|resolve`.
pub async fn incident(g: &Global, cmd: IncidentCmd) -> Result<(), Failure> {
    let client = Client::new(g)?;
    match cmd {
        IncidentCmd::List { all } => {
            let path = if all {
                "/incidents?all=true"
            } else {
                "/incidents"
            };
            let list: Vec<IncidentView> = client.get_view(path).await?;
            match g.output {
                Output::Json => println!("{}", answer::json(&list)),
                Output::Text => print!("{}", incidents_table(&list, all)),
            }
        }
        IncidentCmd::Resolve { id, comment } => {
            let path = format!("/incidents/{id}/resolve");
            let body = answer::json(&ResolveIncident { comment });
            let answer = client.post(&path, &body).await?;
            let i: IncidentView = answer::view(answer, &format!("POST /api/v1{path}"))?;
            match g.output {
                Output::Json => println!("{}", answer::json(&i)),
                Output::Text => println!(
                    "incident {id} on {}/{} resolved: {}",
                    i.service,
                    i.environment,
                    i.resolution.as_deref().unwrap_or("-")
                ),
            }
        }
    }
    Ok(())
}

/// `2026-11-22T03:12:01.123Z` → `2026-11-22 03:12:01`.
fn when(at: jiff::Timestamp) -> String {
    let t = at.to_string();
    t.get(0..19).unwrap_or(&t).replace('T', " ")
}

fn incidents_table(list: &[IncidentView], all: bool) -> String {
    if list.is_empty() {
        return if all {
            "no incidents\n".into()
        } else {
            "no open incidents\n".into()
        };
    }
    let mut out = String::new();
    for i in list {
        let state = match i.resolved_at {
            Some(at) => format!(
                "resolved {} by {}",
                when(at),
                i.resolved_by.as_deref().unwrap_or("-")
            ),
            None => "OPEN".into(),
        };
        out.push_str(&format!(
            "#{} {}/{} opened {} ({}): {}\n    {}\n",
            i.id,
            i.service,
            i.environment,
            when(i.opened_at),
            state,
            i.reason,
            i.resolution.as_deref().unwrap_or(""),
        ));
    }
    out
}
