//! `zion approve|reject|approvals|incident`: the governance commands.

use serde_json::{Value, json};

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
    let d = Client::new(g)?
        .post(&format!("/deployments/{id}/{kind}"), &body)
        .await?;
    match g.output {
        Output::Json => println!("{d}"),
        Output::Text => {
            let done = if kind == "approve" {
                "approved"
            } else {
                "rejected"
            };
            println!("deployment {id} {done}: {}", render::progress(&d));
            if let Some(needed) = d["approvals"]["still_needed"].as_str() {
                println!("still needed: {needed}");
            }
        }
    }
    Ok(())
}

/// `zion approvals`: what waits for an approval, the caller's first.
pub async fn approvals(g: &Global) -> Result<(), Failure> {
    let list = Client::new(g)?.get("/approvals").await?;
    if g.output == Output::Json {
        println!("{list}");
        return Ok(());
    }
    let all = list.as_array().cloned().unwrap_or_default();
    let (mine, others): (Vec<Value>, Vec<Value>) = all
        .into_iter()
        .partition(|d| d["you_may_approve"].as_bool() == Some(true));
    if mine.is_empty() {
        println!("nothing waits for your approval");
    } else {
        println!("waiting for your approval:");
        for d in &mine {
            println!("  {}", line(d));
        }
        println!("approve with `zion approve ID --comment …`, or `zion reject ID --comment …`");
    }
    if !others.is_empty() {
        println!("waiting for others:");
        for d in &others {
            println!(
                "  {} (not you: {})",
                line(d),
                d["why_not"].as_str().unwrap_or("-")
            );
        }
    }
    Ok(())
}

pub(crate) fn line(d: &Value) -> String {
    let a = &d["approvals"];
    format!(
        "#{} {}/{} {} → {} requested by {}: {}/{} approvals{}{}",
        d["id"],
        d["service"].as_str().unwrap_or("-"),
        d["environment"].as_str().unwrap_or("-"),
        d["previous_version"].as_str().unwrap_or("(none)"),
        d["version"].as_str().unwrap_or("-"),
        d["requested_by"].as_str().unwrap_or("-"),
        a["given"].as_array().map_or(0, Vec::len),
        a["required"],
        a["still_needed"]
            .as_str()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default(),
        if a["expires_at"].is_string() {
            format!(", expires at {}", render::expiry(&a["expires_at"]))
        } else {
            String::new()
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
            let list = client.get(path).await?;
            match g.output {
                Output::Json => println!("{list}"),
                Output::Text => print!("{}", incidents_table(&list, all)),
            }
        }
        IncidentCmd::Resolve { id, comment } => {
            let i = client
                .post(
                    &format!("/incidents/{id}/resolve"),
                    &json!({ "comment": comment }),
                )
                .await?;
            match g.output {
                Output::Json => println!("{i}"),
                Output::Text => println!(
                    "incident {id} on {}/{} resolved: {}",
                    i["service"].as_str().unwrap_or("-"),
                    i["environment"].as_str().unwrap_or("-"),
                    i["resolution"].as_str().unwrap_or("-")
                ),
            }
        }
    }
    Ok(())
}

fn incidents_table(list: &Value, all: bool) -> String {
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return if all {
            "no incidents\n".into()
        } else {
            "no open incidents\n".into()
        };
    }
    let mut out = String::new();
    for i in &items {
        let state = match i["resolved_at"].as_str() {
            Some(at) => format!(
                "resolved {} by {}",
                at.get(0..19).unwrap_or(at).replace('T', " "),
                i["resolved_by"].as_str().unwrap_or("-")
            ),
            None => "OPEN".into(),
        };
        out.push_str(&format!(
            "#{} {}/{} opened {} ({}): {}\n    {}\n",
            i["id"],
            i["service"].as_str().unwrap_or("-"),
            i["environment"].as_str().unwrap_or("-"),
            i["opened_at"]
                .as_str()
                .map(|t| t.get(0..19).unwrap_or(t).replace('T', " "))
                .unwrap_or_default(),
            state,
            i["reason"].as_str().unwrap_or("-"),
            i["resolution"].as_str().unwrap_or(""),
        ));
    }
    out
}
