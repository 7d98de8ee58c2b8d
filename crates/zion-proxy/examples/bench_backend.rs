//! A minimal upstream for benchmarks: answers every request `200 ok` on each
//! address given (default: two ports on 127.0.0.1 chosen by the system) and
//! prints the bound addresses on stdout, one per line. With `--slow MS`, one
//! more port (printed last) answers the same after MS milliseconds: a slow
//! canary to mirror to.
//!
//! Usage: bench_backend [--slow MS] [ADDR...]

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

async fn ok(delay: Duration) -> Result<Response<Full<Bytes>>, Infallible> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut slow = None;
    if args.first().is_some_and(|a| a == "--slow") {
        let ms = args
            .get(1)
            .context("--slow needs a number of milliseconds")?;
        slow = Some(Duration::from_millis(ms.parse().context("--slow MS")?));
        args.drain(..2);
    }
    let mut addrs: Vec<(SocketAddr, Duration)> = args
        .iter()
        .map(|a| Ok((a.parse()?, Duration::ZERO)))
        .collect::<anyhow::Result<_>>()?;
    if addrs.is_empty() {
        let any: SocketAddr = "127.0.0.1:0".parse()?;
        addrs = vec![(any, Duration::ZERO), (any, Duration::ZERO)];
    }
    if let Some(delay) = slow {
        addrs.push(("127.0.0.1:0".parse()?, delay));
    }
    let mut stdout = std::io::stdout().lock();
    for (addr, delay) in addrs {
        // A deep accept queue: a proxy that opens its upstream connections
        // in a burst (a thousand clients arriving at once) must not wait on
        // SYNs sent again.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(4096)?;
        writeln!(stdout, "{}", listener.local_addr()?)?;
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(http1::Builder::new().serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |_req: Request<Incoming>| ok(delay)),
                ));
            }
        });
    }
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
