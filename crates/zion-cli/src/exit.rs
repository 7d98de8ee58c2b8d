//! Exit codes (the README's table): 0 success; 1 the operation ran and the
//! outcome is negative; 2 the request is wrong (usage, spec, or a 400, 404
//! or 422 from the server); 3 the server is unreachable, or it refused the
//! caller or the change (401, 403, 409).

/// A failure with its exit code, a stable code naming it (the API's error
/// code when the server answered one) and its message.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: String,
    pub message: String,
}

impl Failure {
    fn new(code: u8, error: &str, m: impl Into<String>) -> Self {
        Failure {
            code,
            error: error.to_string(),
            message: m.into(),
        }
    }
    pub fn negative(m: impl Into<String>) -> Self {
        Failure::new(1, "failed", m)
    }
    pub fn usage(m: impl Into<String>) -> Self {
        Failure::new(2, "usage", m)
    }
    pub fn unreachable(m: impl Into<String>) -> Self {
        Failure::new(3, "unreachable", m)
    }
    pub fn refused(m: impl Into<String>) -> Self {
        Failure::new(3, "refused", m)
    }

    /// The server's error answer: its status picks the exit code, its
    /// `error.code` (when it sent one) names the failure.
    pub fn answered(status: u16, error: Option<&str>, m: impl Into<String>) -> Self {
        let (code, fallback) = match status {
            401 => (3, "unauthorized"),
            403 => (3, "forbidden"),
            409 => (3, "conflict"),
            400..=499 => (2, "bad_request"),
            _ => (1, "internal"),
        };
        Failure::new(code, error.unwrap_or(fallback), m)
    }

    /// How `--output json` prints it: the API's own error shape.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.error, "message": self.message } })
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::negative(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_requests_exit_2_and_refusals_3() {
        for (status, code) in [
            (400, 2),
            (404, 2),
            (405, 2),
            (413, 2),
            (422, 2),
            (401, 3),
            (403, 3),
            (409, 3),
            (500, 1),
            (503, 1),
        ] {
            assert_eq!(Failure::answered(status, None, "").code, code, "{status}");
        }
        let f = Failure::answered(409, Some("quality_gates_failed"), "coverage");
        assert_eq!(
            f.to_json(),
            serde_json::json!({"error": {"code": "quality_gates_failed", "message": "coverage"}})
        );
    }
}
