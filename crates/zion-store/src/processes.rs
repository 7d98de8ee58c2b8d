//! The processes area: the workload processes Zion started.

use crate::StoreError;

/// The workload processes Zion started, so that a restarted controller
/// finds its replicas again instead of starting them twice.
///
/// Every implementation keeps these: a process is known by its host and
/// pid (pids of different hosts collide), and a record of a host's pid
/// replaces the one before it (pids are reused); records of the same pid
/// on other hosts are untouched; forgetting a process that is not recorded
/// is not an error; what is
/// recorded reads back exactly, and a `start_ticks` above `i64::MAX` is
/// refused with `StoreError::Invalid` rather than truncated.
pub trait ProcessStore: Send + Sync {
    /// Remembers a process Zion started (replacing any record with the same
    /// host and pid).
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError>;

    /// Forgets the process with this pid on this host (no error if it was
    /// not recorded).
    fn forget_process(&self, host: &str, pid: u32) -> Result<(), StoreError>;

    /// Every remembered process, by host, then pid.
    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError>;
}

/// A workload process Zion started, so a restarted controller can find it
/// again (`start_ticks` tells a live process from a reused pid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProcess {
    /// The host whose pid space `pid` belongs to (see the providers'
    /// `HostId`); '' for a record written before hosts were recorded.
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (at most `i64::MAX`).
    pub start_ticks: u64,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The port the replica listens on.
    pub port: u16,
}
