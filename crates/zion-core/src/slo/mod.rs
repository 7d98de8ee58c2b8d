//! Service level objectives: the arithmetic of an SLO's error budget and
//! burn rates, over rows of recorded SLI counts, and the multiwindow,
//! multi-burn-rate alerts of Google's SRE workbook. Pure: the rows and the
//! time are passed in.
//!
//! - `budget`: good and bad counts, the budget left and the burn rate.
//! - `window`: where an SLO's window (rolling days or the calendar month)
//!   starts, and its length.
//! - `rows`: recorded SLI rows (one minute, or an hour once rolled up) and
//!   the counts over a span of them, by events or by time slices.
//! - `alerts`: the burn-rate pairs, which alerts fire now, and the
//!   transitions (firing, resolved) from the last recorded state.
//! - `policy`: the `error_budget` pre-check's decision.
//! - `rules`: Prometheus recording and alerting rules, Sloth's names.
//! - `prometheus`: a prometheus SLI's queries with their window filled in,
//!   and a minute's counts from the rates they answer.

pub mod alerts;
pub mod budget;
pub mod policy;
pub mod prometheus;
pub mod report;
pub mod rows;
pub mod rules;
pub mod window;

pub use alerts::{AlertKind, AlertState, BURN_PAIRS, BurnPair, Severity, Transition};
pub use budget::{Budget, Counts};
pub use rows::SliRow;
