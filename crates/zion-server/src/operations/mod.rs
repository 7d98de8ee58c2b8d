//! The operations: what a caller asks of the control plane (deploy, roll
//! back, command a deployment, approve or reject one, resolve an incident)
//! and the reads the API answers (what waits for approval, incidents, the
//! audit log). A change gathers the facts, calls `zion-core` for the
//! decision and commits the outcome through the journal; a read returns a
//! view of `zion_core::api`. The handlers in `http/` call them; the views
//! of deployments and targets are read in `views.rs`.

use std::sync::Arc;

use zion_core::spec::{ServiceSpec, Spec};

use crate::app::App;
use crate::error::ApiError;

pub(crate) mod admission;
mod audit;
mod commands;
mod decisions;
mod deploy;
mod discovery;
mod import;
mod incidents;
mod metrics;
mod notifications;
mod report;
mod rollback;
mod views;

pub use discovery::DiscoveryGroup;

impl App {
    pub(crate) fn lookup(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<(Arc<Spec>, ServiceSpec), ApiError> {
        let spec = self.spec();
        let Some(svc) = spec.service(service).cloned() else {
            let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
            return Err(ApiError::not_found(format!(
                "unknown service `{}`; the spec declares: {}",
                crate::error::excerpt(service),
                list_or_none(&known)
            )));
        };
        if spec.environment(environment).is_none() {
            let known: Vec<&str> = spec.environments.iter().map(|e| e.name.as_str()).collect();
            return Err(ApiError::not_found(format!(
                "unknown environment `{}`; the spec declares: {}",
                crate::error::excerpt(environment),
                list_or_none(&known)
            )));
        }
        if !svc.targets.contains_key(environment) {
            let known: Vec<&str> = svc.targets.keys().map(String::as_str).collect();
            return Err(ApiError::not_found(format!(
                "service `{service}` has no target in `{environment}`; it runs in: {}",
                list_or_none(&known)
            )));
        }
        Ok((spec, svc))
    }
}

fn check_version(v: &str) -> Result<(), ApiError> {
    zion_core::version::check_version(v).map_err(ApiError::bad_request)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}
