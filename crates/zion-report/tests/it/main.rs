//! Rendering the deployment report: the text each format holds for a small
//! known history, and the HTML page as a real browser opens, draws and
//! prints it for a three-month history.

mod browser;
mod chromium;
mod history;
mod render;

/// Every section of the report in order: its id and its heading.
pub const SECTIONS: [(&str, &str); 12] = [
    ("summary", "Summary"),
    ("environments", "Environments"),
    ("types", "Deployment types"),
    ("frequency", "Frequency"),
    ("success", "Success rates"),
    ("speed", "Deployment speed"),
    ("rollbacks", "Rollbacks"),
    ("approvals", "Approvals"),
    ("quality-gates", "Quality gates"),
    ("dora", "DORA metrics"),
    ("trends", "Trends by month"),
    ("audit", "Audit log"),
];

/// Every chart's figure id.
pub const CHARTS: [&str; 4] = [
    "chart-per-day",
    "chart-success-month",
    "chart-duration-month",
    "chart-duration-histogram",
];

/// What a section without data says.
pub const NO_DATA: &str = "No data for this period.";
