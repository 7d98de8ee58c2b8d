//! HTTP/1.1 framing and request-smuggling safety, end to end on real
//! sockets: a raw client writes exact bytes into the proxy, and a raw
//! upstream records exactly what reached it and answers exact bytes. What
//! the client and the upstream each saw is asserted, so that any HTTP/1.1
//! path of the proxy can be held to the same behaviour.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use zion_proxy::{Pool, Route, TargetProxy};

use crate::support::{PATIENCE, proxy, within};

/// One side of a TCP connection, read through a buffer so that the bytes
/// after one message stay there for the next.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    async fn connect(proxy: &TargetProxy) -> Wire {
        Wire::new(TcpStream::connect(proxy.local_addr()).await.unwrap())
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more into the buffer; false at the end of the stream (or on a
    /// reset, which ends it as well).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The bytes up to and including `delim`; None if the stream ends first.
    async fn until(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        let mut from = 0;
        loop {
            if let Some(at) = self.buf[from..]
                .windows(delim.len())
                .position(|w| w == delim)
            {
                return Some(self.buf.drain(..from + at + delim.len()).collect());
            }
            from = self.buf.len().saturating_sub(delim.len() - 1);
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Everything until the peer closes.
    async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// Whether the peer closes with nothing more to say, waiting at most
    /// `wait` (then false: the connection is still open).
    async fn closes_within(&mut self, wait: Duration) -> bool {
        match tokio::time::timeout(wait, self.rest()).await {
            Ok(rest) => {
                assert!(
                    rest.is_empty(),
                    "unexpected bytes before the close: {:?}",
                    String::from_utf8_lossy(&rest)
                );
                true
            }
            Err(_) => false,
        }
    }

    /// A chunked body: the data goes into `body` as it is decoded; the
    /// trailer section comes back, or None if the body is malformed or cut.
    async fn chunked(&mut self, body: &mut Vec<u8>) -> Option<String> {
        loop {
            let line = self.until(b"\r\n").await?;
            let line = std::str::from_utf8(&line[..line.len() - 2]).ok()?;
            let size = line.split(';').next()?.trim();
            let size = usize::from_str_radix(size, 16).ok()?;
            if size == 0 {
                let mut trailers = String::new();
                loop {
                    let field = self.until(b"\r\n").await?;
                    if field == b"\r\n" {
                        return Some(trailers);
                    }
                    trailers.push_str(&String::from_utf8_lossy(&field));
                }
            }
            let data = self.exact(size + 2).await?;
            if !data.ends_with(b"\r\n") {
                return None;
            }
            body.extend_from_slice(&data[..size]);
        }
    }

    /// The next response, its body framed as HTTP/1.1 says (`to_head`: the
    /// request was a HEAD, so no body). Interim 1xx answers are collected
    /// on the way. None if the connection ends before a whole response.
    async fn response(&mut self, to_head: bool) -> Option<Answer> {
        let mut interim = Vec::new();
        loop {
            let head = String::from_utf8(self.until(b"\r\n\r\n").await?).unwrap();
            // Stray bytes before a status line: the stream is out of step.
            assert!(head.starts_with("HTTP/1."), "not a response: {head:?}");
            let status: u16 = head[9..12].parse().unwrap();
            if (100..200).contains(&status) && status != 101 {
                interim.push(head);
                continue;
            }
            let mut body = Vec::new();
            let te = fields(&head, "transfer-encoding");
            let cl = fields(&head, "content-length");
            let mut framing = Framing::Length;
            if to_head || status == 204 || status == 304 {
            } else if !te.is_empty() {
                assert!(cl.is_empty(), "both framings sent to the client: {head}");
                assert!(te.last().unwrap().eq_ignore_ascii_case("chunked"), "{head}");
                self.chunked(&mut body).await?;
                framing = Framing::Chunked;
            } else if let Some(length) = cl.first() {
                assert_eq!(cl.len(), 1, "several content-lengths: {head}");
                let length = length.parse().expect("a plain content-length");
                body = self.exact(length).await?;
            } else {
                body = self.rest().await;
                framing = Framing::Close;
            }
            return Some(Answer {
                interim,
                status,
                head,
                body,
                framing,
            });
        }
    }
}

/// How a response's body was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length,
    Chunked,
    Close,
}

/// A response as the client read it.
#[derive(Debug)]
struct Answer {
    /// Interim (1xx) heads before it.
    interim: Vec<String>,
    status: u16,
    head: String,
    body: Vec<u8>,
    framing: Framing,
}

impl Answer {
    fn body(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// The values of the field `name` in a head, in order (comma lists are not
/// split, so repeated and combined fields stay visible).
fn fields(head: &str, name: &str) -> Vec<String> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// One request as the raw upstream received it.
#[derive(Debug, Clone)]
struct Received {
    /// Which of the upstream's connections (in accept order) it came on,
    /// and its place on that connection.
    conn: usize,
    nth: usize,
    head: String,
    body: Vec<u8>,
    trailers: String,
    /// Whether its body arrived whole, as its framing says.
    complete: bool,
}

impl Received {
    fn request_line(&self) -> &str {
        self.head.split("\r\n").next().unwrap()
    }

    fn field(&self, name: &str) -> Vec<String> {
        fields(&self.head, name)
    }

    /// The head carries at most one framing, and it is well-formed.
    fn assert_framing_unambiguous(&self) {
        let (te, cl) = (
            self.field("transfer-encoding"),
            self.field("content-length"),
        );
        assert!(
            te.is_empty() || cl.is_empty(),
            "both framings upstream: {}",
            self.head
        );
        assert!(te.len() <= 1 && cl.len() <= 1, "{}", self.head);
        if let Some(te) = te.first() {
            assert!(te.eq_ignore_ascii_case("chunked"), "{}", self.head);
        }
        if let Some(cl) = cl.first() {
            assert!(cl.bytes().all(|b| b.is_ascii_digit()), "{}", self.head);
        }
    }
}

/// What the raw upstream does after reading a request.
enum Reply {
    /// Writes these bytes, then reads the next request.
    Send(Vec<u8>),
    /// Writes these bytes, then closes the connection.
    SendAndClose(Vec<u8>),
    /// Closes the connection without a word.
    Hangup,
}

/// A 200 whose body is `body`, sized by Content-Length.
fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers every request with its own request line, so a client can tell
/// which request an answer belongs to.
fn names_the_request(r: &Received) -> Reply {
    Reply::Send(ok(r.request_line()))
}

type Script = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

/// A raw TCP upstream: reads each request as HTTP/1.1 frames it
/// (Content-Length, or chunked with extensions and trailers), records it,
/// and answers what its script says. A request whose body does not arrive
/// whole is recorded as incomplete and its connection closed.
struct Recorder {
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
    pool: Pool,
    task: JoinHandle<()>,
}

impl Recorder {
    async fn start(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Recorder {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let connections = Arc::clone(&connections);
            let received = Arc::clone(&received);
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let conn = connections.fetch_add(1, Ordering::SeqCst);
                    let received = Arc::clone(&received);
                    let script = Arc::clone(&script);
                    tokio::spawn(serve_recorded(Wire::new(stream), conn, received, script));
                }
            }
        });
        Recorder {
            connections,
            received,
            pool: Pool::new("1.0", vec![addr]),
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// A proxy routing everything here.
    async fn behind_proxy(&self) -> TargetProxy {
        let (proxy, _) = proxy().await;
        proxy.set_route(Route::stable_only(self.pool.clone()));
        proxy
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_recorded(
    mut wire: Wire,
    conn: usize,
    received: Arc<Mutex<Vec<Received>>>,
    script: Script,
) {
    for nth in 0.. {
        let Some(head) = wire.until(b"\r\n\r\n").await else {
            return;
        };
        let head = String::from_utf8_lossy(&head).into_owned();
        let (te, cl) = (
            fields(&head, "transfer-encoding"),
            fields(&head, "content-length"),
        );
        let mut body = Vec::new();
        let mut trailers = String::new();
        let complete = if !te.is_empty() {
            match wire.chunked(&mut body).await {
                Some(t) => {
                    trailers = t;
                    true
                }
                None => false,
            }
        } else if let Some(cl) = cl.first() {
            match cl.parse() {
                Ok(n) => match wire.exact(n).await {
                    Some(b) => {
                        body = b;
                        true
                    }
                    None => {
                        body = std::mem::take(&mut wire.buf);
                        false
                    }
                },
                Err(_) => false,
            }
        } else {
            true
        };
        let r = Received {
            conn,
            nth,
            head,
            body,
            trailers,
            complete,
        };
        let reply = script(&r);
        received.lock().unwrap().push(r);
        if !complete {
            return;
        }
        match reply {
            Reply::Send(bytes) => {
                if wire.stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::SendAndClose(bytes) => {
                let _ = wire.stream.write_all(&bytes).await;
                let _ = wire.stream.shutdown().await;
                return;
            }
            Reply::Hangup => return,
        }
    }
}

/// Long enough for a request the proxy wrongly let through to reach the
/// upstream, and for a connection that should close to be seen closing.
const SETTLE: Duration = Duration::from_millis(300);

/// A request that ends a vector below: were the proxy to carry on reading
/// after a bad request, the upstream would see this one.
const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends `request` then [`SMUGGLED`] on a new connection, and expects one
/// answer, a 400, the connection closed after it, and nothing forwarded:
/// the vectors that must be refused at the head.
async fn refused_at_the_head(proxy: &TargetProxy, up: &Recorder, name: &str, request: &[u8]) {
    let mut client = Wire::connect(proxy).await;
    client.send(&[request, SMUGGLED].concat()).await;
    let answer = within(client.response(false))
        .await
        .unwrap_or_else(|| panic!("{name}: closed without an answer"));
    assert_eq!(answer.status, 400, "{name}: {}", answer.head);
    assert!(
        client.closes_within(PATIENCE).await,
        "{name}: connection left open"
    );
    assert_eq!(up.connections(), 0, "{name} reached the upstream");
    assert!(up.received().is_empty(), "{name}: {:?}", up.received());
}

/// Pipelining: requests written back to back in one segment are each
/// forwarded alone and answered in order. A parser that framed one wrongly
/// would merge two into one upstream request, or answer out of step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_forwarded_one_by_one_and_answered_in_order() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut expected = Vec::new();
    for n in [2, 3] {
        let mut client = Wire::connect(&proxy).await;
        let lines: Vec<String> = (1..=n).map(|i| format!("GET /p{n}/{i} HTTP/1.1")).collect();
        let burst: String = lines
            .iter()
            .map(|line| format!("{line}\r\nHost: x\r\n\r\n"))
            .collect();
        client.send(burst.as_bytes()).await;
        for line in &lines {
            let answer = within(client.response(false)).await.expect("an answer");
            assert_eq!(answer.status, 200, "{}", answer.head);
            assert_eq!(answer.body(), line);
        }
        expected.extend(lines);
    }
    let received = up.received();
    let seen: Vec<&str> = received.iter().map(Received::request_line).collect();
    assert_eq!(seen, expected);
    for r in &received {
        assert!(r.complete && r.body.is_empty(), "{r:?}");
        r.assert_framing_unambiguous();
    }
}

/// A Content-Length body that trickles in over several writes is
/// forwarded whole, and the connection is then ready for the next
/// request: the proxy neither answers early nor takes the next request's
/// bytes for body (desync).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_in_pieces_is_forwarded_whole_and_the_connection_serves_again() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\nabcdefgh")
        .await;
    for piece in [&b"ijklmnop"[..], b"qrstuvw", b"xyz"] {
        tokio::time::sleep(Duration::from_millis(150)).await;
        client.send(piece).await;
    }
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "POST /upload HTTP/1.1");
    client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.body(), "GET /next HTTP/1.1");
    let received = up.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].body, b"abcdefghijklmnopqrstuvwxyz");
    assert_eq!(received[0].field("content-length"), ["26"]);
    assert!(received[0].complete);
    received[0].assert_framing_unambiguous();
    assert_eq!(received[1].request_line(), "GET /next HTTP/1.1");
    assert!(received[1].body.is_empty());
}

/// The classic CL.TE / TE.CL smuggling pair. RFC 9112 §6.3: chunked wins
/// and the connection must close after the answer. The upstream gets one
/// request framed one way only (chunked, no Content-Length), and what
/// follows the chunked body on the client connection is never read as a
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_beside_chunked_is_read_as_chunked_and_the_connection_closes() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let orders: [&[u8]; 2] = [
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ];
    for (i, request) in orders.into_iter().enumerate() {
        let mut client = Wire::connect(&proxy).await;
        client.send(&[request, SMUGGLED].concat()).await;
        let answer = within(client.response(false)).await.expect("an answer");
        assert_eq!(answer.status, 200, "order {i}: {}", answer.head);
        assert_eq!(answer.body(), "POST /a HTTP/1.1");
        assert_eq!(fields(&answer.head, "connection"), ["close"]);
        assert!(
            client.closes_within(PATIENCE).await,
            "order {i}: connection left open"
        );
        let received = up.received();
        assert_eq!(received.len(), i + 1, "order {i}: {received:?}");
        let r = &received[i];
        assert_eq!(r.request_line(), "POST /a HTTP/1.1");
        assert!(r.complete);
        assert_eq!(r.body, b"hello");
        r.assert_framing_unambiguous();
        assert!(r.field("content-length").is_empty(), "{}", r.head);
    }
    tokio::time::sleep(SETTLE).await;
    assert!(
        up.received().iter().all(|r| !r.head.contains("smuggled")),
        "{:?}",
        up.received()
    );
}

/// Two lengths that disagree, or one that is not plain decimal digits:
/// recipients that read it differently (first or last value, sign
/// accepted, hex, list) are the CL.CL smuggling family. All refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_content_lengths_are_400_and_reach_no_upstream() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let vectors: [(&str, &[u8]); 8] = [
        (
            "two different lengths",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "plus sign",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        ),
        (
            "minus sign",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello",
        ),
        (
            "space inside",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1 0\r\n\r\nhellohello",
        ),
        (
            "hex",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
        ),
        (
            "list of different values",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        ),
        // Stricter than RFC 9110 §8.6 allows for: a list, even of equal
        // values, is refused.
        (
            "list of equal values",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
        ),
        (
            "empty",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
        ),
    ];
    for (name, request) in vectors {
        refused_at_the_head(&proxy, &up, name, request).await;
    }
}

/// Repeated identical Content-Length fields are one length (RFC 9110
/// §8.6): accepted, and forwarded as a single field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_equal_content_lengths_are_one_length() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    for line in ["POST /a HTTP/1.1", "GET /b HTTP/1.1"] {
        let answer = within(client.response(false)).await.expect("an answer");
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), line);
    }
    let received = up.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].body, b"hello");
    assert_eq!(received[0].field("content-length"), ["5"]);
}

/// A Transfer-Encoding whose final coding is not exactly `chunked` leaves
/// the body's length to guesswork (TE.TE smuggling: one hop ignores the
/// odd value and uses Content-Length, another reads to the close). RFC
/// 9112 §6.3: a server answers 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_encodings_other_than_final_chunked_are_400_and_reach_no_upstream() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let vectors: [(&str, &[u8]); 5] = [
        ("xchunked", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("chunked, identity", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("chunked then identity fields", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("xchunked beside content-length", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\nhello"),
        // HTTP/1.0 has no chunked coding: its framing would be guesswork.
        ("chunked on HTTP/1.0", b"POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ];
    for (name, request) in vectors {
        refused_at_the_head(&proxy, &up, name, request).await;
    }
}

/// Field syntax that parsers disagree on: whitespace before the colon (one
/// hop sees `Transfer-Encoding`, another an unknown field), obs-fold (a
/// continuation line), NUL and bare CR (line ends that some read and some
/// do not). RFC 9112 §5.1 and §5.2: rejected with 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_field_lines_are_400_and_reach_no_upstream() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let vectors: [(&str, &[u8]); 6] = [
        ("space before the colon", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("tab before the colon", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n"),
        ("obs-fold of transfer-encoding", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("obs-fold of an ordinary field", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
        ("NUL in a value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
        ("bare CR in a value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
    ];
    for (name, request) in vectors {
        refused_at_the_head(&proxy, &up, name, request).await;
    }
}

/// Request lines that another parser could split differently (two spaces),
/// a method that is not a token, and versions this listener does not speak
/// over HTTP/1 framing: 400, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_lines_are_400_and_reach_no_upstream() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let vectors: [(&str, &[u8]); 5] = [
        ("two spaces", b"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("method not a token", b"G@T /a HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("HTTP/1.2", b"GET /a HTTP/1.2\r\nHost: x\r\n\r\n"),
        (
            "HTTP/2.0 on a request line",
            b"GET /a HTTP/2.0\r\nHost: x\r\n\r\n",
        ),
        ("no version", b"GET /a\r\nHost: x\r\n\r\n"),
    ];
    for (name, request) in vectors {
        refused_at_the_head(&proxy, &up, name, request).await;
    }
}

/// A chunked body that goes wrong after its head was forwarded: a size
/// that is not hex, one that overflows 64 bits (a parser that wraps it
/// reads a small size and takes the rest as a new request), chunk data not
/// followed by CRLF. The client gets 400 and its connection closes; the
/// upstream's copy of the request never completes (no last chunk), so it
/// cannot act on it, and nothing after the error is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunked_bodies_are_400_and_never_complete_upstream() {
    let vectors: [(&str, &[u8]); 3] = [
        ("size not hex", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbroken\r\n0\r\n\r\n"),
        ("size overflowing", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"),
        ("no CRLF after the data", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
    ];
    for (name, request) in vectors {
        let up = Recorder::start(names_the_request).await;
        let proxy = up.behind_proxy().await;
        let mut client = Wire::connect(&proxy).await;
        client.send(&[request, SMUGGLED].concat()).await;
        let answer = within(client.response(false))
            .await
            .unwrap_or_else(|| panic!("{name}: closed without an answer"));
        assert_eq!(answer.status, 400, "{name}: {}", answer.head);
        assert!(
            client.closes_within(PATIENCE).await,
            "{name}: connection left open"
        );
        tokio::time::sleep(SETTLE).await;
        let received = up.received();
        assert!(received.len() <= 1, "{name}: {received:?}");
        // The head goes out before the body is read: the upstream saw it,
        // and at most the valid first chunk, then its connection closed.
        for r in &received {
            assert_eq!(r.request_line(), "POST /a HTTP/1.1", "{name}");
            assert!(!r.complete, "{name}: the broken body was completed: {r:?}");
            assert!(b"hello".starts_with(&r.body), "{name}: {r:?}");
            r.assert_framing_unambiguous();
        }
    }
}

/// A complete request hidden in bytes that a Content-Length claims: the
/// length decides, nothing else. After `Content-Length: 5`, the next bytes
/// are the next request (two requests upstream, each framed alone); when
/// the length cuts into a request line, the rest is garbage that gets a
/// 400 and closes the connection, and the upstream saw one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_alone_decides_where_the_next_request_starts() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;

    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    for line in ["POST /a HTTP/1.1", "GET /second HTTP/1.1"] {
        let answer = within(client.response(false)).await.expect("an answer");
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), line);
    }
    let received = up.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].body, b"hello");
    assert_eq!(received[0].field("content-length"), ["5"]);
    assert_eq!(received[1].request_line(), "GET /second HTTP/1.1");
    assert!(received[1].body.is_empty());

    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.body(), "POST /b HTTP/1.1");
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 400, "{}", answer.head);
    assert!(client.closes_within(PATIENCE).await);
    let received = up.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(received[2].request_line(), "POST /b HTTP/1.1");
    assert_eq!(received[2].body, b"GET /");
}

/// A valid chunked body with a chunk extension and a trailer reaches the
/// upstream with the same content, framed unambiguously, and the client
/// connection serves the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_body_with_extension_and_trailer_arrives_whole() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    for line in ["POST /a HTTP/1.1", "GET /b HTTP/1.1"] {
        let answer = within(client.response(false)).await.expect("an answer");
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), line);
    }
    let received = up.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(received[0].complete);
    assert_eq!(received[0].body, b"hello world");
    // The trailer section is passed on too.
    assert_eq!(received[0].trailers, "x-sum: 11\r\n");
    received[0].assert_framing_unambiguous();
    assert_eq!(received[1].request_line(), "GET /b HTTP/1.1");
}

/// `Connection: close` from the client: answered, then closed by the
/// proxy, so that bytes the client sends after it are never a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_from_the_client_is_answered_then_closed() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(
            &[
                &b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
                SMUGGLED,
            ]
            .concat(),
        )
        .await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "GET /a HTTP/1.1");
    assert_eq!(fields(&answer.head, "connection"), ["close"]);
    assert!(client.closes_within(PATIENCE).await);
    tokio::time::sleep(SETTLE).await;
    let received = up.received();
    assert_eq!(received.len(), 1, "{received:?}");
    // Connection is hop-by-hop: the upstream connection stays reusable.
    assert!(received[0].field("connection").is_empty());
}

/// HTTP/1.0 without keep-alive closes after one answer; the upstream gets
/// it as HTTP/1.1 (its pooled connection stays reusable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_request_without_keep_alive_is_answered_then_closed() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(&[&b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n"[..], SMUGGLED].concat())
        .await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "GET /a HTTP/1.1");
    assert!(
        answer.framing != Framing::Chunked,
        "chunked to an HTTP/1.0 client: {}",
        answer.head
    );
    if answer.framing != Framing::Close {
        assert!(client.closes_within(PATIENCE).await);
    }
    tokio::time::sleep(SETTLE).await;
    let received = up.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].request_line(), "GET /a HTTP/1.1");
}

/// `Expect: 100-continue`: the client is told to go on (or gets its final
/// answer), and the body it then sends reaches the upstream. A proxy that
/// waited for the body before saying 100 would hang such clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_lets_the_body_through() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await;
    let first = within(client.until(b"\r\n\r\n"))
        .await
        .expect("an interim or final answer");
    let first = String::from_utf8(first).unwrap();
    assert!(first.starts_with("HTTP/1.1 100 "), "{first}");
    client.send(b"hello").await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "POST /a HTTP/1.1");
    let received = up.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].body, b"hello");
}

/// Hop-by-hop fields (RFC 9110 §7.6.1) and the fields `Connection` names
/// stay on the client's hop: forwarded, they could make the upstream
/// close, keep alive or re-frame differently from the proxy. The client's
/// `X-Forwarded-For` is kept, with the client's address appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_fields_stay_on_the_clients_hop() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client
        .send(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\nX-Forwarded-For: 203.0.113.7\r\nX-End: kept\r\n\r\n")
        .await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    let received = up.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    for hop in [
        "connection",
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "te",
    ] {
        assert!(r.field(hop).is_empty(), "{hop} forwarded: {}", r.head);
    }
    assert_eq!(r.field("x-end"), ["kept"]);
    assert_eq!(r.field("x-forwarded-for"), ["203.0.113.7, 127.0.0.1"]);
}

/// Heads over the listener's limits, in the shapes the one-big-field case
/// in `limits` does not cover: a request line longer than
/// `max_header_bytes` (64 KiB by default), and many small fields (hyper's
/// parser takes at most 100 per head, so 200 small fields are refused
/// though far under the byte limit; 50 pass). 431 either way, and nothing
/// half-parsed is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_over_the_limits_are_431_and_reach_no_upstream() {
    let up = Recorder::start(names_the_request).await;
    let proxy = up.behind_proxy().await;
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_fields = |n: usize| {
        let fields: String = (0..n).map(|i| format!("x-f{i}: {i}\r\n")).collect();
        format!("GET /a HTTP/1.1\r\nHost: x\r\n{fields}\r\n")
    };
    for (name, head) in [
        ("long request line", long_line),
        ("200 fields", many_fields(200)),
    ] {
        let mut client = Wire::connect(&proxy).await;
        // The proxy may answer and close before it has read everything.
        let _ = client.stream.write_all(head.as_bytes()).await;
        let answer = within(client.response(false))
            .await
            .unwrap_or_else(|| panic!("{name}: closed without an answer"));
        assert_eq!(answer.status, 431, "{name}: {}", answer.head);
        assert!(client.closes_within(PATIENCE).await, "{name}: left open");
        assert_eq!(up.connections(), 0, "{name} reached the upstream");
    }

    let mut client = Wire::connect(&proxy).await;
    client.send(many_fields(50).as_bytes()).await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    let received = up.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].field("x-f49"), ["49"]);
}

/// A proxy in front of an upstream that answers every request with
/// `bytes`, and a client connection to it.
async fn answering(bytes: &'static [u8]) -> (Recorder, TargetProxy, Wire) {
    let up = Recorder::start(move |_| Reply::Send(bytes.to_vec())).await;
    let proxy = up.behind_proxy().await;
    let client = Wire::connect(&proxy).await;
    (up, proxy, client)
}

/// GETs `path` on `client` and reads the answer.
async fn get_on(client: &mut Wire, path: &str) -> Answer {
    client
        .send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    within(client.response(false)).await.expect("an answer")
}

/// A chunked response with an extension and a trailer: the client gets
/// the same body, framed so it knows where it ends, and its connection
/// then carries the next exchange in step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_response_with_extension_and_trailer_arrives_whole() {
    let (up, _proxy, mut client) = answering(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-sum: 11\r\n\r\n",
    )
    .await;
    for path in ["/1", "/2"] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), "hello world");
    }
    assert_eq!(up.received().len(), 2);
}

/// A response with neither length nor chunking ends at the upstream's
/// close. The client must get all of it, delimited for it (re-chunked, or
/// by closing the client connection), never cut short nor run into the
/// next answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_delimited_by_close_arrives_whole_and_delimited() {
    let up =
        Recorder::start(|_| Reply::SendAndClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()))
            .await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    let answer = get_on(&mut client, "/1").await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "until the end");
    if answer.framing != Framing::Close {
        let answer = get_on(&mut client, "/2").await;
        assert_eq!(answer.body(), "until the end");
        assert_eq!(up.connections(), 2, "a closed upstream connection reused");
    }
}

/// A HEAD answer says `Content-Length: 100` and has no body. Waiting for
/// those 100 bytes would hang; taking the next answer's bytes for them
/// would desync the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_answer_with_a_length_and_no_body_then_a_get() {
    let up = Recorder::start(|r| {
        if r.request_line().starts_with("HEAD ") {
            Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec())
        } else {
            names_the_request(r)
        }
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    client.send(b"HEAD /1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = within(client.response(true)).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(fields(&answer.head, "content-length"), ["100"]);
    let answer = get_on(&mut client, "/2").await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "GET /2 HTTP/1.1");
    assert_eq!(up.connections(), 1, "the upstream connection was kept");
}

/// 204 and 304 never have a body, whatever their fields say: the next
/// request on the same connection gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_content_and_not_modified_then_another_request() {
    let up = Recorder::start(|r| match r.request_line() {
        "GET /204 HTTP/1.1" => Reply::Send(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
        "GET /304 HTTP/1.1" => {
            Reply::Send(b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n".to_vec())
        }
        _ => names_the_request(r),
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    for (path, status) in [("/204", 204), ("/304", 304), ("/after", 200)] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, status, "{}", answer.head);
        assert!(
            fields(&answer.head, "transfer-encoding").is_empty(),
            "{}",
            answer.head
        );
    }
    let answer = get_on(&mut client, "/last").await;
    assert_eq!(answer.body(), "GET /last HTTP/1.1");
}

/// Two different Content-Lengths from the upstream: no way to know where
/// the body ends, so 502, promptly, and that upstream connection is not
/// reused (its next bytes are unframeable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answer_with_two_lengths_is_502() {
    let (up, _proxy, mut client) =
        answering(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").await;
    for path in ["/1", "/2"] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, 502, "{}", answer.head);
    }
    assert_eq!(up.received().len(), 2);
    assert_eq!(up.connections(), 2, "an unframeable connection was reused");
}

/// An obs-folded field in the upstream's answer: refused as well (502).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answer_with_a_folded_field_is_502() {
    let (up, _proxy, mut client) =
        answering(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello").await;
    let answer = get_on(&mut client, "/1").await;
    assert_eq!(answer.status, 502, "{}", answer.head);
    assert_eq!(up.received().len(), 1);
}

/// Content-Length beside chunked in the upstream's answer: chunked wins
/// (RFC 9112 §6.3). What must hold today: the client connection never
/// gets bytes outside the framing it was told (the next answer starts
/// exactly where the last one said it ends), and nothing hangs. That the
/// body is right, or refused whole, is the test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answer_with_length_and_chunked_never_desyncs_the_client() {
    // A length shorter than the chunked body.
    let (_up, _proxy, mut client) = answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    for path in ["/1", "/2"] {
        // `response` fails on stray bytes before a status line.
        let answer = get_on(&mut client, path).await;
        assert!(
            [200, 502].contains(&answer.status),
            "{path}: {}",
            answer.head
        );
        if answer.status == 200 {
            assert!(b"hello".starts_with(&answer.body), "{path}: {answer:?}");
        }
    }
    // A length longer than the chunked body: the client is not left
    // waiting for bytes that never come.
    let (_up, _proxy, mut client) = answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    client.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    match within(client.response(false)).await {
        // Cut: the head promised more than came, and the connection closed.
        None => assert!(
            client.buf.is_empty() || b"hello".starts_with(&client.buf),
            "{:?}",
            String::from_utf8_lossy(&client.buf)
        ),
        Some(answer) => {
            assert!([200, 502].contains(&answer.status), "{}", answer.head);
            if answer.status == 200 {
                assert_eq!(answer.body(), "hello");
            }
        }
    }
}

/// What happens to Content-Length beside chunked in an answer: the client
/// gets the whole chunked body without the length (RFC 9112 §6.3), or a
/// 502 (the relay refuses such an answer: a message two parsers could
/// frame differently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answer_with_length_and_chunked_gives_the_whole_body_or_502() {
    for length in [3, 50] {
        let bytes = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let bytes: &'static [u8] = Box::leak(bytes.into_bytes().into_boxed_slice());
        let (_up, _proxy, mut client) = answering(bytes).await;
        for path in ["/1", "/2"] {
            let answer = get_on(&mut client, path).await;
            match answer.status {
                200 => assert_eq!(answer.body(), "hello", "length {length}"),
                502 => {}
                other => panic!("length {length}: {other}"),
            }
        }
    }
}

/// `Connection: close` on the upstream's answer ends that upstream
/// connection only: the client gets the answer whole and keeps its own
/// connection, and the next request opens a new upstream connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_from_the_upstream_ends_the_upstream_connection_only() {
    let up = Recorder::start(|r| {
        let body = r.request_line();
        Reply::SendAndClose(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    for path in ["/1", "/2"] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), format!("GET {path} HTTP/1.1"));
        assert!(
            fields(&answer.head, "connection").is_empty(),
            "{}",
            answer.head
        );
    }
    assert_eq!(up.connections(), 2);
}

/// Interim answers (103 Early Hints, an unsolicited 100) before the final
/// one: the client gets the final 200 and its body, and any interim it is
/// shown is a whole 1xx head, never mistaken for the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_answers_before_the_final_one() {
    let (up, _proxy, mut client) = answering(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    for path in ["/1", "/2"] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), "hello");
        for interim in &answer.interim {
            assert!(interim.starts_with("HTTP/1.1 1"), "{interim}");
        }
    }
    assert_eq!(up.received().len(), 2);
}

/// A pooled connection the upstream closes just as a request goes out on
/// it: a GET (safe to repeat) is sent again on a new connection and
/// succeeds; a POST is never sent twice (502), since the upstream may
/// have acted on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_closed_under_a_request_replays_only_what_is_safe() {
    // Every connection's second request is met with a close.
    let up = Recorder::start(|r| {
        if r.nth == 1 {
            Reply::Hangup
        } else {
            names_the_request(r)
        }
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    for path in ["/1", "/2"] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.head);
        assert_eq!(answer.body(), format!("GET {path} HTTP/1.1"));
    }
    client
        .send(b"POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        .await;
    let answer = within(client.response(false)).await.expect("an answer");
    assert_eq!(answer.status, 502, "{}", answer.head);
    let seen: Vec<(usize, usize, String)> = up
        .received()
        .iter()
        .map(|r| (r.conn, r.nth, r.request_line().to_owned()))
        .collect();
    assert_eq!(
        seen,
        [
            (0, 0, "GET /1 HTTP/1.1".to_owned()),
            (0, 1, "GET /2 HTTP/1.1".to_owned()),
            (1, 0, "GET /2 HTTP/1.1".to_owned()),
            (1, 1, "POST /3 HTTP/1.1".to_owned()),
        ]
    );
}

/// An upstream that sends more than its Content-Length: the client gets
/// exactly that many bytes, and the surplus (here a whole fake response)
/// is never taken as the answer to the next request (response desync).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_past_the_upstreams_length_are_never_an_answer() {
    let up = Recorder::start(|r| {
        if r.conn == 0 && r.nth == 0 {
            Reply::Send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
                    .to_vec(),
            )
        } else {
            names_the_request(r)
        }
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut client = Wire::connect(&proxy).await;
    let answer = get_on(&mut client, "/1").await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.body(), "hello");
    for path in ["/2", "/3"] {
        let answer = get_on(&mut client, path).await;
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body(), format!("GET {path} HTTP/1.1"));
    }
    let received = up.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(
        received[1].conn != 0,
        "the connection with surplus bytes was reused: {received:?}"
    );
}

// HTTP/2 clients: hyper reads their requests, the relay's connections carry
// them to the HTTP/1.1 replica, and the answer's HTTP/1.1 framing is decoded
// into HTTP/2 frames.

/// An HTTP/2 client's GET of `path`: status, body, trailers.
async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    method: &str,
    path: &str,
) -> (u16, Vec<u8>, Option<http::HeaderMap>) {
    use http_body_util::BodyExt;
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://x{path}"))
        .body(http_body_util::Full::default())
        .unwrap();
    let resp = within(sender.send_request(req)).await.unwrap();
    let status = resp.status().as_u16();
    let collected = within(resp.into_body().collect()).await.unwrap();
    let trailers = collected.trailers().cloned();
    (status, collected.to_bytes().to_vec(), trailers)
}

/// Chunked (with its trailer), length-delimited, close-delimited, HEAD and
/// 204 answers each reach an HTTP/2 client whole, stream after stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_get_each_http1_framing_decoded() {
    let up = Recorder::start(|r: &Received| {
        let path = r.request_line().split(' ').nth(1).unwrap_or("/").to_owned();
        match path.as_str() {
            "/chunked" => Reply::Send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n".to_vec(),
            ),
            "/close" => Reply::SendAndClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()),
            "/head" => Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec()),
            "/none" => Reply::Send(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
            "/both" => Reply::Send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
            ),
            _ => Reply::Send(ok("plain")),
        }
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut h2 = crate::http2::h2c(proxy.local_addr()).await;
    for _ in 0..2 {
        let (status, body, trailers) = h2_get(&mut h2, "GET", "/chunked").await;
        assert_eq!((status, body.as_slice()), (200, &b"hello world"[..]));
        assert_eq!(trailers.expect("trailers")["x-sum"], "11");
        assert_eq!(h2_get(&mut h2, "GET", "/plain").await.1, b"plain");
        assert_eq!(h2_get(&mut h2, "GET", "/close").await.1, b"until the end");
        let (status, body, _) = h2_get(&mut h2, "HEAD", "/head").await;
        assert_eq!((status, body.len()), (200, 0));
        assert_eq!(h2_get(&mut h2, "GET", "/none").await.0, 204);
        assert_eq!(h2_get(&mut h2, "GET", "/both").await.0, 502);
    }
}

/// An HTTP/2 client's body of unknown length goes to the replica chunked,
/// its trailers after it, and arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_body_without_length_reaches_the_replica_chunked() {
    use http_body_util::BodyExt;
    let up = Recorder::start(|_| Reply::Send(ok("got it"))).await;
    let proxy = up.behind_proxy().await;
    let stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let req = http::Request::post("http://x/upload")
        .body(Frames(rx))
        .unwrap();
    let sent = tokio::spawn(async move {
        let data = |b: &'static [u8]| hyper::body::Frame::data(bytes::Bytes::from_static(b));
        tx.send(data(b"first ")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(data(b"second")).await.unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-check", "42".parse().unwrap());
        tx.send(hyper::body::Frame::trailers(trailers))
            .await
            .unwrap();
    });
    let resp = within(h2.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = within(resp.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(&body[..], b"got it");
    within(sent).await.unwrap();
    let seen = up.received();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .head
            .to_lowercase()
            .contains("transfer-encoding: chunked"),
        "{}",
        seen[0].head
    );
    assert_eq!(seen[0].body, b"first second");
    assert!(
        seen[0].trailers.contains("x-check: 42"),
        "{}",
        seen[0].trailers
    );
    assert!(seen[0].complete);
}

/// A request body sent frame by frame, with no length known in advance.
struct Frames(tokio::sync::mpsc::Receiver<hyper::body::Frame<bytes::Bytes>>);

impl hyper::body::Body for Frames {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

/// The same for requests hyper reads (an HTTP/2 client here): a GET on a
/// pooled connection the upstream closes is sent again on a new one; a
/// POST is never sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_clients_request_on_a_closed_pooled_connection_replays_only_what_is_safe() {
    let up = Recorder::start(|r| {
        if r.nth == 1 {
            Reply::Hangup
        } else {
            names_the_request(r)
        }
    })
    .await;
    let proxy = up.behind_proxy().await;
    let mut h2 = crate::http2::h2c(proxy.local_addr()).await;
    for path in ["/1", "/2"] {
        let (status, body, _) = h2_get(&mut h2, "GET", path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, format!("GET {path} HTTP/1.1").as_bytes());
    }
    let post = http::Request::post("http://x/3")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"hi")))
        .unwrap();
    let resp = within(h2.send_request(post)).await.unwrap();
    assert_eq!(resp.status(), 502);
    let seen: Vec<(usize, usize, String)> = up
        .received()
        .iter()
        .map(|r| (r.conn, r.nth, r.request_line().to_owned()))
        .collect();
    assert_eq!(
        seen,
        [
            (0, 0, "GET /1 HTTP/1.1".to_owned()),
            (0, 1, "GET /2 HTTP/1.1".to_owned()),
            (1, 0, "GET /2 HTTP/1.1".to_owned()),
            (1, 1, "POST /3 HTTP/1.1".to_owned()),
        ]
    );
}
