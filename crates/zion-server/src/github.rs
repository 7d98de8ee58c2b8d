//! GitHub webhooks, as pure functions: checking a delivery's
//! `X-Hub-Signature-256` against the shared secret, and reading an
//! `issue_comment` delivery as an `/approve ID` or `/reject ID` command.
//! It holds no routes and does no I/O; the API wires them to a webhook.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use zion_core::governance::DecisionKind;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "missing X-Hub-Signature-256 header: set the webhook's secret in GitHub \
         (Settings → Webhooks) to the secret Zion was given"
    )]
    Missing,
    #[error("X-Hub-Signature-256 must start with `sha256=`, got `{0}`")]
    NotSha256(String),
    #[error("X-Hub-Signature-256 is not a hex SHA-256 digest after `sha256=`")]
    NotHex,
    #[error(
        "X-Hub-Signature-256 does not match the body: the webhook's secret differs \
         from Zion's, or the body was altered"
    )]
    Mismatch,
}

/// Checks GitHub's `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of
/// the raw body keyed with the webhook secret, in constant time.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.map(str::trim).ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or_else(|| SignatureError::NotSha256(shorten(header)))?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::NotHex)?;
    if expected.len() != 32 {
        return Err(SignatureError::NotHex);
    }
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The start of an untrusted header, for a message.
fn shorten(text: &str) -> String {
    text.chars().take(16).collect()
}

/// An `/approve` or `/reject` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentCommand {
    pub kind: DecisionKind,
    pub deployment_id: i64,
    /// The GitHub login of the comment's author.
    pub login: String,
    /// The text after the id, then the comment's URL.
    pub comment: Option<String>,
    /// The comment's `html_url`.
    pub url: Option<String>,
}

/// A delivery that carries no command, and why (for the webhook's answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Ignored(pub String);

#[derive(Debug, Deserialize)]
struct IssueCommentEvent {
    action: Option<String>,
    comment: Option<Comment>,
    sender: Option<User>,
    repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    body: Option<String>,
    user: Option<User>,
    html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: Option<String>,
}

/// Reads an `issue_comment` delivery (`X-GitHub-Event` is `event`) whose
/// comment was just created and starts with `/approve ID` or `/reject ID`.
pub fn parse_comment(event: Option<&str>, body: &[u8]) -> Result<CommentCommand, Ignored> {
    match event.map(str::trim) {
        Some("issue_comment") => {}
        Some("ping") => return Err(Ignored("ping event: the webhook is reachable".into())),
        Some(other) => {
            return Err(Ignored(format!(
                "`{other}` events are ignored; only issue_comment carries /approve and /reject"
            )));
        }
        None => return Err(Ignored("no X-GitHub-Event header".into())),
    }
    let ev: IssueCommentEvent = serde_json::from_slice(body)
        .map_err(|e| Ignored(format!("the issue_comment payload is not valid JSON: {e}")))?;
    let action = ev.action.as_deref().unwrap_or("(none)");
    if action != "created" {
        return Err(Ignored(format!(
            "comment action `{action}` is ignored; only new comments are read"
        )));
    }
    let comment = ev
        .comment
        .ok_or_else(|| Ignored("the issue_comment payload has no comment".into()))?;
    let text = comment.body.as_deref().unwrap_or("");
    let (kind, deployment_id, rest) = parse_command(text)?;
    let login = comment
        .user
        .or(ev.sender)
        .map(|u| u.login)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| Ignored("the comment names no author login".into()))?;
    let url = comment.html_url.filter(|u| !u.is_empty());
    let comment = note(&rest, url.as_deref(), ev.repository.as_ref());
    Ok(CommentCommand {
        kind,
        deployment_id,
        login,
        comment,
        url,
    })
}

/// The command on a comment's first non-empty line: its kind, the
/// deployment id and everything after the id (the rest of the comment).
fn parse_command(text: &str) -> Result<(DecisionKind, i64, String), Ignored> {
    let text = text.trim_start();
    let (line, after) = text.split_once('\n').unwrap_or((text, ""));
    let mut words = line.trim_end().splitn(2, char::is_whitespace);
    let command = words.next().unwrap_or("");
    let kind = if command.eq_ignore_ascii_case("/approve") {
        DecisionKind::Approve
    } else if command.eq_ignore_ascii_case("/reject") {
        DecisionKind::Reject
    } else {
        return Err(Ignored(
            "the comment is not a command (/approve ID or /reject ID on its first line)".into(),
        ));
    };
    let args = words.next().unwrap_or("").trim_start();
    let (id_text, same_line) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let digits = id_text.strip_prefix('#').unwrap_or(id_text);
    let id = digits
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Ignored(format!(
                "`{}` needs a deployment id (a positive number), got `{}`",
                kind_command(kind),
                shorten(id_text)
            ))
        })?;
    let rest = match (same_line.trim(), after.trim()) {
        (s, "") => s.to_string(),
        ("", a) => a.to_string(),
        (s, a) => format!("{s}\n{a}"),
    };
    Ok((kind, id, rest))
}

fn kind_command(kind: DecisionKind) -> &'static str {
    match kind {
        DecisionKind::Approve => "/approve",
        DecisionKind::Reject => "/reject",
    }
}

/// The free text of a command, followed by where it was written.
fn note(rest: &str, url: Option<&str>, repo: Option<&Repository>) -> Option<String> {
    let source = match (url, repo.and_then(|r| r.full_name.as_deref())) {
        (Some(u), _) => Some(u.to_string()),
        (None, Some(r)) => Some(format!("GitHub {r}")),
        (None, None) => None,
    };
    match (rest.is_empty(), source) {
        (true, None) => None,
        (true, Some(s)) => Some(s),
        (false, None) => Some(rest.to_string()),
        (false, Some(s)) => Some(format!("{rest} ({s})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn github_documentation_example_verifies() {
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            header
        );
        assert_eq!(
            verify_signature(
                b"It's a Secret to Everybody",
                b"Hello, World!",
                Some(header)
            ),
            Ok(())
        );
        // Upper-case hex is still the same digest.
        let upper = format!("sha256={}", &header[7..].to_uppercase());
        assert_eq!(
            verify_signature(
                b"It's a Secret to Everybody",
                b"Hello, World!",
                Some(&upper)
            ),
            Ok(())
        );
    }

    #[test]
    fn independently_computed_signature_verifies() {
        let body = br#"{"action":"created","comment":{"body":"/approve 1"}}"#;
        let header = sign(b"s3cret", body);
        assert_eq!(verify_signature(b"s3cret", body, Some(&header)), Ok(()));
    }

    #[test]
    fn tampered_body_or_wrong_secret_is_a_mismatch() {
        let body = b"{\"action\":\"created\"}";
        let header = sign(b"s3cret", body);
        assert_eq!(
            verify_signature(b"s3cret", b"{\"action\":\"deleted\"}", Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        // One flipped digit of the digest.
        let mut flipped = header.clone();
        let last = if flipped.ends_with('0') { "1" } else { "0" };
        flipped.replace_range(flipped.len() - 1.., last);
        assert_eq!(
            verify_signature(b"s3cret", body, Some(&flipped)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn bad_headers_say_what_is_wrong() {
        let body = b"x";
        assert_eq!(
            verify_signature(b"k", body, None),
            Err(SignatureError::Missing)
        );
        let sha1 = "sha1=0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(
            verify_signature(b"k", body, Some(sha1)),
            Err(SignatureError::NotSha256(h)) if h.starts_with("sha1=")
        ));
        assert_eq!(
            verify_signature(b"k", body, Some("sha256=not-hex")),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            verify_signature(b"k", body, Some("sha256=abcd")),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            verify_signature(b"k", body, Some("")),
            Err(SignatureError::NotSha256(String::new()))
        );
        assert!(
            SignatureError::Missing
                .to_string()
                .contains("X-Hub-Signature-256")
        );
    }

    fn delivery(action: &str, body: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "action": action,
            "comment": {
                "body": body,
                "user": { "login": "alice-gh" },
                "html_url": "https://github.com/acme/web/pull/7#issuecomment-1",
            },
            "sender": { "login": "someone-else" },
            "repository": { "full_name": "acme/web" },
        }))
        .unwrap()
    }

    fn parse(body: &str) -> Result<CommentCommand, Ignored> {
        parse_comment(Some("issue_comment"), &delivery("created", body))
    }

    #[test]
    fn approve_with_id_and_comment() {
        let c = parse("/approve 42 looks good\nthe canary was clean").unwrap();
        assert_eq!(c.kind, DecisionKind::Approve);
        assert_eq!(c.deployment_id, 42);
        assert_eq!(c.login, "alice-gh");
        assert_eq!(
            c.url.as_deref(),
            Some("https://github.com/acme/web/pull/7#issuecomment-1")
        );
        assert_eq!(
            c.comment.as_deref(),
            Some(
                "looks good\nthe canary was clean (https://github.com/acme/web/pull/7#issuecomment-1)"
            )
        );
    }

    #[test]
    fn reject_is_case_insensitive_and_takes_a_hash() {
        let c = parse("\n\n  /REJECT #7\r\n").unwrap();
        assert_eq!(c.kind, DecisionKind::Reject);
        assert_eq!(c.deployment_id, 7);
        assert_eq!(
            c.comment.as_deref(),
            Some("https://github.com/acme/web/pull/7#issuecomment-1")
        );
    }

    #[test]
    fn later_lines_without_same_line_text_are_the_comment() {
        let c = parse("/approve 3\nship it").unwrap();
        assert_eq!(c.deployment_id, 3);
        assert!(c.comment.unwrap().starts_with("ship it ("));
    }

    #[test]
    fn sender_is_the_fallback_login_and_repo_the_fallback_source() {
        let body = serde_json::to_vec(&json!({
            "action": "created",
            "comment": { "body": "/approve 5" },
            "sender": { "login": "bob" },
            "repository": { "full_name": "acme/web" },
        }))
        .unwrap();
        let c = parse_comment(Some("issue_comment"), &body).unwrap();
        assert_eq!(c.login, "bob");
        assert_eq!(c.url, None);
        assert_eq!(c.comment.as_deref(), Some("GitHub acme/web"));
    }

    #[test]
    fn other_events_and_actions_are_ignored_with_a_reason() {
        let ping = parse_comment(Some("ping"), b"{\"zen\":\"hi\"}").unwrap_err();
        assert!(ping.0.contains("ping"), "{ping}");
        let push = parse_comment(Some("push"), &delivery("created", "/approve 1")).unwrap_err();
        assert!(push.0.contains("`push`"), "{push}");
        assert!(parse_comment(None, &delivery("created", "/approve 1")).is_err());
        for action in ["edited", "deleted"] {
            let e =
                parse_comment(Some("issue_comment"), &delivery(action, "/approve 1")).unwrap_err();
            assert!(e.0.contains(action), "{e}");
        }
        let e = parse_comment(Some("issue_comment"), b"not json").unwrap_err();
        assert!(e.0.contains("JSON"), "{e}");
    }

    #[test]
    fn non_commands_and_bad_ids_are_ignored_with_a_reason() {
        for text in [
            "LGTM",
            "please /approve 4",
            "/approved 4",
            "",
            "text first\n/approve 4",
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains("not a command"), "{text:?}: {e}");
        }
        for text in [
            "/approve",
            "/approve abc",
            "/approve 0",
            "/approve -3",
            "/approve +3",
            "/reject 4x",
            "/approve ##4",
            "/approve 99999999999999999999",
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains("deployment id"), "{text:?}: {e}");
        }
    }
}
