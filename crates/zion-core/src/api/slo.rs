//! An SLO as `GET /api/v1/slos` shows it and `zion slo status` prints it:
//! its objective, the SLI over the window, the budget left, the burn
//! rates of the alert windows and its alerts' states.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::slo::alerts::{self, AlertState};
use crate::slo::rows::{self, SliRow};
use crate::slo::{Budget, window};
use crate::spec::{Sli, SloSpec, SloWindow};

/// One SLO now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SloView {
    /// `service/environment/name`.
    pub id: String,
    pub service: String,
    pub environment: String,
    pub name: String,
    /// `availability` or `latency`.
    pub sli: String,
    /// A latency SLI's threshold in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_ms: Option<u64>,
    pub objective: f64,
    /// `30d` or `month`.
    pub window: String,
    /// `events` or `time_slices`.
    pub budgeting: String,
    /// The SLI over the window so far; None without any event.
    pub sli_now: Option<f64>,
    /// Good and all events (or minutes) over the window so far.
    pub good: u64,
    pub total: u64,
    pub budget: Budget,
    /// Each alert pair's burn rates now.
    pub burn_rates: Vec<alerts::PairReading>,
    /// The alerts' recorded states (an alert never fired is not listed).
    pub alerts: Vec<AlertState>,
    /// A prometheus SLI's measurement, as the replica answering knows it
    /// (the one driving the target measures it; None elsewhere and for
    /// the other SLIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub measurement: Option<SliMeasurement>,
}

/// How a measured-by-query SLI stands: the last minute recorded, the last
/// failure, and whether the rows lag behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliMeasurement {
    /// The start of the last minute measured.
    pub last_minute: Option<Timestamp>,
    /// Why the last minute that failed was not recorded, and that minute.
    pub error: Option<String>,
    pub error_minute: Option<Timestamp>,
    /// No minute was measured within the last [`SliMeasurement::STALE_AFTER`]
    /// (a query failing, or Prometheus unreachable): the SLI and budget
    /// shown leave those minutes out, they do not count them good.
    pub stale: bool,
}

impl SliMeasurement {
    /// A minute is measured a little after it ends; two more missing mean
    /// the measurement is stale.
    pub const STALE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(180);

    pub fn new(
        last_minute: Option<Timestamp>,
        error: Option<(Timestamp, String)>,
        now: Timestamp,
    ) -> SliMeasurement {
        let stale = match last_minute {
            None => error.is_some(),
            Some(m) => now.duration_since(m) > Self::STALE_AFTER,
        };
        let (error_minute, error) = match error {
            Some((m, e)) => (Some(m), Some(e)),
            None => (None, None),
        };
        SliMeasurement {
            last_minute,
            error,
            error_minute,
            stale,
        }
    }
}

impl SloView {
    /// The view of `slo` at `now`, from its rows since the earlier of its
    /// window's start and three days back (the longest alert window).
    pub fn build(slo: &SloSpec, rows: &[SliRow], alerts: &[AlertState], now: Timestamp) -> SloView {
        let since = window::start(slo.window, now);
        let counts = rows::counts(rows, since, now, slo.budgeting);
        SloView {
            id: slo.id(),
            service: slo.service.clone(),
            environment: slo.environment.clone(),
            name: slo.name.clone(),
            sli: slo.sli.name().to_owned(),
            threshold_ms: match &slo.sli {
                Sli::Latency { threshold } => u64::try_from(threshold.as_millis()).ok(),
                Sli::Availability | Sli::Probe(_) | Sli::Prometheus(_) => None,
            },
            objective: slo.objective,
            window: match slo.window {
                SloWindow::Rolling { days } => format!("{days}d"),
                SloWindow::CalendarMonth => "month".to_owned(),
            },
            budgeting: slo.budgeting.name().to_owned(),
            sli_now: counts.sli(),
            good: counts.good,
            total: counts.total,
            budget: Budget::of(slo.objective, counts),
            burn_rates: alerts::readings(slo, rows, now),
            alerts: alerts.to_vec(),
            measurement: None,
        }
    }

    /// The alerts firing now, as recorded.
    pub fn firing(&self) -> impl Iterator<Item = &AlertState> {
        self.alerts.iter().filter(|a| a.firing)
    }
}

/// The first instant whose rows [`SloView::build`] and the alerts read.
pub fn rows_since(slo: &SloSpec, now: Timestamp) -> Timestamp {
    let three_days = jiff::SignedDuration::from_hours(72);
    window::start(slo.window, now).min(now.checked_sub(three_days).unwrap_or(Timestamp::MIN))
}
