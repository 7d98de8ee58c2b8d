//! The governance routes' bodies besides the approvals list: incidents
//! (`/api/v1/incidents`, `…/{id}/resolve`) and the answer to GitHub's
//! webhook.
//!
//! Fields are in the order of their names, the order these bodies had on
//! the wire when they were built as JSON maps.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::DeploymentView;

/// A record that a target is impaired, as listed and as resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentView {
    /// The deployment that caused it, if any.
    pub deployment_id: Option<i64>,
    pub environment: String,
    pub id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub opened_at: Timestamp,
    /// The actor who opened it (`controller`, or a principal).
    pub opened_by: String,
    /// Why it was opened.
    pub reason: String,
    /// How it was resolved, in words; set with `resolved_at`.
    pub resolution: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub service: String,
}

/// `POST /api/v1/incidents/{id}/resolve`'s body (optional as a whole).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResolveIncident {
    /// Why or how, added to the resolution.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The answer to a GitHub delivery: the decision it recorded, or why it
/// was ignored (an event or comment that is not a command).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GithubDelivery {
    /// The deployment as the decision left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub recorded: bool,
}

impl GithubDelivery {
    pub fn recorded(d: DeploymentView) -> Self {
        GithubDelivery {
            deployment: Some(d),
            ignored: None,
            recorded: true,
        }
    }

    pub fn ignored(why: String) -> Self {
        GithubDelivery {
            deployment: None,
            ignored: Some(why),
            recorded: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_reads_back_as_written() {
        let i = IncidentView {
            deployment_id: Some(4),
            environment: "production".into(),
            id: 1,
            opened_at: "2026-01-02T03:04:05Z".parse().unwrap(),
            opened_by: "controller".into(),
            reason: "rolled back".into(),
            resolution: None,
            resolved_at: None,
            resolved_by: None,
            service: "web".into(),
        };
        let text = serde_json::to_string(&i).unwrap();
        assert!(text.starts_with(r#"{"deployment_id":4,"environment":"production","id":1,"#));
        assert_eq!(serde_json::from_str::<IncidentView>(&text).unwrap(), i);
    }

    #[test]
    fn an_ignored_delivery_says_why_and_nothing_else() {
        let text = serde_json::to_string(&GithubDelivery::ignored("not a command".into())).unwrap();
        assert_eq!(text, r#"{"ignored":"not a command","recorded":false}"#);
        assert!(serde_json::from_str::<ResolveIncident>(r#"{"comment":"x","by":"y"}"#).is_err());
    }
}
