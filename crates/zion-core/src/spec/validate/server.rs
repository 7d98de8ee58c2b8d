//! `server:`: where Zion's API listens, its data directory, and the GitHub
//! webhook's secret (named, never written inline).

use std::net::SocketAddr;

use super::{Report, at, text};
use crate::spec::raw::{RawGithub, RawServer, keys};
use crate::spec::{GithubSpec, SecretSource, ServerSpec};

// Defaults, as documented on the model.
const DEFAULT_SERVER_LISTEN: &str = "127.0.0.1:7070";
const DEFAULT_DATA_DIR: &str = ".zion";

pub(super) fn server(r: &mut Report, raw: Option<&RawServer>) -> ServerSpec {
    let default_listen: SocketAddr = DEFAULT_SERVER_LISTEN
        .parse()
        .expect("the default listen address parses");
    let Some(raw) = raw else {
        r.listeners
            .push(("server.listen".to_owned(), default_listen));
        return ServerSpec {
            listen: default_listen,
            data_dir: DEFAULT_DATA_DIR.to_owned(),
            database: None,
            github: None,
        };
    };
    r.unknown("server", &raw.unknown, keys::SERVER);
    // Port 0 is allowed here: an API on an ephemeral port is useful for tests
    // and its clients are told the address by other means.
    let listen = match &raw.listen {
        Some(text) => r
            .address("server.listen", text, true)
            .unwrap_or(default_listen),
        None => {
            r.listeners
                .push(("server.listen".to_owned(), default_listen));
            default_listen
        }
    };
    let data_dir = match text(raw.data_dir.as_ref()) {
        Some(d) if d.trim().is_empty() => {
            r.add(
                "server.data_dir",
                "is empty: name a folder for Zion's state, e.g. .zion",
            );
            String::new()
        }
        Some(d) => d.to_owned(),
        None => DEFAULT_DATA_DIR.to_owned(),
    };
    let database = text(raw.database.as_ref()).and_then(|url| database(r, url));
    let github = raw.github.as_ref().and_then(|g| github(r, g));
    ServerSpec {
        listen,
        data_dir,
        database,
        github,
    }
}

/// `server.database`: a PostgreSQL URL, checked for its shape here (the
/// driver parses it at start-up). The messages never repeat the URL: it
/// could hold a password, which they must not show.
fn database(r: &mut Report, url: &str) -> Option<String> {
    let p = "server.database";
    let url = url.trim();
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        r.add(
            p,
            "is not a PostgreSQL URL: write postgres://USER@HOST:PORT/DATABASE (leave \
             server.database out to keep the state in SQLite in data_dir)",
        );
        return None;
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| u.contains(':')) || has_password_parameter(rest) {
        r.add(
            p,
            "holds a password, and any viewer may read the spec back: remove it from the \
             URL and give it in PGPASSWORD, or give the whole URL in ZION_DATABASE_URL",
        );
        return None;
    }
    let host_ok = match hostport.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:5432`.
        Some(v6) => v6
            .split_once(']')
            .is_some_and(|(addr, port)| !addr.is_empty() && port_ok(port)),
        None => {
            let (host, port) = match hostport.split_once(':') {
                Some((h, port)) => (h, format!(":{port}")),
                None => (hostport, String::new()),
            };
            !host.is_empty() && port_ok(&port) && !host.contains([' ', '/'])
        }
    };
    if !host_ok {
        r.add(
            p,
            "does not name a host and port: write postgres://USER@HOST:PORT/DATABASE \
             (the port is a number up to 65535)",
        );
        return None;
    }
    if let Some(bad) = unknown_parameter(rest) {
        r.add(
            p,
            format!(
                "has the parameter `{}`, which the PostgreSQL driver does not know \
                 (it would refuse to start): use only {}",
                crate::text::excerpt(bad),
                PARAMETERS.join(", ")
            ),
        );
        return None;
    }
    Some(url.to_owned())
}

/// The query parameters of a URL that the PostgreSQL driver reads (its
/// connection settings, less `password`, refused above).
const PARAMETERS: &[&str] = &[
    "user",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// The first query parameter of the URL that is not one of [`PARAMETERS`].
fn unknown_parameter(rest: &str) -> Option<&str> {
    let (_, query) = rest.split_once('?')?;
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split('=').next().unwrap_or(kv))
        .find(|key| !PARAMETERS.contains(key))
}

/// An empty port, or `:` and a port number.
fn port_ok(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// Whether the query string has a `password=` parameter.
fn has_password_parameter(rest: &str) -> bool {
    rest.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some("password"))
    })
}

fn github(r: &mut Report, raw: &RawGithub) -> Option<GithubSpec> {
    let p = "server.github";
    r.unknown(p, &raw.unknown, keys::GITHUB);
    let env = text(raw.webhook_secret_env.as_ref()).map(str::trim);
    let file = text(raw.webhook_secret_file.as_ref()).map(str::trim);
    let source = match (env, file) {
        (Some(_), Some(_)) => {
            r.add(
                p,
                "has both webhook_secret_env and webhook_secret_file: keep one",
            );
            return None;
        }
        (None, None) => {
            r.add(
                p,
                "names no secret: add `webhook_secret_env: VAR` (an environment variable of \
                 `zion up`) or `webhook_secret_file: PATH`",
            );
            return None;
        }
        (Some(var), None) => {
            let valid = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                r.add(
                    at(p, "webhook_secret_env"),
                    format!(
                        "`{var}` is not an environment variable name: use letters, digits and \
                         `_`, e.g. GITHUB_WEBHOOK_SECRET"
                    ),
                );
                return None;
            }
            SecretSource::Env(var.to_owned())
        }
        (None, Some(path)) => {
            if path.is_empty() {
                r.add(
                    at(p, "webhook_secret_file"),
                    "is empty: name the file holding the secret",
                );
                return None;
            }
            SecretSource::File(path.to_owned())
        }
    };
    Some(GithubSpec {
        webhook_secret: source,
    })
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
