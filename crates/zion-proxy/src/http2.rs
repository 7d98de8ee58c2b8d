//! HTTP/2 spoken to an HTTP/1.1-only listener (the API's: targets' listeners
//! serve HTTP/2). A client that opens with HTTP/2's connection preface
//! (prior knowledge, h2c) gets HTTP/2's own answer for this (RFC 9113 §3.4, §6.8): the server's preface
//! (an empty SETTINGS frame), then GOAWAY with HTTP_1_1_REQUIRED, its debug
//! data saying what to do. Without it the client would see the connection
//! closed without a word.

/// What an HTTP/2 client sends first, before any frame.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The bytes to write back to an HTTP/2 client, `debug` (a message for
/// its user) carried in the GOAWAY frame.
pub fn http2_refusal(debug: &[u8]) -> Vec<u8> {
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    const HTTP_1_1_REQUIRED: u32 = 0xd;
    let frame = |kind: u8, payload: &[u8]| {
        let len = u32::try_from(payload.len()).unwrap_or(0).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, 0, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    };
    // Last stream id 0 (none was processed), then the error code.
    let mut payload = 0u32.to_be_bytes().to_vec();
    payload.extend_from_slice(&HTTP_1_1_REQUIRED.to_be_bytes());
    payload.extend_from_slice(debug);
    let mut out = frame(SETTINGS, &[]);
    out.extend(frame(GOAWAY, &payload));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_then_goaway_with_http_1_1_required() {
        let out = http2_refusal(b"use HTTP/1.1");
        // An empty SETTINGS frame on stream 0.
        assert_eq!(&out[..9], &[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
        // GOAWAY: 8 bytes of last stream and error code, then the text.
        let goaway = &out[9..];
        assert_eq!(&goaway[..9], &[0, 0, 20, 0x7, 0, 0, 0, 0, 0]);
        assert_eq!(&goaway[9..13], &[0, 0, 0, 0]);
        assert_eq!(&goaway[13..17], &[0, 0, 0, 0xd]);
        assert_eq!(&goaway[17..], b"use HTTP/1.1");
    }
}
