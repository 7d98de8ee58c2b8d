//! A gRPC server and load generator for benchmarks, unary calls only, the
//! messages framed by hand (a protobuf library and generated code would be
//! far more than an echo needs).
//!
//! `bench_grpc serve` answers every call over h2c with the request's message
//! echoed and `grpc-status: 0` in the trailers; it prints its address on
//! stdout.
//!
//! `bench_grpc call ADDR [--connections 8] [--streams 8] [--duration 10]
//! [--warmup 2]` opens CONNECTIONS h2c connections to ADDR, each carrying
//! STREAMS calls at once, one after another for DURATION seconds (after
//! WARMUP seconds not counted), and prints one line:
//! `CALLS_PER_S P50_MS P99_MS FAILED`, counting calls that succeeded (a
//! call failed when its HTTP status, its grpc-status or its echo was
//! wrong, or the connection broke; the first failure is told on stderr).
//! A connection the server closes (nginx ends one after 1,000 calls, with
//! GOAWAY) is opened again; a call it refused before taking it (it never
//! got a response head) is made once more on the new connection, as gRPC
//! clients do, and counts as failed only if that fails too.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

const PATH: &str = "/zion.bench.Echo/Say";
/// `message Say { string text = 1; }` with text "hello zion", in gRPC's
/// frame: no compression, four bytes of length, the message.
const MESSAGE: &[u8] = b"\x00\x00\x00\x00\x0c\x0a\x0ahello zion";

/// The echo's body: the message, then the trailers with the status.
struct Echo {
    data: Option<Bytes>,
    done: bool,
}

impl Body for Echo {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        self.done = true;
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

async fn echo(req: Request<Incoming>) -> Result<Response<Echo>, hyper::Error> {
    let data = req.into_body().collect().await?.to_bytes();
    let mut resp = Response::new(Echo {
        data: Some(data),
        done: false,
    });
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    Ok(resp)
}

async fn serve() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", listener.local_addr()?)?;
        stdout.flush()?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(echo)),
        );
    }
}

struct Load {
    target: SocketAddr,
    connections: usize,
    streams: usize,
    duration: Duration,
    warmup: Duration,
}

fn parse_load(mut args: impl Iterator<Item = String>) -> anyhow::Result<Load> {
    let target = args
        .next()
        .context("call needs the server's ADDR")?
        .parse()
        .context("ADDR")?;
    let mut load = Load {
        target,
        connections: 8,
        streams: 8,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connections" => load.connections = value.parse().context("--connections")?,
            "--streams" => load.streams = value.parse().context("--streams")?,
            "--duration" => {
                load.duration = Duration::from_secs(value.parse().context("--duration")?)
            }
            "--warmup" => load.warmup = Duration::from_secs(value.parse().context("--warmup")?),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(load)
}

/// What the callers measured: latencies in microseconds, failed calls.
struct Tally {
    latency: Histogram<u64>,
    failed: u64,
}

/// Why a call failed: before any response (the connection may have been
/// closed under it), or in its answer.
enum Failure {
    Unanswered(String),
    Answered(String),
}

impl Failure {
    fn into_message(self) -> String {
        match self {
            Failure::Unanswered(message) | Failure::Answered(message) => message,
        }
    }
}

/// One unary call.
async fn one_call(sender: &mut Sender, uri: &http::Uri) -> Result<(), Failure> {
    let req = Request::post(uri.clone())
        .header(CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(MESSAGE)))
        .expect("a valid request");
    let resp = sender
        .send_request(req)
        .await
        .map_err(|err| Failure::Unanswered(format!("request failed: {err}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Failure::Answered(format!("HTTP status {status}")));
    }
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|err| Failure::Answered(format!("body failed: {err}")))?;
    let grpc_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .cloned();
    if grpc_status.as_ref().is_none_or(|s| s != "0") {
        return Err(Failure::Answered(format!("grpc-status {grpc_status:?}")));
    }
    if collected.to_bytes() != MESSAGE {
        return Err(Failure::Answered(
            "the echo differs from the message sent".to_owned(),
        ));
    }
    Ok(())
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// One h2c connection shared by several streams, opened again when the
/// server closes it. `generation` counts the openings, so that of several
/// streams finding the same connection closed only the first reopens it.
struct Channel {
    target: SocketAddr,
    current: tokio::sync::Mutex<(u64, Sender)>,
}

impl Channel {
    async fn open(target: SocketAddr) -> anyhow::Result<Channel> {
        let sender = connect(target).await?;
        Ok(Channel {
            target,
            current: tokio::sync::Mutex::new((0, sender)),
        })
    }

    /// The connection in use and its generation.
    async fn get(&self) -> (u64, Sender) {
        let current = self.current.lock().await;
        (current.0, current.1.clone())
    }

    /// A new connection in place of generation `seen`, unless another
    /// stream replaced it already.
    async fn reopen(&self, seen: u64) -> anyhow::Result<(u64, Sender)> {
        let mut current = self.current.lock().await;
        if current.0 == seen {
            current.1 = connect(self.target).await?;
            current.0 += 1;
        }
        Ok((current.0, current.1.clone()))
    }
}

async fn connect(target: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(target)
        .await
        .with_context(|| format!("connecting to {target}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// One call on `channel`, reopening it first when the server closed it, and
/// made again once on a new connection when it got no answer because its
/// connection was closed.
async fn call_on(
    channel: &Channel,
    held: &mut (u64, Sender),
    uri: &http::Uri,
) -> Result<(), String> {
    if held.1.is_closed() {
        *held = channel
            .reopen(held.0)
            .await
            .map_err(|err| err.to_string())?;
    }
    match one_call(&mut held.1, uri).await {
        Err(Failure::Unanswered(first)) => {
            // Told apart from a server that answers nothing at all: the
            // connection must be closed or closing.
            if !held.1.is_closed() && held.1.ready().await.is_ok() {
                return Err(first);
            }
            *held = channel
                .reopen(held.0)
                .await
                .map_err(|err| err.to_string())?;
            one_call(&mut held.1, uri)
                .await
                .map_err(Failure::into_message)
        }
        other => other.map_err(Failure::into_message),
    }
}

async fn call(load: Load) -> anyhow::Result<()> {
    let uri: http::Uri = format!("http://{}{PATH}", load.target).parse()?;
    let tally = Arc::new(Mutex::new(Tally {
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        failed: 0,
    }));
    let start = Instant::now();
    let (measure_from, end) = (start + load.warmup, start + load.warmup + load.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..load.connections {
        let channel = Arc::new(Channel::open(load.target).await?);
        for _ in 0..load.streams {
            let (channel, uri, tally) = (Arc::clone(&channel), uri.clone(), Arc::clone(&tally));
            tasks.spawn(async move {
                let mut held = channel.get().await;
                let mut own =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                let (mut failed, mut first_error) = (0, None);
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let result = call_on(&channel, &mut held, &uri).await;
                    if began < measure_from {
                        continue;
                    }
                    match result {
                        Ok(()) => {
                            let micros = began.elapsed().as_micros();
                            own.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
                        }
                        Err(err) => {
                            failed += 1;
                            first_error.get_or_insert(err);
                            // A server that fails every call fails at once:
                            // do not spin.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                if let Some(err) = first_error {
                    eprintln!("bench_grpc: {failed} calls failed, the first: {err}");
                }
                let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = tally.latency.add(&own);
                tally.failed += failed;
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    let tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
    let calls = tally.latency.len();
    println!(
        "{:.0} {:.3} {:.3} {}",
        calls as f64 / load.duration.as_secs_f64(),
        tally.latency.value_at_quantile(0.5) as f64 / 1000.0,
        tally.latency.value_at_quantile(0.99) as f64 / 1000.0,
        tally.failed
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => serve().await,
        Some("call") => call(parse_load(args)?).await,
        _ => bail!(
            "usage: bench_grpc serve | bench_grpc call ADDR [--connections N] [--streams N] [--duration S] [--warmup S]"
        ),
    }
}
