use std::time::Duration;

use super::*;
use crate::spec::{ExecQuery, PrometheusQuery};

fn prom_check(bound: Bound) -> Check {
    Check {
        name: "checkout_ok".into(),
        source: CheckSource::Prometheus(PrometheusQuery {
            provider: "prom".into(),
            query: "sum(x)".into(),
        }),
        bound,
    }
}

fn reading(outcome: Outcome) -> Reading {
    Reading {
        check: "checkout_ok".into(),
        query: "sum(x{version=\"v2\"})".into(),
        outcome,
    }
}

#[test]
fn values_are_judged_against_their_bound() {
    let min = prom_check(Bound::Min(5.0));
    let r = judge(&min, Some(&reading(Outcome::Value(7.5))));
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.message);
    assert_eq!(r.message, "checkout_ok 7.5 ≥ min 5");
    assert_eq!(r.canary, Some(7.5));
    assert_eq!(r.query.as_deref(), Some("sum(x{version=\"v2\"})"));
    assert_eq!(r.source.as_deref(), Some("prometheus"));
    assert_eq!(r.label(), "checkout_ok");
    let r = judge(&min, Some(&reading(Outcome::Value(2.0))));
    assert_eq!(
        (r.verdict, r.message.as_str()),
        (Verdict::Fail, "checkout_ok 2 < min 5")
    );
    let max = prom_check(Bound::Max(0.0));
    assert_eq!(
        judge(&max, Some(&reading(Outcome::Value(0.0)))).verdict,
        Verdict::Pass
    );
    assert_eq!(
        judge(&max, Some(&reading(Outcome::Value(0.5)))).verdict,
        Verdict::Fail
    );
}

#[test]
fn no_value_is_inconclusive_and_a_wrong_check_fails() {
    let c = prom_check(Bound::Min(5.0));
    for outcome in [
        Outcome::Value(f64::NAN),
        Outcome::Value(f64::INFINITY),
        Outcome::NoData("no data for `sum(x)`".into()),
        Outcome::Unavailable("Prometheus at http://127.0.0.1:9 did not answer".into()),
    ] {
        let r = judge(&c, Some(&reading(outcome.clone())));
        assert_eq!(r.verdict, Verdict::Inconclusive, "{outcome:?}");
        assert!(r.message.starts_with("checkout_ok: "), "{}", r.message);
        assert_eq!(r.canary, None);
    }
    let r = judge(&c, Some(&reading(Outcome::Error("exited with 1".into()))));
    assert_eq!(
        (r.verdict, r.message.as_str()),
        (Verdict::Fail, "checkout_ok: exited with 1")
    );
    let r = judge(&c, None);
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert_eq!(r.query, None);
}

fn body(result_type: &str, result: &str) -> Vec<u8> {
    format!(r#"{{"status":"success","data":{{"resultType":"{result_type}","result":{result}}}}}"#)
        .into_bytes()
}

#[test]
fn prometheus_answers_are_read() {
    let q = "sum(rate(x[5s]))";
    let one = body("vector", r#"[{"metric":{},"value":[1700000000.1,"0.25"]}]"#);
    assert_eq!(prometheus::answer(200, &one, q), Outcome::Value(0.25));
    let scalar = body("scalar", r#"[1700000000.1,"3"]"#);
    assert_eq!(prometheus::answer(200, &scalar, q), Outcome::Value(3.0));
    let empty = body("vector", "[]");
    assert_eq!(
        prometheus::answer(200, &empty, q),
        Outcome::NoData(format!("no data for `{q}`"))
    );
    let nan = body("vector", r#"[{"metric":{},"value":[1,"NaN"]}]"#);
    assert!(matches!(prometheus::answer(200, &nan, q), Outcome::NoData(m) if m.contains("NaN")));
    let inf = body("scalar", r#"[1,"+Inf"]"#);
    assert!(matches!(prometheus::answer(200, &inf, q), Outcome::NoData(m) if m.contains("+Inf")));
    let two = body(
        "vector",
        r#"[{"metric":{"v":"a"},"value":[1,"1"]},{"metric":{"v":"b"},"value":[1,"2"]}]"#,
    );
    let Outcome::Error(e) = prometheus::answer(200, &two, q) else {
        panic!("several series must be an error")
    };
    assert!(e.contains(q) && e.contains("2 series"), "{e}");
    let matrix = body("matrix", "[]");
    assert!(
        matches!(prometheus::answer(200, &matrix, q), Outcome::Error(m) if m.contains("matrix"))
    );
}

#[test]
fn prometheus_faults_say_why() {
    let q = "sum(x";
    let bad = br#"{"status":"error","errorType":"bad_data","error":"1:6: parse error: unclosed left parenthesis"}"#;
    let Outcome::Error(e) = prometheus::answer(400, bad, q) else {
        panic!("a syntax error fails the check")
    };
    assert!(
        e.contains("refused `sum(x`") && e.contains("unclosed left parenthesis"),
        "{e}"
    );
    let unavailable = br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#;
    let Outcome::Unavailable(e) = prometheus::answer(503, unavailable, q) else {
        panic!("a 5xx is inconclusive")
    };
    assert!(e.contains("503") && e.contains("query timed out"), "{e}");
    assert!(
        matches!(prometheus::answer(502, b"", q), Outcome::Unavailable(m) if m.contains("(empty body)"))
    );
    assert!(
        matches!(prometheus::answer(404, b"404 page not found", q), Outcome::Error(m) if m.contains("404 page not found"))
    );
    assert!(matches!(
        prometheus::answer(200, b"<html>", q),
        Outcome::Unavailable(_)
    ));
}

#[test]
fn web_and_exec_answers_are_read() {
    let doc = br#"{"data":{"score":0.93,"label":"1.5","none":null,"obj":{}}}"#;
    assert_eq!(web_value(doc, "$.data.score"), Outcome::Value(0.93));
    assert_eq!(web_value(doc, "$.data.label"), Outcome::Value(1.5));
    assert!(matches!(web_value(doc, "$.data.none"), Outcome::NoData(_)));
    assert!(
        matches!(web_value(doc, "$.data.missing"), Outcome::Error(m) if m == "nothing at $.data.missing in the answer")
    );
    assert!(matches!(web_value(doc, "$.data.obj"), Outcome::Error(_)));
    assert!(matches!(web_value(b"oops", "$.a"), Outcome::Error(m) if m.contains("not JSON")));
    assert_eq!(exec_value(" 42\n"), Outcome::Value(42.0));
    assert!(matches!(exec_value(""), Outcome::Error(m) if m.contains("printed nothing")));
    assert!(matches!(exec_value("ok"), Outcome::Error(m) if m.contains("`ok`")));
}

#[test]
fn only_external_checks_are_read() {
    let checks = vec![
        Check::builtin(crate::metrics::Metric::ErrorRate, Bound::Max(0.01)),
        Check {
            name: "smoke".into(),
            source: CheckSource::Exec(ExecQuery {
                command: vec!["true".into()],
                timeout: Duration::from_secs(1),
            }),
            bound: Bound::Max(0.0),
        },
    ];
    let names: Vec<&str> = external(&checks).map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["smoke"]);
}
