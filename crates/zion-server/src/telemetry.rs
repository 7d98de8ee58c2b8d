//! What this process counts for its own `GET /metrics` as things happen:
//! the API's requests and their durations, and the analysis checks'
//! verdicts. Everything else `/metrics` shows is read from state at each
//! scrape (`operations/metrics.rs`). These counters start at zero with the
//! process and count only what this replica of `zion up` did.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use zion_core::analysis::AnalysisRound;

/// A series' labels, as (name, value) pairs in a fixed order.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// The buckets of the API's request durations, in seconds.
const API_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

type DurationFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn api_histogram() -> Histogram {
    Histogram::new(API_BUCKETS)
}

/// The API's own traffic, by route template (never the raw path, so the
/// label's values are as many as the routes), method and status class.
#[derive(Debug, Clone)]
pub(crate) struct ApiCounts {
    pub(crate) requests: Family<Labels, Counter>,
    pub(crate) durations: DurationFamily,
}

impl Default for ApiCounts {
    fn default() -> Self {
        ApiCounts {
            requests: Family::default(),
            durations: Family::new_with_constructor(api_histogram as fn() -> Histogram),
        }
    }
}

impl ApiCounts {
    /// Counts one answered request of `route` (a template such as
    /// `/api/v1/deployments/{id}`).
    pub(crate) fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let method = method_label(method);
        self.requests
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("method", method.to_owned()),
                ("status_class", class.to_owned()),
            ])
            .inc();
        self.durations
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("method", method.to_owned()),
            ])
            .observe(seconds);
    }
}

/// The method as a label: a client may send any token as a method, and
/// each would make a series of its own.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" => method,
        _ => "other",
    }
}

/// Analysis checks judged by this replica's controller, by target, check
/// (the metric it reads) and verdict; counted once their round is
/// committed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckCounts(pub(crate) Family<Labels, Counter>);

impl CheckCounts {
    /// The counts `rounds` of deployment (`service`, `environment`) add,
    /// to be added with [`CheckCounts::add`] once they are committed.
    pub(crate) fn tally(service: &str, environment: &str, rounds: &[AnalysisRound]) -> Vec<Labels> {
        rounds
            .iter()
            .flat_map(|r| &r.checks)
            .map(|c| {
                vec![
                    ("service", service.to_owned()),
                    ("environment", environment.to_owned()),
                    ("check", c.label()),
                    ("verdict", c.verdict.name().to_owned()),
                ]
            })
            .collect()
    }

    pub(crate) fn add(&self, tally: &[Labels]) {
        for labels in tally {
            self.0.get_or_create(labels).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_labels_are_bounded() {
        let api = ApiCounts::default();
        api.observe("/api/v1/deployments/{id}", "GET", 200, 0.002);
        api.observe("/api/v1/deployments/{id}", "GET", 204, 0.002);
        api.observe("/api/v1/deployments/{id}", "BREW", 405, 0.002);
        api.observe("/metrics", "GET", 503, 0.002);
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("zion_api_requests", "API requests", api.requests.clone());
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"zion_api_requests_total{route="/api/v1/deployments/{id}",method="GET",status_class="2xx"} 2"#,
            r#"zion_api_requests_total{route="/api/v1/deployments/{id}",method="other",status_class="4xx"} 1"#,
            r#"zion_api_requests_total{route="/metrics",method="GET",status_class="5xx"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
