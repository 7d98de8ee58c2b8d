//! When the controller must look at a target again by itself, from the
//! target's recorded state (like a Kubernetes reconcile returning its
//! requeue). A change made through the API (a deploy, a command, a spec
//! applied) wakes every target whatever this says, and the controller looks
//! again sooner when the world has not caught up with what it asked
//! (replicas starting or stopping, a route's pool changing). A hook run
//! that finishes wakes its target too (`crate::hooks`).

use jiff::Timestamp;

use super::blue_green;
use crate::deployment::{Deployment, Phase, PlanKind};

/// When a target is next reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// At the next tick: the deployment waits on what only observing
    /// tells (a version becoming healthy, the gate's window and checks, a
    /// version stopping, a batch or a preview's rounds).
    NextTick,
    /// Once the clock reaches this time (an approval expires, a retained
    /// version's `scale_down_delay` ends), or on a change.
    At(Timestamp),
    /// Only on a change: nothing happens to the target by itself.
    OnChange,
}

impl Requeue {
    /// Whether the target is due at `now`.
    pub fn is_due(self, now: Timestamp) -> bool {
        match self {
            Requeue::NextTick => true,
            Requeue::At(at) => now >= at,
            Requeue::OnChange => false,
        }
    }
}

/// When the target of `active` (its deployment that is not finished, if
/// any) is next due; `last_succeeded` is its latest succeeded deployment,
/// whose old version a blue-green switch may still keep running.
pub fn requeue(active: Option<&Deployment>, last_succeeded: Option<&Deployment>) -> Requeue {
    match active {
        Some(d) if !d.phase.is_terminal() => match d.phase {
            // Only an approval (a command, which wakes the target) or
            // the expiry moves a deployment still collecting approvals.
            Phase::AwaitingApproval if !d.gate.approved() => {
                d.gate.expires_at.map_or(Requeue::OnChange, Requeue::At)
            }
            Phase::Progressing | Phase::Paused => judged_canary_due(d).unwrap_or(Requeue::NextTick),
            _ => Requeue::NextTick,
        },
        _ => match last_succeeded.and_then(blue_green::scale_down_at) {
            Some(at) => Requeue::At(at),
            None => Requeue::OnChange,
        },
    }
}

/// A canary whose new version is healthy and takes traffic moves by
/// itself only at its next analysis round or at the end of its step's
/// pause (`super::judge`); between them only what its replicas do matters
/// (a probe failing, a replica exiting), and the controller looks at once
/// when they change. Looking every tick instead costs a thousand canaries
/// a thousand reads a tick for nothing. None: every tick (other
/// strategies, a version not yet healthy).
fn judged_canary_due(d: &Deployment) -> Option<Requeue> {
    if d.plan.kind() != PlanKind::Canary || d.progress.ready_at.is_none() {
        return None;
    }
    let round = d.progress.last_round_at? + d.plan.common().interval;
    let pause_end = match (d.phase, d.step) {
        (Phase::Progressing, Some(i)) => d
            .plan
            .steps()
            .get(i as usize)
            .and_then(|s| s.pause)
            .zip(d.progress.step_started_at)
            .map(|(pause, started)| started + pause),
        _ => None,
    };
    let mut at = pause_end.map_or(round, |end| end.min(round));
    // A `confirm_promotion` that said no is asked again then. A hook
    // that finishes wakes its target by itself (the server's `hooks/`).
    if let Some(again) = crate::hooks::ask_again_at(d) {
        at = at.min(again);
    }
    Some(Requeue::At(at))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::deployment::{BlueGreenPlan, Plan};
    use crate::rollout::tests::{common, deployment, plan, t};

    #[test]
    fn a_deployment_that_moves_is_looked_at_every_tick() {
        for phase in [
            Phase::Pending,
            Phase::Progressing,
            Phase::Paused,
            Phase::RollingBack,
        ] {
            let mut d = deployment(Some("1.0"), plan(&[(10, Some(60))]));
            d.phase = phase;
            assert_eq!(requeue(Some(&d), None), Requeue::NextTick, "{phase}");
        }
    }

    #[test]
    fn a_healthy_canary_is_due_at_its_next_round_or_its_pause_end() {
        // Interval 5 s (`common`), step 0 held 60 s from t(10).
        let mut d = deployment(Some("1.0"), plan(&[(10, Some(60)), (50, Some(60))]));
        d.phase = Phase::Progressing;
        d.step = Some(0);
        d.progress.ready_at = Some(t(10));
        d.progress.step_started_at = Some(t(10));
        d.progress.last_round_at = Some(t(12));
        assert_eq!(requeue(Some(&d), None), Requeue::At(t(17)));
        // The pause ends before the next round: due then.
        d.progress.last_round_at = Some(t(68));
        assert_eq!(requeue(Some(&d), None), Requeue::At(t(70)));
        // Paused: no step moves by itself, rounds still run.
        d.phase = Phase::Paused;
        assert_eq!(requeue(Some(&d), None), Requeue::At(t(73)));
        // A step held until promoted: the next round.
        let mut held = deployment(Some("1.0"), plan(&[(10, None)]));
        held.phase = Phase::Progressing;
        held.step = Some(0);
        held.progress.ready_at = Some(t(10));
        held.progress.step_started_at = Some(t(10));
        held.progress.last_round_at = Some(t(10));
        assert_eq!(requeue(Some(&held), None), Requeue::At(t(15)));
        // Not yet healthy, or another strategy: every tick.
        held.progress.ready_at = None;
        assert_eq!(requeue(Some(&held), None), Requeue::NextTick);
        let mut direct = deployment(Some("1.0"), plan(&[]));
        direct.phase = Phase::Progressing;
        direct.progress.ready_at = Some(t(10));
        direct.progress.last_round_at = Some(t(10));
        assert_eq!(requeue(Some(&direct), None), Requeue::NextTick);
    }

    #[test]
    fn one_awaiting_approval_waits_for_a_command_or_its_expiry() {
        let mut d = deployment(Some("1.0"), plan(&[]));
        d.phase = Phase::AwaitingApproval;
        d.gate.approvals_required = 1;
        assert_eq!(requeue(Some(&d), None), Requeue::OnChange);
        d.gate.expires_at = Some(t(3600));
        assert_eq!(requeue(Some(&d), None), Requeue::At(t(3600)));
        assert!(!Requeue::At(t(3600)).is_due(t(3599)));
        assert!(Requeue::At(t(3600)).is_due(t(3600)));
    }

    #[test]
    fn an_idle_target_waits_for_a_change() {
        let mut last = deployment(Some("1.0"), plan(&[]));
        last.phase = Phase::Succeeded;
        last.finished_at = Some(t(10));
        assert_eq!(requeue(None, Some(&last)), Requeue::OnChange);
        assert_eq!(requeue(None, None), Requeue::OnChange);
        assert!(!Requeue::OnChange.is_due(t(1_000_000)));
        // A finished deployment passed as active is idle too.
        assert_eq!(requeue(Some(&last), None), Requeue::OnChange);
    }

    #[test]
    fn a_retained_blue_green_version_is_stopped_when_its_delay_ends() {
        let mut last = deployment(
            Some("1.0"),
            Plan::BlueGreen {
                common: common(),
                blue_green: BlueGreenPlan {
                    auto_promotion: None,
                    scale_down_delay: Duration::from_secs(30),
                },
            },
        );
        last.phase = Phase::Succeeded;
        last.finished_at = Some(t(10));
        assert_eq!(requeue(None, Some(&last)), Requeue::At(t(40)));
        // Its retained version is gone at that time, as the target says.
        assert_eq!(retained_at(&last, t(39)), Some("1.0"));
        assert_eq!(retained_at(&last, t(40)), None);
    }

    fn retained_at(d: &Deployment, now: Timestamp) -> Option<&str> {
        crate::rollout::retained_version(d, now)
    }
}
