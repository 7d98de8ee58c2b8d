//! Deployment history made by other tools, read from JSON lines so that
//! delivery metrics can span the time before Zion. Each line is one JSON
//! object: a deployment (the default) or, with `"kind": "incident"`, an
//! incident. Parsing is strict (unknown fields, missing fields, bad times
//! and impossible orders are errors naming the line and the field) because
//! an import is written once into a tamper-evident history; and it is fast,
//! because such histories run to millions of lines: each line is read into
//! borrowed text first and only the final record owns its strings.
//!
//! A deployment line:
//!
//! ```json
//! {"external_id":"gh-1234","service":"web","environment":"production","version":"1.4.2",
//!  "type":"feature","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:12:00Z",
//!  "result":"succeeded","commit":"9fceb02","committed_at":"2026-02-28T16:20:00Z"}
//! ```
//!
//! An incident line:
//!
//! ```json
//! {"kind":"incident","external_id":"pd-77","service":"web","environment":"production",
//!  "opened_at":"2026-03-01T10:20:00Z","resolved_at":"2026-03-01T11:05:00Z","caused_by":"gh-1234"}
//! ```
//!
//! Nothing here touches files or the store; the caller reads the text and
//! writes the records.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use jiff::Timestamp;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::deployment::{DeploymentType, Phase};

/// One imported line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImportRecord {
    Deployment(ImportedDeployment),
    Incident(ImportedIncident),
}

impl ImportRecord {
    /// The id the other tool gave the record.
    pub fn external_id(&self) -> &str {
        match self {
            ImportRecord::Deployment(d) => &d.external_id,
            ImportRecord::Incident(i) => &i.external_id,
        }
    }
}

/// A finished deployment made by another tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedDeployment {
    pub external_id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// `type` in the JSON; default `feature`.
    #[serde(rename = "type")]
    pub kind: DeploymentType,
    pub started_at: Timestamp,
    /// Never before `started_at`.
    pub finished_at: Timestamp,
    pub result: ImportResult,
    pub commit: Option<String>,
    /// When the change was committed, for lead time.
    pub committed_at: Option<Timestamp>,
}

/// How an imported deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportResult {
    Succeeded,
    Failed,
    RolledBack,
}

impl ImportResult {
    const ALL: [ImportResult; 3] = [
        ImportResult::Succeeded,
        ImportResult::Failed,
        ImportResult::RolledBack,
    ];

    /// The JSON name.
    pub fn name(self) -> &'static str {
        self.phase().name()
    }

    /// The terminal phase a Zion deployment with this result has.
    pub fn phase(self) -> Phase {
        match self {
            ImportResult::Succeeded => Phase::Succeeded,
            ImportResult::Failed => Phase::Failed,
            ImportResult::RolledBack => Phase::RolledBack,
        }
    }

    /// Parses a JSON name.
    pub fn from_name(name: &str) -> Option<ImportResult> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A production problem recorded by another tool (a pager, a status page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedIncident {
    pub external_id: String,
    pub service: String,
    pub environment: String,
    pub opened_at: Timestamp,
    /// None while it is open; never before `opened_at`.
    pub resolved_at: Option<Timestamp>,
    /// The external id of the deployment that caused it, if known.
    pub caused_by: Option<String>,
}

/// Why an import was refused, at which line (1-based) and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    pub line: usize,
    /// The JSON field at fault; None when the line as a whole is.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: {field}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Text that borrows from the line unless JSON escapes forced a copy.
/// (serde's own `Cow` always copies when nested in an `Option`.)
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// A line as written: every field of either kind, all optional, so that
/// one pass reads any line and the checks below can name what is missing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    external_id: Option<Str<'a>>,
    #[serde(borrow)]
    service: Option<Str<'a>>,
    #[serde(borrow)]
    environment: Option<Str<'a>>,
    #[serde(borrow)]
    version: Option<Str<'a>>,
    #[serde(borrow, rename = "type")]
    deployment_type: Option<Str<'a>>,
    #[serde(borrow)]
    started_at: Option<Str<'a>>,
    #[serde(borrow)]
    finished_at: Option<Str<'a>>,
    #[serde(borrow)]
    result: Option<Str<'a>>,
    #[serde(borrow)]
    commit: Option<Str<'a>>,
    #[serde(borrow)]
    committed_at: Option<Str<'a>>,
    #[serde(borrow)]
    opened_at: Option<Str<'a>>,
    #[serde(borrow)]
    resolved_at: Option<Str<'a>>,
    #[serde(borrow)]
    caused_by: Option<Str<'a>>,
}

const DEPLOYMENT_FIELDS: &str = "kind, external_id, service, environment, version, type, \
                                 started_at, finished_at, result, commit, committed_at";
const INCIDENT_FIELDS: &str =
    "kind, external_id, service, environment, opened_at, resolved_at, caused_by";

/// Reads one line (`line_no` is 1-based, for messages).
pub fn parse_line(line_no: usize, line: &str) -> Result<ImportRecord, ImportError> {
    let fail = |field: Option<&str>, message: String| ImportError {
        line: line_no,
        field: field.map(str::to_owned),
        message,
    };
    if line.trim().is_empty() {
        return Err(fail(
            None,
            "empty: each line must be one JSON object".to_owned(),
        ));
    }
    // serde would read a JSON array into the struct field by field.
    if !line.trim_start().starts_with('{') {
        return Err(fail(
            None,
            "not a JSON object: each line must be one object such as \
             {\"external_id\": \"…\", …}"
                .to_owned(),
        ));
    }
    let raw: RawLine<'_> = match serde_json::from_str(line) {
        Ok(raw) => raw,
        Err(err) => return Err(json_error(line_no, line, &err)),
    };
    let mut reader = Fields {
        line: line_no,
        first_error: None,
    };
    let kind = raw.kind.as_ref().map_or("deployment", |k| &k.0);
    let record = match kind {
        "deployment" => {
            reader.foreign(&raw.opened_at, "opened_at", "deployment", DEPLOYMENT_FIELDS);
            reader.foreign(
                &raw.resolved_at,
                "resolved_at",
                "deployment",
                DEPLOYMENT_FIELDS,
            );
            reader.foreign(&raw.caused_by, "caused_by", "deployment", DEPLOYMENT_FIELDS);
            deployment(&mut reader, &raw)
        }
        "incident" => {
            for (value, field) in [
                (&raw.version, "version"),
                (&raw.deployment_type, "type"),
                (&raw.started_at, "started_at"),
                (&raw.finished_at, "finished_at"),
                (&raw.result, "result"),
                (&raw.commit, "commit"),
                (&raw.committed_at, "committed_at"),
            ] {
                reader.foreign(value, field, "incident", INCIDENT_FIELDS);
            }
            incident(&mut reader, &raw)
        }
        other => {
            return Err(fail(
                Some("kind"),
                format!(
                    "`{other}` is not a kind of record: use deployment (the default) or incident"
                ),
            ));
        }
    };
    match (reader.first_error, record) {
        (Some(err), _) => Err(err),
        (None, Some(record)) => Ok(record),
        (None, None) => Err(fail(None, "could not be read".to_owned())),
    }
}

/// Reads every non-blank line; the first bad line refuses the whole import,
/// so that nothing is half imported. An external id used twice for the same
/// kind of record is refused too.
pub fn parse_all(text: &str) -> Result<Vec<ImportRecord>, ImportError> {
    let mut records = Vec::new();
    let mut line_numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        records.push(parse_line(i + 1, line)?);
        line_numbers.push(i + 1);
    }
    // Checked after parsing so that the map can borrow the ids.
    let mut seen: HashMap<(bool, &str), usize> = HashMap::with_capacity(records.len());
    for (record, &line) in records.iter().zip(&line_numbers) {
        let is_incident = matches!(record, ImportRecord::Incident(_));
        if let Some(first) = seen.insert((is_incident, record.external_id()), line) {
            let what = if is_incident {
                "an incident"
            } else {
                "a deployment"
            };
            return Err(ImportError {
                line,
                field: Some("external_id".to_owned()),
                message: format!(
                    "`{}` is already the id of {what} on line {first}: ids must be unique",
                    record.external_id()
                ),
            });
        }
    }
    drop(seen);
    Ok(records)
}

/// serde_json's message, with the field named where its path knows it and
/// the column in place of the line it cannot know.
fn json_error(line_no: usize, line: &str, err: &serde_json::Error) -> ImportError {
    let mut message = err.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    if err.is_syntax() || err.is_eof() {
        message = format!("not valid JSON: {message} (column {})", err.column());
        return ImportError {
            line: line_no,
            field: None,
            message,
        };
    }
    // Errors are rare: read the line again, tracking the path, to name the
    // field whose value had the wrong type.
    let mut de = serde_json::Deserializer::from_str(line);
    let field = match serde_path_to_error::deserialize::<_, RawLine<'_>>(&mut de) {
        Err(e) => Some(e.path().to_string()).filter(|p| !p.is_empty() && p != "." && p != "?"),
        Ok(_) => None,
    };
    if message.starts_with("unknown field") {
        message.push_str(" (unknown fields are refused so that nothing is silently dropped)");
    }
    ImportError {
        line: line_no,
        field: field.filter(|_| !message.starts_with("unknown field")),
        message,
    }
}

/// Checks over one line's fields, keeping the first error.
struct Fields {
    line: usize,
    first_error: Option<ImportError>,
}

impl Fields {
    fn error(&mut self, field: &str, message: String) {
        if self.first_error.is_none() {
            self.first_error = Some(ImportError {
                line: self.line,
                field: Some(field.to_owned()),
                message,
            });
        }
    }

    /// A field of the other kind of record.
    fn foreign(&mut self, value: &Option<Str<'_>>, field: &str, kind: &str, allowed: &str) {
        if value.is_some() {
            self.error(
                field,
                format!("is not a field of {kind} records; fields allowed: {allowed}"),
            );
        }
    }

    /// A required, non-empty text.
    fn text(&mut self, value: &Option<Str<'_>>, field: &str) -> Option<String> {
        match value {
            None => {
                self.error(
                    field,
                    "missing: every record of this kind needs it".to_owned(),
                );
                None
            }
            Some(v) => self.non_empty(v, field),
        }
    }

    fn non_empty(&mut self, value: &Str<'_>, field: &str) -> Option<String> {
        if value.0.trim().is_empty() {
            self.error(field, "is empty".to_owned());
            None
        } else {
            Some(value.0.as_ref().to_owned())
        }
    }

    /// An external id: any text but one that starts with `#`, which names
    /// Zion's own deployments (`#42`) and must never be mistaken for them.
    fn external_id(&mut self, value: &Option<Str<'_>>) -> Option<String> {
        let id = self.text(value, "external_id")?;
        if id.starts_with('#') {
            self.error(
                "external_id",
                format!(
                    "`{id}` starts with `#`, which names Zion's own deployments (`#42`); \
                     drop the `#` or use another prefix"
                ),
            );
            return None;
        }
        Some(id)
    }

    fn optional_text(&mut self, value: &Option<Str<'_>>, field: &str) -> Option<String> {
        value.as_ref().and_then(|v| self.non_empty(v, field))
    }

    fn time(&mut self, value: &Option<Str<'_>>, field: &str) -> Option<Timestamp> {
        match value {
            None => {
                self.error(
                    field,
                    "missing: give an RFC 3339 time such as 2026-03-01T10:00:00Z".to_owned(),
                );
                None
            }
            Some(v) => self.parse_time(v, field),
        }
    }

    fn optional_time(&mut self, value: &Option<Str<'_>>, field: &str) -> Option<Timestamp> {
        value.as_ref().and_then(|v| self.parse_time(v, field))
    }

    fn parse_time(&mut self, value: &Str<'_>, field: &str) -> Option<Timestamp> {
        match value.0.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(
                    field,
                    format!(
                        "`{}` is not an RFC 3339 time: write one with a zone, e.g. \
                         2026-03-01T10:00:00Z",
                        value.0
                    ),
                );
                None
            }
        }
    }

    /// `later` must not be before `earlier`.
    fn ordered(&mut self, earlier: (Timestamp, &str), later: (Timestamp, &str)) {
        if later.0 < earlier.0 {
            self.error(
                later.1,
                format!(
                    "{} is before {} ({}): a record cannot end before it began",
                    later.0, earlier.1, earlier.0
                ),
            );
        }
    }
}

fn deployment(f: &mut Fields, raw: &RawLine<'_>) -> Option<ImportRecord> {
    let external_id = f.external_id(&raw.external_id);
    let service = f.text(&raw.service, "service");
    let environment = f.text(&raw.environment, "environment");
    let version = f.text(&raw.version, "version");
    let kind = match &raw.deployment_type {
        None => Some(DeploymentType::Feature),
        Some(t) => DeploymentType::from_name(&t.0).or_else(|| {
            f.error(
                "type",
                format!(
                    "`{}` is not a deployment type: use feature (the default), hotfix, config \
                     or rollback",
                    t.0
                ),
            );
            None
        }),
    };
    let started_at = f.time(&raw.started_at, "started_at");
    let finished_at = f.time(&raw.finished_at, "finished_at");
    let result = match &raw.result {
        None => {
            f.error(
                "result",
                "missing: give succeeded, failed or rolled_back".to_owned(),
            );
            None
        }
        Some(r) => ImportResult::from_name(&r.0).or_else(|| {
            f.error(
                "result",
                format!(
                    "`{}` is not a result: use succeeded, failed or rolled_back",
                    r.0
                ),
            );
            None
        }),
    };
    let commit = f.optional_text(&raw.commit, "commit");
    let committed_at = f.optional_time(&raw.committed_at, "committed_at");
    if let (Some(s), Some(e)) = (started_at, finished_at) {
        f.ordered((s, "started_at"), (e, "finished_at"));
    }
    Some(ImportRecord::Deployment(ImportedDeployment {
        external_id: external_id?,
        service: service?,
        environment: environment?,
        version: version?,
        kind: kind?,
        started_at: started_at?,
        finished_at: finished_at?,
        result: result?,
        commit,
        committed_at,
    }))
}

fn incident(f: &mut Fields, raw: &RawLine<'_>) -> Option<ImportRecord> {
    let external_id = f.external_id(&raw.external_id);
    let service = f.text(&raw.service, "service");
    let environment = f.text(&raw.environment, "environment");
    let opened_at = f.time(&raw.opened_at, "opened_at");
    let resolved_at = f.optional_time(&raw.resolved_at, "resolved_at");
    let caused_by = f.optional_text(&raw.caused_by, "caused_by");
    if let (Some(o), Some(r)) = (opened_at, resolved_at) {
        f.ordered((o, "opened_at"), (r, "resolved_at"));
    }
    Some(ImportRecord::Incident(ImportedIncident {
        external_id: external_id?,
        service: service?,
        environment: environment?,
        opened_at: opened_at?,
        resolved_at,
        caused_by,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const DEPLOY: &str = r#"{"external_id":"gh-1234","service":"web","environment":"production","version":"1.4.2","type":"hotfix","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T11:12:00+01:00","result":"rolled_back","commit":"9fceb02","committed_at":"2026-02-28T16:20:00Z"}"#;

    const INCIDENT: &str = r#"{"kind":"incident","external_id":"pd-77","service":"web","environment":"production","opened_at":"2026-03-01T10:20:00Z","resolved_at":"2026-03-01T11:05:00Z","caused_by":"gh-1234"}"#;

    /// A minimal deployment line with `extra` fields spliced in.
    fn deploy(extra: &str) -> String {
        let base = r#""external_id":"d1","service":"web","environment":"staging","version":"2","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:05:00Z","result":"succeeded""#;
        if extra.is_empty() {
            format!("{{{base}}}")
        } else {
            format!("{{{base},{extra}}}")
        }
    }

    #[track_caller]
    fn err(line: &str) -> ImportError {
        parse_line(7, line).unwrap_err()
    }

    #[test]
    fn reads_a_full_deployment() {
        let record = parse_line(1, DEPLOY).unwrap();
        assert_eq!(
            record,
            ImportRecord::Deployment(ImportedDeployment {
                external_id: "gh-1234".into(),
                service: "web".into(),
                environment: "production".into(),
                version: "1.4.2".into(),
                kind: DeploymentType::Hotfix,
                started_at: ts("2026-03-01T10:00:00Z"),
                // 11:12 at +01:00 is 10:12 UTC.
                finished_at: ts("2026-03-01T10:12:00Z"),
                result: ImportResult::RolledBack,
                commit: Some("9fceb02".into()),
                committed_at: Some(ts("2026-02-28T16:20:00Z")),
            })
        );
        assert_eq!(record.external_id(), "gh-1234");
        assert_eq!(ImportResult::RolledBack.phase(), Phase::RolledBack);
    }

    #[test]
    fn deployment_defaults() {
        let ImportRecord::Deployment(d) = parse_line(1, &deploy("")).unwrap() else {
            panic!("a line without kind is a deployment");
        };
        assert_eq!(d.kind, DeploymentType::Feature);
        assert_eq!((d.commit, d.committed_at), (None, None));
        // Explicit kind, nulls for optional fields, escapes in text.
        let line = deploy(r#""kind":"deployment","commit":null,"version":"v\u0031""#);
        let line = line.replace(r#""version":"2","#, "");
        let ImportRecord::Deployment(d) = parse_line(1, &line).unwrap() else {
            panic!("kind deployment");
        };
        assert_eq!((d.version.as_str(), d.commit), ("v1", None));
    }

    #[test]
    fn reads_an_incident() {
        assert_eq!(
            parse_line(3, INCIDENT).unwrap(),
            ImportRecord::Incident(ImportedIncident {
                external_id: "pd-77".into(),
                service: "web".into(),
                environment: "production".into(),
                opened_at: ts("2026-03-01T10:20:00Z"),
                resolved_at: Some(ts("2026-03-01T11:05:00Z")),
                caused_by: Some("gh-1234".into()),
            })
        );
        let open = r#"{"kind":"incident","external_id":"pd-78","service":"api","environment":"production","opened_at":"2026-03-02T08:00:00Z"}"#;
        let ImportRecord::Incident(i) = parse_line(1, open).unwrap() else {
            panic!("incident");
        };
        assert_eq!((i.resolved_at, i.caused_by), (None, None));
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let e = err(&deploy(r#""colour":"blue""#));
        assert_eq!(e.line, 7);
        assert!(e.message.starts_with("unknown field `colour`"), "{e}");
        assert!(
            e.to_string().starts_with("line 7: unknown field `colour`"),
            "{e}"
        );

        let missing = deploy("").replace(r#""service":"web","#, "");
        assert_eq!(
            err(&missing).to_string(),
            "line 7: service: missing: every record of this kind needs it"
        );

        let e = err(&deploy("").replace(r#""version":"2""#, r#""version":2"#));
        assert_eq!(e.field.as_deref(), Some("version"));
        assert!(e.message.starts_with("invalid type: integer `2`"), "{e}");
        assert!(!e.message.contains("at line"), "{e}");

        // `#42` names Zion's own deployment 42: never an imported id.
        let e = err(&deploy("").replace(r#""external_id":"d1""#, r##""external_id":"#42""##));
        assert_eq!(e.field.as_deref(), Some("external_id"));
        assert!(e.message.contains("`#42` starts with `#`"), "{e}");

        let e = err(&deploy(r#""type":"bugfix""#));
        assert_eq!(e.field.as_deref(), Some("type"));
        assert!(
            e.message.contains("`bugfix` is not a deployment type"),
            "{e}"
        );

        let e = err(&deploy("").replace("succeeded", "ok"));
        assert_eq!(e.field.as_deref(), Some("result"));

        let e = err(&deploy("").replace("2026-03-01T10:05:00Z", "yesterday"));
        assert_eq!(e.field.as_deref(), Some("finished_at"));
        assert!(e.message.contains("not an RFC 3339 time"), "{e}");

        let e = err(&deploy("").replace("2026-03-01T10:05:00Z", "2026-03-01T10:05:00"));
        assert_eq!(
            e.field.as_deref(),
            Some("finished_at"),
            "a time without a zone: {e}"
        );

        let e = err(&deploy(r#""kind":"release""#));
        assert_eq!(e.field.as_deref(), Some("kind"));

        let e = err(&deploy("").replace(r#""d1""#, r#""  ""#));
        assert_eq!(e.to_string(), "line 7: external_id: is empty");
    }

    #[test]
    fn times_must_be_in_order() {
        let e = err(&deploy("").replace("2026-03-01T10:05:00Z", "2026-03-01T09:59:59Z"));
        assert_eq!(
            e.to_string(),
            "line 7: finished_at: 2026-03-01T09:59:59Z is before started_at \
             (2026-03-01T10:00:00Z): a record cannot end before it began"
        );
        // Equal times are allowed (an instant deployment).
        parse_line(
            1,
            &deploy("").replace("2026-03-01T10:05:00Z", "2026-03-01T10:00:00Z"),
        )
        .unwrap();
        let e = err(&INCIDENT.replace("2026-03-01T11:05:00Z", "2026-03-01T10:00:00Z"));
        assert_eq!(e.field.as_deref(), Some("resolved_at"));
    }

    #[test]
    fn fields_of_the_other_kind_are_refused() {
        let e = err(&deploy(r#""caused_by":"x""#));
        assert_eq!(e.field.as_deref(), Some("caused_by"));
        assert!(
            e.message.contains("is not a field of deployment records"),
            "{e}"
        );
        let e = err(&INCIDENT.replace(r#""caused_by""#, r#""version":"1","caused_by""#));
        assert_eq!(e.field.as_deref(), Some("version"));
        assert!(
            e.message.contains("is not a field of incident records"),
            "{e}"
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        let e = err(r#"{"external_id":"x","#);
        assert_eq!(e.field, None);
        assert!(e.message.starts_with("not valid JSON"), "{e}");
        let e = err(r#"{"external_id" "x"}"#);
        assert!(e.message.contains("column 16"), "{e}");
        let e = err("[1, 2]");
        assert_eq!(e.field, None);
        assert!(e.message.starts_with("not a JSON object"), "{e}");
        assert!(err("\"web\"").message.starts_with("not a JSON object"));
        let e = err(&format!("{} trailing", deploy("")));
        assert!(e.message.starts_with("not valid JSON"), "{e}");
        assert!(err("   ").message.starts_with("empty"));
        // Duplicate keys in one object are refused by the JSON reader.
        let e = err(&deploy(r#""service":"api""#));
        assert!(e.message.contains("duplicate field `service`"), "{e}");
    }

    #[test]
    fn parse_all_reads_every_line_and_skips_blank_ones() {
        let text = format!("{DEPLOY}\n\n{INCIDENT}\r\n{}\n", deploy(""));
        let records = parse_all(&text).unwrap();
        let ids: Vec<&str> = records.iter().map(ImportRecord::external_id).collect();
        assert_eq!(ids, ["gh-1234", "pd-77", "d1"]);
        assert_eq!(parse_all("").unwrap(), vec![]);
    }

    #[test]
    fn the_first_bad_line_aborts_the_import() {
        let bad = deploy("").replace("succeeded", "maybe");
        let text = format!("{DEPLOY}\n{INCIDENT}\n\n{bad}\n{}\n", deploy(r#""x":1"#));
        let e = parse_all(&text).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (4, Some("result")));
    }

    #[test]
    fn ids_are_unique_per_kind() {
        // A deployment and an incident may share an id (different tools).
        let same_id = INCIDENT.replace("pd-77", "gh-1234");
        parse_all(&format!("{DEPLOY}\n{same_id}\n")).unwrap();
        let e = parse_all(&format!("{DEPLOY}\n{INCIDENT}\n{DEPLOY}\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: external_id: `gh-1234` is already the id of a deployment on line 1: ids \
             must be unique"
        );
    }

    #[test]
    fn borrowed_text_is_not_copied_until_the_record() {
        let raw: RawLine<'_> =
            serde_json::from_str(r#"{"service":"web","version":"a\"b"}"#).unwrap();
        assert!(matches!(raw.service.unwrap().0, Cow::Borrowed("web")));
        assert!(matches!(raw.version.unwrap().0, Cow::Owned(ref v) if v == "a\"b"));
    }
}
