//! A rollback: a new deployment of an earlier succeeded version.

use zion_core::api::{DeployRequest, RollbackRequest};
use zion_core::deployment::{Deployment, DeploymentType, Plan};

use super::check_version;
use crate::app::App;
use crate::auth::Principal;
use crate::error::ApiError;

impl App {
    /// A new deployment of the last succeeded version before the current
    /// one (or `to`), switched over directly once healthy.
    pub async fn rollback(
        &self,
        req: RollbackRequest,
        principal: &Principal,
    ) -> Result<Deployment, ApiError> {
        let RollbackRequest {
            service,
            environment,
            to,
            break_glass,
        } = req;
        let (service, environment) = (service.as_str(), environment.as_str());
        let (spec, svc) = self.lookup(service, environment)?;
        let stable = self.store.stable_version(service, environment)?;
        let Some(current) = stable.clone() else {
            return Err(ApiError::conflict(format!(
                "{service}/{environment} has no stable version yet; nothing to roll back"
            )));
        };
        let history = self.store.succeeded(service, environment, 200)?;
        let target = match to {
            Some(v) => {
                check_version(&v)?;
                if v == current {
                    return Err(ApiError::conflict(format!(
                        "{v} is already the stable version of {service}/{environment}"
                    )));
                }
                if !history.iter().any(|d| d.version == v) {
                    return Err(ApiError::not_found(format!(
                        "{v} never succeeded on {service}/{environment}; `zion history {service} --env {environment}` lists the versions that did"
                    )));
                }
                v
            }
            None => match history.iter().find(|d| d.version != current) {
                Some(d) => d.version.clone(),
                None => {
                    return Err(ApiError::conflict(format!(
                        "{service}/{environment} has no earlier succeeded version than {current} to roll back to"
                    )));
                }
            },
        };
        // A rollback runs a direct plan whatever the service's strategy.
        let req = DeployRequest {
            kind: Some(DeploymentType::Rollback),
            break_glass,
            ..DeployRequest::new(service, environment, &target)
        };
        let admitted = self
            .admit_request(&spec, &svc, &req, DeploymentType::Rollback, principal)
            .await?;
        self.create(&req, stable, Plan::direct(&svc), admitted, principal)
            .await
    }
}
