//! The JSON path subset of `web` checks: `$`, then any number of `.key`,
//! `['key']` and `[index]` steps, e.g. `$.data.items[0].score`.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses a path; the error says what is wrong and what is accepted.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    const HOW: &str = "write `$` then `.key`, `['key']` or `[0]` steps, e.g. `$.data.score`";
    let Some(mut rest) = path.strip_prefix('$') else {
        return Err(format!("`{path}` does not start with `$`; {HOW}"));
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("`{path}` has an empty key; {HOW}"));
            }
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let Some(end) = r.find("']") else {
                return Err(format!("`{path}` has a `['` never closed by `']`; {HOW}"));
            };
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("`{path}` has a `[` never closed by `]`; {HOW}"));
            };
            let index = r[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("`{path}`: `[{}]` is not an index; {HOW}", &r[..end]))?;
            steps.push(Step::Index(index));
            rest = &r[end + 1..];
        } else {
            return Err(format!("`{path}`: cannot read `{rest}`; {HOW}"));
        }
    }
    Ok(steps)
}

/// The value at `steps`, if there is one.
pub fn select<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_nested_values() {
        let doc = json!({"data": {"score": 0.93, "items": [{"n": 1}, {"n": 2}], "a.b": 3}});
        let at = |p: &str| select(&doc, &parse(p).unwrap()).cloned();
        assert_eq!(at("$.data.score"), Some(json!(0.93)));
        assert_eq!(at("$.data.items[1].n"), Some(json!(2)));
        assert_eq!(at("$['data']['a.b']"), Some(json!(3)));
        assert_eq!(at("$"), Some(doc.clone()));
        assert_eq!(at("$.data.missing"), None);
        assert_eq!(at("$.data.items[5]"), None);
    }

    #[test]
    fn bad_paths_say_what_is_accepted() {
        for bad in ["data.score", "$.", "$.a[x]", "$.a[0", "$['a'", "$a"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("e.g. `$.data.score`"), "{bad}: {e}");
        }
    }
}
