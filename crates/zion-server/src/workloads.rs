//! Where the controller's versions run: local processes
//! (`zion_providers::ProcessWorkloads`), or, built with the `simulated`
//! feature for benchmarks only, versions that exist in memory
//! (`simulated.rs`). The controller, the routes and the views ask the same
//! questions of either; what they decide does not know which it is.

use std::time::SystemTime;

use zion_core::spec::{HealthSpec, ProcessSpec};
use zion_providers::{Adoption, ProcessWorkloads, VersionKey, VersionStatus, WorkloadError};

/// The workloads of one replica of `zion up`; cheap to clone (shared inside).
#[derive(Clone)]
pub enum Workloads {
    /// Each version's replicas are supervised local processes.
    Process(ProcessWorkloads),
    /// Each version's replicas exist only in memory (benchmarks).
    #[cfg(feature = "simulated")]
    Simulated(crate::simulated::SimulatedWorkloads),
}

impl Workloads {
    /// Starts (or scales to) `replicas` replicas of the version.
    pub async fn ensure(
        &self,
        key: &VersionKey,
        process: &ProcessSpec,
        health: &HealthSpec,
        replicas: u32,
    ) -> Result<(), WorkloadError> {
        match self {
            Workloads::Process(w) => w.ensure(key, process, health, replicas).await,
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => {
                w.ensure(key, replicas);
                Ok(())
            }
        }
    }

    /// Stops every replica of the version.
    pub async fn stop(&self, key: &VersionKey) {
        match self {
            Workloads::Process(w) => w.stop(key).await,
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.stop(key),
        }
    }

    /// Stops every version (graceful shutdown).
    pub async fn stop_all(&self) {
        match self {
            Workloads::Process(w) => w.stop_all().await,
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.stop_all(),
        }
    }

    /// Lowers the version's wanted count; true when it had more.
    pub fn lower_desired(&self, key: &VersionKey, replicas: u32) -> bool {
        match self {
            Workloads::Process(w) => w.lower_desired(key, replicas),
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.lower_desired(key, replicas),
        }
    }

    /// The version's replicas as last observed.
    pub fn status(&self, key: &VersionKey) -> Option<VersionStatus> {
        match self {
            Workloads::Process(w) => w.status(key),
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.status(key),
        }
    }

    /// Share of passing probes since `since`, None if none ran.
    pub fn health_share(&self, key: &VersionKey, since: SystemTime) -> Option<f64> {
        match self {
            Workloads::Process(w) => w.health_share(key, since),
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.health_share(key),
        }
    }

    /// Versions with replicas, in key order.
    pub fn running(&self) -> Vec<VersionKey> {
        match self {
            Workloads::Process(w) => w.running(),
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.running(),
        }
    }

    /// The target's versions with replicas, in version order.
    pub fn running_in(&self, service: &str, environment: &str) -> Vec<VersionKey> {
        match self {
            Workloads::Process(w) => w.running_in(service, environment),
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.running_in(service, environment),
        }
    }

    /// Takes over the target's replicas a previous holder left running.
    pub async fn adopt_target<F>(&self, service: &str, environment: &str, versions: F) -> Adoption
    where
        F: Fn(&str) -> Option<(ProcessSpec, HealthSpec)>,
    {
        match self {
            Workloads::Process(w) => w.adopt_target(service, environment, versions).await,
            // Simulated versions belong to the replica that started them:
            // a new holder starts its own.
            #[cfg(feature = "simulated")]
            Workloads::Simulated(_) => Adoption::default(),
        }
    }

    /// Stops supervising the target's replicas without stopping them;
    /// returns how many were left running.
    pub async fn release_target(&self, service: &str, environment: &str) -> usize {
        match self {
            Workloads::Process(w) => w.release_target(service, environment).await,
            #[cfg(feature = "simulated")]
            Workloads::Simulated(w) => w.release_target(service, environment),
        }
    }

    /// The simulation, when the versions are simulated.
    #[cfg(feature = "simulated")]
    pub(crate) fn simulated(&self) -> Option<&crate::simulated::SimulatedWorkloads> {
        match self {
            Workloads::Process(_) => None,
            Workloads::Simulated(w) => Some(w),
        }
    }
}
