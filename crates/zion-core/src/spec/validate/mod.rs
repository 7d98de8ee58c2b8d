//! Validation: turns the raw spec into the checked model. Every mistake is
//! collected with its path (`services[0].canary.steps[2].weight`) and a
//! message saying what is wrong and how to fix it; validation never stops at
//! the first one. Defaults documented on the model are applied here.
//!
//! Each part of the spec has its own module (`server`, `audit`,
//! `environments`, `services`, with a service's `rollout` and `analysis`);
//! this one holds the entry point and the `Report` every part adds its
//! errors to, with the checks they share: durations within their ranges,
//! names, references to declared names, addresses, and the suggestion for a
//! mistyped key or word. `summary` is the text `zion lint` prints.

mod analysis;
mod audit;
mod environments;
mod hooks;
mod judge;
mod limits;
mod notifications;
mod providers;
mod rollout;
mod routers;
mod server;
mod services;
mod slos;
mod summary;
#[cfg(test)]
mod test_support;
mod tls;

pub use summary::summary;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::ranges::Range;
use super::raw::{self, RawSpec, Text, Unknown, keys};
use super::{ConsoleSpec, Spec};
use crate::duration::parse_duration;
use crate::text::excerpt;
use audit::audit;
use environments::environments;
use server::server;
use services::services;

/// One spec error: where (`services[0].canary.steps[2].weight`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Dotted path of the offending key; empty when the document as a whole
    /// is at fault.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

/// Every error of a spec, in document order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    /// The errors, in document order.
    pub fn iter(&self) -> std::slice::Iter<'_, SpecError> {
        self.0.iter()
    }

    /// True when some error is at `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }
}

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// Parses and validates a `zion.yaml`. A YAML syntax or type error stops
/// parsing and is the only error returned (with its path and line/column);
/// otherwise every semantic mistake is reported at once.
pub fn parse_spec(yaml: &str) -> Result<Spec, SpecErrors> {
    let raw = raw::parse(yaml).map_err(|failure| {
        SpecErrors(vec![SpecError {
            path: failure.path,
            message: failure.message,
        }])
    })?;
    validate(&raw)
}

fn validate(raw: &RawSpec) -> Result<Spec, SpecErrors> {
    let mut r = Report::default();
    r.unknown("", &raw.unknown, keys::SPEC);
    let server = server(&mut r, raw.server.as_ref());
    let audit = raw
        .audit
        .as_ref()
        .map(|a| audit(&mut r, a))
        .unwrap_or_default();
    let console = raw
        .console
        .as_ref()
        .map(|c| {
            r.unknown("console", &c.unknown, keys::CONSOLE);
            ConsoleSpec {
                status_page: c.status_page.unwrap_or(false),
            }
        })
        .unwrap_or_default();
    let environments = environments(
        &mut r,
        raw.environments.as_deref().unwrap_or(&[]),
        raw.environments.is_some(),
    );
    let env_names: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();
    let providers = providers::providers(&mut r, raw.providers.as_ref());
    let raw_services = raw.services.as_deref().unwrap_or(&[]);
    let services = services(&mut r, raw_services, &env_names);
    routers::routers(&mut r, raw_services, &services, &providers);
    let service_names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let notifications = raw
        .notifications
        .as_ref()
        .map(|n| notifications::notifications(&mut r, n, &service_names, &env_names))
        .unwrap_or_default();
    let slos = slos::slos(&mut r, raw.slos.as_deref().unwrap_or(&[]), &services);
    r.check_listeners();
    if r.errors.is_empty() {
        Ok(Spec {
            server,
            audit,
            console,
            environments,
            services,
            providers,
            notifications,
            slos,
        })
    } else {
        Err(SpecErrors(r.errors))
    }
}

/// The errors found so far, plus every listener address for the final
/// uniqueness check.
#[derive(Default)]
struct Report {
    errors: Vec<SpecError>,
    /// Each declared provider's kind (None: written without a valid kind),
    /// for the checks that name one.
    providers: std::collections::BTreeMap<String, Option<&'static str>>,
    listeners: Vec<(String, SocketAddr)>,
}

fn at(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

fn text(t: Option<&Text>) -> Option<&str> {
    t.map(Text::as_str)
}

impl Report {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SpecError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, base: &str, unknown: &Unknown, allowed: &[&str]) {
        for key in &unknown.0 {
            let hint = match suggest(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            self.add(
                at(base, key),
                format!(
                    "unknown key; {hint}keys allowed here: {}",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// A duration, or `default` when absent; must lie in `range`.
    fn duration(
        &mut self,
        path: &str,
        value: Option<&Text>,
        default: Duration,
        range: Range,
    ) -> Duration {
        self.opt_duration(path, value, range).unwrap_or(default)
    }

    fn opt_duration(&mut self, path: &str, value: Option<&Text>, range: Range) -> Option<Duration> {
        let value = value?;
        let refusal = match parse_duration(value.as_str()) {
            Ok(d) => match range.refuse(d, &excerpt(value.as_str())) {
                None => return Some(d),
                Some(message) => message,
            },
            Err(message) => message,
        };
        self.add(path, refusal);
        None
    }

    /// A name that must be a DNS label; reports a missing or malformed one.
    fn name(&mut self, path: &str, value: Option<&Text>, kind: &str) -> String {
        match value {
            None => {
                self.add(
                    path,
                    format!("missing: every {kind} needs a name, e.g. `name: web`"),
                );
                String::new()
            }
            Some(name) => {
                if !is_dns_label(name.as_str()) {
                    self.add(
                        path,
                        format!(
                            "`{name}` is not a valid name: use 1-63 lowercase letters, digits \
                             and '-', starting and ending with a letter or digit (e.g. `web-api`)"
                        ),
                    );
                }
                name.0.clone()
            }
        }
    }

    /// Reports names declared twice in one list.
    fn unique_names(&mut self, base: &str, names: &[String], kind: &str) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            if let Some(j) = first.get(name.as_str()) {
                self.add(
                    format!("{base}[{i}].name"),
                    format!(
                        "{kind} `{name}` is already declared at {base}[{j}]: names must be unique"
                    ),
                );
            } else {
                first.insert(name, i);
            }
        }
    }

    /// A reference to a declared name (an environment or a service).
    /// A list of names of declared things (`requires`, `depends_on`): each
    /// must be declared, not the owner itself, and listed once. Returns the
    /// valid ones. `words` = (kind, verb, key) for the messages.
    fn name_list(
        &mut self,
        path: &str,
        items: &[Text],
        own: &str,
        declared: &[String],
        words: (&str, &str, &str),
    ) -> Vec<String> {
        let (kind, verb, key) = words;
        let mut out: Vec<String> = Vec::new();
        for (k, item) in items.iter().enumerate() {
            let ip = format!("{path}[{k}]");
            let item = item.as_str();
            if !own.is_empty() && item == own {
                self.add(
                    ip,
                    format!("`{item}` cannot {verb} itself: remove it from {key}"),
                );
            } else if out.iter().any(|x| x == item) {
                self.add(ip, format!("`{item}` is listed twice: list it once"));
            } else if self.reference(&ip, item, declared, kind) {
                out.push(item.to_owned());
            }
        }
        out
    }

    fn reference(&mut self, path: &str, name: &str, declared: &[String], kind: &str) -> bool {
        if declared.iter().any(|d| d == name) {
            return true;
        }
        let hint = match suggest(name, declared.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        let list: Vec<&str> = declared
            .iter()
            .map(String::as_str)
            .filter(|d| !d.is_empty())
            .collect();
        let declared_text = if list.is_empty() {
            "none is declared".to_owned()
        } else {
            format!("declared: {}", list.join(", "))
        };
        self.add(
            path,
            format!("unknown {kind} `{name}`; {hint}{declared_text}"),
        );
        false
    }

    /// One of a fixed set of words (roles, checks, strategies).
    fn choice<T: Copy>(
        &mut self,
        path: &str,
        value: &str,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == value) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = match suggest(value, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        self.add(
            path,
            format!(
                "`{value}` is not a {what}; {hint}use one of: {}",
                names.join(", ")
            ),
        );
        None
    }

    /// A listener address: an IP and a non-zero port.
    fn address(&mut self, path: &str, value: &Text, allow_port_zero: bool) -> Option<SocketAddr> {
        match value.as_str().parse::<SocketAddr>() {
            Err(_) => {
                self.add(
                    path,
                    format!(
                        "`{value}` is not an address: write an IP and a port, e.g. 127.0.0.1:8080 \
                         (host names are not resolved)"
                    ),
                );
                None
            }
            Ok(addr) if addr.port() == 0 && !allow_port_zero => {
                self.add(
                    path,
                    format!(
                        "`{value}` has port 0: give a fixed port, e.g. {}:8080, so clients know \
                         where to connect",
                        ip_text(&addr)
                    ),
                );
                None
            }
            Ok(addr) => {
                self.listeners.push((path.to_owned(), addr));
                Some(addr)
            }
        }
    }

    /// Every listener must be bindable next to all the others.
    fn check_listeners(&mut self) {
        let listeners = std::mem::take(&mut self.listeners);
        for (i, (path, addr)) in listeners.iter().enumerate() {
            let clash = listeners[..i]
                .iter()
                .find(|(_, other)| addresses_clash(addr, other));
            let Some((other_path, _)) = clash else {
                continue;
            };
            let message = if other_path == "server.listen" {
                format!(
                    "{addr} is also server.listen (Zion's API): give this listener another port"
                )
            } else {
                format!(
                    "{addr} is already used by {other_path}: every listener needs its own address"
                )
            };
            self.add(path.clone(), message);
        }
        self.listeners = listeners;
    }
}

fn ip_text(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// Two sockets cannot both bind when their ports match and their IPs are
/// equal or either is a wildcard.
fn addresses_clash(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate when it is close enough to be a typo.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let lower = word.to_ascii_lowercase().replace('-', "_");
    candidates
        .filter(|c| !c.is_empty())
        .map(|c| {
            (
                edit_distance(&lower, &c.replace('-', "_")).min(edit_distance(word, c)),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
