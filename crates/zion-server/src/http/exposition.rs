//! The text a scrape gets: OpenMetrics when the client asks for it, else
//! the classic Prometheus text format (0.0.4), which every Prometheus and
//! `promtool check metrics` read. `prometheus-client` writes OpenMetrics
//! only; the classic form differs in what matters here only by a counter's
//! HELP and TYPE naming the sample (`x_total`, not the family `x`), by
//! having no UNIT lines and no `# EOF`.

/// The content type of the classic text format.
pub(crate) const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics text.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether `accept` (an Accept header) takes OpenMetrics text: one of its
/// media ranges is `application/openmetrics-text` with a quality above 0.
/// Prometheus lists it first when it scrapes.
pub(crate) fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let kind = parts.next().unwrap_or_default();
        kind.eq_ignore_ascii_case("application/openmetrics-text")
            && !parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f64>() == Ok(0.0)
                })
            })
    })
}

/// `openmetrics` (as `prometheus-client` writes it: no exemplars, no
/// `_created` samples) in the classic text format.
pub(crate) fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match descriptor {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                // OpenMetrics' `unknown` is the classic `untyped`.
                out.push_str(if tail == "unknown" { "untyped" } else { tail });
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::{Registry, Unit};

    use super::*;

    #[test]
    fn counters_are_named_by_their_sample_and_openmetrics_lines_go() {
        let mut registry = Registry::default();
        let requests = Family::<Vec<(&str, String)>, Counter>::default();
        requests
            .get_or_create(&vec![("version", "1.0".to_owned())])
            .inc_by(3);
        registry.register("zion_requests", "Requests", requests);
        let gauge = Gauge::<i64>::default();
        gauge.set(7);
        registry.register("zion_audit_log_entries", "Entries", gauge);
        let h = Histogram::new([0.1]);
        h.observe(0.05);
        registry.register_with_unit("zion_api_request_duration", "Time", Unit::Seconds, h);
        let mut om = String::new();
        encode(&mut om, &registry).unwrap();
        assert!(om.contains("# TYPE zion_requests counter\n"), "{om}");
        // The library ends each help with a period.
        assert_eq!(
            classic(&om),
            "# HELP zion_requests_total Requests.\n\
             # TYPE zion_requests_total counter\n\
             zion_requests_total{version=\"1.0\"} 3\n\
             # HELP zion_audit_log_entries Entries.\n\
             # TYPE zion_audit_log_entries gauge\n\
             zion_audit_log_entries 7\n\
             # HELP zion_api_request_duration_seconds Time.\n\
             # TYPE zion_api_request_duration_seconds histogram\n\
             zion_api_request_duration_seconds_sum 0.05\n\
             zion_api_request_duration_seconds_count 1\n\
             zion_api_request_duration_seconds_bucket{le=\"0.1\"} 1\n\
             zion_api_request_duration_seconds_bucket{le=\"+Inf\"} 1\n"
        );
    }

    #[test]
    fn unknown_is_untyped() {
        assert_eq!(
            classic("# HELP x What\n# TYPE x unknown\nx 1\n# EOF\n"),
            "# HELP x What\n# TYPE x untyped\nx 1\n"
        );
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        // What Prometheus 2.x sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(wants_openmetrics(Some("Application/OpenMetrics-Text")));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text; q=0, text/plain"
        )));
    }
}
