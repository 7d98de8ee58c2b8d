//! The processes area: the workload processes Zion started.

use crate::StoreError;

/// The workload processes Zion started, so that a restarted controller
/// finds its replicas again instead of starting them twice.
///
/// Every implementation keeps these: a process is known by its pid, and a
/// record of a pid replaces the one before it (pids are reused);
/// forgetting a process that is not recorded is not an error; what is
/// recorded reads back exactly, and a `start_ticks` above `i64::MAX` is
/// refused with `StoreError::Invalid` rather than truncated.
pub trait ProcessStore: Send + Sync {
    /// Remembers a process Zion started (replacing any record with the same pid).
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError>;

    /// Forgets the process with this pid (no error if it was not recorded).
    fn forget_process(&self, pid: u32) -> Result<(), StoreError>;

    /// Every remembered process, by pid.
    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError>;
}

/// A workload process Zion started, so a restarted controller can find it
/// again (`start_ticks` tells a live process from a reused pid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProcess {
    pub pid: u32,
    /// The process's start time in clock ticks since boot (at most `i64::MAX`).
    pub start_ticks: u64,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The port the replica listens on.
    pub port: u16,
}
