//! API errors: an HTTP status, a stable code and a message that says what
//! was wrong and what to do, rendered as `{ "error": { "code", "message" } }`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use zion_core::api::{ErrorBody, ErrorDetail};

/// An error answered by the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }
    /// A request the environment's policy refused (409), with a code that
    /// says which rule: `requires_unmet`, `window_closed`,
    /// `pre_checks_failed`, `quality_gates_failed`, `artifact_mismatch`.
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
        }
    }
    /// The state's database cannot be reached (503): the request may
    /// succeed unchanged once it is back.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "database_unavailable",
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        match e {
            crate::audit::AuditError::Store(e) => e.into(),
            e => ApiError::internal(e.to_string()),
        }
    }
}

impl From<zion_store::StoreError> for ApiError {
    fn from(e: zion_store::StoreError) -> Self {
        // A database that is down is no fault of the request nor of Zion:
        // 503, naming the database (its password hidden), so that callers
        // retry and operators know where to look.
        if e.is_unreachable() {
            tracing::warn!(error = %e, "the database cannot be reached");
            return ApiError::unavailable(e.to_string());
        }
        tracing::error!(error = %e, "store error");
        ApiError::internal(format!("state store failed: {e}"))
    }
}

/// `text` as an error message may repeat it: the core's one rule for every
/// echo of a caller's input (a short prefix, control characters escaped).
pub(crate) use zion_core::text::excerpt;

/// A parser's message with every quoted span (serde quotes what it read
/// in backticks or double quotes) cut as [`excerpt`] cuts.
pub(crate) fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = &rest[open..open + 1];
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        match rest.find(quote) {
            Some(close) => {
                out.push_str(&excerpt(&rest[..close]));
                out.push_str(quote);
                rest = &rest[close + 1..];
            }
            None => {
                out.push_str(&excerpt(rest));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl ApiError {
    /// The same error, its message preceded by what was being read.
    pub(crate) fn context(self, what: &str) -> Self {
        Self {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }

    /// `{"error": {"code", "message"}}`, the view the CLI reads errors with.
    pub(crate) fn body(&self) -> serde_json::Value {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        };
        serde_json::to_value(body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zion_core::text::ECHO_CHARS;

    #[test]
    fn quoted_spans_of_a_parser_message_are_cut() {
        let long = "x".repeat(5_000);
        let msg = format!("unknown variant `{long}`, expected `canary` or \"{long}\" at line 1");
        let short = shorten_quoted(&msg);
        assert!(short.len() < 300, "{short}");
        assert!(
            short.starts_with(&format!("unknown variant `{}…`", "x".repeat(ECHO_CHARS))),
            "{short}"
        );
        assert!(short.contains("expected `canary` or \""), "{short}");
        assert!(short.ends_with("…\" at line 1"), "{short}");
        assert_eq!(shorten_quoted("no quotes"), "no quotes");
        // "open `" and the excerpt with its ellipsis.
        assert_eq!(
            shorten_quoted(&format!("open `{long}")).chars().count(),
            6 + ECHO_CHARS + 1
        );
    }
}
