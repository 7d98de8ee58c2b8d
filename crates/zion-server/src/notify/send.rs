//! Sending one notification's request, with the attempt's timeout, and
//! what a failure says: never the URL (a Slack webhook's URL is a secret),
//! only the receiver's name.

use std::time::Duration;

/// One HTTP POST of a notification.
pub(super) struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Why a delivery failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// Worth trying again (the receiver is down, answered 5xx…).
    Transient(String),
    /// Never going to work as configured (no such receiver any more).
    Permanent(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m) | Failure::Permanent(m) => m,
        }
    }
}

/// POSTs `request`: a 2xx answer is delivered, anything else a failure.
pub(super) async fn send(name: &str, request: Request, timeout: Duration) -> Result<(), Failure> {
    exchange(name, "POST", request, timeout).await.map(|_| ())
}

/// Sends `request` with `method`: the body of a 2xx answer, or a failure.
pub(super) async fn exchange(
    name: &str,
    method: &str,
    request: Request,
    timeout: Duration,
) -> Result<bytes::Bytes, Failure> {
    let url = request.url.clone();
    let hide = |text: String| text.replace(&url, "<the receiver's URL>");
    let body = (method != "GET").then_some(request.body);
    match crate::sources::http::send(method, &request.url, &request.headers, body, timeout).await {
        Ok((status, answer)) if (200..300).contains(&status) => Ok(answer),
        Ok((status, answer)) => {
            let answer = String::from_utf8_lossy(&answer);
            let answer: String = answer.chars().take(200).collect();
            Err(Failure::Transient(hide(format!(
                "receiver `{name}` answered {status}: {}",
                answer.trim()
            ))))
        }
        Err(fault) => Err(Failure::Transient(hide(format!(
            "receiver `{name}`: {fault}"
        )))),
    }
}
