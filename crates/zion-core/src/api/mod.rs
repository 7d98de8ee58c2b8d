//! The HTTP API's views: the request and response bodies, as one set of
//! structs the server serializes and the CLI parses, so the two cannot
//! disagree about a field's name or shape. They are plain data built by
//! pure functions of recorded state (snake_case keys, RFC 3339 UTC times,
//! 1-based step numbers); no I/O.

mod audit;
mod deployment;
mod governance;
mod notifications;
mod replicas;
mod requests;
mod slo;
mod target;
mod tokens;

pub use deployment::{
    ApprovalsView, AwaitingApproval, DeploymentDetail, DeploymentView, EventView, Preview,
    RollingView, RoundView,
};
pub use replicas::ReplicaView;
pub use requests::{
    CommandRequest, DeployRequest, ErrorBody, ErrorDetail, ImportSummary, RollbackRequest,
    SpecApplied, SpecView, WhoAmI,
};
pub use slo::{SliMeasurement, SloView, rows_since};
pub use target::{RunningVersion, TargetView, VersionRole};

pub use audit::{
    AuditEntryFields, AuditEntryView, AuditKey, AuditVerification, CheckpointView,
    ConsistencyProof, InclusionProof, TreeHead, VerificationFailed, Verified,
};
pub use governance::{GithubDelivery, IncidentView, ResolveIncident};
pub use notifications::NotificationView;
pub use tokens::{CreateToken, CreatedToken, RevokedToken, TokenView};

/// For an `Option<Option<T>>` field: a key given as `null` is `Some(None)`
/// (present, empty), a missing key `None` (with `#[serde(default)]`), so a
/// view that writes `null` reads back as it was.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}
