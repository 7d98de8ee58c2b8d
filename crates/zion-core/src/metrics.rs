//! Built-in metrics: their names and the figures of one version over one window.

use serde::{Deserialize, Serialize};

/// The upper bounds of the built-in proxy's exported latency buckets
/// (`zion_request_duration_seconds`), in seconds (Prometheus's default
/// buckets: 5 ms to 10 s); slower requests count in `+Inf` only. A latency
/// SLI's Prometheus rules read the bucket of its threshold.
pub const LATENCY_BOUNDS_SECONDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A built-in metric name as written in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// 5xx responses and failed upstream connections over all requests.
    ErrorRate,
    /// Milliseconds.
    LatencyP50,
    LatencyP95,
    LatencyP99,
    /// Requests per second.
    RequestRate,
    /// Share of passing health probes, 0..=1.
    Health,
    /// Percent of one core (process workloads).
    Cpu,
    /// Resident memory in MiB.
    MemoryMb,
}

impl Metric {
    /// Every metric, in the order shown to users.
    pub const ALL: [Metric; 8] = [
        Metric::ErrorRate,
        Metric::LatencyP50,
        Metric::LatencyP95,
        Metric::LatencyP99,
        Metric::RequestRate,
        Metric::Health,
        Metric::Cpu,
        Metric::MemoryMb,
    ];

    /// The spec's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::LatencyP50 => "latency_p50",
            Metric::LatencyP95 => "latency_p95",
            Metric::LatencyP99 => "latency_p99",
            Metric::RequestRate => "request_rate",
            Metric::Health => "health",
            Metric::Cpu => "cpu",
            Metric::MemoryMb => "memory_mb",
        }
    }

    /// Whether this is a latency percentile (milliseconds).
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99
        )
    }

    /// Parses a spec name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What one version did over one window. Latencies are None when the window
/// holds no request; health/cpu/memory are None when nothing was sampled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WindowMetrics {
    /// Window length in seconds (for rates).
    pub window_secs: f64,
    pub requests: u64,
    /// 5xx responses plus failed upstream connections.
    pub errors: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Share of passing probes in the window.
    pub health: Option<f64>,
    pub cpu_percent: Option<f64>,
    pub memory_mb: Option<f64>,
}

impl WindowMetrics {
    /// The value of `metric` in this window, None when there is no data.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::ErrorRate => {
                (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
            }
            Metric::LatencyP50 => self.latency_p50_ms,
            Metric::LatencyP95 => self.latency_p95_ms,
            Metric::LatencyP99 => self.latency_p99_ms,
            Metric::RequestRate => {
                (self.window_secs > 0.0).then(|| self.requests as f64 / self.window_secs)
            }
            Metric::Health => self.health,
            Metric::Cpu => self.cpu_percent,
            Metric::MemoryMb => self.memory_mb,
        }
    }
}
