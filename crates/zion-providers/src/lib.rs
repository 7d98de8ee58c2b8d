//! `zion-providers` holds Zion's adapters to the world outside the domain:
//! today, workloads run as local processes (spawned, supervised, restarted
//! and stopped per version) and the health probes that judge them (HTTP, TCP,
//! exec, gRPC), plus the CPU and memory figures read from `/proc`. It is not the
//! controller: it never decides what should run, it only makes what the
//! controller asks for true and reports what it observes. Persistence of the
//! records that let a restarted Zion find leftover processes is behind the
//! [`ProcessRegistry`] trait, implemented by the server's store.

pub mod host;
mod probe;
pub mod process;
pub mod registry;

use serde::{Deserialize, Serialize};

pub use host::HostId;
pub use process::{
    Adoption, ProcessWorkloads, ReplicaState, ReplicaStatus, VersionStatus, WorkloadError,
};
pub use registry::{MemoryRegistry, ProcessRecord, ProcessRegistry};

/// One version of one service in one environment: the unit Zion starts and stops.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VersionKey {
    /// Service name, e.g. `web`.
    pub service: String,
    /// Environment name, e.g. `staging`.
    pub environment: String,
    /// Version string, e.g. `1.4.2`.
    pub version: String,
}

impl VersionKey {
    /// Builds a key from its three parts.
    pub fn new(
        service: impl Into<String>,
        environment: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        VersionKey {
            service: service.into(),
            environment: environment.into(),
            version: version.into(),
        }
    }
}

impl std::fmt::Display for VersionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{} in {}",
            self.service, self.version, self.environment
        )
    }
}
