//! SARIF 2.1.0 logs (clippy-sarif, semgrep, CodeQL, gosec, Trivy…), counted
//! by result level.
//!
//! A result's level is found as SARIF 2.1.0 §3.27.10 says:
//! - `level` when the result has one;
//! - else, when its `kind` is present and not `fail` (`pass`, `review`,
//!   `open`, `informational`, `notApplicable`), `none`;
//! - else the level of the rule it names (`rule`, `ruleIndex` or `ruleId`,
//!   in the driver or, through `rule.toolComponent`, an extension), taken
//!   from the run's `invocations[].ruleConfigurationOverrides` when one
//!   overrides that rule's level, else from the rule's
//!   `defaultConfiguration.level`;
//! - else `warning`.
//!
//! A result that claims a rule the log does not describe is counted with
//! the same fallback (`warning`); an index out of range is an error, since
//! it means the log is corrupt.
//!
//! Results carrying a suppression (e.g. semgrep's `nosemgrep` comments)
//! whose `status` is absent or `accepted` are not counted: the team has
//! looked at them and said so in the code. Suppressions `underReview` or
//! `rejected` do not hide a result. A run without a `results` array counts
//! nothing (some writers omit empty arrays).

use serde::Deserialize;
use zion_core::governance::quality::FindingLevel;

use crate::{EvidenceError, FindingCounts, Position, ReportKind, Result};

const KIND: ReportKind = ReportKind::Sarif;

#[derive(Deserialize)]
struct Log {
    version: Option<String>,
    runs: Option<Vec<Run>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Option<Tool>,
    results: Option<Vec<SarifResult>>,
    invocations: Option<Vec<Invocation>>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Option<Component>,
    extensions: Option<Vec<Component>>,
}

#[derive(Deserialize)]
struct Component {
    name: Option<String>,
    rules: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: Option<String>,
    default_configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    level: Option<String>,
    kind: Option<String>,
    rule_id: Option<String>,
    rule_index: Option<i64>,
    rule: Option<RuleReference>,
    suppressions: Option<Vec<Suppression>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleReference {
    id: Option<String>,
    index: Option<i64>,
    tool_component: Option<ComponentReference>,
}

#[derive(Deserialize)]
struct ComponentReference {
    name: Option<String>,
    index: Option<i64>,
}

#[derive(Deserialize)]
struct Suppression {
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    rule_configuration_overrides: Option<Vec<Override>>,
}

#[derive(Deserialize)]
struct Override {
    descriptor: Option<RuleReference>,
    configuration: Option<Configuration>,
}

/// A rule located in a run: the component (None = the driver, else the
/// extension's index) and the rule's index in it.
type RuleAt = (Option<usize>, usize);

/// Reads a SARIF 2.1.0 log and counts its results by level.
pub fn parse_sarif(bytes: &[u8]) -> Result<FindingCounts> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let log: Log = serde_json::from_slice(bytes).map_err(|e| {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        let at = (e.line() > 0).then(|| Position {
            line: e.line() as u64,
            column: e.column() as u64,
            byte: None,
        });
        EvidenceError {
            kind: KIND,
            at,
            message: format!("not a SARIF log: {message}"),
        }
    })?;
    match log.version.as_deref() {
        Some("2.1.0") => {}
        Some(other) => {
            return Err(EvidenceError::new(
                KIND,
                format!("version is \"{other}\": only SARIF 2.1.0 is read; ask the tool for 2.1.0"),
            ));
        }
        None => {
            return Err(EvidenceError::new(
                KIND,
                "no \"version\": a SARIF log says \"version\": \"2.1.0\" at its top",
            ));
        }
    }
    let Some(runs) = log.runs else {
        return Err(EvidenceError::new(
            KIND,
            "no \"runs\" array: a SARIF log lists its tool runs under \"runs\"",
        ));
    };
    let mut counts = FindingCounts::default();
    for (r, run) in runs.iter().enumerate() {
        let overrides = overrides(run, r)?;
        for (i, result) in run.results.iter().flatten().enumerate() {
            if is_suppressed(result) {
                continue;
            }
            let where_ = || format!("runs[{r}].results[{i}]");
            let level = match (&result.level, result.kind.as_deref()) {
                (Some(level), _) => level_named(level, &format!("{}.level", where_()))?,
                (None, Some(kind)) if kind != "fail" => FindingLevel::None,
                (None, _) => match rule_of(run, result, &where_())? {
                    Some(at) => match overrides.iter().find(|(o, _)| *o == at) {
                        Some((_, level)) => *level,
                        None => default_level(run, at, &where_())?,
                    },
                    None => FindingLevel::Warning,
                },
            };
            counts.add(level);
        }
    }
    Ok(counts)
}

fn level_named(name: &str, path: &str) -> Result<FindingLevel> {
    FindingLevel::from_name(name).ok_or_else(|| {
        EvidenceError::new(
            KIND,
            format!("{path} is \"{name}\", not a SARIF level (error, warning, note or none)"),
        )
    })
}

fn is_suppressed(result: &SarifResult) -> bool {
    result
        .suppressions
        .iter()
        .flatten()
        .any(|s| matches!(s.status.as_deref(), None | Some("accepted")))
}

/// The levels the run's invocations set for rules.
fn overrides(run: &Run, r: usize) -> Result<Vec<(RuleAt, FindingLevel)>> {
    let mut out = Vec::new();
    for (n, invocation) in run.invocations.iter().flatten().enumerate() {
        for (k, o) in invocation
            .rule_configuration_overrides
            .iter()
            .flatten()
            .enumerate()
        {
            let path = format!("runs[{r}].invocations[{n}].ruleConfigurationOverrides[{k}]");
            let Some(level) = o.configuration.as_ref().and_then(|c| c.level.as_deref()) else {
                continue;
            };
            let level = level_named(level, &format!("{path}.configuration.level"))?;
            if let Some(descriptor) = &o.descriptor
                && let Some(at) = resolve(run, Some(descriptor), None, None, &path)?
            {
                out.push((at, level));
            }
        }
    }
    Ok(out)
}

/// The rule a result names, if the log describes it.
fn rule_of(run: &Run, result: &SarifResult, path: &str) -> Result<Option<RuleAt>> {
    resolve(
        run,
        result.rule.as_ref(),
        result.rule_index,
        result.rule_id.as_deref(),
        path,
    )
}

/// Finds a rule by index (preferred, as the spec says) or by id; hierarchical
/// ids such as `CA2101/1` also match their base rule `CA2101`.
fn resolve(
    run: &Run,
    reference: Option<&RuleReference>,
    fallback_index: Option<i64>,
    fallback_id: Option<&str>,
    path: &str,
) -> Result<Option<RuleAt>> {
    let tool = run.tool.as_ref();
    let (component_at, component) = match reference.and_then(|r| r.tool_component.as_ref()) {
        None => (None, tool.and_then(|t| t.driver.as_ref())),
        Some(c) => {
            let extensions = tool.and_then(|t| t.extensions.as_deref()).unwrap_or(&[]);
            let driver = tool.and_then(|t| t.driver.as_ref());
            match (c.index, c.name.as_deref()) {
                (Some(i), _) if i >= 0 => {
                    let i = i as usize;
                    let Some(ext) = extensions.get(i) else {
                        return Err(EvidenceError::new(
                            KIND,
                            format!(
                                "{path} refers to tool extension {i}, but the tool lists {}",
                                extensions.len()
                            ),
                        ));
                    };
                    (Some(i), Some(ext))
                }
                (_, Some(name)) => match extensions
                    .iter()
                    .position(|e| e.name.as_deref() == Some(name))
                {
                    Some(i) => (Some(i), extensions.get(i)),
                    None if driver.and_then(|d| d.name.as_deref()) == Some(name) => (None, driver),
                    None => return Ok(None),
                },
                _ => (None, driver),
            }
        }
    };
    let rules = component.and_then(|c| c.rules.as_deref()).unwrap_or(&[]);
    let index = reference
        .and_then(|r| r.index)
        .or(fallback_index)
        .filter(|&i| i >= 0);
    if let Some(i) = index {
        let i = i as usize;
        if i >= rules.len() {
            return Err(EvidenceError::new(
                KIND,
                format!(
                    "{path} refers to rule index {i}, but the tool lists {} rule(s): the log is \
                     inconsistent",
                    rules.len()
                ),
            ));
        }
        return Ok(Some((component_at, i)));
    }
    let Some(id) = reference.and_then(|r| r.id.as_deref()).or(fallback_id) else {
        return Ok(None);
    };
    let base = id.split('/').next().unwrap_or(id);
    let found = rules
        .iter()
        .position(|r| r.id.as_deref() == Some(id))
        .or_else(|| rules.iter().position(|r| r.id.as_deref() == Some(base)));
    Ok(found.map(|i| (component_at, i)))
}

/// A rule's `defaultConfiguration.level`; a configuration without a level
/// means `warning`, as does no configuration.
fn default_level(run: &Run, (component, i): RuleAt, path: &str) -> Result<FindingLevel> {
    let tool = run.tool.as_ref();
    let component = match component {
        None => tool.and_then(|t| t.driver.as_ref()),
        Some(e) => tool
            .and_then(|t| t.extensions.as_deref())
            .and_then(|x| x.get(e)),
    };
    let level = component
        .and_then(|c| c.rules.as_deref())
        .and_then(|rules| rules.get(i))
        .and_then(|r| r.default_configuration.as_ref())
        .and_then(|c| c.level.as_deref());
    match level {
        Some(name) => level_named(
            name,
            &format!("the rule of {path}: defaultConfiguration.level"),
        ),
        None => Ok(FindingLevel::Warning),
    }
}
