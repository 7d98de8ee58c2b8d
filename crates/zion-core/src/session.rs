//! The web console's sessions, decided: how long one lives, whether one
//! is still good at a given time, and which requests must carry its CSRF
//! token. Pure: the server passes the time in.

use jiff::{SignedDuration, Timestamp};

/// How long a session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// From sign-in, however busy the session.
    pub lifetime: SignedDuration,
    /// Since its last use.
    pub idle: SignedDuration,
}

impl Default for SessionPolicy {
    /// A working day (12 h), and an hour away from the keyboard.
    fn default() -> Self {
        SessionPolicy {
            lifetime: SignedDuration::from_hours(12),
            idle: SignedDuration::from_hours(1),
        }
    }
}

/// What a session is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// Past its lifetime.
    Expired,
    /// Unused for longer than the idle limit.
    Idle,
}

impl SessionPolicy {
    /// When a session opened at `now` ends at the latest.
    pub fn expires_at(&self, now: Timestamp) -> Timestamp {
        now.saturating_add(self.lifetime)
            .expect("a signed duration never overflows saturating_add")
    }

    /// The session's state at `now`.
    pub fn state(
        &self,
        expires_at: Timestamp,
        last_seen_at: Timestamp,
        now: Timestamp,
    ) -> SessionState {
        if now >= expires_at {
            SessionState::Expired
        } else if now.duration_since(last_seen_at) >= self.idle {
            SessionState::Idle
        } else {
            SessionState::Live
        }
    }

    /// Sessions last used at or before this are idle at `now`.
    pub fn idle_since(&self, now: Timestamp) -> Timestamp {
        now.saturating_sub(self.idle)
            .expect("a signed duration never overflows saturating_sub")
    }
}

/// Whether a request with this method changes state, and so must carry
/// the session's CSRF token when a session cookie authenticates it.
pub fn changes_state(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// Whether the CSRF token sent matches the session's, compared in time
/// that does not depend on where they differ.
pub fn csrf_matches(expected: &str, sent: Option<&str>) -> bool {
    let Some(sent) = sent else {
        return false;
    };
    if expected.is_empty() || expected.len() != sent.len() {
        return false;
    }
    expected
        .bytes()
        .zip(sent.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_750_000_000 + secs).unwrap()
    }

    #[test]
    fn a_session_ends_at_its_lifetime_or_when_idle() {
        let p = SessionPolicy::default();
        let opened = t(0);
        let expires = p.expires_at(opened);
        assert_eq!(expires, t(12 * 3600));
        assert_eq!(p.state(expires, opened, t(10)), SessionState::Live);
        assert_eq!(p.state(expires, opened, t(3599)), SessionState::Live);
        assert_eq!(p.state(expires, opened, t(3600)), SessionState::Idle);
        assert_eq!(
            p.state(expires, t(12 * 3600 - 5), t(12 * 3600)),
            SessionState::Expired,
            "busy, but past its lifetime"
        );
        assert_eq!(p.idle_since(t(3600)), t(0));
    }

    #[test]
    fn only_reads_go_without_a_csrf_token() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(!changes_state(m), "{m}");
        }
        for m in ["POST", "PUT", "DELETE", "PATCH", "PROPFIND"] {
            assert!(changes_state(m), "{m}");
        }
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_matches("abc123", Some("abc123")));
        assert!(!csrf_matches("abc123", Some("abc124")));
        assert!(!csrf_matches("abc123", Some("abc12")));
        assert!(!csrf_matches("abc123", None));
        assert!(!csrf_matches("", Some("")), "an empty token never matches");
    }
}
