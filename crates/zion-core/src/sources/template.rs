//! Query templates: `{{service}}`, `{{environment}}`, `{{version}}`,
//! `{{stable_version}}` and `{{interval}}` (spaces inside the braces are
//! allowed), replaced by the deployment's values when a round is due.

use std::time::Duration;

/// The variables a template may use.
pub const VARIABLES: &[&str] = &[
    "service",
    "environment",
    "version",
    "stable_version",
    "interval",
];

/// The values of one deployment's templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    pub service: String,
    pub environment: String,
    pub version: String,
    /// Empty for a first version.
    pub stable_version: String,
    /// Whole seconds, at least one, as PromQL writes a range: `30s`.
    pub interval: String,
}

impl Vars {
    pub fn new(
        service: &str,
        environment: &str,
        version: &str,
        stable_version: Option<&str>,
        interval: Duration,
    ) -> Vars {
        Vars {
            service: service.into(),
            environment: environment.into(),
            version: version.into(),
            stable_version: stable_version.unwrap_or_default().into(),
            interval: format!("{}s", interval.as_secs().max(1)),
        }
    }

    /// Values that stand in for a deployment's when a template is checked
    /// before any deployment exists (`zion apply`).
    pub fn sample(service: &str, environment: &str, interval: Duration) -> Vars {
        Vars::new(service, environment, "v2", Some("v1"), interval)
    }

    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "service" => &self.service,
            "environment" => &self.environment,
            "version" => &self.version,
            "stable_version" => &self.stable_version,
            "interval" => &self.interval,
            _ => return None,
        })
    }
}

/// The `{{…}}` pieces of a template, trimmed, in order; an error for a
/// `{{` left open.
fn placeholders(template: &str) -> Result<Vec<(usize, usize, &str)>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = template[from..].find("{{") {
        let start = from + open;
        let Some(close) = template[start + 2..].find("}}") else {
            return Err(format!(
                "`{{{{` at character {} is never closed with `}}}}`",
                start + 1
            ));
        };
        let end = start + 2 + close + 2;
        out.push((start, end, template[start + 2..end - 2].trim()));
        from = end;
    }
    Ok(out)
}

/// Checks a template: every `{{…}}` closed and naming a known variable.
pub fn check(template: &str) -> Result<(), String> {
    for (_, _, name) in placeholders(template)? {
        if !VARIABLES.contains(&name) {
            return Err(format!(
                "`{{{{{name}}}}}` is not a template variable; use {}",
                VARIABLES
                    .iter()
                    .map(|v| format!("{{{{{v}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// Renders a template; unknown or unclosed placeholders (which
/// validation refuses) are left as written.
pub fn render(template: &str, vars: &Vars) -> String {
    let Ok(found) = placeholders(template) else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len());
    let mut last = 0;
    for (start, end, name) in found {
        out.push_str(&template[last..start]);
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&template[start..end]),
        }
        last = end;
    }
    out.push_str(&template[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::new("web", "prod", "v2", Some("v1"), Duration::from_millis(1500))
    }

    #[test]
    fn renders_every_variable() {
        let q = r#"sum(rate(ok{service="{{service}}",env="{{ environment }}",version="{{version}}"}[{{interval}}])) / on() ok{version="{{stable_version}}"}"#;
        assert_eq!(check(q), Ok(()));
        assert_eq!(
            render(q, &vars()),
            r#"sum(rate(ok{service="web",env="prod",version="v2"}[1s])) / on() ok{version="v1"}"#
        );
        let first = Vars::new("web", "prod", "v1", None, Duration::from_secs(30));
        assert_eq!(
            render("[{{interval}}] {{stable_version}}.", &first),
            "[30s] ."
        );
    }

    #[test]
    fn unknown_and_unclosed_placeholders_are_refused() {
        let e = check("x{{versoin}}").unwrap_err();
        assert!(
            e.contains("`{{versoin}}` is not a template variable"),
            "{e}"
        );
        assert!(e.contains("{{version}}"), "{e}");
        let e = check("rate(x[{{interval]").unwrap_err();
        assert!(e.contains("never closed"), "{e}");
        // PromQL's own single braces are not placeholders.
        assert_eq!(check(r#"up{job="a"}"#), Ok(()));
        assert_eq!(render("{{nope}}", &vars()), "{{nope}}");
    }
}
