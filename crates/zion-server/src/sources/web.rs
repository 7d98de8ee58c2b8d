//! `web` checks: an HTTP GET or POST answering JSON.

use zion_core::sources::template::{Vars, render};
use zion_core::sources::{Outcome, web_value};
use zion_core::spec::{WebMethod, WebQuery};

use super::http::{self, Fault};

/// The rendered URL and what it answered.
pub(super) async fn read(w: &WebQuery, vars: &Vars) -> (String, Outcome) {
    let url = render(&w.url, vars);
    let mut headers: Vec<(String, String)> = w
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, var) in &w.header_env {
        match std::env::var(var) {
            Ok(v) => headers.push((name.clone(), v)),
            Err(_) => {
                let why = format!(
                    "the variable {var} (header {name}) is not set in zion up's environment"
                );
                return (url, Outcome::Unavailable(why));
            }
        }
    }
    let (method, body) = match w.method {
        WebMethod::Get => ("GET", None),
        WebMethod::Post => {
            headers.push(("content-type".into(), "application/json".into()));
            (
                "POST",
                Some(
                    w.body
                        .as_deref()
                        .map(|b| render(b, vars))
                        .unwrap_or_default(),
                ),
            )
        }
    };
    let outcome = match http::send(method, &url, &headers, body, w.timeout).await {
        Ok((status, body)) if (200..300).contains(&status) => web_value(&body, &w.json_path),
        Ok((status, _)) if status >= 500 => {
            Outcome::Unavailable(format!("{url} answered {status}"))
        }
        Ok((status, _)) => Outcome::Error(format!("{url} answered {status}")),
        Err(Fault::Invalid(e)) => Outcome::Error(e),
        Err(e) => Outcome::Unavailable(format!("{url} did not answer: {e}")),
    };
    (url, outcome)
}
