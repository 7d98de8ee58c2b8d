//! When the controller must look at a target again by itself, from the
//! target's recorded state (like a Kubernetes reconcile returning its
//! requeue). A change made through the API (a deploy, a command, a spec
//! applied) wakes every target whatever this says, and the controller looks
//! again sooner when the world has not caught up with what it asked
//! (replicas starting or stopping, a route's pool changing).

use jiff::Timestamp;

use super::blue_green;
use crate::deployment::{Deployment, Phase};

/// When a target is next reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// At the next tick: the deployment waits on what only observing
    /// tells (health, traffic, the analysis round, the gate's window and
    /// checks, a version stopping), and a failing canary must be rolled
    /// back the moment its round fails.
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
            _ => Requeue::NextTick,
        },
        _ => match last_succeeded.and_then(blue_green::scale_down_at) {
            Some(at) => Requeue::At(at),
            None => Requeue::OnChange,
        },
    }
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
