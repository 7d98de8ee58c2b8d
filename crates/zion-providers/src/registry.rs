//! Records of the processes Zion started, kept outside the process so that a
//! Zion that was killed without cleaning up can find and end them next time.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// One spawned replica process: enough to find it again and to be sure it is
/// still the same process (PIDs get reused, start ticks do not repeat).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The host whose pid space `pid` belongs to: a [`crate::HostId`] as a
    /// string, or '' for a record written before hosts were recorded.
    pub host: String,
    /// Process id of the replica, which is also its process group id.
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat`: clock ticks after boot when it started.
    pub start_ticks: u64,
    /// Service the replica belongs to.
    pub service: String,
    /// Environment the replica belongs to.
    pub environment: String,
    /// Version the replica runs.
    pub version: String,
    /// Port on 127.0.0.1 the replica was told to listen on.
    pub port: u16,
}

/// Where process records are kept; the server persists them in its database.
pub trait ProcessRegistry: Send + Sync + 'static {
    /// Adds or replaces the record for `rec.pid` on `rec.host`.
    fn record(&self, rec: &ProcessRecord);
    /// Drops the record for `pid` on `host`, if any.
    fn forget(&self, host: &str, pid: u32);
    /// Every record currently kept.
    fn list(&self) -> Vec<ProcessRecord>;
}

/// A registry that lives only as long as the process: for tests and for
/// callers that have no database.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    records: Mutex<BTreeMap<(String, u32), ProcessRecord>>,
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ProcessRegistry for MemoryRegistry {
    fn record(&self, rec: &ProcessRecord) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((rec.host.clone(), rec.pid), rec.clone());
    }

    fn forget(&self, host: &str, pid: u32) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(host.to_string(), pid));
    }

    fn list(&self) -> Vec<ProcessRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pid: u32, port: u16) -> ProcessRecord {
        ProcessRecord {
            host: "h/m/b/1".into(),
            pid,
            start_ticks: 7,
            service: "web".into(),
            environment: "dev".into(),
            version: "1".into(),
            port,
        }
    }

    #[test]
    fn memory_registry_replaces_and_forgets_by_host_and_pid() {
        let r = MemoryRegistry::new();
        r.record(&rec(10, 1000));
        r.record(&rec(11, 1001));
        r.record(&rec(10, 2000));
        let elsewhere = ProcessRecord {
            host: "g/n/c/1".into(),
            ..rec(10, 3000)
        };
        r.record(&elsewhere);
        let list = r.list();
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].port, 2000);
        r.forget("h/m/b/1", 10);
        r.forget("h/m/b/1", 99);
        assert_eq!(r.list(), vec![elsewhere, rec(11, 1001)]);
    }
}
