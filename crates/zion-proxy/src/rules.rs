//! What a request carries that decides its pool before the weighted split:
//! the header and cookie rules that send it to the canary, and the sticky
//! session cookie that keeps a client on the version it was first given.

use http::HeaderMap;
use http::header::{COOKIE, HeaderName, HeaderValue};
use regex::bytes::Regex;
use tracing::warn;
use zion_core::spec::MatchRule;

/// A request's header fields as the rules read them: a hyper request's
/// map, or the fields httparse found in a head the relay read.
pub(crate) trait Fields {
    /// The values of every field named `name` (given in lower case; names
    /// compare case-insensitively), in order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;
}

impl Fields for HeaderMap {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name).into_iter().map(HeaderValue::as_bytes)
    }
}

impl Fields for [httparse::Header<'_>] {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    }
}

/// The cookie that pins a client to a version on a sticky route.
pub const STICKY_COOKIE: &str = "zion_version";

/// A [`MatchRule`] made ready for the request path: header names parsed
/// (which lowercases them, as the request's own names are) and regexes
/// compiled, once per route change.
#[derive(Debug)]
pub(crate) enum Rule {
    HeaderEquals { name: HeaderName, value: Box<[u8]> },
    HeaderRegex { name: HeaderName, regex: Regex },
    CookieEquals { name: Box<[u8]>, value: Box<[u8]> },
}

impl Rule {
    /// The ready form of `rule`, or why it can never match.
    pub(crate) fn compile(rule: &MatchRule) -> Result<Rule, String> {
        let header = |name: &str| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))
        };
        Ok(match rule {
            MatchRule::HeaderEquals { name, value } => Rule::HeaderEquals {
                name: header(name)?,
                value: value.as_bytes().into(),
            },
            MatchRule::HeaderRegex { name, regex } => Rule::HeaderRegex {
                name: header(name)?,
                regex: Regex::new(regex)
                    .map_err(|e| format!("`{regex}` is not a valid regex: {e}"))?,
            },
            MatchRule::CookieEquals { name, value } => {
                if name.is_empty() || name.contains(['=', ';']) {
                    return Err(format!("`{name}` is not a valid cookie name"));
                }
                Rule::CookieEquals {
                    name: name.as_bytes().into(),
                    value: value.as_bytes().into(),
                }
            }
        })
    }

    /// Whether a request with `headers` matches. A field sent several times
    /// matches when any of its values does; a regex matches anywhere in the
    /// value unless it is anchored (`^…$`).
    pub(crate) fn matches<F: Fields + ?Sized>(&self, fields: &F) -> bool {
        match self {
            Rule::HeaderEquals { name, value } => {
                fields.values(name.as_str()).any(|v| v == &**value)
            }
            Rule::HeaderRegex { name, regex } => {
                fields.values(name.as_str()).any(|v| regex.is_match(v))
            }
            Rule::CookieEquals { name, value } => cookies(fields, name).any(|v| v == &**value),
        }
    }
}

/// The rules of a route that can match; the others are logged and left out
/// (the spec validation rejects them, so only a hand-built route has any).
pub(crate) fn compile_all(rules: &[MatchRule]) -> Vec<Rule> {
    rules
        .iter()
        .filter_map(|rule| match Rule::compile(rule) {
            Ok(compiled) => Some(compiled),
            Err(why) => {
                warn!(?rule, %why, "match rule ignored: it can never match");
                None
            }
        })
        .collect()
}

/// The values of cookie `name` in the request's `Cookie` fields, in order
/// (`a=1; b=2`, over as many fields as the client sent). A value in double
/// quotes is given without them.
pub(crate) fn cookies<'h, F: Fields + ?Sized>(
    fields: &'h F,
    name: &'h [u8],
) -> impl Iterator<Item = &'h [u8]> + 'h {
    fields
        .values(COOKIE.as_str())
        .flat_map(|field| field.split(|b| *b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            let (key, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
            (key == name).then(|| unquote(value))
        })
}

fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// The `Set-Cookie` value that pins a client to `version`; None when the
/// version holds characters a cookie value cannot carry (RFC 6265 §4.1.1),
/// and then the route cannot be sticky.
pub(crate) fn sticky_cookie(version: &str) -> Option<HeaderValue> {
    let octet = |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\');
    if version.is_empty() || !version.bytes().all(octet) {
        return None;
    }
    HeaderValue::try_from(format!(
        "{STICKY_COOKIE}={version}; Path=/; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn rule(rule: MatchRule) -> Rule {
        Rule::compile(&rule).unwrap()
    }

    #[test]
    fn header_equals_ignores_name_case_not_value_case() {
        let r = rule(MatchRule::HeaderEquals {
            name: "X-Team".into(),
            value: "blue".into(),
        });
        assert!(r.matches(&headers(&[("x-team", "blue")])));
        assert!(r.matches(&headers(&[("x-team", "red"), ("X-TEAM", "blue")])));
        assert!(!r.matches(&headers(&[("x-team", "Blue")])));
        assert!(!r.matches(&headers(&[("x-team", "blue, red")])));
        assert!(!r.matches(&headers(&[("x-teams", "blue")])));
        assert!(!r.matches(&HeaderMap::new()));
    }

    #[test]
    fn header_regex_searches_unless_anchored() {
        let r = rule(MatchRule::HeaderRegex {
            name: "user-agent".into(),
            regex: "Mobile|Android".into(),
        });
        assert!(r.matches(&headers(&[("user-agent", "Mozilla/5.0 (Android 14)")])));
        assert!(!r.matches(&headers(&[("user-agent", "curl/8.5")])));
        let anchored = rule(MatchRule::HeaderRegex {
            name: "x-user".into(),
            regex: "^[0-9]+$".into(),
        });
        assert!(anchored.matches(&headers(&[("x-user", "1234")])));
        assert!(!anchored.matches(&headers(&[("x-user", "id-1234")])));
    }

    #[test]
    fn cookies_are_parsed_across_fields() {
        let h = headers(&[
            ("cookie", "a=1; beta=yes ;c=\"quoted\""),
            ("cookie", "d=4;beta=second"),
        ]);
        assert_eq!(
            cookies(&h, b"beta").collect::<Vec<_>>(),
            [b"yes", b"second".as_slice()]
        );
        assert_eq!(cookies(&h, b"c").collect::<Vec<_>>(), [b"quoted"]);
        assert_eq!(cookies(&h, b"d").collect::<Vec<_>>(), [b"4"]);
        assert_eq!(cookies(&h, b"be").count(), 0);

        let r = rule(MatchRule::CookieEquals {
            name: "beta".into(),
            value: "second".into(),
        });
        assert!(r.matches(&h));
        assert!(!r.matches(&headers(&[("cookie", "xbeta=second; beta=second2")])));
        // A cookie name is not a header name: no match on a field called beta.
        assert!(!r.matches(&headers(&[("beta", "second")])));
    }

    #[test]
    fn broken_rules_are_left_out() {
        let compiled = compile_all(&[
            MatchRule::HeaderRegex {
                name: "x-a".into(),
                regex: "(".into(),
            },
            MatchRule::HeaderEquals {
                name: "bad name".into(),
                value: "v".into(),
            },
            MatchRule::CookieEquals {
                name: "".into(),
                value: "v".into(),
            },
            MatchRule::HeaderEquals {
                name: "x-ok".into(),
                value: "v".into(),
            },
        ]);
        assert_eq!(compiled.len(), 1);
        assert!(compiled[0].matches(&headers(&[("x-ok", "v")])));
    }

    #[test]
    fn sticky_cookie_format_and_unusable_versions() {
        assert_eq!(
            sticky_cookie("1.4.2+build_7").unwrap(),
            "zion_version=1.4.2+build_7; Path=/; HttpOnly; SameSite=Lax"
        );
        for bad in ["", "a b", "a;b", "a,b", "\"a\"", "é"] {
            assert!(sticky_cookie(bad).is_none(), "{bad:?}");
        }
    }
}
