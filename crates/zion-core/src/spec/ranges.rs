//! The range each duration of the spec may take. A duration far outside
//! what the setting means (a health interval of `99999999999h`, an approval
//! that expires in 10 000 years) is a typo, and used as written it would
//! hang a rollout or overflow a timestamp; so lint refuses it, naming the
//! range. The README's table lists the same ranges.

use std::time::Duration;

use crate::duration::format_duration;

/// The smallest and largest value a spec duration may take, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Range {
    pub min: Duration,
    pub max: Duration,
}

const MS: u64 = 1;
const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

const fn range(min_ms: u64, max_ms: u64) -> Range {
    Range {
        min: Duration::from_millis(min_ms),
        max: Duration::from_millis(max_ms),
    }
}

/// `health.interval`: probing more often than 10 times a second only loads
/// the replica; less often than hourly, a dead replica goes unseen.
pub(super) const HEALTH_INTERVAL: Range = range(100 * MS, HOUR);
/// `health.timeout` (also shorter than the interval).
pub(super) const HEALTH_TIMEOUT: Range = range(10 * MS, 5 * MINUTE);
/// `health.start_timeout`: how long a new version may take to be healthy.
pub(super) const START_TIMEOUT: Range = range(SECOND, DAY);
/// `canary.steps[].pause`: 0 moves on as soon as a round passes.
pub(super) const STEP_PAUSE: Range = range(0, 30 * DAY);
/// `blue_green.scale_down_delay`: 0 stops the old version at once.
pub(super) const SCALE_DOWN_DELAY: Range = range(0, DAY);
/// `blue_green.auto_promotion`.
pub(super) const AUTO_PROMOTION: Range = range(0, 30 * DAY);
/// `analysis.interval`: one round needs requests to judge.
pub(super) const ANALYSIS_INTERVAL: Range = range(SECOND, HOUR);
/// `approvals.timeout`.
pub(super) const APPROVAL_TIMEOUT: Range = range(SECOND, 30 * DAY);
/// `targets.<env>.response_timeout`: under 100 ms fails healthy versions
/// on a busy machine; beyond an hour, users have long given up.
pub(super) const RESPONSE_TIMEOUT: Range = range(100 * MS, HOUR);
/// `targets.<env>.limits.connect_timeout`: a replica on the same network
/// accepts in milliseconds; a minute is a dead one.
pub(super) const CONNECT_TIMEOUT: Range = range(10 * MS, MINUTE);
/// `targets.<env>.limits.header_timeout`: also how long an idle
/// keep-alive connection stays open.
pub(super) const HEADER_TIMEOUT: Range = range(100 * MS, HOUR);
/// `analysis.inconclusive_limit`: how long a rollout may see too little
/// traffic before it pauses.
pub(super) const INCONCLUSIVE_LIMIT: Range = range(SECOND, DAY);
/// How long a provider or an external check's source may take to answer.
pub(super) const SOURCE_TIMEOUT: Range = range(100 * MS, 10 * MINUTE);
/// A hook's `timeout`, per attempt: a smoke test or a migration may take
/// minutes; an hour is a hung one.
pub(super) const HOOK_TIMEOUT: Range = range(100 * MS, HOUR);
/// `notifications.timeout`: one delivery attempt.
pub(super) const NOTIFY_TIMEOUT: Range = range(100 * MS, 10 * MINUTE);
/// `notifications.retention`: how long closed outbox rows are kept.
pub(super) const NOTIFY_RETENTION: Range = range(MINUTE, 366 * DAY);

/// `slos[].threshold`: a latency SLI's bound on one request.
pub(super) const SLO_THRESHOLD: Range = range(MS, 10 * MINUTE);
/// `slos[].probe.interval`: seed 004 probes every 15 minutes; a second is
/// the finest the SLO recorder ticks at, a day the coarsest that still
/// gives a daily report a figure.
pub(super) const SLO_PROBE_INTERVAL: Range = range(SECOND, DAY);
/// `slos[].retention`: at least the longest alert window (3 days), so
/// every burn rate reads one-minute rows; at most a year of them.
pub(super) const SLO_RETENTION: Range = range(3 * DAY, 366 * DAY);

impl Range {
    /// Why `d` (written `written`) is outside the range, or None.
    pub fn refuse(&self, d: Duration, written: &str) -> Option<String> {
        let bounds = format!("use {} to {}", text(self.min), text(self.max));
        if d.is_zero() && !self.min.is_zero() {
            Some(format!("`{written}` is zero: {bounds}"))
        } else if d < self.min {
            Some(format!("`{written}` is too short: {bounds}"))
        } else if d > self.max {
            Some(format!("`{written}` is too long: {bounds}"))
        } else {
            None
        }
    }
}

/// A bound as the spec would write it; whole days from two days up read
/// as days (`30d`, but `24h`).
fn text(d: Duration) -> String {
    let ms = d.as_millis();
    let day = u128::from(DAY);
    if ms >= 2 * day && ms % day == 0 {
        format!("{}d", ms / day)
    } else if ms == 0 {
        "0s".to_owned()
    } else {
        format_duration(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_named() {
        let r = HEALTH_INTERVAL;
        assert_eq!(r.refuse(r.min, "100ms"), None);
        assert_eq!(r.refuse(r.max, "1h"), None);
        assert_eq!(
            r.refuse(Duration::from_millis(99), "99ms").as_deref(),
            Some("`99ms` is too short: use 100ms to 1h")
        );
        assert_eq!(
            r.refuse(r.max + Duration::from_millis(1), "3600001ms")
                .as_deref(),
            Some("`3600001ms` is too long: use 100ms to 1h")
        );
        assert_eq!(
            r.refuse(Duration::ZERO, "0s").as_deref(),
            Some("`0s` is zero: use 100ms to 1h")
        );
        assert_eq!(
            STEP_PAUSE
                .refuse(Duration::from_secs(31 * 86_400), "31d")
                .as_deref(),
            Some("`31d` is too long: use 0s to 30d")
        );
        assert_eq!(STEP_PAUSE.refuse(Duration::ZERO, "0s"), None);
        assert!(
            START_TIMEOUT
                .refuse(Duration::from_secs(86_401), "x")
                .unwrap()
                .contains("1s to 24h")
        );
    }

    /// One service in staging (and a production environment with
    /// approvals), with `service` and `approvals` added.
    fn spec(service: &str, approvals: &str) -> String {
        format!(
            "environments:\n  - name: staging\n  - name: production\n    approvals: {{ {approvals} }}\n\
             services:\n  - name: web\n    workload: {{ process: {{ command: [./app] }} }}\n\
             \x20   targets: {{ staging: {{ listen: 127.0.0.1:8081 }} }}\n{service}"
        )
    }

    fn errors_of(yaml: &str) -> Vec<(String, String)> {
        match crate::spec::parse_spec(yaml) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.into_iter().map(|e| (e.path, e.message)).collect(),
        }
    }

    #[test]
    fn every_spec_duration_is_refused_outside_its_range_with_its_path() {
        let huge = "99999999999h";
        let cases = [
            (
                spec(&format!("    health: {{ interval: {huge} }}\n"), ""),
                "services[0].health.interval",
                "use 100ms to 1h",
            ),
            (
                spec(
                    &format!("    health: {{ interval: 1h, timeout: {huge} }}\n"),
                    "",
                ),
                "services[0].health.timeout",
                "use 10ms to 5m",
            ),
            (
                spec(&format!("    health: {{ start_timeout: {huge} }}\n"), ""),
                "services[0].health.start_timeout",
                "use 1s to 24h",
            ),
            (
                spec(
                    &format!(
                        "    canary: {{ steps: [{{ weight: 5, pause: {huge} }}, {{ weight: 100 }}] }}\n"
                    ),
                    "",
                ),
                "services[0].canary.steps[0].pause",
                "use 0s to 30d",
            ),
            (
                spec(
                    &format!("    blue_green: {{ scale_down_delay: {huge} }}\n"),
                    "",
                ),
                "services[0].blue_green.scale_down_delay",
                "use 0s to 24h",
            ),
            (
                spec(
                    &format!("    blue_green: {{ auto_promotion: {huge} }}\n"),
                    "",
                ),
                "services[0].blue_green.auto_promotion",
                "use 0s to 30d",
            ),
            (
                spec(&format!("    analysis: {{ interval: {huge} }}\n"), ""),
                "services[0].analysis.interval",
                "use 1s to 1h",
            ),
            (
                spec("", &format!("timeout: {huge}")),
                "environments[1].approvals.timeout",
                "use 1s to 30d",
            ),
        ];
        for (yaml, path, range) in cases {
            let errors = errors_of(&yaml);
            let want = format!("`{huge}` is too long: {range}");
            assert_eq!(errors, vec![(path.to_owned(), want)], "for:\n{yaml}");
        }
    }

    #[test]
    fn too_short_is_refused_and_the_bounds_themselves_pass() {
        let errors = errors_of(&spec(
            "    health: { interval: 50ms, timeout: 5ms, start_timeout: 500ms }\n    analysis: { interval: 999ms }\n",
            "timeout: 0s",
        ));
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "environments[1].approvals.timeout",
                "services[0].health.interval",
                "services[0].health.timeout",
                "services[0].health.start_timeout",
                "services[0].analysis.interval",
            ],
            "{errors:?}"
        );
        assert!(errors[1].1.starts_with("`50ms` is too short"), "{errors:?}");
        assert!(errors[0].1.starts_with("`0s` is zero"), "{errors:?}");
        let at_bounds = spec(
            "    health: { interval: 1h, timeout: 5m, start_timeout: 24h }\n\
             \x20   canary: { steps: [{ weight: 5, pause: 30d }, { weight: 100, pause: 0s }] }\n\
             \x20   blue_green: { scale_down_delay: 24h, auto_promotion: 30d }\n\
             \x20   analysis: { interval: 1h }\n",
            "timeout: 30d",
        );
        assert_eq!(errors_of(&at_bounds), vec![], "{at_bounds}");
        let low = spec(
            "    health: { interval: 100ms, timeout: 10ms, start_timeout: 1s }\n\
             \x20   blue_green: { scale_down_delay: 0s, auto_promotion: 0s }\n\
             \x20   analysis: { interval: 1s }\n",
            "timeout: 1s",
        );
        assert_eq!(errors_of(&low), vec![], "{low}");
    }

    #[test]
    fn a_long_duration_is_not_repeated_whole() {
        // Leading zeros keep it a valid number: only the range refuses it.
        let long = format!("{}2h", "0".repeat(60));
        let errors = errors_of(&spec(
            &format!("    analysis: {{ interval: {long} }}\n"),
            "",
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].1 == format!("`{}…` is too long: use 1s to 1h", "0".repeat(40)),
            "{errors:?}"
        );
    }

    #[test]
    fn every_range_is_ordered() {
        for r in [
            HEALTH_INTERVAL,
            HEALTH_TIMEOUT,
            START_TIMEOUT,
            STEP_PAUSE,
            SCALE_DOWN_DELAY,
            AUTO_PROMOTION,
            ANALYSIS_INTERVAL,
            APPROVAL_TIMEOUT,
        ] {
            assert!(r.min < r.max, "{r:?}");
        }
    }
}
