//! A deployment's plan: how it rolls out, frozen from the spec when it is
//! created. One variant per kind of rollout, so a plan cannot be two kinds
//! at once, and the strategy label a deployment shows is read from it
//! ([`Plan::kind`]) rather than stored beside it.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::judge::Judge;
use crate::spec::{Batch, Check, HooksSpec, MatchRule, ServiceSpec, Strategy};

/// The name of a plan's kind: the strategy label of a deployment, in its
/// JSON, the store and the report. `direct` is a target's first version and
/// a rollback: start, wait for health, switch all traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Direct,
    Canary,
    BlueGreen,
    Rolling,
}

impl PlanKind {
    /// Every kind.
    pub const ALL: [PlanKind; 4] = [
        PlanKind::Direct,
        PlanKind::Canary,
        PlanKind::BlueGreen,
        PlanKind::Rolling,
    ];

    /// The snake_case name used in JSON and on screen.
    pub fn name(self) -> &'static str {
        match self {
            PlanKind::Direct => "direct",
            PlanKind::Canary => "canary",
            PlanKind::BlueGreen => "blue_green",
            PlanKind::Rolling => "rolling",
        }
    }

    /// Parses a kind's name.
    pub fn from_name(name: &str) -> Option<PlanKind> {
        PlanKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl From<Strategy> for PlanKind {
    fn from(s: Strategy) -> PlanKind {
        match s {
            Strategy::Canary => PlanKind::Canary,
            Strategy::BlueGreen => PlanKind::BlueGreen,
            Strategy::Rolling => PlanKind::Rolling,
        }
    }
}

impl std::fmt::Display for PlanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of a canary plan: a weight held for a pause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    pub weight: u8,
    /// None on a non-final step: hold until a manual promote.
    #[serde(with = "crate::duration::serde_opt_duration")]
    pub pause: Option<Duration>,
    /// Requests matching any rule go to the canary whatever the weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<MatchRule>,
    /// Share of stable's requests copied to the canary (weight is then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<u8>,
}

impl PlanStep {
    /// A plain weighted step.
    pub fn weighted(weight: u8, pause: Option<Duration>) -> PlanStep {
        PlanStep {
            weight,
            pause,
            matches: Vec::new(),
            mirror: None,
        }
    }
}

/// What every plan has: the replicas, how long they may take to become
/// healthy, and how the new version is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanCommon {
    pub replicas: u32,
    pub start_timeout: Duration,
    pub interval: Duration,
    pub failure_limit: u32,
    pub min_requests: u64,
    /// Inconclusive rounds in a row for this long pause a deployment that
    /// waits on them.
    pub inconclusive_limit: Duration,
    pub checks: Vec<Check>,
    /// The service's hooks when the deployment was created.
    pub hooks: HooksSpec,
    /// How rounds are judged: the checks alone, or the statistical judge
    /// beside them.
    pub judge: Judge,
}

impl PlanCommon {
    /// The figures of `service`'s spec.
    pub fn of(service: &ServiceSpec) -> PlanCommon {
        let analysis = &service.analysis;
        PlanCommon {
            replicas: service.workload.process.replicas,
            start_timeout: service.health.start_timeout,
            interval: analysis.interval,
            failure_limit: analysis.failure_limit,
            min_requests: analysis.min_requests,
            inconclusive_limit: analysis.inconclusive_limit,
            checks: analysis.checks.clone(),
            hooks: service.hooks.clone(),
            judge: analysis.judge.clone(),
        }
    }
}

/// A canary deployment's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryPlan {
    /// The weights in order; the state machine switches directly when
    /// there are none.
    pub steps: Vec<PlanStep>,
    /// Keep each client on the version it first got (`canary.sticky`).
    pub sticky: bool,
}

/// A blue-green deployment's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreenPlan {
    /// Promote by itself this long after the new version is ready (and its
    /// analysis passed); None waits for `zion promote`.
    #[serde(with = "crate::duration::serde_opt_duration")]
    pub auto_promotion: Option<Duration>,
    /// How long the old version keeps running after the switch, so a
    /// rollback is only a switch back.
    #[serde(with = "crate::duration::serde_duration")]
    pub scale_down_delay: Duration,
}

/// A rolling deployment's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingPlan {
    /// Replicas replaced per batch (at least 1).
    pub batch: u32,
}

impl RollingPlan {
    /// `batch` as a replica count of `replicas`: a percentage rounds up, so
    /// 33% of 3 replicas is 1 and never 0; a count is capped at `replicas`.
    pub fn new(batch: Batch, replicas: u32) -> RollingPlan {
        let replicas = replicas.max(1);
        let batch = match batch {
            Batch::Count(n) => n.clamp(1, replicas),
            Batch::Percent(p) => (u32::from(p) * replicas).div_ceil(100).clamp(1, replicas),
        };
        RollingPlan { batch }
    }

    /// The number of batches for `replicas` replicas.
    pub fn batches(&self, replicas: u32) -> u32 {
        replicas.max(1).div_ceil(self.batch.max(1))
    }

    /// Replicas of the new version once batch `i` (0-based) is replaced.
    pub fn replaced(&self, i: u32, replicas: u32) -> u32 {
        (i.saturating_add(1))
            .saturating_mul(self.batch.max(1))
            .min(replicas.max(1))
    }
}

/// The policy a deployment follows, frozen when it is created.
///
/// Its JSON (in the store and the API) is one flat object: `kind`, the
/// common figures, `steps` and `sticky` (empty and false but for a canary),
/// and `blue_green` or `rolling` for those kinds. Plans recorded before
/// `kind` existed have no `kind` and are read by which of those they carry.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Start, wait for health, switch all traffic: a target's first
    /// version and a rollback.
    Direct { common: PlanCommon },
    /// Weighted steps beside the stable version.
    Canary {
        common: PlanCommon,
        canary: CanaryPlan,
    },
    /// Full replicas beside the stable version, one switch.
    BlueGreen {
        common: PlanCommon,
        blue_green: BlueGreenPlan,
    },
    /// The stable version's replicas replaced batch by batch.
    Rolling {
        common: PlanCommon,
        rolling: RollingPlan,
    },
}

impl Plan {
    /// A plan with no steps: start, wait for health, switch all traffic.
    pub fn direct(service: &ServiceSpec) -> Plan {
        Plan::Direct {
            common: PlanCommon::of(service),
        }
    }

    /// The canary plan of `service` (its steps and analysis).
    pub fn canary(service: &ServiceSpec) -> Plan {
        let steps = service
            .canary
            .steps
            .iter()
            .map(|s| PlanStep {
                weight: s.weight.unwrap_or(0),
                pause: s.pause,
                matches: s.matches.clone(),
                mirror: s.mirror,
            })
            .collect();
        Plan::Canary {
            common: PlanCommon::of(service),
            canary: CanaryPlan {
                steps,
                sticky: service.canary.sticky,
            },
        }
    }

    /// The blue-green plan of `service`.
    pub fn blue_green(service: &ServiceSpec) -> Plan {
        let bg = &service.blue_green;
        Plan::BlueGreen {
            common: PlanCommon::of(service),
            blue_green: BlueGreenPlan {
                auto_promotion: bg.auto_promotion,
                scale_down_delay: bg.scale_down_delay,
            },
        }
    }

    /// The rolling plan of `service`.
    pub fn rolling(service: &ServiceSpec) -> Plan {
        Plan::Rolling {
            common: PlanCommon::of(service),
            rolling: RollingPlan::new(service.rolling.batch, service.workload.process.replicas),
        }
    }

    /// The plan of `strategy` for `service`.
    pub fn for_strategy(strategy: Strategy, service: &ServiceSpec) -> Plan {
        match strategy {
            Strategy::Canary => Plan::canary(service),
            Strategy::BlueGreen => Plan::blue_green(service),
            Strategy::Rolling => Plan::rolling(service),
        }
    }

    /// Its kind: the strategy label.
    pub fn kind(&self) -> PlanKind {
        match self {
            Plan::Direct { .. } => PlanKind::Direct,
            Plan::Canary { .. } => PlanKind::Canary,
            Plan::BlueGreen { .. } => PlanKind::BlueGreen,
            Plan::Rolling { .. } => PlanKind::Rolling,
        }
    }

    /// The figures every kind has.
    pub fn common(&self) -> &PlanCommon {
        match self {
            Plan::Direct { common }
            | Plan::Canary { common, .. }
            | Plan::BlueGreen { common, .. }
            | Plan::Rolling { common, .. } => common,
        }
    }

    /// The figures every kind has, to change.
    pub fn common_mut(&mut self) -> &mut PlanCommon {
        match self {
            Plan::Direct { common }
            | Plan::Canary { common, .. }
            | Plan::BlueGreen { common, .. }
            | Plan::Rolling { common, .. } => common,
        }
    }

    /// A canary plan's policy.
    pub fn canary_plan(&self) -> Option<&CanaryPlan> {
        match self {
            Plan::Canary { canary, .. } => Some(canary),
            _ => None,
        }
    }

    /// A blue-green plan's policy.
    pub fn blue_green_plan(&self) -> Option<&BlueGreenPlan> {
        match self {
            Plan::BlueGreen { blue_green, .. } => Some(blue_green),
            _ => None,
        }
    }

    /// A rolling plan's policy.
    pub fn rolling_plan(&self) -> Option<RollingPlan> {
        match self {
            Plan::Rolling { rolling, .. } => Some(*rolling),
            _ => None,
        }
    }

    /// A canary plan's steps; none for every other kind.
    pub fn steps(&self) -> &[PlanStep] {
        self.canary_plan().map_or(&[], |c| c.steps.as_slice())
    }

    /// Whether clients keep the version they first got (canary only).
    pub fn sticky(&self) -> bool {
        self.canary_plan().is_some_and(|c| c.sticky)
    }

    /// Replicas of the new version (and of a rolling target).
    pub fn replicas(&self) -> u32 {
        self.common().replicas
    }
}

fn default_inconclusive_limit() -> Duration {
    crate::spec::AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT
}

/// How a plan is written: the flat shape plans always had, plus `kind`.
#[derive(Serialize)]
struct PlanOut<'a> {
    kind: PlanKind,
    steps: &'a [PlanStep],
    replicas: u32,
    #[serde(with = "crate::duration::serde_duration")]
    start_timeout: Duration,
    #[serde(with = "crate::duration::serde_duration")]
    interval: Duration,
    failure_limit: u32,
    min_requests: u64,
    #[serde(with = "crate::duration::serde_duration")]
    inconclusive_limit: Duration,
    checks: &'a [Check],
    #[serde(skip_serializing_if = "HooksSpec::is_empty")]
    hooks: &'a HooksSpec,
    #[serde(skip_serializing_if = "Judge::is_thresholds")]
    judge: &'a Judge,
    sticky: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    blue_green: Option<&'a BlueGreenPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rolling: Option<RollingPlan>,
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.common();
        PlanOut {
            kind: self.kind(),
            steps: self.steps(),
            replicas: c.replicas,
            start_timeout: c.start_timeout,
            interval: c.interval,
            failure_limit: c.failure_limit,
            min_requests: c.min_requests,
            inconclusive_limit: c.inconclusive_limit,
            checks: &c.checks,
            hooks: &c.hooks,
            judge: &c.judge,
            sticky: self.sticky(),
            blue_green: self.blue_green_plan(),
            rolling: self.rolling_plan(),
        }
        .serialize(s)
    }
}

/// How a plan is read: with `kind`, or in the shape written before it
/// existed.
#[derive(Deserialize)]
struct PlanIn {
    #[serde(default)]
    kind: Option<PlanKind>,
    #[serde(default)]
    steps: Vec<PlanStep>,
    replicas: u32,
    #[serde(with = "crate::duration::serde_duration")]
    start_timeout: Duration,
    #[serde(with = "crate::duration::serde_duration")]
    interval: Duration,
    failure_limit: u32,
    min_requests: u64,
    /// Plans recorded before it existed get the default.
    #[serde(
        with = "crate::duration::serde_duration",
        default = "default_inconclusive_limit"
    )]
    inconclusive_limit: Duration,
    checks: Vec<Check>,
    /// Plans recorded before hooks existed have none.
    #[serde(default)]
    hooks: HooksSpec,
    /// Plans recorded before the statistical judge judged by thresholds.
    #[serde(default)]
    judge: Judge,
    #[serde(default)]
    sticky: bool,
    #[serde(default)]
    blue_green: Option<BlueGreenPlan>,
    #[serde(default)]
    rolling: Option<RollingPlan>,
}

impl TryFrom<PlanIn> for Plan {
    type Error = String;

    fn try_from(p: PlanIn) -> Result<Plan, String> {
        let common = PlanCommon {
            replicas: p.replicas,
            start_timeout: p.start_timeout,
            interval: p.interval,
            failure_limit: p.failure_limit,
            min_requests: p.min_requests,
            inconclusive_limit: p.inconclusive_limit,
            checks: p.checks,
            hooks: p.hooks,
            judge: p.judge,
        };
        // Before `kind`, the policy a plan carried said its kind, in this
        // order (the constructors never set two of them).
        let kind = p.kind.unwrap_or(if p.blue_green.is_some() {
            PlanKind::BlueGreen
        } else if p.rolling.is_some() {
            PlanKind::Rolling
        } else if !p.steps.is_empty() {
            PlanKind::Canary
        } else {
            PlanKind::Direct
        });
        let only_canary = |what: &str| {
            format!(
                "a {} plan has no `{what}` (only a canary plan does)",
                kind.name()
            )
        };
        if kind != PlanKind::Canary && !p.steps.is_empty() {
            return Err(only_canary("steps"));
        }
        if kind != PlanKind::Canary && p.sticky {
            return Err(only_canary("sticky"));
        }
        if kind != PlanKind::BlueGreen && p.blue_green.is_some() {
            return Err(format!(
                "a {} plan has no `blue_green` policy (only a blue_green plan does)",
                kind.name()
            ));
        }
        if kind != PlanKind::Rolling && p.rolling.is_some() {
            return Err(format!(
                "a {} plan has no `rolling` policy (only a rolling plan does)",
                kind.name()
            ));
        }
        Ok(match kind {
            PlanKind::Direct => Plan::Direct { common },
            PlanKind::Canary => Plan::Canary {
                common,
                canary: CanaryPlan {
                    steps: p.steps,
                    sticky: p.sticky,
                },
            },
            PlanKind::BlueGreen => Plan::BlueGreen {
                common,
                blue_green: p
                    .blue_green
                    .ok_or("a blue_green plan needs its `blue_green` policy")?,
            },
            PlanKind::Rolling => Plan::Rolling {
                common,
                rolling: p
                    .rolling
                    .ok_or("a rolling plan needs its `rolling` policy")?,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Plan, D::Error> {
        Plan::try_from(PlanIn::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
