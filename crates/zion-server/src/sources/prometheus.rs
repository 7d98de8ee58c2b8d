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
    query_at(p, base_dir, query, now).await
}

/// Runs `query` (already rendered) as of `time`, in seconds since the
/// epoch.
pub(crate) async fn query_at(
    p: &PrometheusProvider,
    base_dir: &Path,
    query: &str,
    time: f64,
) -> Outcome {
    let url = format!(
        "{}/api/v1/query?query={}&time={time:.3}",
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
            let Some(p) = spec
                .providers
                .get(&q.provider)
                .and_then(Provider::prometheus)
            else {
                continue;
            };
            let p = p.clone();
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;
    use zion_core::spec::SecretSource;

    use super::*;

    /// A server answering every connection with `status` and `body` (or
    /// never, for `None`), sending each request's head to the test.
    async fn fake(
        answer: Option<(u16, &'static str)>,
    ) -> (String, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
                    let Some((status, body)) = answer else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        (url, rx)
    }

    fn provider(url: &str, auth: Option<ProviderAuth>) -> PrometheusProvider {
        PrometheusProvider {
            url: url.to_string(),
            timeout: Duration::from_millis(300),
            auth,
        }
    }

    #[tokio::test]
    async fn every_fault_is_a_reason_not_a_panic() {
        let dir = Path::new(".");
        let q = r#"sum(x{version="2.0"})"#;
        let (url, mut seen) = fake(Some((
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"7"]}]}}"#,
        )))
        .await;
        assert_eq!(
            query(&provider(&url, None), dir, q).await,
            Outcome::Value(7.0)
        );
        let head = seen.recv().await.unwrap();
        assert!(
            head.starts_with("GET /api/v1/query?query=sum%28x%7Bversion%3D%222.0%22%7D%29&time="),
            "{head}"
        );

        let (url, _) = fake(Some((
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )))
        .await;
        let Outcome::Error(e) = query(&provider(&url, None), dir, q).await else {
            panic!("a 4xx fails the check")
        };
        assert!(e.contains("refused") && e.contains("parse error"), "{e}");

        let (url, _) = fake(Some((503, "overloaded"))).await;
        let Outcome::Unavailable(e) = query(&provider(&url, None), dir, q).await else {
            panic!("a 5xx is inconclusive")
        };
        assert!(
            e.contains("answered 503") && e.contains("overloaded"),
            "{e}"
        );

        let (url, _) = fake(None).await;
        let Outcome::Unavailable(e) = query(&provider(&url, None), dir, q).await else {
            panic!("no answer is inconclusive")
        };
        assert!(e.contains("did not answer: no answer within 300ms"), "{e}");

        // A closed port.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let Outcome::Unavailable(e) = query(&provider(&closed, None), dir, q).await else {
            panic!("a refused connection is inconclusive")
        };
        assert!(
            e.contains("did not answer") && e.to_lowercase().contains("refused"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn credentials_come_from_the_environment_or_a_file_and_stay_out_of_messages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret-pw\n").unwrap();
        let ok = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
        let (url, mut seen) = fake(Some((200, ok))).await;
        let basic = ProviderAuth::Basic {
            username: "zion".into(),
            password: SecretSource::File("pw".into()),
        };
        assert_eq!(
            query(&provider(&url, Some(basic)), dir.path(), "1").await,
            Outcome::Value(1.0)
        );
        let head = seen.recv().await.unwrap().to_lowercase();
        let expected = format!("authorization: basic {}", STANDARD.encode("zion:s3cret-pw"));
        assert!(head.contains(&expected.to_lowercase()), "{head}");

        let missing = ProviderAuth::Bearer(SecretSource::Env("ZION_TEST_UNSET_PROM_TOKEN".into()));
        let Outcome::Unavailable(e) = query(&provider(&url, Some(missing)), dir.path(), "1").await
        else {
            panic!("a missing secret is inconclusive")
        };
        assert!(e.contains("ZION_TEST_UNSET_PROM_TOKEN is not set"), "{e}");
        let unreadable = ProviderAuth::Bearer(SecretSource::File("nope".into()));
        let Outcome::Unavailable(e) =
            query(&provider(&url, Some(unreadable)), dir.path(), "1").await
        else {
            panic!("an unreadable secret file is inconclusive")
        };
        assert!(e.contains("cannot read the secret file nope"), "{e}");
    }
}
