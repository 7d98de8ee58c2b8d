//! A target: one service in one environment (`web` in `production`). It has
//! one listener, at most one active deployment and one stable version; the
//! server's listeners, schedules and counts are keyed by it.

use std::fmt;

/// The name of a target. Ordered by service, then environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetId {
    pub service: String,
    pub environment: String,
}

impl TargetId {
    pub fn new(service: impl Into<String>, environment: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            environment: environment.into(),
        }
    }
}

/// `service/environment`, as the audit log's subjects (`target/web/production`) name it.
impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service, self.environment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_named_service_slash_environment_and_ordered_by_service_first() {
        let a = TargetId::new("api", "staging");
        let b = TargetId::new("web", "canary");
        assert_eq!(a.to_string(), "api/staging");
        assert!(a < b);
        assert!(TargetId::new("web", "a") < TargetId::new("web", "b"));
    }
}
