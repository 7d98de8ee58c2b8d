//! `--wait`: follows a deployment until it ends. On a terminal: a live bar
//! (canary weight) with the phase, step and latest round; otherwise one line
//! per event. Exit 0 when it succeeded, 1 when it did not.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::cli::Output;
use crate::client::Client;
use crate::exit::Failure;
use crate::render;

const FINAL: [&str; 6] = [
    "succeeded",
    "rolled_back",
    "rejected",
    "expired",
    "cancelled",
    "failed",
];

/// Polls deployment `id` until it reaches a final phase.
pub async fn follow(client: &Client, id: i64, output: Output) -> Result<(), Failure> {
    let text = output == Output::Text;
    let bar = (text && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(100);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos:>3}% canary  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let mut seen_events = 0usize;
    let mut seen_rounds = 0usize;
    loop {
        let d = client.get(&format!("/deployments/{id}")).await?;
        let events = d["events"].as_array().cloned().unwrap_or_default();
        for e in events.iter().skip(seen_events) {
            let line = render::event_line(e);
            match (&bar, text) {
                (Some(b), _) => b.println(line),
                (None, true) => println!("{line}"),
                _ => {}
            }
        }
        seen_events = events.len();
        let rounds = d["rounds"].as_array().cloned().unwrap_or_default();
        let latest = rounds.last().map(round_text).unwrap_or_default();
        if bar.is_none() && text {
            // Without a bar, failed rounds are worth a line of their own.
            for r in rounds.iter().skip(seen_rounds) {
                if r["verdict"] == "fail" {
                    println!(
                        "{}  round {} failed: {}",
                        render::clock(&r["at"]),
                        r["number"],
                        r["summary"].as_str().unwrap_or("")
                    );
                }
            }
        }
        seen_rounds = rounds.len();
        let phase = d["phase"].as_str().unwrap_or("").to_string();
        if let Some(b) = &bar {
            b.set_position(d["canary_weight"].as_u64().unwrap_or(0));
            b.set_message(format!("{}  {latest}", render::progress(&d)));
        }
        if FINAL.contains(&phase.as_str()) {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            match output {
                Output::Json => println!("{d}"),
                Output::Text => println!(
                    "deployment {id} {phase}: {}",
                    d["reason"].as_str().unwrap_or("")
                ),
            }
            return if phase == "succeeded" {
                Ok(())
            } else {
                Err(Failure::negative(String::new()))
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn round_text(r: &Value) -> String {
    format!(
        "round {}: {} ({} reqs)",
        r["number"],
        r["verdict"].as_str().unwrap_or(""),
        r["canary"]["requests"]
    )
}
