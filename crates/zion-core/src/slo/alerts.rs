//! Multiwindow, multi-burn-rate alerts (Google's SRE workbook, chapter 5):
//! each alert is a pair of windows, a long one that says the budget is
//! burning fast enough to matter and a short one that says it still is, so
//! the alert fires within minutes of a burst and resolves within the short
//! window once the errors stop. Both windows of a pair must burn faster
//! than the pair's rate.
//!
//! - page (critical): 14.4× over 1h and 5m (2% of a 30-day budget in an
//!   hour), or 6× over 6h and 30m (5% in six hours);
//! - ticket (warning): 3× over 1d and 2h (10% in a day), or 1× over 3d
//!   and 6h (10% in three days);
//! - budget exhausted (info): nothing is left of the window's budget.
//!
//! An alert's state is recorded; [`transitions`] compares the state now
//! with it, so each change is written once (firing, then resolved).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::budget::{Budget, burn_rate};
use super::rows::{SliRow, counts_over};
use crate::spec::SloSpec;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The alerts an SLO has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Fast burn: someone must look now.
    Page,
    /// Slow burn: someone must look today.
    Ticket,
    /// The budget is spent.
    BudgetExhausted,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [
        AlertKind::Page,
        AlertKind::Ticket,
        AlertKind::BudgetExhausted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Page => "page",
            AlertKind::Ticket => "ticket",
            AlertKind::BudgetExhausted => "budget_exhausted",
        }
    }

    pub fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn severity(self) -> Severity {
        match self {
            AlertKind::Page => Severity::Critical,
            AlertKind::Ticket => Severity::Warning,
            AlertKind::BudgetExhausted => Severity::Info,
        }
    }
}

/// One pair of windows and the burn rate both must exceed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnPair {
    pub alert: AlertKind,
    pub factor: f64,
    pub long: SignedDuration,
    pub short: SignedDuration,
    /// The windows as Sloth and the README write them (`1h`, `5m`).
    pub long_name: &'static str,
    pub short_name: &'static str,
}

const fn pair(
    alert: AlertKind,
    factor: f64,
    long: (i64, &'static str),
    short: (i64, &'static str),
) -> BurnPair {
    BurnPair {
        alert,
        factor,
        long: SignedDuration::from_mins(long.0),
        short: SignedDuration::from_mins(short.0),
        long_name: long.1,
        short_name: short.1,
    }
}

/// The workbook's four pairs, pages first.
pub const BURN_PAIRS: [BurnPair; 4] = [
    pair(AlertKind::Page, 14.4, (60, "1h"), (5, "5m")),
    pair(AlertKind::Page, 6.0, (360, "6h"), (30, "30m")),
    pair(AlertKind::Ticket, 3.0, (1440, "1d"), (120, "2h")),
    pair(AlertKind::Ticket, 1.0, (4320, "3d"), (360, "6h")),
];

/// One pair as read now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairReading {
    pub alert: AlertKind,
    pub factor: f64,
    pub long_window: String,
    pub short_window: String,
    pub long_burn: f64,
    pub short_burn: f64,
    pub firing: bool,
}

/// Every pair of `slo` read at `now` from its rows.
pub fn readings(slo: &SloSpec, rows: &[SliRow], now: Timestamp) -> Vec<PairReading> {
    let burn = |span| burn_rate(slo.objective, counts_over(rows, now, span, slo.budgeting));
    BURN_PAIRS
        .iter()
        .map(|p| {
            let long_burn = burn(p.long);
            let short_burn = burn(p.short);
            PairReading {
                alert: p.alert,
                factor: p.factor,
                long_window: p.long_name.to_owned(),
                short_window: p.short_name.to_owned(),
                long_burn,
                short_burn,
                firing: long_burn > p.factor && short_burn > p.factor,
            }
        })
        .collect()
}

/// The alerts firing now: page and ticket from the pairs, and whether the
/// budget is spent.
pub fn firing(readings: &[PairReading], budget: &Budget) -> Vec<AlertKind> {
    AlertKind::ALL
        .into_iter()
        .filter(|kind| match kind {
            AlertKind::BudgetExhausted => budget.exhausted(),
            k => readings.iter().any(|r| r.alert == *k && r.firing),
        })
        .collect()
}

/// An alert's recorded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertState {
    pub alert: AlertKind,
    pub firing: bool,
    /// When it last changed.
    pub since: Timestamp,
}

/// A change of one alert, to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Firing(AlertKind),
    Resolved(AlertKind),
}

impl Transition {
    pub fn alert(self) -> AlertKind {
        match self {
            Transition::Firing(a) | Transition::Resolved(a) => a,
        }
    }
}

/// The changes from the recorded states to the alerts firing now; an
/// alert never recorded was not firing.
pub fn transitions(recorded: &[AlertState], now_firing: &[AlertKind]) -> Vec<Transition> {
    AlertKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let was = recorded.iter().any(|s| s.alert == kind && s.firing);
            let is = now_firing.contains(&kind);
            match (was, is) {
                (false, true) => Some(Transition::Firing(kind)),
                (true, false) => Some(Transition::Resolved(kind)),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
