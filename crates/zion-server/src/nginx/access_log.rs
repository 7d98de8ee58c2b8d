//! nginx's access log in the JSON format Zion documents:
//!
//! ```nginx
//! log_format zion escape=json '{"time":"$msec","upstream":"$upstream_addr",'
//!     '"status":"$status","request_time":"$request_time",'
//!     '"upstream_status":"$upstream_status"}';
//! access_log /var/log/nginx/web.json zion;
//! ```
//!
//! One line is one request: when it ended (`$msec`), the replica that
//! answered it (the last of `$upstream_addr`, which lists each one tried),
//! the status nginx sent and the time it took. Other fields are ignored, so
//! a format with more of them works too.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// One request of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// When it ended.
    pub at: SystemTime,
    /// The replica that answered; None when nginx sent it to none.
    pub upstream: Option<SocketAddr>,
    pub status: u16,
    pub latency: Duration,
}

impl Request {
    /// A 5xx answer: the replica's, or nginx's own when the replica
    /// failed (502, 504).
    pub fn is_error(&self) -> bool {
        self.status >= 500
    }
}

#[derive(Deserialize)]
struct Line {
    time: String,
    #[serde(default)]
    upstream: String,
    status: String,
    #[serde(default)]
    request_time: String,
}

/// One line of the log; None for a line of another format (a partial or
/// foreign line is skipped, not fatal).
pub fn parse(line: &str) -> Option<Request> {
    let line: Line = serde_json::from_str(line.trim()).ok()?;
    let at = seconds(&line.time).map(|d| UNIX_EPOCH + d)?;
    let status = line.status.trim().parse().ok()?;
    Some(Request {
        at,
        upstream: last_upstream(&line.upstream),
        status,
        latency: seconds(&line.request_time).unwrap_or_default(),
    })
}

/// `$upstream_addr`'s last address: replicas tried one after another are
/// separated by ", ", internal redirects by " : "; "-" or a unix socket
/// is none.
fn last_upstream(value: &str) -> Option<SocketAddr> {
    let last = value
        .rsplit([',', ' '])
        .find(|s| !s.is_empty() && *s != ":")?;
    last.trim().parse().ok()
}

/// nginx's seconds with milliseconds (`1700000000.123`, `0.005`).
fn seconds(value: &str) -> Option<Duration> {
    let v: f64 = value.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_the_replica_status_and_latency() {
        let r = parse(
            r#"{"time":"1700000000.250","upstream":"127.0.0.1:9001","status":"200","request_time":"0.012","upstream_status":"200","uri":"/x"}"#,
        )
        .unwrap();
        assert_eq!(r.upstream, Some(SocketAddr::from(([127, 0, 0, 1], 9001))));
        assert_eq!(r.status, 200);
        assert!(!r.is_error());
        assert_eq!(r.latency, Duration::from_millis(12));
        assert_eq!(r.at, UNIX_EPOCH + Duration::from_millis(1_700_000_000_250));
    }

    #[test]
    fn the_replica_that_answered_is_the_last_one_tried() {
        let r = parse(
            r#"{"time":"1.0","upstream":"127.0.0.1:9001, 127.0.0.1:9002","status":"502","request_time":"0.001"}"#,
        )
        .unwrap();
        assert_eq!(r.upstream, Some(SocketAddr::from(([127, 0, 0, 1], 9002))));
        assert!(r.is_error());
        let redirect = parse(
            r#"{"time":"1.0","upstream":"127.0.0.1:9001 : [::1]:9003","status":"200","request_time":"0"}"#,
        )
        .unwrap();
        assert_eq!(redirect.upstream, "[::1]:9003".parse().ok());
        let none =
            parse(r#"{"time":"1.0","upstream":"","status":"404","request_time":"0"}"#).unwrap();
        assert_eq!(none.upstream, None);
    }

    #[test]
    fn lines_of_another_format_are_skipped() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200"), None);
        assert_eq!(
            parse(r#"{"time":"1.0","upstream":"127.0.0.1:1","sta"#),
            None
        );
        assert_eq!(parse(r#"{"time":"soon","status":"200"}"#), None);
    }
}
