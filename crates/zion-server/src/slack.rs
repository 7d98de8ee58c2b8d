//! Slack's interactive approvals: checking a request's signature
//! (`X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 under the app's signing
//! secret of `v0:<X-Slack-Request-Timestamp>:<body>`, refused when the
//! timestamp is more than five minutes from now) and reading which button
//! a user pressed on which deployment.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zion_core::governance::DecisionKind;
use zion_core::notify::{APPROVE_ACTION, REJECT_ACTION};

/// How far a request's timestamp may be from now: Slack's own advice.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// Why a request's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("X-Slack-Request-Timestamp is missing or not a number of seconds")]
    NoTimestamp,
    #[error(
        "X-Slack-Request-Timestamp is {0} s from Zion's clock, more than {MAX_SKEW_SECONDS} s: \
         a stale (or replayed) request"
    )]
    Stale(i64),
    #[error("X-Slack-Signature is missing or not `v0=<hex>`")]
    Malformed,
    #[error(
        "X-Slack-Signature does not match the body: the app's signing secret differs from \
         Zion's, or the body was altered"
    )]
    Mismatch,
}

/// Checks a request's signature and freshness, `now` in Unix seconds; in
/// constant time.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp
        .map(str::trim)
        .ok_or(SignatureError::NoTimestamp)?;
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::NoTimestamp)?;
    let skew = (now - seconds).abs();
    if skew > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    let expected = signature
        .map(str::trim)
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(|h| hex::decode(h).ok())
        .filter(|h| h.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// One button press: who, which decision, on which deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub user: String,
    pub kind: DecisionKind,
    pub deployment_id: i64,
}

/// Reads the `payload` field of a form-encoded interactivity request: a
/// `block_actions` payload whose first action is Approve or Reject.
pub fn parse_press(body: &[u8]) -> Result<Press, String> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("the request has no `payload` field (Slack sends one, form-encoded)")?;
    let payload: serde_json::Value =
        serde_json::from_str(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    if payload["type"] != "block_actions" {
        return Err(format!(
            "a `{}` payload is not a button press; Zion answers block_actions only",
            payload["type"].as_str().unwrap_or("?")
        ));
    }
    let user = payload["user"]["id"]
        .as_str()
        .ok_or("the payload names no user.id")?
        .to_owned();
    let action = &payload["actions"][0];
    let kind = match action["action_id"].as_str() {
        Some(APPROVE_ACTION) => DecisionKind::Approve,
        Some(REJECT_ACTION) => DecisionKind::Reject,
        other => {
            return Err(format!(
                "action `{}` is not Zion's Approve or Reject",
                other.unwrap_or("?")
            ));
        }
    };
    let deployment_id = action["value"]
        .as_str()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or("the button's value is not a deployment id")?;
    Ok(Press {
        user,
        kind,
        deployment_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

    /// Slack's own worked example (its "Verifying requests" guide).
    #[test]
    fn slacks_documented_example_verifies_and_a_changed_byte_does_not() {
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let now = 1_531_420_618;
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some(signature), body, now),
            Ok(())
        );
        let mut changed = body.to_vec();
        changed[6] = b'X';
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some(signature), &changed, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some(signature), body, now + 301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify(SECRET, None, Some(signature), body, now),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some("sha256=ab"), body, now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_press_names_its_user_decision_and_deployment() {
        let payload = r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"zion_reject","value":"42"}]}"#;
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", payload)
            .finish();
        assert_eq!(
            parse_press(body.as_bytes()),
            Ok(Press {
                user: "U1".into(),
                kind: DecisionKind::Reject,
                deployment_id: 42,
            })
        );
        let other = body.replace("zion_reject", "something_else");
        assert!(
            parse_press(other.as_bytes())
                .unwrap_err()
                .contains("something_else")
        );
        assert!(parse_press(b"text=hello").unwrap_err().contains("payload"));
    }
}
