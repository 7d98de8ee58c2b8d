//! The bodies the deployment routes take, and the small answers of the
//! spec and identity routes: the server parses them with these structs
//! (unknown fields refused) and the CLI writes them with the same ones.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deployment::DeploymentType;
use crate::governance::quality::Evidence;
use crate::spec::{Role, Spec, Strategy};

/// `POST /api/v1/deployments`: a version to deploy on a target. Fields left
/// empty are not written, so a request says only what its caller chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The service's strategy from the spec when None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// `feature` when None.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<DeploymentType>,
    /// Outside the window: wait pending for it instead of being refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait_for_window: bool,
    /// Admin only: skip windows, freezes, approvals and checks, saying why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<String>,
    /// The artifact's expected SHA-256, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Release evidence (test results, coverage, findings) that the
    /// environment's quality gates judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The commit the version was built from (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When that commit was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub committed_at: Option<Timestamp>,
}

impl DeployRequest {
    /// A request for `version` on a target, everything else left to the spec.
    pub fn new(service: &str, environment: &str, version: &str) -> DeployRequest {
        DeployRequest {
            service: service.to_string(),
            environment: environment.to_string(),
            version: version.to_string(),
            strategy: None,
            kind: None,
            wait_for_window: false,
            break_glass: None,
            sha256: None,
            evidence: None,
            commit: None,
            committed_at: None,
        }
    }
}

/// `POST /api/v1/rollback`: back to `to`, else to the last version that
/// succeeded on the target before its stable one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub service: String,
    pub environment: String,
    #[serde(default)]
    pub to: Option<String>,
    /// Admin only, as for a deployment.
    #[serde(default)]
    pub break_glass: Option<String>,
}

/// `POST /api/v1/deployments/{id}/{command}` (promote, pause, resume,
/// abort, approve, reject); the body may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// Promote: all the way to 100% rather than to the next step.
    #[serde(default)]
    pub full: bool,
    /// Approve or reject: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `PUT /api/v1/spec`'s answer: the spec now in force, counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecApplied {
    pub applied: bool,
    pub environments: usize,
    pub services: usize,
    /// What could not be checked (a Prometheus that did not answer), one
    /// line each with the check's path; checked again in every round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl SpecApplied {
    /// The answer once `spec` is in force.
    pub fn of(spec: &Spec) -> SpecApplied {
        SpecApplied {
            applied: true,
            environments: spec.environments.len(),
            services: spec.services.len(),
            warnings: Vec::new(),
        }
    }
}

/// `GET /api/v1/spec`: the spec last applied, every field None before any.
/// (Fields in the order the answer has always had: by name.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecView {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub applied_at: Option<Timestamp>,
    pub applied_by: Option<String>,
    /// The YAML's SHA-256, hex.
    pub sha256: Option<String>,
    pub yaml: Option<String>,
}

/// `GET /api/v1/whoami`: the caller as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code (`not_found`, `conflict`,
/// `quality_gates_failed`…) and a message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `POST /api/v1/import`'s answer: what one import added. (Fields in the
/// order the answer has always had: by name.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub deployments_added: u64,
    /// None when every record was imported before: nothing changed.
    pub import_id: Option<i64>,
    pub incidents_added: u64,
    pub incidents_resolved: u64,
    pub records: u64,
    /// How long the server took.
    pub seconds: f64,
    /// The file's SHA-256, hex.
    pub sha256: String,
    /// The file's name, as given.
    pub source: String,
    pub unchanged: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_writes_only_what_its_caller_chose() {
        let bare = DeployRequest::new("web", "production", "1.2");
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!({ "service": "web", "environment": "production", "version": "1.2" })
        );
        let full = DeployRequest {
            strategy: Some(Strategy::BlueGreen),
            kind: Some(DeploymentType::Hotfix),
            wait_for_window: true,
            committed_at: Some("2026-03-01T09:15:30Z".parse().unwrap()),
            ..bare
        };
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(json["strategy"], "blue_green");
        assert_eq!(json["type"], "hotfix");
        assert_eq!(json["wait_for_window"], true);
        let back: DeployRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, full);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<DeployRequest>(
            r#"{"service":"web","environment":"p","version":"1","replicas":3}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `replicas`"),
            "{err}"
        );
        assert!(serde_json::from_str::<RollbackRequest>(r#"{"service":"web"}"#).is_err());
        assert!(serde_json::from_str::<CommandRequest>(r#"{"fulll":true}"#).is_err());
        assert_eq!(
            serde_json::from_str::<CommandRequest>("{}").unwrap(),
            CommandRequest::default()
        );
    }

    #[test]
    fn the_import_answer_keeps_its_keys_in_the_order_of_their_names() {
        let summary = ImportSummary {
            deployments_added: 2,
            import_id: Some(7),
            incidents_added: 1,
            incidents_resolved: 0,
            records: 3,
            seconds: 0.5,
            sha256: "ab".into(),
            source: "history.jsonl".into(),
            unchanged: 0,
        };
        let text = serde_json::to_string(&summary).unwrap();
        let sorted = serde_json::to_value(&summary).unwrap().to_string();
        assert_eq!(text, sorted);
        assert!(
            text.starts_with(r#"{"deployments_added":2,"import_id":7,"#),
            "{text}"
        );
    }
}
