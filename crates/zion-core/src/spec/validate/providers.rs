//! `providers:`: external engines by name, each of one kind (a
//! Prometheus checks read from, an HAProxy or nginx targets route through).

use std::collections::BTreeMap;

use super::{Report, at, text};
use crate::spec::SecretSource;
use crate::spec::providers::{
    HaproxyProvider, NginxProvider, PrometheusProvider, Provider, ProviderAuth,
};
use crate::spec::ranges;
use crate::spec::raw::{
    RawBasicAuth, RawHaproxyProvider, RawNginxProvider, RawPrometheus, RawProvider, Text, keys,
};

pub(super) fn providers(
    r: &mut Report,
    raw: Option<&BTreeMap<String, RawProvider>>,
) -> BTreeMap<String, Provider> {
    let mut out = BTreeMap::new();
    for (name, raw) in raw.into_iter().flatten() {
        let p = format!("providers.{name}");
        r.unknown(&p, &raw.unknown, keys::PROVIDER);
        let given: Vec<&str> = [
            ("prometheus", raw.prometheus.is_some()),
            ("haproxy", raw.haproxy.is_some()),
            ("nginx", raw.nginx.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        let (provider, kind) = match (&raw.prometheus, &raw.haproxy, &raw.nginx) {
            _ if given.len() > 1 => {
                r.add(
                    &p,
                    format!(
                        "names {} kinds ({}): one provider is one engine; declare each under its own name",
                        given.len(),
                        given.join(" and ")
                    ),
                );
                (None, None)
            }
            (Some(prom), _, _) => (
                prometheus(r, &at(&p, "prometheus"), prom).map(Provider::Prometheus),
                Some("prometheus"),
            ),
            (_, Some(h), _) => (
                haproxy(r, &at(&p, "haproxy"), h).map(Provider::Haproxy),
                Some("haproxy"),
            ),
            (_, _, Some(n)) => (
                nginx(r, &at(&p, "nginx"), n).map(Provider::Nginx),
                Some("nginx"),
            ),
            (None, None, None) => {
                r.add(
                    &p,
                    format!(
                        "names no kind: write one of {}, e.g. `{name}: {{ prometheus: {{ url: http://127.0.0.1:9090 }} }}`, `{name}: {{ haproxy: {{ socket: /run/haproxy/admin.sock }} }}` or `{name}: {{ nginx: {{ config: /etc/nginx/nginx.conf }} }}`",
                        keys::PROVIDER.join(", ")
                    ),
                );
                (None, None)
            }
        };
        // Known even when invalid, so checks naming it get no second error.
        r.providers.insert(name.clone(), kind);
        if let Some(provider) = provider {
            out.insert(name.clone(), provider);
        }
    }
    out
}

fn haproxy(r: &mut Report, p: &str, raw: &RawHaproxyProvider) -> Option<HaproxyProvider> {
    r.unknown(p, &raw.unknown, keys::HAPROXY_PROVIDER);
    // A UDP port of Zion's: checked for clashes like the listeners.
    let syslog = raw
        .syslog
        .as_ref()
        .and_then(|s| r.address(&at(p, "syslog"), s, false));
    match text(raw.socket.as_ref()) {
        Some(socket) if !socket.trim().is_empty() => Some(HaproxyProvider {
            socket: socket.to_owned(),
            syslog,
        }),
        _ => {
            r.add(
                at(p, "socket"),
                "missing: the path of HAProxy's admin socket (`stats socket <path> level admin` \
                 in its configuration), e.g. /run/haproxy/admin.sock",
            );
            None
        }
    }
}

fn nginx(r: &mut Report, p: &str, raw: &RawNginxProvider) -> Option<NginxProvider> {
    r.unknown(p, &raw.unknown, keys::NGINX_PROVIDER);
    let binary = match text(raw.binary.as_ref()).map(str::trim) {
        None => Some(NginxProvider::DEFAULT_BINARY.to_owned()),
        Some("") => {
            r.add(
                at(p, "binary"),
                "is empty: name the nginx program (on the PATH, e.g. `nginx`, or a path, e.g. \
                 /usr/sbin/nginx), or remove the key for `nginx`",
            );
            None
        }
        Some(b) => Some(b.to_owned()),
    };
    let config = match text(raw.config.as_ref()).map(str::trim) {
        Some(c) if !c.is_empty() => Some(c.to_owned()),
        _ => {
            r.add(
                at(p, "config"),
                "missing: the main configuration file the running nginx was started with \
                 (its `-c`), e.g. /etc/nginx/nginx.conf",
            );
            None
        }
    };
    Some(NginxProvider {
        binary: binary?,
        config: config?,
    })
}

fn prometheus(r: &mut Report, p: &str, raw: &RawPrometheus) -> Option<PrometheusProvider> {
    r.unknown(p, &raw.unknown, keys::PROMETHEUS);
    let url = http_url(r, &at(p, "url"), raw.url.as_ref(), "http://127.0.0.1:9090");
    let timeout = r.duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        PrometheusProvider::DEFAULT_TIMEOUT,
        ranges::SOURCE_TIMEOUT,
    );
    let bearer = secret(
        r,
        p,
        ("bearer_token_env", raw.bearer_token_env.as_ref()),
        ("bearer_token_file", raw.bearer_token_file.as_ref()),
    );
    let basic = raw
        .basic_auth
        .as_ref()
        .map(|b| basic_auth(r, &at(p, "basic_auth"), b));
    let auth = match (bearer, basic) {
        (Some(_), Some(_)) => {
            r.add(p, "has both a bearer token and basic_auth: keep one");
            return None;
        }
        (Some(b), None) => Some(ProviderAuth::Bearer(b?)),
        (None, Some(b)) => Some(b?),
        (None, None) => None,
    };
    Some(PrometheusProvider {
        url: url?,
        timeout,
        auth,
    })
}

fn basic_auth(r: &mut Report, p: &str, raw: &RawBasicAuth) -> Option<ProviderAuth> {
    r.unknown(p, &raw.unknown, keys::BASIC_AUTH);
    let username = match text(raw.username.as_ref()) {
        Some(u) if !u.is_empty() => Some(u.to_string()),
        _ => {
            r.add(
                at(p, "username"),
                "missing: name the user, e.g. `username: zion`",
            );
            None
        }
    };
    let password = secret(
        r,
        p,
        ("password_env", raw.password_env.as_ref()),
        ("password_file", raw.password_file.as_ref()),
    );
    let password = match password {
        Some(p) => p,
        None => {
            r.add(
                p,
                "names no password: add `password_env: VAR` (an environment variable of `zion up`) or `password_file: PATH`",
            );
            None
        }
    };
    Some(ProviderAuth::Basic {
        username: username?,
        password: password?,
    })
}

/// An optional secret given by one of two keys: Some(None) when given but
/// wrong (reported), None when neither key is there.
pub(super) fn secret(
    r: &mut Report,
    p: &str,
    (env_key, env): (&str, Option<&Text>),
    (file_key, file): (&str, Option<&Text>),
) -> Option<Option<SecretSource>> {
    match (text(env).map(str::trim), text(file).map(str::trim)) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            r.add(p, format!("has both {env_key} and {file_key}: keep one"));
            Some(None)
        }
        (Some(var), None) => Some(env_var(r, &at(p, env_key), var).map(SecretSource::Env)),
        (None, Some("")) => {
            r.add(
                at(p, file_key),
                "is empty: name the file holding the secret",
            );
            Some(None)
        }
        (None, Some(path)) => Some(Some(SecretSource::File(path.to_string()))),
    }
}

/// An environment variable's name.
pub(super) fn env_var(r: &mut Report, p: &str, var: &str) -> Option<String> {
    let valid = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        r.add(
            p,
            format!(
                "`{var}` is not an environment variable name: use letters, digits and `_`, e.g. PROM_TOKEN"
            ),
        );
        return None;
    }
    Some(var.to_string())
}

/// An `http(s)://host[:port][/path]` URL (templates allowed in the path),
/// without a trailing slash.
pub(super) fn http_url(
    r: &mut Report,
    p: &str,
    raw: Option<&Text>,
    example: &str,
) -> Option<String> {
    let Some(url) = text(raw).map(str::trim) else {
        r.add(
            p,
            format!("missing: give an http:// or https:// URL, e.g. `{example}`"),
        );
        return None;
    };
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            &rest[..end]
        });
    match host {
        Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) => {
            Some(url.trim_end_matches('/').to_string())
        }
        _ => {
            r.add(
                p,
                format!("`{url}` is not an http:// or https:// URL with a host, e.g. `{example}`"),
            );
            None
        }
    }
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
