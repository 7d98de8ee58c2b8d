//! Instant queries to a `prometheus` provider (`GET /api/v1/query`).

use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::task::JoinSet;
use zion_core::sources::template::{Vars, render};
use zion_core::sources::{Outcome, prometheus::answer};
use zion_core::spec::{CheckSource, PrometheusProvider, Provider, ProviderAuth, Spec};

use super::http::{self, Fault};

/// Runs `query` (already rendered) at the current time.
pub(crate) async fn query(p: &PrometheusProvider, base_dir: &Path, query: &str) -> Outcome {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let url = format!(
        "{}/api/v1/query?query={}&time={now:.3}",
        p.url,
        http::encode(query)
    );
    let headers = match auth(p, base_dir) {
        Ok(h) => h,
        Err(e) => return Outcome::Unavailable(format!("Prometheus at {}: {e}", p.url)),
    };
    match http::send("GET", &url, &headers, None, p.timeout).await {
        Ok((status, body)) => answer(status, &body, query),
        Err(Fault::Invalid(e)) => Outcome::Error(e),
        Err(e) => Outcome::Unavailable(format!("Prometheus at {} did not answer: {e}", p.url)),
    }
}

/// Sends every prometheus check's query of `spec`, rendered with sample
/// values, to its provider, all at once: Err with one line per query
/// Prometheus refuses (a PromQL error), named by the check's path; else
/// one warning per query that could not be asked (checked in the rounds).
pub(crate) async fn check_queries(
    spec: &Spec,
    base_dir: &Path,
) -> Result<Vec<String>, Vec<String>> {
    let mut tasks = JoinSet::new();
    for (i, svc) in spec.services.iter().enumerate() {
        let env = svc.targets.keys().next().map(String::as_str).unwrap_or("");
        let vars = Vars::sample(&svc.name, env, svc.analysis.interval);
        for (k, check) in svc.analysis.checks.iter().enumerate() {
            let CheckSource::Prometheus(q) = &check.source else {
                continue;
            };
            let Some(Provider::Prometheus(p)) = spec.providers.get(&q.provider).cloned() else {
                continue;
            };
            let path = format!("services[{i}].analysis.checks[{k}].prometheus.query");
            let rendered = render(&q.query, &vars);
            let base_dir = base_dir.to_path_buf();
            tasks.spawn(async move {
                let outcome = query(&p, &base_dir, &rendered).await;
                (path, outcome)
            });
        }
    }
    let mut results = tasks.join_all().await;
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (path, outcome) in results {
        match outcome {
            Outcome::Error(e) if e.starts_with("Prometheus refused") => {
                errors.push(format!("{path}: {e}"));
            }
            Outcome::Unavailable(why) => {
                warnings.push(format!(
                    "{path}: not checked now ({why}); rounds will check it"
                ));
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

fn auth(p: &PrometheusProvider, base_dir: &Path) -> Result<Vec<(String, String)>, String> {
    let value = match &p.auth {
        None => return Ok(Vec::new()),
        Some(ProviderAuth::Bearer(token)) => format!("Bearer {}", super::secret(token, base_dir)?),
        Some(ProviderAuth::Basic { username, password }) => {
            let password = super::secret(password, base_dir)?;
            format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            )
        }
    };
    Ok(vec![("authorization".into(), value)])
}
