//! A target as `GET /api/v1/services` (`zion status`) returns it.

use serde::{Deserialize, Serialize};

use crate::deployment::PlanKind;

use super::DeploymentView;

/// One target: its listeners, its stable version, its active deployment
/// and the versions running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetView {
    pub service: String,
    pub environment: String,
    /// The listener's address.
    pub listen: String,
    /// The preview listener's address, when the target has one bound.
    pub preview: Option<String>,
    /// The strategy the spec names for the service.
    pub strategy: PlanKind,
    pub stable_version: Option<String>,
    /// The active deployment, if any.
    pub deployment: Option<DeploymentView>,
    pub versions: Vec<RunningVersion>,
    /// The replica of Zion that drives the target now (the holder of its
    /// live lease); None while no replica does (between a replica's death
    /// and its lease's expiry).
    #[serde(default)]
    pub driven_by: Option<String>,
    /// Why the target's router refused the last change of traffic (an
    /// HAProxy admin socket missing or not at admin level, say); None when
    /// it took it. The traffic stays as it was meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_error: Option<String>,
}

/// A version with running replicas on a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunningVersion {
    pub version: String,
    pub role: VersionRole,
    /// The workload's figures; None when it has no status (yet).
    pub replicas: Option<u32>,
    pub ready: Option<u32>,
    pub restarts: Option<u32>,
    pub pids: Option<Vec<u32>>,
    pub ports: Option<Vec<u16>>,
    pub cpu_percent: Option<f64>,
    pub memory_mb: Option<f64>,
    /// Requests and errors the target's listener sent it.
    pub requests: u64,
    pub errors: u64,
}

/// Whether a running version is the stable one or the one rolling out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VersionRole {
    Stable,
    /// The new version (named `canary` in the JSON whatever the strategy).
    Canary,
}
