//! The tokens routes' bodies (`/api/v1/tokens`): a token as listed (never
//! its secret nor its hash), a new token with its secret (answered once),
//! and the requests.
//!
//! Fields are in the order of their names, the order these bodies had on
//! the wire when they were built as JSON maps.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::spec::Role;

/// A token as `GET /api/v1/tokens` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// The GitHub login whose `/approve` comments act as this principal.
    pub github: Option<String>,
    pub name: String,
    /// Set once revoked; a revoked token authorises nothing.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    pub role: Role,
}

/// `POST /api/v1/tokens`'s answer: the new token with its secret, shown
/// this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    pub github: Option<String>,
    pub name: String,
    pub role: Role,
    /// The secret; only its hash is kept.
    pub token: String,
}

/// `POST /api/v1/tokens`'s body. The role is a name, checked by the server
/// so that an unknown one is answered with the list of roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub github: Option<String>,
}

/// `DELETE /api/v1/tokens/{name}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedToken {
    /// The revoked token's name.
    pub revoked: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_token_reads_back_as_written() {
        let t = TokenView {
            created_at: "2026-01-02T03:04:05.123Z".parse().unwrap(),
            github: None,
            name: "ci".into(),
            revoked_at: None,
            role: Role::Deployer,
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(
            text,
            r#"{"created_at":"2026-01-02T03:04:05.123Z","github":null,"name":"ci","revoked_at":null,"role":"deployer"}"#
        );
        assert_eq!(serde_json::from_str::<TokenView>(&text).unwrap(), t);
    }

    #[test]
    fn a_request_with_an_unknown_field_is_refused() {
        let ok = r#"{"name":"alice","role":"approver"}"#;
        assert_eq!(
            serde_json::from_str::<CreateToken>(ok).unwrap().github,
            None
        );
        assert!(serde_json::from_str::<CreateToken>(r#"{"name":"a","role":"b","x":1}"#).is_err());
    }
}
