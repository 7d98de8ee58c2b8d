//! Reading external checks' sources (`prometheus`, `web`, `exec`) when an
//! analysis round is due: every check of the deployment at once, each
//! within its timeout. What the answers mean is decided in
//! `zion_core::sources`; here is only the asking.

mod exec;
pub(crate) mod http;
pub(crate) mod prometheus;
mod tls;
mod web;

use std::path::Path;

use tokio::task::JoinSet;
use zion_core::deployment::Deployment;
use zion_core::sources::template::{Vars, render};
use zion_core::sources::{Outcome, Reading, external};
use zion_core::spec::{CheckSource, Provider, SecretSource, Spec};

/// Reads every external check of `d`'s plan, concurrently. A check whose
/// source cannot be asked gets a reading that says why.
pub(crate) async fn read(spec: &Spec, base_dir: &Path, d: &Deployment) -> Vec<Reading> {
    let plan = d.plan.common();
    let vars = Vars::new(
        &d.service,
        &d.environment,
        &d.version,
        d.previous_version.as_deref(),
        plan.interval,
    );
    let mut tasks = JoinSet::new();
    for (index, check) in external(&plan.checks).enumerate() {
        let name = check.name.clone();
        let source = check.source.clone();
        let vars = vars.clone();
        let base_dir = base_dir.to_path_buf();
        let provider = match &source {
            CheckSource::Prometheus(q) => spec
                .providers
                .get(&q.provider)
                .and_then(Provider::prometheus)
                .cloned(),
            _ => None,
        };
        tasks.spawn(async move {
            let (query, outcome) = match &source {
                CheckSource::Prometheus(q) => {
                    let query = render(&q.query, &vars);
                    let outcome = match provider {
                        Some(p) => prometheus::query(&p, &base_dir, &query).await,
                        None => Outcome::Unavailable(format!(
                            "the provider `{}` is no longer a prometheus in the spec",
                            q.provider
                        )),
                    };
                    (query, outcome)
                }
                CheckSource::Web(w) => web::read(w, &vars).await,
                CheckSource::Exec(e) => exec::read(e, &vars, &base_dir).await,
                CheckSource::Builtin(_) => unreachable!("external() leaves built-in checks out"),
            };
            (
                index,
                Reading {
                    check: name,
                    query,
                    outcome,
                },
            )
        });
    }
    let mut readings: Vec<(usize, Reading)> = tasks.join_all().await;
    readings.sort_by_key(|(i, _)| *i);
    readings.into_iter().map(|(_, r)| r).collect()
}

/// A secret's value, trimmed; the error names where it was looked for,
/// never the value.
pub(crate) fn secret(source: &SecretSource, base_dir: &Path) -> Result<String, String> {
    let value = match source {
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("the variable {var} is not set in zion up's environment"))?,
        SecretSource::File(path) => std::fs::read_to_string(base_dir.join(path))
            .map_err(|e| format!("cannot read the secret file {path}: {e}"))?,
    };
    Ok(value.trim().to_string())
}
