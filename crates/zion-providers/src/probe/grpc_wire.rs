//! The bytes of the `grpc.health.v1.Health/Check` call, written and read by
//! hand: the two messages have one field each, so a protobuf library and
//! generated code would be far more than the call needs.
//!
//! ```text
//! message HealthCheckRequest  { string service = 1; }
//! message HealthCheckResponse { ServingStatus status = 1; }
//! ```
//!
//! Each message travels in gRPC's length-prefixed frame: one byte saying
//! whether it is compressed, four bytes of length (big-endian), the message.

use std::fmt;

/// The path of the call, as the HTTP/2 request's `:path`.
pub(crate) const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// The frame's header: the compressed flag and the length.
const FRAME_HEADER: usize = 5;
/// Field 1 with wire type 2 (length-delimited): `service`.
const SERVICE_TAG: u8 = (1 << 3) | 2;
/// A replica's answer is a few bytes; anything longer is not a health answer.
pub(crate) const MAX_ANSWER: usize = 64 * 1024;

/// `HealthCheckResponse.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServingStatus {
    Unknown,
    Serving,
    NotServing,
    /// Only sent by `Watch`, but named in case a server sends it to `Check`.
    ServiceUnknown,
    /// A value the protocol does not define (yet).
    Other(u64),
}

impl ServingStatus {
    fn from_number(n: u64) -> Self {
        match n {
            0 => Self::Unknown,
            1 => Self::Serving,
            2 => Self::NotServing,
            3 => Self::ServiceUnknown,
            n => Self::Other(n),
        }
    }
}

impl fmt::Display for ServingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("UNKNOWN (0)"),
            Self::Serving => f.write_str("SERVING (1)"),
            Self::NotServing => f.write_str("NOT_SERVING (2)"),
            Self::ServiceUnknown => f.write_str("SERVICE_UNKNOWN (3)"),
            Self::Other(n) => write!(f, "an undefined status ({n})"),
        }
    }
}

/// The request's body: `HealthCheckRequest { service }` in one frame. An
/// empty service is the default value, which protobuf does not write.
pub(crate) fn check_request(service: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(service.len() + 6);
    if !service.is_empty() {
        message.push(SERVICE_TAG);
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut body = Vec::with_capacity(FRAME_HEADER + message.len());
    body.push(0);
    // The spec's validation keeps a service name far below 4 GiB.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(&message);
    body
}

/// The status in a response body of exactly one uncompressed frame.
pub(crate) fn check_response(body: &[u8]) -> Result<ServingStatus, String> {
    if body.is_empty() {
        return Err("the answer has no message".into());
    }
    if body.len() < FRAME_HEADER {
        return Err(format!(
            "the answer's frame is cut short ({} of its 5 header bytes)",
            body.len()
        ));
    }
    match body[0] {
        0 => {}
        1 => {
            return Err("the answer is compressed, though the probe accepts no compression".into());
        }
        flag => return Err(format!("the answer's frame has an unknown flag {flag}")),
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let rest = &body[FRAME_HEADER..];
    if rest.len() < len {
        return Err(format!(
            "the answer's message is cut short ({} of {len} bytes)",
            rest.len()
        ));
    }
    if rest.len() > len {
        return Err(format!(
            "the answer holds {} bytes after its message; expected one message",
            rest.len() - len
        ));
    }
    status_field(rest).map(ServingStatus::from_number)
}

/// Field 1 of a `HealthCheckResponse`, skipping fields it does not know as
/// protobuf readers must; absent, it is the default, 0 (UNKNOWN). When it
/// appears more than once, the last one counts.
fn status_field(mut message: &[u8]) -> Result<u64, String> {
    let mut status = 0;
    while !message.is_empty() {
        let key = take_varint(&mut message)?;
        let (field, wire_type) = (key >> 3, key & 7);
        match (field, wire_type) {
            (0, _) => return Err("the answer's message has a field numbered 0".into()),
            (1, 0) => status = take_varint(&mut message)?,
            (1, w) => {
                return Err(format!(
                    "the answer's status has wire type {w}; an enum is a varint (0)"
                ));
            }
            (_, 0) => {
                take_varint(&mut message)?;
            }
            (_, 1) => skip(&mut message, 8)?,
            (_, 2) => {
                let len = take_varint(&mut message)?;
                let len = usize::try_from(len).map_err(|_| "a field's length is too large")?;
                skip(&mut message, len)?;
            }
            (_, 5) => skip(&mut message, 4)?,
            (f, w) => {
                return Err(format!(
                    "the answer's field {f} has wire type {w}, which protobuf 3 does not use"
                ));
            }
        }
    }
    Ok(status)
}

fn skip(message: &mut &[u8], n: usize) -> Result<(), String> {
    if message.len() < n {
        return Err("the answer's message ends inside a field".into());
    }
    *message = &message[n..];
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(message: &mut &[u8]) -> Result<u64, String> {
    let mut n: u64 = 0;
    for (i, &byte) in message.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err("the answer's message has a number larger than 64 bits".into());
        }
        n |= bits << (7 * i);
        if byte & 0x80 == 0 {
            *message = &message[i + 1..];
            return Ok(n);
        }
    }
    if message.len() >= 10 {
        Err("the answer's message has a number longer than 10 bytes".into())
    } else {
        Err("the answer's message ends inside a number".into())
    }
}

/// The name of a `grpc-status` code, for a reason an operator reads.
pub(crate) fn status_code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "an undefined code",
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2); a malformed escape
/// is kept as it is rather than losing the rest of the message.
pub(crate) fn decode_message(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = (raw[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut body = vec![0];
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(message);
        body
    }

    #[test]
    fn the_request_frames_the_service_name_as_field_one() {
        assert_eq!(check_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            check_request("web"),
            vec![0, 0, 0, 0, 5, 0x0a, 3, b'w', b'e', b'b']
        );
        // A name of 200 bytes takes a two-byte length: 200 = 0xc8 0x01.
        let long = "s".repeat(200);
        let body = check_request(&long);
        assert_eq!(&body[..8], &[0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
        assert_eq!(body.len(), 5 + 3 + 200);
    }

    #[test]
    fn each_status_is_read_from_field_one() {
        assert_eq!(
            check_response(&framed(&[0x08, 1])),
            Ok(ServingStatus::Serving)
        );
        assert_eq!(
            check_response(&framed(&[0x08, 2])),
            Ok(ServingStatus::NotServing)
        );
        assert_eq!(
            check_response(&framed(&[0x08, 3])),
            Ok(ServingStatus::ServiceUnknown)
        );
        assert_eq!(
            check_response(&framed(&[0x08, 0x96, 0x01])),
            Ok(ServingStatus::Other(150))
        );
        // proto3 leaves the default out: an empty message is UNKNOWN.
        assert_eq!(check_response(&framed(&[])), Ok(ServingStatus::Unknown));
    }

    #[test]
    fn unknown_fields_are_skipped_and_the_last_status_counts() {
        let message = [
            0x10, 0x7f, // field 2, varint
            0x1a, 2, b'h', b'i', // field 3, bytes
            0x08, 2, // status NOT_SERVING
            0x25, 1, 2, 3, 4, // field 4, fixed32
            0x29, 1, 2, 3, 4, 5, 6, 7, 8, // field 5, fixed64
            0x08, 1, // status SERVING, the last one
        ];
        assert_eq!(
            check_response(&framed(&message)),
            Ok(ServingStatus::Serving)
        );
    }

    #[test]
    fn malformed_answers_say_what_is_wrong() {
        let err = |body: &[u8]| check_response(body).unwrap_err();
        assert!(err(&[]).contains("no message"));
        assert!(err(&[0, 0, 0]).contains("3 of its 5 header bytes"));
        assert!(err(&[1, 0, 0, 0, 2, 0x08, 1]).contains("compressed"));
        assert!(err(&[7, 0, 0, 0, 2, 0x08, 1]).contains("unknown flag 7"));
        assert!(err(&[0, 0, 0, 0, 4, 0x08, 1]).contains("2 of 4 bytes"));
        assert!(err(&[0, 0, 0, 0, 2, 0x08, 1, 0]).contains("1 bytes after"));
        assert!(err(&framed(&[0x08])).contains("ends inside a number"));
        assert!(err(&framed(&[0x08, 0x80])).contains("ends inside a number"));
        assert!(err(&framed(&[0x0a, 1, 1])).contains("wire type 2"));
        assert!(err(&framed(&[0x1a, 5, 1])).contains("ends inside a field"));
        assert!(err(&framed(&[0x00, 1])).contains("numbered 0"));
        assert!(err(&framed(&[0x13])).contains("wire type 3"));
        let mut long = vec![0x08];
        long.extend_from_slice(&[0xff; 10]);
        long.push(0x01);
        assert!(err(&framed(&long)).contains("larger than 64 bits"));
        let mut eleven = vec![0x08];
        eleven.extend_from_slice(&[0x80; 11]);
        assert!(err(&framed(&eleven)).contains("longer than 10 bytes"));
    }

    #[test]
    fn a_varint_of_ten_bytes_reaches_u64_max() {
        let mut message = vec![0x10];
        message.extend_from_slice(&[0xff; 9]);
        message.push(0x01);
        message.extend_from_slice(&[0x08, 1]);
        assert_eq!(
            check_response(&framed(&message)),
            Ok(ServingStatus::Serving)
        );
        let mut out = Vec::new();
        put_varint(&mut out, u64::MAX);
        assert_eq!(take_varint(&mut out.as_slice()), Ok(u64::MAX));
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(decode_message(b"unknown%20service"), "unknown service");
        assert_eq!(decode_message(b"caf%C3%A9"), "café");
        assert_eq!(decode_message(b"100%"), "100%");
        assert_eq!(decode_message(b"%zz ok"), "%zz ok");
        assert_eq!(status_code_name(5), "NOT_FOUND");
        assert_eq!(status_code_name(99), "an undefined code");
    }
}
