//! What `GET /metrics` shows, read from state at each scrape into a
//! registry of its own: the proxies' totals per target and version, the
//! active deployments' phases and weights, what waits for approval,
//! deployments by outcome and the audit log's size (both counted in the
//! database: every replica of `zion up` on it shows the same), the
//! targets this replica drives; and what `telemetry.rs` counted in this
//! process (the API's requests, analysis verdicts). A scrape costs one
//! pass over the targets' versions and three queries, whatever the
//! traffic.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use zion_proxy::{LATENCY_BOUNDS_SECONDS, VersionTotals};

use crate::app::App;
use crate::error::ApiError;
use crate::telemetry::Labels;

impl App {
    /// Every metric of `GET /metrics`, as of now.
    pub async fn metrics_registry(&self) -> Result<Registry, ApiError> {
        let mut registry = Registry::default();
        self.register_traffic(&mut registry).await;
        self.register_rollouts(&mut registry)?;

        let outcomes = Family::<Labels, Counter>::default();
        for c in self.store.outcome_counts()? {
            outcomes
                .get_or_create(&vec![
                    ("service", c.service),
                    ("environment", c.environment),
                    ("outcome", c.phase.name().to_owned()),
                ])
                .inc_by(c.count);
        }
        registry.register(
            "zion_deployments",
            "Deployments that ended, by target and outcome (their terminal phase); counted in the database",
            outcomes,
        );
        registry.register(
            "zion_analysis_checks",
            "Analysis checks judged by this replica of zion up since it started, by target, check and verdict",
            self.journal.checks.0.clone(),
        );
        let audit = Gauge::<i64>::default();
        audit.set(i64::try_from(self.store.audit_size()?).unwrap_or(i64::MAX));
        registry.register("zion_audit_log_entries", "Entries in the audit log", audit);
        let driven = Gauge::<i64>::default();
        driven.set(i64::try_from(self.driven_targets()).unwrap_or(i64::MAX));
        registry.register(
            "zion_targets_driven",
            "Targets this replica of zion up drives now",
            driven,
        );
        registry.register(
            "zion_api_requests",
            "Requests to the API answered by this replica of zion up, by route template, method and status class",
            self.api_counts.requests.clone(),
        );
        registry.register_with_unit(
            "zion_api_request_duration",
            "Time to answer an API request, by route template and method",
            Unit::Seconds,
            self.api_counts.durations.clone(),
        );
        Ok(registry)
    }

    /// Requests, 5xx answers and latencies per target and version, as this
    /// replica's listeners forwarded them since it started.
    async fn register_traffic(&self, registry: &mut Registry) {
        let requests = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let mut durations = Vec::new();
        for (id, metrics) in self.targets.all_metrics().await {
            for totals in metrics.version_totals() {
                let labels = vec![
                    ("service", id.service.clone()),
                    ("environment", id.environment.clone()),
                    ("version", totals.version.clone()),
                ];
                requests.get_or_create(&labels).inc_by(totals.requests);
                errors.get_or_create(&labels).inc_by(totals.errors);
                durations.push((labels, totals));
            }
        }
        registry.register(
            "zion_requests",
            "Requests this replica's listeners forwarded and got an answer to, by target and version",
            requests,
        );
        registry.register(
            "zion_request_errors",
            "Of zion_requests_total, the 5xx answers, failed upstreams and timeouts",
            errors,
        );
        registry.register_collector(Box::new(RequestDurations(durations)));
    }

    /// The active deployments' phases and weights, and what waits for
    /// approval.
    fn register_rollouts(&self, registry: &mut Registry) -> Result<(), ApiError> {
        let phases = Family::<Labels, Gauge>::default();
        let weights = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let mut waiting = 0i64;
        for d in self.store.active_deployments()? {
            let target = |version: &str| {
                vec![
                    ("service", d.service.clone()),
                    ("environment", d.environment.clone()),
                    ("version", version.to_owned()),
                ]
            };
            let mut labels = target(&d.version);
            labels.push(("phase", d.phase.name().to_owned()));
            phases.get_or_create(&labels).set(1);
            let weight = f64::from(d.canary_weight) / 100.0;
            weights.get_or_create(&target(&d.version)).set(weight);
            if let Some(previous) = &d.previous_version {
                weights.get_or_create(&target(previous)).set(1.0 - weight);
            }
            waiting += i64::from(super::decisions::waits_for_approval(&d));
        }
        registry.register(
            "zion_rollout_phase",
            "1 for the phase of each active deployment, by target, version and phase",
            phases,
        );
        registry.register(
            "zion_traffic_weight_ratio",
            "Share of a target's traffic each version of an active deployment is meant to get (0 to 1)",
            weights,
        );
        let approvals = Gauge::<i64>::default();
        approvals.set(waiting);
        registry.register(
            "zion_approvals_waiting",
            "Deployments waiting for approvals",
            approvals,
        );
        Ok(())
    }
}

/// The proxies' latency totals as one histogram family: built from counts
/// kept since start (`zion_proxy::VersionTotals`), not observed here.
#[derive(Debug)]
struct RequestDurations(Vec<(Labels, VersionTotals)>);

impl Collector for RequestDurations {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "zion_request_duration",
            "Time from forwarding a request to its answer's head, by target and version",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (labels, totals) in &self.0 {
            let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_SECONDS
                .iter()
                .copied()
                // The encoder writes f64::MAX as `+Inf`.
                .chain([f64::MAX])
                .zip(totals.latency_buckets)
                .collect();
            metric
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(
                    totals.latency_sum_seconds,
                    totals.requests,
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}
