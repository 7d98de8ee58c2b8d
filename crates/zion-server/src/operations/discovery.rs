//! What `GET /api/v1/sd/replicas` shows: every replica process Zion runs,
//! as Prometheus's HTTP service discovery (`http_sd_configs`) reads them,
//! so that a Prometheus scrapes the versions Zion starts on the ports it
//! picks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::App;
use crate::error::ApiError;

/// One version's replicas: a target group of Prometheus's HTTP service
/// discovery (`[{"targets": ["host:port"…], "labels": {…}}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DiscoveryGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl App {
    /// Every replica process the database records (those of every
    /// replica of `zion up` on it), one group per target and version, with
    /// labels `service`, `environment` and `version`, and the host the
    /// processes run on as `__meta_zion_host` (replicas listen on
    /// 127.0.0.1 of their host). Sorted by service, environment, version.
    pub fn discovery_groups(&self) -> Result<Vec<DiscoveryGroup>, ApiError> {
        let mut groups: BTreeMap<(String, String, String, String), Vec<u16>> = BTreeMap::new();
        for p in self.store.processes()? {
            groups
                .entry((p.service, p.environment, p.version, p.host))
                .or_default()
                .push(p.port);
        }
        Ok(groups
            .into_iter()
            .map(|((service, environment, version, host), mut ports)| {
                ports.sort_unstable();
                DiscoveryGroup {
                    targets: ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
                    labels: BTreeMap::from([
                        ("service".to_owned(), service),
                        ("environment".to_owned(), environment),
                        ("version".to_owned(), version),
                        ("__meta_zion_host".to_owned(), host),
                    ]),
                }
            })
            .collect())
    }
}
