//! Manual commands on a deployment: promote (a step, a batch, the
//! switch, or everything at once), pause, resume and abort.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Outcome, Tx, blue_green, canary, rolling};
use crate::deployment::{Deployment, Phase, Plan};
/// A manual command on a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Go to the next step now.
    Promote,
    /// Skip the remaining steps and analysis: all traffic to the new version.
    PromoteFull,
    Pause,
    Resume,
    /// Send traffic back to stable and stop the new version.
    Abort,
}

impl Command {
    /// The name used in the API path.
    pub fn name(self) -> &'static str {
        match self {
            Command::Promote => "promote",
            Command::PromoteFull => "promote --full",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Abort => "abort",
        }
    }
}

/// Why a command was refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("deployment {id} is {phase}, which is final; start a new deployment instead")]
    Terminal { id: i64, phase: Phase },
    #[error("deployment {id} is {phase}; `{command}` needs a progressing or paused deployment")]
    WrongPhase {
        id: i64,
        phase: Phase,
        command: &'static str,
    },
    #[error("deployment {id}: version {version} is not healthy yet; wait for it or abort")]
    NotReady { id: i64, version: String },
    #[error("deployment {id} is already paused; use resume")]
    AlreadyPaused { id: i64 },
    #[error("deployment {id} is not paused")]
    NotPaused { id: i64 },
    #[error(
        "deployment {id} has no steps to promote through; it switches all traffic once healthy"
    )]
    NoSteps { id: i64 },
    #[error("deployment {id}: batch {batch} is not healthy yet; wait for it or abort")]
    BatchNotReady { id: i64, batch: String },
    #[error(
        "deployment {id}: the preview of {version} is unhealthy ({detail}); fix it or `zion abort {id}`"
    )]
    PreviewUnhealthy {
        id: i64,
        version: String,
        detail: String,
    },
}

/// Applies a manual command by `actor` (a principal's name).
pub fn command(
    before: &Deployment,
    cmd: Command,
    actor: &str,
    now: Timestamp,
) -> Result<Outcome, CommandError> {
    let id = before.id;
    let phase = before.phase;
    if phase.is_terminal() {
        return Err(CommandError::Terminal { id, phase });
    }
    let mut tx = Tx::new(before, now);
    let active = matches!(phase, Phase::Progressing | Phase::Paused);
    match cmd {
        Command::Abort => match phase {
            Phase::Pending | Phase::AwaitingApproval => {
                tx.event(Phase::Cancelled, actor, format!("cancelled by {actor}"));
            }
            Phase::Progressing | Phase::Paused => {
                let back = match &before.previous_version {
                    Some(prev) => format!("traffic back to {prev}"),
                    None => "no stable version to go back to".to_string(),
                };
                tx.roll_back(actor, format!("aborted by {actor}: {back}"));
            }
            _ => {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
        },
        Command::Pause => match phase {
            Phase::Progressing => {
                tx.d.progress.paused_at = Some(now);
                tx.event(Phase::Paused, actor, format!("paused by {actor}"));
            }
            Phase::Paused => return Err(CommandError::AlreadyPaused { id }),
            _ => {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
        },
        Command::Resume => match phase {
            Phase::Paused => {
                resume_clock(&mut tx);
                tx.event(Phase::Progressing, actor, format!("resumed by {actor}"));
                // A resume before the version was ready lets the next step
                // call start the plan; once ready, the step clock continues.
            }
            Phase::Progressing => return Err(CommandError::NotPaused { id }),
            _ => {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
        },
        Command::Promote | Command::PromoteFull => {
            if !active {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
            if before.progress.ready_at.is_none() {
                return Err(CommandError::NotReady {
                    id,
                    version: before.version.clone(),
                });
            }
            if phase == Phase::Paused {
                resume_clock(&mut tx);
                tx.d.phase = Phase::Progressing;
            }
            match (&before.plan, cmd) {
                (Plan::BlueGreen { .. }, _) => blue_green::promote(&mut tx, actor),
                (Plan::Rolling { rolling: r, .. }, Command::Promote) => {
                    rolling::promote(&mut tx, *r, actor)?;
                }
                (_, Command::PromoteFull) => {
                    let total = before.plan.steps().len();
                    let skipped = match before.step {
                        Some(i) if (i as usize) + 1 < total => {
                            format!(", skipping steps {}–{total} and their analysis", i + 2)
                        }
                        _ => String::new(),
                    };
                    tx.succeed(actor, format!("promoted fully by {actor}{skipped}"));
                }
                _ => canary::promote(&mut tx, actor)?,
            }
        }
    }
    Ok(tx.finish())
}

/// Time spent paused does not count towards a step's hold.
fn resume_clock(tx: &mut Tx<'_>) {
    let p = &mut tx.d.progress;
    if let (Some(paused), Some(started)) = (p.paused_at, p.step_started_at) {
        let span = tx.now.duration_since(paused);
        p.step_started_at = started.checked_add(span).ok();
    }
    p.paused_at = None;
    // Whoever resumes or promotes has seen the quiet: it starts over.
    p.inconclusive_since = None;
}
