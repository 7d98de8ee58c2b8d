//! Many requests on one kept-alive connection, pipelined and cut into
//! pieces at random places, with bodies both ways that span many reads:
//! every answer comes back whole and in order. A fixed seed per round, so a
//! failure repeats.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use zion_proxy::Route;

use crate::support::{Upstream, proxy, within};

/// What one request should get back.
struct Expected {
    what: String,
    /// The body, or for HEAD the length announced and no body.
    body: Vec<u8>,
    head: bool,
}

/// One answer read off the connection: status, content-length, body.
async fn answer(
    rd: &mut OwnedReadHalf,
    pending: &mut Vec<u8>,
    head: bool,
) -> (u16, usize, Vec<u8>) {
    let end = loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 8192];
        let n = rd.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before an answer's head");
        pending.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8(pending[..end].to_vec())
        .unwrap()
        .to_lowercase();
    pending.drain(..end + 4);
    let status = text[9..12].parse().unwrap();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("every answer here has a length")
        .parse()
        .unwrap();
    let take = if head { 0 } else { length };
    while pending.len() < take {
        let mut chunk = [0u8; 8192];
        let n = rd.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed inside a body");
        pending.extend_from_slice(&chunk[..n]);
    }
    let body = pending.drain(..take).collect();
    (status, length, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_cut_anywhere_are_answered_whole_and_in_order() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    let mut sent = 0;
    for seed in 1..=6u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..40 {
            let n = rng.usize(0..30_000);
            match rng.u8(0..3) {
                0 => {
                    wire.extend_from_slice(
                        format!("GET /big/{n} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes(),
                    );
                    expected.push(Expected {
                        what: format!("GET /big/{n}"),
                        body: vec![b'x'; n],
                        head: false,
                    });
                }
                1 => {
                    let body: Vec<u8> = (0..n).map(|_| rng.alphanumeric() as u8).collect();
                    wire.extend_from_slice(
                        format!("POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: {n}\r\n\r\n")
                            .as_bytes(),
                    );
                    wire.extend_from_slice(&body);
                    expected.push(Expected {
                        what: format!("POST /echo of {n}"),
                        body,
                        head: false,
                    });
                }
                _ => {
                    wire.extend_from_slice(
                        format!("HEAD /big/{n} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes(),
                    );
                    expected.push(Expected {
                        what: format!("HEAD /big/{n}"),
                        body: vec![b'x'; n],
                        head: true,
                    });
                }
            }
        }
        sent += expected.len();
        let (mut rd, mut wr) = TcpStream::connect(proxy.local_addr())
            .await
            .unwrap()
            .into_split();
        let cuts = rng.u64(..);
        let writer = tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(cuts);
            let mut at = 0;
            while at < wire.len() {
                let n = rng.usize(1..=3000).min(wire.len() - at);
                wr.write_all(&wire[at..at + n]).await.unwrap();
                at += n;
                if rng.bool() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            wr
        });
        let mut pending = Vec::new();
        for (i, e) in expected.iter().enumerate() {
            let (status, length, body) = within(answer(&mut rd, &mut pending, e.head)).await;
            let at = format!("seed {seed}, request {i} ({})", e.what);
            assert_eq!(status, 200, "{at}");
            assert_eq!(length, e.body.len(), "{at}");
            if !e.head {
                assert!(body == e.body, "{at}: body differs");
            }
        }
        let _wr = within(writer).await.unwrap();
        assert!(
            pending.is_empty(),
            "seed {seed}: bytes after the last answer"
        );
    }
    assert_eq!(metrics.totals("1.0"), (sent as u64, 0));
}
