//! `zion approve|reject|approvals|incident`: the governance commands.

use zion_core::api::{
    AwaitingApproval, CommandRequest, DeploymentView, IncidentView, NotificationView,
    ResolveIncident,
};

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
    let body = CommandRequest {
        full: false,
        comment,
    };
    let d: DeploymentView = Client::new(g)?
        .post_view(&format!("/deployments/{id}/{kind}"), &body)
        .await?;
    match g.output {
        Output::Json => println!("{}", render::json(&d)),
        Output::Text => {
            let done = if kind == "approve" {
                "approved"
            } else {
                "rejected"
            };
            println!("deployment {id} {done}: {}", render::progress(&d));
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
        println!("{}", render::json(&all));
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

/// One deployment waiting for approvals, on a line.
pub(crate) fn line(d: &DeploymentView) -> String {
    let (given, required, needed, expires) = match &d.approvals {
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
        d.id,
        d.service,
        d.environment,
        d.previous_version.as_deref().unwrap_or("(none)"),
        d.version,
        d.requested_by,
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
                Output::Json => println!("{}", render::json(&list)),
                Output::Text => print!("{}", incidents_table(&list, all)),
            }
        }
        IncidentCmd::Resolve { id, comment } => {
            let path = format!("/incidents/{id}/resolve");
            let i: IncidentView = client
                .post_view(&path, &ResolveIncident { comment })
                .await?;
            match g.output {
                Output::Json => println!("{}", render::json(&i)),
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

/// `zion notifications`.
pub async fn notifications(g: &Global) -> Result<(), Failure> {
    let list: Vec<NotificationView> = Client::new(g)?.get_view("/notifications").await?;
    match g.output {
        Output::Json => println!("{}", render::json(&list)),
        Output::Text => print!("{}", notifications_table(&list)),
    }
    Ok(())
}

fn notifications_table(list: &[NotificationView]) -> String {
    if list.is_empty() {
        return "no notifications\n".into();
    }
    let mut out = String::new();
    for n in list {
        let state = match (n.state.as_str(), n.next_attempt_at) {
            ("delivered", _) => {
                format!("delivered {}", n.delivered_at.map(when).unwrap_or_default())
            }
            ("retrying", Some(next)) => {
                format!(
                    "retrying (attempt {} failed), next {}",
                    n.attempts,
                    when(next)
                )
            }
            ("given_up", _) => format!("given up after {} attempts", n.attempts),
            (other, _) => other.to_owned(),
        };
        out.push_str(&format!(
            "#{} {} ({}) {} {}: {}\n",
            n.id, n.receiver, n.channel, n.event, n.subject, state
        ));
        if let Some(e) = &n.last_error {
            out.push_str(&format!("    last error: {e}\n"));
        }
    }
    out
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
