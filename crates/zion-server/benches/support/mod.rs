//! What the benchmarks on simulated workloads share: their settings from
//! the environment, where they write, and a spec of many targets.

use std::path::PathBuf;

use zion_core::spec::{Spec, parse_spec};

/// The value of the environment variable `name`, or `default` when it is
/// unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where a benchmark makes its data directories: `ZION_BENCH_DIR`, or the
/// system's temporary directory.
pub fn bench_dir() -> PathBuf {
    std::env::var_os("ZION_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// A spec of `targets` services with one target each (their listeners are
/// never bound: the traffic is simulated), parsed from its text as `zion
/// up` would, and that text.
pub fn spec(targets: usize) -> (Spec, String) {
    let mut yaml = String::from(
        "server: { listen: 127.0.0.1:7070, data_dir: state }\nenvironments:\n  - name: staging\nservices:\n",
    );
    for i in 0..targets {
        yaml.push_str(&format!(
            "  - name: s{i:05}
    workload: {{ process: {{ command: [simulated] }} }}
    targets: {{ staging: {{ listen: 127.0.0.1:{} }} }}
    canary: {{ steps: [{{ weight: 20, pause: 1h }}, {{ weight: 100 }}] }}
    analysis: {{ interval: 10s, min_requests: 10 }}
",
            20_000 + i
        ));
    }
    let spec = parse_spec(&yaml).unwrap_or_else(|e| panic!("bad spec: {e}"));
    (spec, yaml)
}
