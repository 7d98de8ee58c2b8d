//! A GitHub repository: the message as a comment on the pull request that
//! holds the deployment's commit (found through `GET
//! /repos/{repo}/commits/{sha}/pulls`), or as a new issue when the
//! deployment names no commit or no pull request holds it. An approval
//! request's text says how to answer with the `/approve ID` comments the
//! GitHub webhook already accepts. The token comes from `token_env`.
//!
//! Opening an issue is not idempotent on GitHub's side: an attempt that
//! timed out after GitHub acted may leave a second comment or issue.

use std::time::Duration;

use serde_json::{Value, json};
use zion_core::spec::GithubReceiver;
use zion_store::OutboxRow;

use super::send::{self, Failure, Request};
use crate::app::App;

pub(super) async fn deliver(
    app: &App,
    g: &GithubReceiver,
    row: &OutboxRow,
    timeout: Duration,
) -> Result<(), Failure> {
    let name = row.receiver.as_str();
    let token = super::secret(name, "token_env", &g.token_env)?;
    let message: Value = serde_json::from_str(&row.body)
        .map_err(|e| Failure::Permanent(format!("the stored message is not JSON ({e})")))?;
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "accept".to_owned(),
            "application/vnd.github+json".to_owned(),
        ),
        ("authorization".to_owned(), format!("Bearer {token}")),
        ("user-agent".to_owned(), "zion".to_owned()),
    ];
    headers.extend(super::delivery_headers(row));
    let repo = format!("{}/repos/{}", g.api_url.trim_end_matches('/'), g.repo);
    let commit = match message["deployment"].as_i64() {
        Some(id) => app
            .store
            .deployment(id)
            .map_err(|e| Failure::Transient(format!("cannot read deployment {id}: {e}")))?
            .and_then(|d| d.commit),
        None => None,
    };
    let pull = match commit {
        Some(sha) => {
            let request = Request {
                url: format!("{repo}/commits/{sha}/pulls"),
                headers: headers.clone(),
                body: String::new(),
            };
            let answer = send::exchange(name, "GET", request, timeout).await?;
            serde_json::from_slice::<Value>(&answer)
                .ok()
                .and_then(|pulls| pulls[0]["number"].as_u64())
        }
        None => None,
    };
    let (url, body) = match pull {
        Some(number) => (
            format!("{repo}/issues/{number}/comments"),
            json!({ "body": message["body"] }),
        ),
        None => (
            format!("{repo}/issues"),
            json!({ "title": message["title"], "body": message["body"] }),
        ),
    };
    send::send(
        name,
        Request {
            url,
            headers,
            body: body.to_string(),
        },
        timeout,
    )
    .await
}
