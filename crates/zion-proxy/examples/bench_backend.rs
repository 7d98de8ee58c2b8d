//! A minimal upstream for benchmarks: answers every request `200 ok` on each
//! address given (default: two ports on 127.0.0.1 chosen by the system) and
//! prints the bound addresses on stdout, one per line.
//!
//! Usage: bench_backend [ADDR...]

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn ok(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut addrs: Vec<SocketAddr> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    if addrs.is_empty() {
        addrs = vec!["127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?];
    }
    let mut stdout = std::io::stdout().lock();
    for addr in addrs {
        let listener = TcpListener::bind(addr).await?;
        writeln!(stdout, "{}", listener.local_addr()?)?;
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(
                    http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(ok)),
                );
            }
        });
    }
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
