//! Parser errors said the way a spec author thinks: terse serde and YAML
//! messages reworded, a size limit named as such, and a hint where the
//! likely mistake is known.

/// The parser's terse messages, said the way a spec author thinks.
const REWORDED: &[(&str, &str)] = &[
    ("invalid i64", "expected a whole number"),
    ("invalid u64", "expected a whole number"),
    ("invalid floating point", "expected a number such as 0.5"),
    ("invalid boolean", "expected true or false"),
    ("expected sequence start", "expected a list, e.g. `[a, b]`"),
    (
        "expected mapping start",
        "expected a mapping, e.g. `{ key: value }`",
    ),
    (
        "expected string scalar",
        "expected a single value, not a list or a mapping",
    ),
    (
        "cannot deserialize null into string; use Option<String>",
        "expected a value, found nothing (null)",
    ),
];

/// The error the parser wrapped (in alias and snippet layers).
fn innermost(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    use serde_saphyr::Error;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = err {
        err = error;
    }
    err
}

/// A document refused for its size (the parser's limits against alias
/// bombs and runaway input), said plainly; None for any other error.
pub(super) fn too_large(err: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::Error;
    use serde_saphyr::budget::BudgetBreach;
    let inner = innermost(err);
    let what = match inner {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Aliases { .. }
            | BudgetBreach::AliasAnchorRatio { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. } => "uses too many aliases",
            BudgetBreach::Depth { .. } => "is nested too deeply",
            BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
                "is too large once its aliases are expanded"
            }
            _ => "is too large",
        },
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => "uses too many aliases",
        _ => return None,
    };
    let position = inner
        .location()
        .or_else(|| err.location())
        .filter(|loc| loc.line() > 0)
        .map(|loc| format!(" (stopped at line {}, column {})", loc.line(), loc.column()))
        .unwrap_or_default();
    Some(format!(
        "the YAML {what}{position}: write the spec out plainly, without anchors (`&name`) \
         repeated many times through aliases (`*name`)"
    ))
}

pub(super) fn describe(err: &serde_saphyr::Error, yaml: &str) -> String {
    let err = err.without_snippet();
    let mut text = err.to_string();
    for (terse, plain) in REWORDED {
        if let Some(rest) = text.strip_prefix(terse) {
            text = format!("{plain}{rest}");
            break;
        }
    }
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ")
        && let Some((key, position)) =
            rest.split_once(", set DuplicateKeyPolicy in Options if acceptable")
    {
        text = format!("duplicate key `{key}`: each key may appear only once{position}");
    }
    // The plain rendering may already carry a position; add one only when
    // it does not, so the user always gets a line and column.
    if let Some(loc) = err.location()
        && loc.line() > 0
    {
        if !text.contains("line ") {
            text = format!("{text} (line {}, column {})", loc.line(), loc.column());
        }
        if text.starts_with("expected a single value")
            && let Some(word) = placeholder_at(yaml, loc.line(), loc.column())
        {
            text =
                format!("{text}: quote it: \"{word}\" (unquoted, YAML reads {word} as a mapping)");
        }
    }
    text
}

/// The `{port}`-like placeholder written unquoted at a position, if any:
/// YAML reads it as a one-key mapping, which is never what was meant.
fn placeholder_at(yaml: &str, line: u64, column: u64) -> Option<&str> {
    let text = yaml
        .lines()
        .nth(usize::try_from(line.checked_sub(1)?).ok()?)?;
    let start = text
        .char_indices()
        .nth(usize::try_from(column.checked_sub(1)?).ok()?)
        .map(|(i, _)| i)?;
    let rest = &text[start..];
    let end = rest.find('}')?;
    let word = &rest[..=end];
    let name = word.strip_prefix('{')?.strip_suffix('}')?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plain.then_some(word)
}

#[cfg(test)]
mod tests {
    use super::super::raw::parse;

    #[test]
    fn an_unquoted_placeholder_is_told_to_be_quoted() {
        let flow = "services:\n  - name: web\n    workload: { process: { command: [./app, --port, {port}] } }\n";
        let block = "services:\n  - name: web\n    health:\n      exec:\n        - ./check\n        - {version}\n";
        for (yaml, path, word) in [
            (flow, "services[0].workload.process.command[2]", "{port}"),
            (block, "services[0].health.exec[1]", "{version}"),
        ] {
            let err = parse(yaml).unwrap_err();
            assert_eq!(err.path, path);
            assert!(
                err.message.starts_with("expected a single value")
                    && err.message.contains(&format!("quote it: \"{word}\"")),
                "{}",
                err.message
            );
        }
        // A real mapping in the wrong place gets no such hint.
        let err = parse("services:\n  - name: { first: web }\n").unwrap_err();
        assert!(!err.message.contains("quote it"), "{}", err.message);
    }

    #[test]
    fn a_plain_spec_beyond_the_parsers_default_budget_is_not_too_large() {
        // About 35 nodes a service: 8,000 services pass the parser's default
        // of 250,000 nodes, which refused them.
        let mut yaml = String::from("environments: [{ name: staging }]\nservices:\n");
        for i in 0..8_000 {
            yaml.push_str(&format!(
                "  - name: s{i:05}
    workload: {{ process: {{ command: [./serve, \"{{port}}\"] }} }}
    targets: {{ staging: {{ listen: 127.0.0.1:{} }} }}
    canary: {{ steps: [{{ weight: 20, pause: 1h }}, {{ weight: 100 }}] }}
    analysis: {{ interval: 10s, min_requests: 10 }}
",
                20_000 + i
            ));
        }
        let spec = parse(&yaml).unwrap_or_else(|e| panic!("{}: {}", e.path, e.message));
        assert_eq!(spec.services.map(|s| s.len()), Some(8_000));
    }

    #[test]
    fn an_alias_bomb_is_called_too_large() {
        // Nine anchors, each a list of nine aliases of the one before: a
        // few hundred bytes that expand to nine to the ninth nodes.
        let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = format!("*a{}", i - 1);
            let list = [p.as_str(); 9].join(", ");
            yaml.push_str(&format!("a{i}: &a{i} [{list}]\n"));
        }
        yaml.push_str("environments: [{ name: s }]\n");
        let err = parse(&yaml).unwrap_err();
        assert_eq!(err.path, "");
        assert!(
            err.message.starts_with("the YAML ")
                && err.message.contains("write the spec out plainly")
                && !err.message.contains("budget")
                && !err.message.contains("Nodes"),
            "{}",
            err.message
        );
    }
}
