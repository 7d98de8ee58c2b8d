//! One line of HAProxy's request log, as it arrives over syslog: the
//! framing (RFC 3164, HAProxy's default, or RFC 5424) taken off, then the
//! request's backend, server, timers and status read from the message.
//!
//! The message is either Zion's `log-format`
//!
//! ```text
//! log-format "%b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST"
//! ```
//!
//! or HAProxy's `option httplog`, which holds the same three fields in the
//! same order among others: the parser looks for `backend/server`, then
//! five timers, then the status. Anything else is not a request line.

use std::time::Duration;

/// One request, from one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged<'a> {
    pub backend: &'a str,
    pub server: &'a str,
    /// The HTTP status HAProxy sent the client; -1 when none was.
    pub status: i32,
    /// From HAProxy having the request to the server's response headers
    /// (`Tw + Tc + Tr`): the built-in router's latency. None when the
    /// server never answered (a timer is -1).
    pub latency: Option<Duration>,
}

impl Logged<'_> {
    /// A 5xx answer, or no answer from the server: an error for the
    /// analysis, as the built-in router counts them.
    pub fn is_error(&self) -> bool {
        self.status >= 500 || self.status < 0 || self.latency.is_none()
    }
}

/// The request a syslog datagram logs, or None when it is not one.
pub fn parse(datagram: &str) -> Option<Logged<'_>> {
    request(message(datagram)?)
}

/// The message of a syslog line: after `<PRI>`, either RFC 5424's header
/// (`1 TIMESTAMP HOST APP PROCID MSGID SD`) or RFC 3164's
/// (`Mmm dd hh:mm:ss [HOST] TAG[PID]: `).
pub fn message(datagram: &str) -> Option<&str> {
    let line = datagram.trim_end_matches(['\n', '\r', '\0']);
    let rest = line.strip_prefix('<')?;
    let close = rest.find('>')?;
    let pri = &rest[..close];
    if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = &rest[close + 1..];
    match rest.strip_prefix("1 ") {
        Some(rfc5424) => after_5424_header(rfc5424),
        None => after_3164_header(rest),
    }
}

fn after_5424_header(rest: &str) -> Option<&str> {
    // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID, then STRUCTURED-DATA.
    let mut rest = rest;
    for _ in 0..5 {
        let space = rest.find(' ')?;
        rest = &rest[space + 1..];
    }
    let rest = if let Some(after) = rest.strip_prefix('-') {
        after
    } else {
        skip_structured_data(rest)?
    };
    let msg = rest.strip_prefix(' ').unwrap_or(rest);
    Some(msg.strip_prefix('\u{feff}').unwrap_or(msg))
}

/// Skips `[id k="v" …][…]`, where `\]` inside a value is not the end.
fn skip_structured_data(rest: &str) -> Option<&str> {
    let mut chars = rest.char_indices().peekable();
    let mut depth_open = false;
    let mut in_value = false;
    let mut escaped = false;
    while let Some((i, c)) = chars.next() {
        match (depth_open, in_value, escaped, c) {
            (_, true, true, _) => escaped = false,
            (_, true, false, '\\') => escaped = true,
            (_, _, false, '"') if depth_open => in_value = !in_value,
            (false, false, _, '[') => depth_open = true,
            (true, false, _, ']') => {
                depth_open = false;
                if chars.peek().is_none_or(|(_, n)| *n != '[') {
                    return Some(&rest[i + 1..]);
                }
            }
            (false, false, _, _) => return None,
            _ => {}
        }
    }
    None
}

fn after_3164_header(rest: &str) -> Option<&str> {
    // `Mmm dd hh:mm:ss ` is 16 bytes; HAProxy pads the day with a space.
    let stamp = rest.get(..16)?;
    let b = stamp.as_bytes();
    if !b[..3].iter().all(u8::is_ascii_alphabetic) || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let tagged = &rest[16..];
    let colon = tagged.find(": ")?;
    Some(&tagged[colon + 2..])
}

/// The request of a message: `backend/server`, five timers, the status.
/// None for HAProxy's other messages (a server going up or down, a proxy
/// starting) and for a `log-format` without these fields.
pub fn request(msg: &str) -> Option<Logged<'_>> {
    let words: Vec<&str> = msg.split_ascii_whitespace().collect();
    words.windows(3).find_map(|w| {
        let (backend, server) = w[0].split_once('/')?;
        if backend.is_empty() || server.is_empty() || server.contains('/') {
            return None;
        }
        let timers = timers(w[1])?;
        let status: i32 = w[2].parse().ok()?;
        let (tw, tc, tr) = (timers[1], timers[2], timers[3]);
        let latency = (tw >= 0 && tc >= 0 && tr >= 0)
            .then(|| Duration::from_millis((tw + tc + tr).unsigned_abs()));
        Some(Logged {
            backend,
            server,
            status,
            latency,
        })
    })
}

/// `TR/Tw/Tc/Tr/Ta` in milliseconds (-1 for a phase never reached; `+`
/// before the total under `option logasap`).
fn timers(word: &str) -> Option<[i64; 5]> {
    let mut out = [0i64; 5];
    let mut parts = word.split('/');
    for slot in &mut out {
        let part = parts.next()?;
        let part = part.strip_prefix('+').unwrap_or(part);
        *slot = part.parse().ok().filter(|v| *v >= -1)?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZION: &str = "web/zion-2.0-127.0.0.1-8002 0/0/1/212/213 200";

    #[test]
    fn rfc3164_with_zion_log_format() {
        let line = format!("<134>Dec  3 09:02:38 haproxy[1234]: {ZION}\n");
        let r = parse(&line).unwrap();
        assert_eq!(
            r,
            Logged {
                backend: "web",
                server: "zion-2.0-127.0.0.1-8002",
                status: 200,
                latency: Some(Duration::from_millis(213)),
            }
        );
        assert!(!r.is_error());
        // With a host name before the tag.
        let line = format!("<134>Dec 13 09:02:38 lb1 haproxy[1234]: {ZION}");
        assert_eq!(parse(&line).unwrap().server, "zion-2.0-127.0.0.1-8002");
    }

    #[test]
    fn rfc5424_with_and_without_structured_data() {
        let line = format!("<134>1 2026-12-03T09:02:38.123456+00:00 lb1 haproxy 1234 - - {ZION}");
        assert_eq!(parse(&line).unwrap().status, 200);
        let line = format!(
            "<134>1 2026-12-03T09:02:38Z lb1 haproxy 1234 - [meta a=\"x\\]y\"][b c=\"d\"] \u{feff}{ZION}"
        );
        assert_eq!(parse(&line).unwrap().backend, "web");
    }

    #[test]
    fn httplog_lines_are_read_too() {
        let line = "<134>Dec  3 09:02:38 haproxy[99]: 127.0.0.1:40312 [03/Dec/2026:09:02:38.120] \
                    fe web/zion-1.0-127.0.0.1-8001 0/0/0/3/3 503 213 - - ---- 1/1/0/0/0 0/0 \
                    \"GET /a/b HTTP/1.1\"";
        let r = parse(line).unwrap();
        assert_eq!((r.backend, r.status), ("web", 503));
        assert!(r.is_error());
    }

    #[test]
    fn a_server_that_never_answered_has_no_latency_and_is_an_error() {
        let line =
            "<134>Dec  3 09:02:38 haproxy[1]: web/zion-1.0-127.0.0.1-8001 0/0/-1/-1/3002 503";
        let r = parse(line).unwrap();
        assert_eq!(r.latency, None);
        assert!(r.is_error());
        let aborted = "<134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/-1/+5 -1";
        assert!(parse(aborted).unwrap().is_error());
    }

    #[test]
    fn malformed_lines_are_none_never_a_panic() {
        for bad in [
            "",
            "<",
            "<>",
            "<1345>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/1/1 200",
            "134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/1/1 200",
            "<134>Dec",
            "<134>Dec  3 09:02:38 haproxy[1] no colon web/s 0/0/0/1/1 200",
            "<134>Dec  3 09:02:38 haproxy[1]: Proxy web started.",
            "<134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/1 200",
            "<134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/1/1/1 200",
            "<134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/x/1/1 200",
            "<134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/-7/1 200",
            "<134>Dec  3 09:02:38 haproxy[1]: web/s 0/0/0/1/1 OK",
            "<134>Dec  3 09:02:38 haproxy[1]: /s 0/0/0/1/1 200",
            "<134>1 2026-12-03T09:02:38Z lb1 haproxy",
            "<134>1 2026-12-03T09:02:38Z lb1 haproxy 1 - [unterminated web/s 0/0/0/1/1 200",
            "<134>1 2026-12-03T09:02:38Z lb1 haproxy 1 - x web/s 0/0/0/1/1 200",
            "<134>ééééééééééééééééé: web/s 0/0/0/1/1 200",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
