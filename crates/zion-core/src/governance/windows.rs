//! Whether an instant falls inside an environment's deployment windows and
//! outside its freezes, and when the next allowed instant is.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::spec::WindowsSpec;

/// An environment's deployment window at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WindowState {
    /// Deployments are allowed now.
    #[default]
    Open,
    /// Deployments are not allowed now.
    Closed {
        /// Why, e.g. "inside freeze `year-end` (…)" or "outside the allowed
        /// windows mon-fri 09:00-17:00 (Europe/Berlin); it is Sat 10:12 there".
        reason: String,
        /// The first instant at or after now when deployments are allowed,
        /// None when there is none within a year.
        next_open: Option<Timestamp>,
    },
}

impl WindowState {
    /// Whether deployments are allowed.
    pub fn is_open(&self) -> bool {
        matches!(self, WindowState::Open)
    }
}

/// The window state of `windows` at `now`.
pub fn window_state(windows: &WindowsSpec, now: Timestamp) -> WindowState {
    let _ = (windows, now);
    todo!("windows policy")
}
