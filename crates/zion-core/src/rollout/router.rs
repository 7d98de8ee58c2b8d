//! A router that refused the current weights: the step is not what the
//! deployment says until the router applies them, so it is held (no
//! analysis round, no next step) and the reason recorded on the
//! deployment, once per distinct reason. The router keeps the traffic as
//! it was (an HAProxy puts the new version's servers back to weight 0).

use super::{CONTROLLER, Tx};

/// Holds the step while `refused` says why the router did not apply it;
/// once it did, the step starts over from then. True while held.
pub(super) fn held(tx: &mut Tx<'_>, refused: Option<&str>) -> bool {
    let known = tx.d.progress.router_refused.clone();
    let phase = tx.d.phase;
    let split = split_text(tx);
    match (refused, known) {
        (Some(why), known) => {
            if known.as_deref() != Some(why) {
                tx.d.progress.router_refused = Some(why.to_owned());
                tx.event(
                    phase,
                    CONTROLLER,
                    format!(
                        "the router did not apply {split}: {why}; the step is held until it \
                         does (traffic stays as the router had it)"
                    ),
                );
            }
            true
        }
        (None, Some(_)) => {
            tx.d.progress.router_refused = None;
            // What the versions did before was under the old split: the
            // step and its analysis start now.
            tx.d.progress.step_started_at = Some(tx.now);
            tx.d.progress.last_round_at = Some(tx.now);
            tx.event(
                phase,
                CONTROLLER,
                format!("the router applied {split}: the step starts now"),
            );
            false
        }
        (None, None) => false,
    }
}

/// `step 2/3's weights (50% to 2.0)`, or the weight alone without steps.
fn split_text(tx: &Tx<'_>) -> String {
    let d = &tx.d;
    let weight = format!("{}% to {}", d.canary_weight, d.version);
    match d.step {
        Some(i) => format!(
            "step {}/{}'s weights ({weight})",
            i + 1,
            d.plan.steps().len()
        ),
        None => format!("the weights ({weight})"),
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
