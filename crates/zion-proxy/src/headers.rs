//! Header rewriting between client and upstream: hop-by-hop fields
//! (RFC 9110 §7.6.1) stay on their own hop, forwarding fields tell the
//! upstream who really asked.

use http::HeaderMap;
use http::header::{CONNECTION, HOST, HeaderName, HeaderValue, TE, TRANSFER_ENCODING, UPGRADE};

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Whether the message asks to switch protocols (WebSocket and the like):
/// `Connection` lists `upgrade` and an `Upgrade` field names the protocol.
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE) && connection_has(headers, "upgrade")
}

fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Removes the fields that belong to one connection only. With `upgrade`, the
/// `Upgrade` field and a `Connection: upgrade` are kept so the switch can
/// happen end to end.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of these fields: one pass over the names, a
    // comparison each, costs less than a hashed removal per field.
    if !upgrade && !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        // Fields named in Connection are hop-by-hop too. Collected first
        // because the map cannot change while its values are borrowed.
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(b"upgrade"))
            .filter_map(|t| HeaderName::from_bytes(t).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(CONNECTION);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    // `TE: trailers` says the client takes trailers, which gRPC servers
    // require to be told (it is the only TE value HTTP/2 allows).
    if headers
        .remove(TE)
        .is_some_and(|te| te.as_bytes().trim_ascii().eq_ignore_ascii_case(b"trailers"))
    {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
    headers.remove(TRANSFER_ENCODING);
    if upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(UPGRADE);
    }
}

/// The fields [`strip_hop_by_hop`] removes or rewrites whatever the
/// message's `Connection` names.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == KEEP_ALIVE
        || *name == PROXY_CONNECTION
        || *name == TE
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
}

/// Adds `X-Forwarded-For` (the client appended to any earlier hops),
/// `X-Forwarded-Proto` and, when absent, `X-Forwarded-Host`.
pub(crate) fn add_forwarding(
    headers: &mut HeaderMap,
    client_ip: &HeaderValue,
    proto: &HeaderValue,
) {
    // The parser sized the map for the fields it read: grow it once, not per field.
    headers.reserve(3);
    // One pass over the fields, a comparison each, instead of a hashed
    // lookup per name.
    let (mut forwarded_for, mut forwarded_host, mut host) = (false, false, None);
    for (name, value) in headers.iter() {
        if *name == X_FORWARDED_FOR {
            forwarded_for = true;
        } else if *name == X_FORWARDED_HOST {
            forwarded_host = true;
        } else if *name == HOST {
            host = Some(value);
        }
    }
    let host = host.filter(|_| !forwarded_host).cloned();
    let xff = if forwarded_for {
        let mut joined: Vec<u8> = Vec::with_capacity(64);
        for v in headers.get_all(&X_FORWARDED_FOR) {
            joined.extend_from_slice(v.as_bytes());
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(client_ip.as_bytes());
        // Every part was already a valid header value, and ", " is too.
        HeaderValue::from_bytes(&joined).unwrap_or_else(|_| client_ip.clone())
    } else {
        client_ip.clone()
    };
    headers.insert(X_FORWARDED_FOR.clone(), xff);
    // What this listener speaks: a client-sent value would be a lie.
    headers.insert(X_FORWARDED_PROTO.clone(), proto.clone());
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_standard_and_named_hop_fields() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "gzip"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, vec!["accept"]);
    }

    #[test]
    fn each_hop_field_alone_is_found_and_end_to_end_fields_stay() {
        for hop in [
            "keep-alive",
            "proxy-connection",
            "te",
            "transfer-encoding",
            "upgrade",
        ] {
            let mut h = map(&[
                ("accept", "*/*"),
                (hop, "x"),
                ("content-type", "text/plain"),
            ]);
            strip_hop_by_hop(&mut h, false);
            let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
            assert_eq!(names, vec!["accept", "content-type"], "{hop} was kept");
        }
        let mut h = map(&[("accept", "*/*"), ("x-forwarded-for", "192.0.2.1")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, before);
    }

    #[test]
    fn te_trailers_passes_for_grpc() {
        let mut h = map(&[("te", "trailers"), ("content-type", "application/grpc")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn upgrade_keeps_upgrade_fields_only() {
        let mut h = map(&[
            ("connection", "Upgrade, x-hop"),
            ("upgrade", "websocket"),
            ("x-hop", "1"),
            ("sec-websocket-key", "abc"),
        ]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["sec-websocket-key"], "abc");
        assert!(!h.contains_key("x-hop"));
    }

    #[test]
    fn upgrade_needs_both_fields() {
        assert!(!wants_upgrade(&map(&[("upgrade", "websocket")])));
        assert!(!wants_upgrade(&map(&[("connection", "upgrade")])));
        assert!(wants_upgrade(&map(&[
            ("connection", "keep-alive,  UPGRADE "),
            ("upgrade", "h2c")
        ])));
    }

    #[test]
    fn forwarding_fields() {
        let ip = HeaderValue::from_static("127.0.0.1");
        let mut h = map(&[("host", "shop.example:8080")]);
        add_forwarding(&mut h, &ip, &HeaderValue::from_static("http"));
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example:8080");

        let mut h = map(&[
            ("host", "a"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "198.51.100.2, 192.0.2.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "front.example"),
        ]);
        add_forwarding(&mut h, &ip, &HeaderValue::from_static("http"));
        assert_eq!(
            h.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
            vec!["203.0.113.7, 198.51.100.2, 192.0.2.1, 127.0.0.1"]
        );
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "front.example");
    }
}
