//! `strategy:`, `canary:`, `blue_green:` and `rolling:` specs, valid and
//! not.

use std::time::Duration;

use crate::spec::validate::test_support::*;
use crate::spec::{Batch, MatchRule, Strategy};

#[test]
fn strategy_is_known() {
    assert_error(
        &service("strategy: blue-green"),
        "services[0].strategy",
        "`blue-green` is not a strategy; did you mean `blue_green`? use one of: canary, blue_green, rolling",
    );
    assert_eq!(
        valid(&service("strategy: rolling")).services[0].strategy,
        Strategy::Rolling
    );
    assert_eq!(
        valid(&service("strategy: blue_green")).services[0].strategy,
        Strategy::BlueGreen
    );
}

fn steps(list: &str) -> String {
    service(&format!("canary:\n  steps:\n{}", indent(list, 4)))
}

#[test]
fn canary_steps_rules() {
    assert_error(
        &service("canary: { steps: [] }"),
        "services[0].canary.steps",
        "is empty",
    );
    assert_error(
        &steps(
            "- { weight: 10, pause: 30s }\n- { weight: 60, pause: 30s }\n- { weight: 50 }\n- { weight: 100 }",
        ),
        "services[0].canary.steps[2].weight",
        "weights must increase (50 after 60)",
    );
    assert_error(
        &steps("- { weight: 10 }\n- { weight: 10 }\n- { weight: 100 }"),
        "services[0].canary.steps[1].weight",
        "(10 after 10)",
    );
    assert_error(
        &steps("- { weight: 150 }\n- { weight: 100 }"),
        "services[0].canary.steps[0].weight",
        "weight 150 is out of range: use 1 to 100",
    );
    assert_error(
        &steps("- { weight: -5 }\n- { weight: 100 }"),
        "services[0].canary.steps[0].weight",
        "out of range",
    );
    assert_error(
        &steps("- { weight: 0 }\n- { weight: 100 }"),
        "services[0].canary.steps[0].weight",
        "weight 0 sends no traffic",
    );
    assert_error(
        &steps("- { weight: 10 }\n- { weight: 50 }"),
        "services[0].canary.steps[1].weight",
        "weight 100 (found 50)",
    );
    assert_error(
        &steps("- { weight: 10 }\n- { mirror: 50 }"),
        "services[0].canary.steps[1]",
        "the last step must be `{ weight: 100 }`",
    );
    assert_error(
        &steps("- { weight: 10, mirror: 10 }\n- { weight: 100 }"),
        "services[0].canary.steps[0]",
        "not both",
    );
    assert_error(
        &steps("- { pause: 30s }\n- { weight: 100 }"),
        "services[0].canary.steps[0]",
        "needs weight",
    );
    assert_error(
        &steps("- { mirror: 0 }\n- { weight: 100 }"),
        "services[0].canary.steps[0].mirror",
        "copies nothing",
    );
    assert_error(
        &steps("- { mirror: 101 }\n- { weight: 100 }"),
        "services[0].canary.steps[0].mirror",
        "mirror 101 is out of range",
    );
    assert_error(
        &steps("- { weight: 10, pause: 30 }\n- { weight: 100 }"),
        "services[0].canary.steps[0].pause",
        "has no unit",
    );
}

#[test]
fn canary_steps_with_mirror_match_and_manual_pause() {
    let spec = valid(&steps(
        "- { mirror: 20, pause: 1m }\n\
             - { weight: 0, match: [{ header: X-Team, equals: blue }, { cookie: beta, equals: 1 }] }\n\
             - { weight: 10, match: [{ header: User-Agent, regex: \"(?i)mobile\" }], pause: 30s }\n\
             - { weight: 100 }",
    ));
    let s = &spec.services[0].canary.steps;
    assert_eq!(
        (s[0].mirror, s[0].weight, s[0].pause),
        (Some(20), None, Some(Duration::from_secs(60)))
    );
    assert_eq!(s[1].weight, Some(0));
    assert_eq!(s[1].pause, None);
    assert_eq!(
        s[1].matches,
        [
            MatchRule::HeaderEquals {
                name: "X-Team".into(),
                value: "blue".into()
            },
            MatchRule::CookieEquals {
                name: "beta".into(),
                value: "1".into()
            },
        ]
    );
    assert_eq!(
        s[2].matches,
        [MatchRule::HeaderRegex {
            name: "User-Agent".into(),
            regex: "(?i)mobile".into()
        }]
    );
}

#[test]
fn match_rule_rules() {
    let rule = |m: &str| {
        steps(&format!(
            "- {{ weight: 10, match: [{m}] }}\n- {{ weight: 100 }}"
        ))
    };
    let p = "services[0].canary.steps[0].match[0]";
    assert_error(
        &rule("{ header: a, cookie: b, equals: x }"),
        p,
        "a header or a cookie, not both",
    );
    assert_error(
        &rule("{ equals: x }"),
        p,
        "needs `header: NAME` or `cookie: NAME`",
    );
    assert_error(
        &rule("{ header: a, equals: x, regex: y }"),
        p,
        "equals or regex, not both",
    );
    assert_error(
        &rule("{ header: a }"),
        p,
        "needs `equals: VALUE` or `regex: PATTERN`",
    );
    assert_error(
        &rule("{ cookie: beta, regex: x }"),
        &format!("{p}.regex"),
        "regex works on headers only",
    );
    assert_error(
        &rule("{ header: a, regex: \"(unclosed\" }"),
        &format!("{p}.regex"),
        "`(unclosed` is not a valid regex: unclosed group",
    );
    assert_error(
        &rule("{ header: \"X Team\", equals: x }"),
        &format!("{p}.header"),
        "not a valid header name",
    );
    assert_error(
        &rule("{ cookie: \"a;b\", equals: x }"),
        &format!("{p}.cookie"),
        "not a valid cookie name",
    );
}

#[test]
fn blue_green_rules() {
    assert_error(
        &service("blue_green: { scale_down_delay: later }"),
        "services[0].blue_green.scale_down_delay",
        "not a duration",
    );
    assert_error(
        &service("blue_green: { auto_promotion: 5 }"),
        "services[0].blue_green.auto_promotion",
        "has no unit",
    );
    let spec = valid(&service(
        "blue_green: { scale_down_delay: 0s, auto_promotion: 2m }",
    ));
    let bg = &spec.services[0].blue_green;
    assert_eq!(
        (bg.scale_down_delay, bg.auto_promotion),
        (Duration::ZERO, Some(Duration::from_secs(120)))
    );
}

#[test]
fn rolling_batch_rules() {
    assert_error(
        &service("rolling: { batch: 0% }"),
        "services[0].rolling.batch",
        "batch 0% replaces nothing",
    );
    assert_error(
        &service("rolling: { batch: 0 }"),
        "services[0].rolling.batch",
        "batch 0 replaces nothing",
    );
    assert_error(
        &service("rolling: { batch: 101% }"),
        "services[0].rolling.batch",
        "use 1% to 100%",
    );
    assert_error(
        &service("rolling: { batch: half }"),
        "services[0].rolling.batch",
        "`half` is not a batch",
    );
    assert_error(
        &service("rolling: { batch: -1 }"),
        "services[0].rolling.batch",
        "is not a batch",
    );
    assert_eq!(
        valid(&service("rolling: { batch: 3 }")).services[0]
            .rolling
            .batch,
        Batch::Count(3)
    );
    assert_eq!(
        valid(&service("rolling: { batch: 100% }")).services[0]
            .rolling
            .batch,
        Batch::Percent(100)
    );
}
