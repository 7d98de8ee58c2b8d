//! Delivery history maths: the DORA metrics and the deployment report,
//! computed from plain records of finished deployments and incidents. Pure:
//! the period, the time zone and every record are passed in; nothing here
//! reads a clock or a store. Rendering the report (Markdown, HTML) lives
//! elsewhere.

pub mod assemble;
pub mod calendar;
pub mod dora;
pub mod of_deployment;
pub mod record;
pub mod refusals;
pub mod report;
mod report_model;
pub mod reversal;
pub mod stats;

#[cfg(test)]
mod dora_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod test_support;

pub use assemble::{Assembly, ImportedDeployment, OwnIncident, is_production, report_period};
pub use calendar::Calendar;
pub use dora::{Cluster, DoraMetrics, FrequencyBucket, dora_metrics};
pub use of_deployment::{own_id, record_of_deployment};
pub use record::{
    DeploymentRecord, DeploymentResult, GateOutcome, IncidentRecord, Names, RollbackInfo,
};
pub use refusals::count_refusals;
pub use report::{AuditSummary, PolicyRefusals, Report, ReportQuery, Verified, build_report};
pub use reversal::mark_reversals;
