//! Request and response heads on the relay: parsed by httparse (hyper's own
//! parser, in the configuration hyper's server uses), checked, and rewritten
//! for the next hop straight into the bytes that are sent.
//!
//! The relay takes only requests whose framing is beyond doubt: HTTP/1.1,
//! origin-form, at most one `Content-Length` of plain digits, no
//! `Transfer-Encoding`, no `Expect`, no protocol switch, and a `Connection`
//! field that says only `close` or `keep-alive`. Anything else, malformed
//! heads included, is handed to hyper, which answers it as it always has
//! (400, 431, 100-continue, chunked bodies, upgrades, HTTP/1.0). So the
//! relay adds no parsing decisions of its own where request smuggling
//! lives: a message two parsers could frame differently never reaches it.

use std::mem::MaybeUninit;

use httparse::{Header, ParserConfig, Status};

/// Fields per head at most, as hyper's server (more: hyper answers 431).
const MAX_HEADERS: usize = 100;
/// hyper answers 414 beyond this; such a target is handed to it.
const MAX_TARGET: usize = 8 * 1024;

/// How a message's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (a bodyless request; a 204 or 304, or the answer to HEAD).
    Empty,
    Length(u64),
    Chunked,
    /// The body runs until the upstream closes the connection.
    UntilClose,
}

/// A request the relay forwards; its head for the upstream is in the
/// output buffer, but for `Host` when the client sent none and the final
/// blank line (see [`finish_request`]).
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Bytes of the client's buffer the head took.
    pub(crate) len: usize,
    /// `Content-Length` (0 when absent).
    pub(crate) body: u64,
    /// The client asked to close after this answer.
    pub(crate) close: bool,
    /// A `HEAD` request: its answer has no body whatever it says.
    pub(crate) head: bool,
    /// Safe to send again (RFC 9110 §9.2.2) when a pooled connection fails.
    pub(crate) idempotent: bool,
    pub(crate) has_host: bool,
}

/// What a look at the client's buffer found.
#[derive(Debug)]
pub(crate) enum Request<R> {
    /// The head is not complete yet.
    Partial,
    /// Taken, and routed to `R`.
    Relay(RequestHead, R),
    /// Not the relay's to take: hyper serves the connection from here.
    Handover,
}

/// Parses the request head at the start of `buf` and, when the relay takes
/// it, asks `route` where it goes (from its fields: header rules, a sticky
/// cookie) and writes its rewritten head (hop-by-hop fields dropped,
/// forwarding fields added) into `out`. A request `route` finds no place
/// for is handed over.
pub(crate) fn parse_request<R>(
    buf: &[u8],
    client_ip: &[u8],
    proto: &[u8],
    out: &mut Vec<u8>,
    route: impl FnOnce(&[Header<'_>]) -> Option<R>,
) -> Request<R> {
    let mut fields = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len =
        match ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, &mut fields)
        {
            Ok(Status::Complete(len)) => len,
            Ok(Status::Partial) => return Request::Partial,
            // hyper answers it (400, 431), exactly as before the relay.
            Err(_) => return Request::Handover,
        };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Request::Handover;
    };
    if method == "CONNECT" || !is_origin_form(target) {
        return Request::Handover;
    }
    let fields: &[Header<'_>] = req.headers;

    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");

    let mut body = None;
    let mut close = false;
    let mut host: Option<&[u8]> = None;
    let mut forwarded_host = false;
    // Earlier hops' X-Forwarded-For values, joined in order.
    let mut forwarded_for: Option<Vec<u8>> = None;
    for field in fields {
        let (name, value) = (field.name.as_bytes(), field.value);
        // Most fields are none of these: one length check rules most out.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if host.is_some() {
                    return Request::Handover;
                }
                host = Some(value);
            }
            2 if name.eq_ignore_ascii_case(b"te") => return Request::Handover,
            6 if name.eq_ignore_ascii_case(b"expect") => return Request::Handover,
            7 if name.eq_ignore_ascii_case(b"upgrade") => return Request::Handover,
            10 if name.eq_ignore_ascii_case(b"connection") => {
                match connection_tokens(value) {
                    Some(asks_close) => close |= asks_close,
                    None => return Request::Handover,
                }
                continue;
            }
            10 if name.eq_ignore_ascii_case(b"keep-alive") => continue,
            13 if name.eq_ignore_ascii_case(b"x-zion-mirror") => continue,
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                if body.is_some() {
                    return Request::Handover;
                }
                match digits(value) {
                    Some(n) => body = Some(n),
                    None => return Request::Handover,
                }
            }
            15 if name.eq_ignore_ascii_case(b"x-forwarded-for") => {
                let joined = forwarded_for.get_or_insert_with(|| Vec::with_capacity(64));
                joined.extend_from_slice(value);
                joined.extend_from_slice(b", ");
                continue;
            }
            16 if name.eq_ignore_ascii_case(b"x-forwarded-host") => forwarded_host = true,
            16 if name.eq_ignore_ascii_case(b"proxy-connection") => continue,
            // What this listener speaks: a client-sent value would be a lie.
            17 if name.eq_ignore_ascii_case(b"x-forwarded-proto") => continue,
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => return Request::Handover,
            _ => {}
        }
        push_field(out, name, value);
    }

    let mut xff = forwarded_for.unwrap_or_default();
    xff.extend_from_slice(client_ip);
    push_field(out, b"x-forwarded-for", &xff);
    push_field(out, b"x-forwarded-proto", proto);
    if let (Some(host), false) = (host, forwarded_host) {
        push_field(out, b"x-forwarded-host", host);
    }
    let Some(routed) = route(fields) else {
        return Request::Handover;
    };
    Request::Relay(
        RequestHead {
            len,
            body: body.unwrap_or(0),
            close,
            head: method == "HEAD",
            idempotent: matches!(
                method,
                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
            ),
            has_host: host.is_some(),
        },
        routed,
    )
}

/// Ends a head [`parse_request`] wrote: `Host` when the client sent none
/// (an upstream needs one), then the blank line.
pub(crate) fn finish_request(out: &mut Vec<u8>, head: &RequestHead, upstream_host: &[u8]) {
    if !head.has_host {
        push_field(out, b"host", upstream_host);
    }
    out.extend_from_slice(b"\r\n");
}

/// A response head from an upstream, rewritten for the client.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Bytes of the upstream's buffer the head took.
    pub(crate) len: usize,
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The upstream connection cannot carry another request.
    pub(crate) upstream_closes: bool,
}

/// Why an upstream's answer could not be relayed (a 502, counted against
/// the version, as hyper's client errors are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadResponse {
    #[error("malformed response head")]
    Malformed,
    #[error("response head too large")]
    TooLarge,
    #[error("conflicting Content-Length and Transfer-Encoding")]
    Framing,
    #[error("unasked protocol switch")]
    Switch,
}

/// What a look at an upstream's buffer found.
#[derive(Debug)]
pub(crate) enum Response {
    Partial,
    /// An interim (1xx) answer of this many bytes, dropped as hyper's
    /// client drops them.
    Interim(usize),
    Final(ResponseHead),
}

/// The largest response head taken from an upstream.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Where a response head's parts go once it is whole and checked: its
/// status, then each end-to-end field (hop-by-hop ones are left out).
pub(crate) trait ResponseSink {
    fn status(&mut self, status: u16, reason: &[u8]);
    fn field(&mut self, name: &[u8], value: &[u8]);
}

/// The head the client gets, written as the replica's is read: the status
/// line and the end-to-end fields (as a [`ResponseSink`]), then what the
/// proxy adds ([`AnswerHead::finish`]).
pub(crate) struct AnswerHead<'o> {
    out: &'o mut Vec<u8>,
    /// Whether the replica sent a Date.
    dated: bool,
}

impl<'o> AnswerHead<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>) -> AnswerHead<'o> {
        out.clear();
        AnswerHead { out, dated: false }
    }

    /// Ends the head of `response`: a Date when the replica sent none, a
    /// sticky route's assignment after the replica's own cookies, and
    /// `Connection: close` when the client's connection ends after it
    /// (`close`, or a body that runs to the replica's close).
    pub(crate) fn finish(self, response: &ResponseHead, close: bool, set_cookie: Option<&[u8]>) {
        let out = self.out;
        if !self.dated {
            // RFC 9110 §6.6.1: a recipient with a clock forwarding a
            // response without Date adds one, the time it was received.
            DATE.with_borrow_mut(|date| push_field(out, b"date", date.now()));
        }
        if let Some(cookie) = set_cookie {
            push_field(out, b"set-cookie", cookie);
        }
        if close || response.framing == Framing::UntilClose {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl ResponseSink for AnswerHead<'_> {
    fn status(&mut self, status: u16, reason: &[u8]) {
        self.out.extend_from_slice(b"HTTP/1.1 ");
        self.out.extend_from_slice(&status_digits(status));
        self.out.push(b' ');
        self.out.extend_from_slice(reason);
        self.out.extend_from_slice(b"\r\n");
    }

    fn field(&mut self, name: &[u8], value: &[u8]) {
        self.dated |= name.eq_ignore_ascii_case(b"date");
        push_field(self.out, name, value);
    }
}

thread_local! {
    /// The current second as an HTTP-date, written again when it changes.
    static DATE: std::cell::RefCell<CachedDate> = const {
        std::cell::RefCell::new(CachedDate { second: 0, text: String::new() })
    };
}

struct CachedDate {
    second: u64,
    text: String,
}

impl CachedDate {
    fn now(&mut self) -> &[u8] {
        let now = std::time::SystemTime::now();
        let second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        self.text.as_bytes()
    }
}

/// Parses the response head at the start of `buf` (the answer to a HEAD
/// request when `head_request`) and, once it is whole, hands its status
/// and end-to-end fields to `sink`; says how its body is framed.
pub(crate) fn read_response(
    buf: &[u8],
    head_request: bool,
    sink: &mut impl ResponseSink,
) -> Result<Response, BadResponse> {
    let mut fields = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut fields,
    ) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) if buf.len() >= MAX_RESPONSE_HEAD => {
            return Err(BadResponse::TooLarge);
        }
        Ok(Status::Partial) => return Ok(Response::Partial),
        Err(_) => return Err(BadResponse::Malformed),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Err(BadResponse::Malformed);
    };
    if status == 101 {
        return Err(BadResponse::Switch);
    }
    if (100..200).contains(&status) {
        return Ok(Response::Interim(len));
    }

    sink.status(status, resp.reason.unwrap_or_default().as_bytes());

    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut upstream_closes = version == 0;
    // Fields the upstream's Connection names are hop-by-hop too: found
    // first, as Connection may come after them.
    let mut named: Option<&[u8]> = None;
    for field in resp.headers.iter() {
        if field.name.len() == 10 && field.name.eq_ignore_ascii_case("connection") {
            let value = field.value;
            match connection_tokens(value) {
                Some(asks_close) => upstream_closes |= asks_close,
                None => {
                    upstream_closes |= has_token(value, b"close");
                    named = Some(value);
                }
            }
            if version == 0 && has_token(value, b"keep-alive") {
                upstream_closes = false;
            }
        }
    }
    for field in resp.headers.iter() {
        let (name, value) = (field.name.as_bytes(), field.value);
        match name.len() {
            2 if name.eq_ignore_ascii_case(b"te") => continue,
            7 if name.eq_ignore_ascii_case(b"upgrade") => continue,
            10 if name.eq_ignore_ascii_case(b"connection") => continue,
            10 if name.eq_ignore_ascii_case(b"keep-alive") => continue,
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = digits(value).ok_or(BadResponse::Malformed)?;
                if length.is_some_and(|seen| seen != n) {
                    return Err(BadResponse::Malformed);
                }
                length = Some(n);
            }
            16 if name.eq_ignore_ascii_case(b"proxy-connection") => continue,
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                if chunked.is_some() {
                    // Several fields: only their joined last coding counts,
                    // and a relay need not guess.
                    return Err(BadResponse::Framing);
                }
                chunked = Some(last_token_is(value, b"chunked"));
            }
            _ => {}
        }
        if named.is_some_and(|named| has_token(named, name)) {
            continue;
        }
        sink.field(name, value);
    }

    let no_body = head_request || status == 204 || status == 304;
    let framing = match (no_body, chunked, length) {
        (true, _, _) => Framing::Empty,
        (false, Some(_), Some(_)) => return Err(BadResponse::Framing),
        (false, Some(true), None) => Framing::Chunked,
        (false, Some(false), None) | (false, None, None) => Framing::UntilClose,
        (false, None, Some(0)) => Framing::Empty,
        (false, None, Some(n)) => Framing::Length(n),
    };
    if framing == Framing::UntilClose {
        upstream_closes = true;
    }
    Ok(Response::Final(ResponseHead {
        len,
        status,
        framing,
        upstream_closes,
    }))
}

/// A status code's three digits (httparse read exactly three).
fn status_digits(status: u16) -> [u8; 3] {
    let digit = |n: u16| b'0' + u8::try_from(n % 10).unwrap_or(0);
    [digit(status / 100), digit(status / 10), digit(status)]
}

pub(crate) fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A request target the relay passes on as it came: origin-form (`/…`) of
/// bytes any upstream reads the same way (hyper's URI parser takes them
/// all), and not too long.
fn is_origin_form(target: &str) -> bool {
    let bytes = target.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes.len() <= MAX_TARGET
        && bytes.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b'-'
                        | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                        | b'?'
                )
        })
}

/// A `Content-Length` of plain digits (no sign, space or list), at most 18
/// of them so it fits a u64 with room.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        value
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
    )
}

/// A `Connection` value of `close` and `keep-alive` tokens only: whether it
/// says close. None when it names anything else (hop-by-hop fields, an
/// upgrade), which the relay leaves to hyper.
fn connection_tokens(value: &[u8]) -> Option<bool> {
    let mut close = false;
    for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        if token.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if !token.eq_ignore_ascii_case(b"keep-alive") && !token.is_empty() {
            return None;
        }
    }
    Some(close)
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Whether the last coding of a `Transfer-Encoding` value is `token`.
fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
