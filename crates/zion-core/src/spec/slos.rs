//! `slos:`: service level objectives, one per entry, each for one target
//! (a service in an environment). The model only; what the figures mean
//! (budget, burn rates, alerts) is `crate::slo`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One SLO: `slos[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSpec {
    /// Unique within its target; a DNS label (`availability`).
    pub name: String,
    pub service: String,
    pub environment: String,
    /// The share of good events (or minutes) aimed at, as a ratio
    /// (`99.9%` is 0.999); strictly between 0 and 1.
    pub objective: f64,
    pub window: SloWindow,
    pub sli: Sli,
    /// Default `events`.
    pub budgeting: Budgeting,
    /// How long one-minute rows are kept before they are rolled up into
    /// hourly rows. Default 7 days; at least 3 days, the longest alert
    /// window, so that every burn rate is read at one-minute resolution.
    #[serde(with = "crate::duration::serde_duration")]
    pub retention: Duration,
}

impl SloSpec {
    /// `service/environment/name`, unique in a spec: how the SLO is named
    /// in the store, the API, audit entries and commands.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.service, self.environment, self.name)
    }
}

/// The period the objective is measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloWindow {
    /// The last `days` days up to now (`window: 30d`).
    Rolling { days: u32 },
    /// The current calendar month, in UTC (`window: month`).
    CalendarMonth,
}

/// What counts as a good event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sli {
    /// Requests through the built-in proxy that were not answered 5xx
    /// (nor failed to be forwarded).
    Availability,
    /// Requests through the built-in proxy answered within `threshold`.
    Latency {
        #[serde(with = "crate::duration::serde_duration")]
        threshold: Duration,
    },
    /// Synthetic probes on an interval, each one event, good when it
    /// passes (`sli: probe`).
    Probe(SloProbe),
    /// Good (or bad) and total events counted by two PromQL queries to a
    /// `prometheus` provider (`sli: prometheus`), as Sloth's SLIs are.
    Prometheus(SloPrometheus),
}

/// `slos[].prometheus`: the provider and the queries, each a rate per
/// second over `{{.window}}` (Sloth's placeholder), which Zion fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloPrometheus {
    /// A provider of kind `prometheus` in `providers:`.
    pub provider: String,
    /// The good or the bad events' query.
    pub events: SloEvents,
    /// All events' query.
    pub total: String,
}

/// Which events a prometheus SLI's first query counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloEvents {
    /// `good:`, e.g. requests not answered 5xx.
    Good(String),
    /// `bad:`, e.g. requests answered 5xx (Sloth's `error_query`).
    Bad(String),
}

/// `slos[].probe`: what a probe SLI checks and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloProbe {
    pub check: ProbeCheck,
    #[serde(with = "crate::duration::serde_duration")]
    pub interval: Duration,
    /// One probe's deadline; at most the interval.
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
}

impl SloProbe {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

/// One probe: passes on a 2xx or 3xx answer (`url`), or when a TCP
/// connection opens (`tcp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeCheck {
    /// `GET url` (`http://` or `https://`).
    Http(String),
    /// `host:port`.
    Tcp(String),
}

impl Sli {
    pub fn name(&self) -> &'static str {
        match self {
            Sli::Availability => "availability",
            Sli::Latency { .. } => "latency",
            Sli::Probe(_) => "probe",
            Sli::Prometheus(_) => "prometheus",
        }
    }
}

/// How the budget is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budgeting {
    /// Bad events over all events (`budgeting: events`, the default).
    Events,
    /// Bad minutes over the window's minutes (`budgeting: time_slices`):
    /// a minute is bad when its share of good events is below the
    /// objective; a minute without traffic is good (nothing failed). At
    /// 99.9% over 30 days the budget is 43.2 minutes.
    TimeSlices,
}

impl Budgeting {
    pub fn name(&self) -> &'static str {
        match self {
            Budgeting::Events => "events",
            Budgeting::TimeSlices => "time_slices",
        }
    }
}
