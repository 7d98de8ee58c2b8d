//! Replica processes are recorded in the store so that a Zion killed with
//! SIGKILL can find and stop them when it starts again, and so that the
//! controller that takes a target over on the same host adopts them.

use std::sync::Arc;

use zion_providers::{ProcessRecord, ProcessRegistry};
use zion_store::{Store, StoredProcess};

/// The store as the providers' process registry.
pub struct StoreRegistry(pub Arc<dyn Store>);

impl ProcessRegistry for StoreRegistry {
    fn record(&self, rec: &ProcessRecord) {
        let p = StoredProcess {
            host: rec.host.clone(),
            pid: rec.pid,
            start_ticks: rec.start_ticks,
            service: rec.service.clone(),
            environment: rec.environment.clone(),
            version: rec.version.clone(),
            port: rec.port,
        };
        if let Err(e) = self.0.record_process(&p) {
            tracing::error!(error = %e, pid = rec.pid, "could not record a replica process");
        }
    }

    fn forget(&self, host: &str, pid: u32) {
        if let Err(e) = self.0.forget_process(host, pid) {
            tracing::error!(error = %e, pid, "could not forget a replica process");
        }
    }

    fn list(&self) -> Vec<ProcessRecord> {
        match self.0.processes() {
            Ok(list) => list
                .into_iter()
                .map(|p| ProcessRecord {
                    host: p.host,
                    pid: p.pid,
                    start_ticks: p.start_ticks,
                    service: p.service,
                    environment: p.environment,
                    version: p.version,
                    port: p.port,
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "could not list recorded replica processes");
                Vec::new()
            }
        }
    }
}
