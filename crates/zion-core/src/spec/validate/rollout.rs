//! How a service rolls out: its `strategy:`, the `canary:` steps and their
//! match rules, `blue_green:` and `rolling:`.

use std::time::Duration;

use super::{Report, at};
use crate::spec::ranges;
use crate::spec::raw::{RawBlueGreen, RawCanary, RawMatch, RawRolling, RawStep, Text, keys};
use crate::spec::{Batch, BlueGreenSpec, CanarySpec, CanaryStep, MatchRule, RollingSpec, Strategy};

// Defaults, as documented on the model.
const DEFAULT_SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);
const DEFAULT_BATCH: Batch = Batch::Percent(33);

pub(super) fn default_canary_steps() -> Vec<CanaryStep> {
    let step = |weight: u8, pause: Option<u64>| CanaryStep {
        weight: Some(weight),
        mirror: None,
        pause: pause.map(Duration::from_secs),
        matches: Vec::new(),
    };
    vec![
        step(5, Some(30)),
        step(25, Some(30)),
        step(50, Some(60)),
        step(100, None),
    ]
}

pub(super) const STRATEGIES: [(&str, Strategy); 3] = [
    ("canary", Strategy::Canary),
    ("blue_green", Strategy::BlueGreen),
    ("rolling", Strategy::Rolling),
];

pub(super) fn canary(r: &mut Report, p: &str, raw: Option<&RawCanary>) -> CanarySpec {
    let Some(raw) = raw else {
        return CanarySpec {
            steps: default_canary_steps(),
            sticky: false,
        };
    };
    r.unknown(p, &raw.unknown, keys::CANARY);
    let steps = match &raw.steps {
        None => default_canary_steps(),
        Some(list) => canary_steps(r, &at(p, "steps"), list),
    };
    CanarySpec {
        steps,
        sticky: raw.sticky.unwrap_or(false),
    }
}

fn percent(r: &mut Report, path: &str, value: i64, what: &str) -> Option<u8> {
    match u8::try_from(value) {
        Ok(v) if v <= 100 => Some(v),
        _ => {
            r.add(
                path,
                format!("{what} {value} is out of range: use 1 to 100 (percent)"),
            );
            None
        }
    }
}

fn canary_steps(r: &mut Report, p: &str, list: &[RawStep]) -> Vec<CanaryStep> {
    if list.is_empty() {
        r.add(
            p,
            "is empty: list the steps, ending with `{ weight: 100 }`, or remove `steps` for the \
             default 5% → 25% → 50% → 100%",
        );
        return Vec::new();
    }
    let mut steps = Vec::with_capacity(list.len());
    let mut previous_weight: Option<u8> = None;
    for (j, raw) in list.iter().enumerate() {
        let sp = format!("{p}[{j}]");
        r.unknown(&sp, &raw.unknown, keys::STEP);
        let matches: Vec<MatchRule> = raw
            .matches
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(k, m)| match_rule(r, &format!("{sp}.match[{k}]"), m))
            .collect();
        let has_rules = raw.matches.as_ref().is_some_and(|m| !m.is_empty());
        match (raw.weight, raw.mirror) {
            (Some(_), Some(_)) => r.add(
                &sp,
                "a step has weight or mirror, not both: split it into two steps",
            ),
            (None, None) => r.add(
                &sp,
                "a step needs weight (percent of traffic sent to the canary) or mirror (percent \
                 of requests copied to it), e.g. `{ weight: 10, pause: 30s }`",
            ),
            _ => {}
        }
        let mut weight = None;
        if let Some(w) = raw.weight {
            let wp = at(&sp, "weight");
            match percent(r, &wp, w, "weight") {
                Some(0) if !has_rules => r.add(
                    &wp,
                    "weight 0 sends no traffic: use 1 to 100, or add `match` rules to send only \
                     matching requests",
                ),
                Some(w) => {
                    if let Some(prev) = previous_weight
                        && w <= prev
                    {
                        r.add(&wp, format!("weights must increase ({w} after {prev})"));
                    }
                    previous_weight = Some(w);
                    weight = Some(w);
                }
                None => {}
            }
        }
        let mirror = raw
            .mirror
            .and_then(|m| match percent(r, &at(&sp, "mirror"), m, "mirror") {
                Some(0) => {
                    r.add(
                        at(&sp, "mirror"),
                        "mirror 0 copies nothing: use 1 to 100 (percent)",
                    );
                    None
                }
                other => other,
            });
        let pause = r.opt_duration(&at(&sp, "pause"), raw.pause.as_ref(), ranges::STEP_PAUSE);
        steps.push(CanaryStep {
            weight,
            mirror,
            pause,
            matches,
        });
    }
    let last = list.len() - 1;
    match list[last].weight {
        Some(100) => {}
        Some(w) if (0..100).contains(&w) => r.add(
            format!("{p}[{last}].weight"),
            format!(
                "the last step must send all traffic to the new version: weight 100 (found {w})"
            ),
        ),
        Some(_) => {} // already reported as out of range
        None => r.add(
            format!("{p}[{last}]"),
            "the last step must be `{ weight: 100 }` so the rollout ends with all traffic on the \
             new version",
        ),
    }
    steps
}

fn match_rule(r: &mut Report, p: &str, raw: &RawMatch) -> Option<MatchRule> {
    r.unknown(p, &raw.unknown, keys::MATCH);
    let mut ok = true;
    let (header, cookie) = (raw.header.as_ref(), raw.cookie.as_ref());
    match (header, cookie) {
        (Some(_), Some(_)) => {
            r.add(
                p,
                "a rule matches a header or a cookie, not both: split it into two rules",
            );
            ok = false;
        }
        (None, None) => {
            r.add(p, "a rule needs `header: NAME` or `cookie: NAME`, e.g. `{ header: X-Team, equals: blue }`");
            ok = false;
        }
        _ => {}
    }
    if let Some(h) = header
        && !is_token(h.as_str())
    {
        r.add(
            at(p, "header"),
            format!("`{h}` is not a valid header name: use letters, digits and -, e.g. X-Team"),
        );
        ok = false;
    }
    if let Some(c) = cookie
        && !is_token(c.as_str())
    {
        r.add(
            at(p, "cookie"),
            format!("`{c}` is not a valid cookie name: use letters, digits, - and _, e.g. beta"),
        );
        ok = false;
    }
    match (raw.equals.as_ref(), raw.regex.as_ref()) {
        (Some(_), Some(_)) => {
            r.add(p, "a rule has equals or regex, not both: keep one");
            ok = false;
        }
        (None, None) => {
            r.add(p, "a rule needs `equals: VALUE` or `regex: PATTERN`");
            ok = false;
        }
        (None, Some(re)) => {
            if cookie.is_some() {
                r.add(
                    at(p, "regex"),
                    "regex works on headers only: match a cookie with `equals`",
                );
                ok = false;
            }
            if let Err(e) = regex::Regex::new(re.as_str()) {
                r.add(
                    at(p, "regex"),
                    format!("`{re}` is not a valid regex: {}", regex_error(&e)),
                );
                ok = false;
            }
        }
        (Some(_), None) => {}
    }
    if !ok {
        return None;
    }
    let value = |t: Option<&Text>| t.map(|t| t.0.clone()).unwrap_or_default();
    Some(match (header, raw.regex.as_ref()) {
        (Some(h), Some(re)) => MatchRule::HeaderRegex {
            name: h.0.clone(),
            regex: re.0.clone(),
        },
        (Some(h), None) => MatchRule::HeaderEquals {
            name: h.0.clone(),
            value: value(raw.equals.as_ref()),
        },
        (None, _) => MatchRule::CookieEquals {
            name: value(cookie),
            value: value(raw.equals.as_ref()),
        },
    })
}

/// The regex crate renders syntax errors over several lines with a caret;
/// a spec error is one line, so keep only the explanation.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// An HTTP token (RFC 9110): what header and cookie names are made of.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(super) fn blue_green(r: &mut Report, p: &str, raw: Option<&RawBlueGreen>) -> BlueGreenSpec {
    let Some(raw) = raw else {
        return BlueGreenSpec {
            scale_down_delay: DEFAULT_SCALE_DOWN_DELAY,
            auto_promotion: None,
        };
    };
    r.unknown(p, &raw.unknown, keys::BLUE_GREEN);
    BlueGreenSpec {
        scale_down_delay: r.duration(
            &at(p, "scale_down_delay"),
            raw.scale_down_delay.as_ref(),
            DEFAULT_SCALE_DOWN_DELAY,
            ranges::SCALE_DOWN_DELAY,
        ),
        auto_promotion: r.opt_duration(
            &at(p, "auto_promotion"),
            raw.auto_promotion.as_ref(),
            ranges::AUTO_PROMOTION,
        ),
    }
}

pub(super) fn rolling(r: &mut Report, p: &str, raw: Option<&RawRolling>) -> RollingSpec {
    let Some(raw) = raw else {
        return RollingSpec {
            batch: DEFAULT_BATCH,
        };
    };
    r.unknown(p, &raw.unknown, keys::ROLLING);
    let batch = match &raw.batch {
        None => DEFAULT_BATCH,
        Some(t) => parse_batch(t.as_str()).unwrap_or_else(|message| {
            r.add(at(p, "batch"), message);
            DEFAULT_BATCH
        }),
    };
    RollingSpec { batch }
}

fn parse_batch(text: &str) -> Result<Batch, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "`{text}` is not a batch: write a share of replicas such as 33% or a number of \
             replicas such as 2"
        )
    };
    if let Some(n) = t.strip_suffix('%') {
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        return match n {
            1..=100 => Ok(Batch::Percent(n as u8)),
            0 => Err("batch 0% replaces nothing: use 1% to 100%".to_owned()),
            _ => Err(format!(
                "batch {n}% is more than all replicas: use 1% to 100%"
            )),
        };
    }
    let n: u32 = t.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(
            "batch 0 replaces nothing: use a count of at least 1, or a share such as 33%"
                .to_owned(),
        );
    }
    Ok(Batch::Count(n))
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
