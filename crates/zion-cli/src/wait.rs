//! `--wait` and `zion wait ID`: follows a deployment until it ends. On a
//! terminal: a live bar (the new version's share of traffic) with the
//! phase, step and latest round; otherwise one line per event, failed round
//! and run of inconclusive rounds. Exit 0 when it succeeded, 1 when it did not, or
//! when `--timeout` passed first (the deployment goes on).

use std::io::IsTerminal;
use std::time::Duration;

use tokio::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use zion_core::analysis::Verdict;
use zion_core::api::DeploymentDetail;
use zion_core::deployment::Phase;

use crate::cli::Output;
use crate::client::Client;
use crate::exit::Failure;
use crate::{render, rounds};

/// Polls deployment `id` until it reaches a final phase.
pub async fn follow(client: &Client, id: i64, output: Output) -> Result<(), Failure> {
    follow_until(client, id, output, None).await
}

/// [`follow`], giving up after `timeout` (exit 1, the deployment untouched).
pub async fn follow_until(
    client: &Client,
    id: i64,
    output: Output,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let text = output == Output::Text;
    let bar = (text && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(100);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos:>3}% {prefix}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let mut seen_events = 0usize;
    let mut seen_rounds = 0usize;
    loop {
        let detail: DeploymentDetail = client.get_view(&format!("/deployments/{id}")).await?;
        for e in detail.events.iter().skip(seen_events) {
            let line = render::event_line(e);
            match (&bar, text) {
                (Some(b), _) => b.println(line),
                (None, true) => println!("{line}"),
                _ => {}
            }
        }
        seen_events = detail.events.len();
        let rounds = &detail.rounds;
        let latest = rounds::latest_text(&detail);
        if bar.is_none() && text {
            // Without a bar, failed rounds are worth a line of their own, and
            // so is the start of a run of inconclusive ones: why it holds.
            let inconclusive = |i: usize| rounds[i].verdict == Verdict::Inconclusive;
            for (i, r) in rounds.iter().enumerate().skip(seen_rounds) {
                // Attaching to a deployment that already holds says so too.
                let starts_run =
                    inconclusive(i) && (i == 0 || seen_rounds == 0 || !inconclusive(i - 1));
                if r.verdict == Verdict::Fail {
                    println!(
                        "{}  round {} failed: {}",
                        render::clock_of(r.at),
                        r.number,
                        r.summary
                    );
                } else if starts_run && i + 1 == rounds.len() {
                    println!("{}  {latest}", render::clock_of(r.at));
                }
            }
        }
        seen_rounds = rounds.len();
        let view = &detail.deployment;
        if let Some(b) = &bar {
            b.set_position(u64::from(view.canary_weight));
            b.set_prefix(render::bar_label(view));
            b.set_message(format!("{}  {latest}", render::progress(view)));
        }
        // The core's list of terminal phases is the only one.
        if view.phase.is_terminal() {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            match output {
                Output::Json => println!("{}", render::json(&detail)),
                Output::Text => println!(
                    "deployment {id} {}: {}",
                    view.phase,
                    view.reason.as_deref().unwrap_or("")
                ),
            }
            return if view.phase == Phase::Succeeded {
                Ok(())
            } else {
                Err(Failure::negative(String::new()))
            };
        }
        let mut pause = Duration::from_millis(200);
        if let (Some(at), Some(limit)) = (deadline, timeout) {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return Err(timed_out(&detail, limit, output));
            }
            pause = pause.min(left);
        }
        tokio::time::sleep(pause).await;
    }
}

/// `--timeout` passed first: where the deployment is, and that it goes on.
fn timed_out(detail: &DeploymentDetail, limit: Duration, output: Output) -> Failure {
    if output == Output::Json {
        println!("{}", render::json(detail));
    }
    let id = detail.deployment.id;
    let mut state = render::progress(&detail.deployment);
    // What holds it, if its rounds do; else the latest cause.
    match (rounds::waiting(detail), detail.deployment.reason.as_deref()) {
        (Some(w), _) => state.push_str(&format!("; {w}")),
        (None, Some(reason)) => state.push_str(&format!(" ({reason})")),
        (None, None) => {}
    }
    Failure::negative(format!(
        "deployment {id} has not finished within {}: {state}. It goes on: \
         `zion wait {id}` follows it again, `zion abort {id}` stops it",
        zion_core::duration::format_duration(limit)
    ))
}
