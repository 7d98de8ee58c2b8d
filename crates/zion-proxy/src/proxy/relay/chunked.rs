//! The end of a chunked body (RFC 9112 §7.1), found as its bytes pass
//! through: the relay forwards the chunks as they came and only needs to
//! know where the body stops, so the connection can carry the next answer.
//!
//! Strict where a lax reading could split one body into two messages: a
//! chunk's data must end in CRLF, a size line and a trailer line too (no
//! bare LF or CR), sizes have at most 16 hex digits (httparse's limit), and
//! size lines and trailers are bounded.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A size line (with its extensions) longer than this is refused.
const MAX_SIZE_LINE: usize = 4096;
/// Trailer fields, all together, longer than this are refused.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body could not be followed (the connection is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub(crate) struct Malformed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a size line.
    Size,
    /// This many data bytes still to come.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk; this many bytes of them so far.
    Trailers(usize),
    Done,
}

/// Follows one chunked body across the reads that bring it.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
}

impl Chunked {
    pub(crate) fn new() -> Chunked {
        Chunked { state: State::Size }
    }

    pub(crate) fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads over `buf`, the body's next bytes: how many of them belong to
    /// the body (all of them, unless it ended inside `buf`). A line cut at
    /// the end of `buf` is left unread, to be offered again with more bytes
    /// behind it.
    pub(crate) fn scan(&mut self, buf: &[u8]) -> Result<usize, Malformed> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match self.state {
                State::Done => return Ok(at),
                State::Data(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
                    at += take;
                    let left = n - take as u64;
                    if left > 0 {
                        self.state = State::Data(left);
                        return Ok(at);
                    }
                    self.state = State::DataEnd;
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|&b| b != b'\r') {
                            return Err(Malformed);
                        }
                        return Ok(at);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(Malformed);
                    }
                    at += 2;
                    self.state = State::Size;
                }
                State::Size => {
                    let Some(line) = line(rest, MAX_SIZE_LINE)? else {
                        return Ok(at);
                    };
                    match httparse::parse_chunk_size(&rest[..line]) {
                        Ok(httparse::Status::Complete((used, size))) if used == line => {
                            at += line;
                            self.state = if size == 0 {
                                State::Trailers(0)
                            } else {
                                State::Data(size)
                            };
                        }
                        _ => return Err(Malformed),
                    }
                }
                State::Trailers(seen) => {
                    let Some(line) = line(rest, MAX_TRAILERS - seen)? else {
                        return Ok(at);
                    };
                    at += line;
                    self.state = if line == 2 {
                        State::Done
                    } else {
                        if !rest[..line - 2].contains(&b':') {
                            return Err(Malformed);
                        }
                        State::Trailers(seen + line)
                    };
                }
            }
        }
    }
}

/// A chunked body's next part, decoded (for a client that is not sent the
/// chunks as they are: an HTTP/2 one).
#[derive(Debug)]
pub(crate) enum Piece {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The body ended (its trailers, if any, came before).
    End,
    /// More bytes are needed.
    More,
}

impl Chunked {
    /// Takes the next part off the front of `buf`, its framing consumed.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Piece, Malformed> {
        loop {
            match self.state {
                State::Done => return Ok(Piece::End),
                State::Data(n) => {
                    if buf.is_empty() {
                        return Ok(Piece::More);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Piece::Data(buf.split_to(take).freeze()));
                }
                State::DataEnd | State::Size => {
                    // Framing only: the same checks as a pass-through's.
                    let before = self.state;
                    let framing = match before {
                        State::DataEnd => buf.len().min(2),
                        _ => match line(buf, MAX_SIZE_LINE)? {
                            Some(n) => n,
                            None => return Ok(Piece::More),
                        },
                    };
                    let used = self.scan(&buf[..framing])?;
                    buf.advance(used);
                    if self.state == before {
                        return Ok(Piece::More);
                    }
                }
                State::Trailers(_) => {
                    // The whole trailer block, up to its blank line.
                    let mut end = 0;
                    loop {
                        let Some(n) = line(&buf[end..], MAX_TRAILERS.saturating_sub(end))? else {
                            return Ok(Piece::More);
                        };
                        end += n;
                        if n == 2 {
                            break;
                        }
                    }
                    let block = buf.split_to(end);
                    self.state = State::Done;
                    if end == 2 {
                        return Ok(Piece::End);
                    }
                    let mut fields = [httparse::EMPTY_HEADER; 64];
                    let Ok(httparse::Status::Complete((_, fields))) =
                        httparse::parse_headers(&block, &mut fields)
                    else {
                        return Err(Malformed);
                    };
                    let mut trailers = HeaderMap::new();
                    for field in fields {
                        if let (Ok(name), Ok(value)) = (
                            HeaderName::from_bytes(field.name.as_bytes()),
                            HeaderValue::from_bytes(field.value),
                        ) {
                            trailers.append(name, value);
                        }
                    }
                    return Ok(Piece::Trailers(trailers));
                }
            }
        }
    }
}

/// The length of the CRLF-ended line at the start of `buf`, CRLF included;
/// None when it is not complete yet. A bare CR or LF, or a line longer
/// than `max`, is malformed.
fn line(buf: &[u8], max: usize) -> Result<Option<usize>, Malformed> {
    for (i, &b) in buf.iter().enumerate().take(max) {
        match b {
            b'\n' => return Err(Malformed),
            b'\r' => {
                return match buf.get(i + 1) {
                    Some(b'\n') => Ok(Some(i + 2)),
                    Some(_) => Err(Malformed),
                    None => Ok(None),
                };
            }
            _ => {}
        }
    }
    if buf.len() >= max {
        Err(Malformed)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `parts` one after another as reads would bring them: the
    /// bytes of the body, and whether it ended.
    fn follow(parts: &[&[u8]]) -> Result<(Vec<u8>, bool), Malformed> {
        let mut c = Chunked::new();
        let mut pending = Vec::new();
        let mut body = Vec::new();
        for part in parts {
            pending.extend_from_slice(part);
            let n = c.scan(&pending)?;
            body.extend_from_slice(&pending[..n]);
            pending.drain(..n);
            if c.done() {
                break;
            }
        }
        Ok((body, c.done()))
    }

    #[test]
    fn a_whole_body_ends_where_it_says() {
        let body = b"4\r\nRust\r\n5;ext=1\r\nhello\r\n0\r\n\r\n";
        let mut with_next = body.to_vec();
        with_next.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut c = Chunked::new();
        assert_eq!(c.scan(&with_next), Ok(body.len()));
        assert!(c.done());
    }

    #[test]
    fn a_body_cut_anywhere_is_followed_to_its_end() {
        let body: &[u8] = b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n";
        for cut in 0..body.len() {
            for cut2 in cut..body.len() {
                let (got, done) =
                    follow(&[&body[..cut], &body[cut..cut2], &body[cut2..]]).expect("valid");
                assert!(done, "cut at {cut}/{cut2}");
                assert_eq!(got, body, "cut at {cut}/{cut2}");
            }
        }
    }

    #[test]
    fn trailers_are_part_of_the_body() {
        let body = b"0\r\nx-a: 1\r\nx-b: 2\r\n\r\n";
        assert_eq!(follow(&[body]), Ok((body.to_vec(), true)));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for bad in [
            &b"zz\r\nab\r\n"[..],
            b"4\r\nRustXX0\r\n\r\n",
            b"4\nRust\r\n",
            b"4\r\nRust\n0\r\n\r\n",
            b"4\r\nRust\r\n0\r\nno colon\r\n\r\n",
            b"10000000000000000\r\n",
            b"4\r\r\nRust",
            b"0\r\n\n",
        ] {
            assert_eq!(
                follow(&[bad]),
                Err(Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_endless_size_line_is_refused() {
        let mut ext = b"1;".to_vec();
        ext.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE));
        assert_eq!(follow(&[&ext[..]]), Err(Malformed));
    }

    /// Decodes `parts` one after another as reads would bring them.
    fn decode(parts: &[&[u8]]) -> Result<(Vec<u8>, Option<HeaderMap>, bool), Malformed> {
        let mut c = Chunked::new();
        let mut buf = BytesMut::new();
        let (mut data, mut trailers) = (Vec::new(), None);
        for part in parts {
            buf.extend_from_slice(part);
            loop {
                match c.decode(&mut buf)? {
                    Piece::Data(d) => data.extend_from_slice(&d),
                    Piece::Trailers(t) => trailers = Some(t),
                    Piece::End => return Ok((data, trailers, true)),
                    Piece::More => break,
                }
            }
        }
        Ok((data, trailers, false))
    }

    #[test]
    fn decoding_gives_the_data_and_trailers_wherever_the_body_is_cut() {
        let body: &[u8] = b"a\r\n0123456789\r\n3;x=1\r\nabc\r\n0\r\nx-sum: 7\r\n\r\n";
        for cut in 0..body.len() {
            for cut2 in cut..body.len() {
                let (data, trailers, done) =
                    decode(&[&body[..cut], &body[cut..cut2], &body[cut2..]]).expect("valid");
                assert!(done, "cut at {cut}/{cut2}");
                assert_eq!(data, b"0123456789abc", "cut at {cut}/{cut2}");
                assert_eq!(trailers.expect("trailers")["x-sum"], "7");
            }
        }
        assert_eq!(decode(&[b"0\r\n\r\n"]).unwrap(), (Vec::new(), None, true));
        for bad in [
            &b"zz\r\nab\r\n"[..],
            b"4\r\nRustXX",
            b"4\nRust",
            b"0\r\nno colon\r\n\r\n",
        ] {
            assert!(
                decode(&[bad]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        assert_eq!(follow(&[b"4\r\nRu"]), Ok((b"4\r\nRu".to_vec(), false)));
    }
}
