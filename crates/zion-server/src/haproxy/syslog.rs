//! The UDP port where HAProxy sends its request log (`log <addr> local0`
//! in its configuration, `providers.<name>.haproxy.syslog` in the spec).
//! Each line is one request: its latency and status go into the metrics
//! of the target whose backend it names, as the built-in router's
//! requests do.
//!
//! Every replica of `zion up` listens (HAProxy sends each replica's
//! address a copy, one `log` line per replica); a line counts only on the
//! replica driving its target, so no request is counted twice. Datagrams
//! that are not syslog lines are counted and dropped with a warning;
//! HAProxy's other messages (servers going up or down) are dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use zion_proxy::TrafficMetrics;

use super::HaproxyRouter;
use super::request_log;

/// How many times a bind is tried while a previous listener of the same
/// address is still closing.
const BIND_TRIES: u32 = 20;
/// The largest datagram read: syslog over UDP stays well below.
const MAX_DATAGRAM: usize = 65_535;

/// One backend's router and metrics.
struct Served {
    router: Weak<HaproxyRouter>,
    metrics: Weak<TrafficMetrics>,
}

/// One UDP port receiving HAProxy's request log; it closes when the last
/// router holding it is dropped.
pub struct RequestLog {
    addr: SocketAddr,
    backends: Mutex<HashMap<String, Served>>,
    counted: AtomicU64,
    malformed: AtomicU64,
    not_requests: AtomicU64,
    /// Dropped with the log: the receiving task ends and frees the port.
    _stop: oneshot::Sender<()>,
}

impl RequestLog {
    /// Listens on `addr` (retrying while a previous listener of it
    /// closes).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Arc<Self>> {
        let mut tries = 0;
        let socket = loop {
            match UdpSocket::bind(addr).await {
                Ok(s) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < BIND_TRIES => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let addr = socket.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let log = Arc::new(RequestLog {
            addr,
            backends: Mutex::new(HashMap::new()),
            counted: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            not_requests: AtomicU64::new(0),
            _stop: stop,
        });
        tokio::spawn(receive(socket, Arc::downgrade(&log), stopped));
        tracing::info!(%addr, "receiving HAProxy's request log");
        Ok(log)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lines naming `backend` count in `metrics`, through `router` (which
    /// knows its servers' versions and whether this replica drives it).
    pub fn serve(&self, backend: &str, router: &Arc<HaproxyRouter>, metrics: &Arc<TrafficMetrics>) {
        self.backends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                backend.to_owned(),
                Served {
                    router: Arc::downgrade(router),
                    metrics: Arc::downgrade(metrics),
                },
            );
    }

    /// Requests counted in a target's metrics so far.
    pub fn counted(&self) -> u64 {
        self.counted.load(Ordering::Relaxed)
    }

    /// Datagrams that were not syslog lines so far.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// Syslog lines that logged no request so far.
    pub fn not_requests(&self) -> u64 {
        self.not_requests.load(Ordering::Relaxed)
    }

    /// Counts one datagram received at `now`.
    fn take(&self, datagram: &[u8], now: SystemTime) {
        let Some(message) = std::str::from_utf8(datagram)
            .ok()
            .and_then(request_log::message)
        else {
            let n = self.malformed.fetch_add(1, Ordering::Relaxed) + 1;
            // The datagram itself is not logged: it may hold a request's URL.
            if n == 1 || n % 1000 == 0 {
                tracing::warn!(addr = %self.addr, malformed = n, "a datagram is not a syslog line (RFC 3164 or 5424): dropped");
            }
            return;
        };
        let Some(line) = request_log::request(message) else {
            let n = self.not_requests.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n % 1000 == 0 {
                tracing::debug!(addr = %self.addr, not_requests = n, "an HAProxy line without `%b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST` (Zion's log-format, or `option httplog`): dropped");
            }
            return;
        };
        let served = {
            let backends = self.backends.lock().unwrap_or_else(PoisonError::into_inner);
            backends
                .get(line.backend)
                .and_then(|s| Some((s.router.upgrade()?, s.metrics.upgrade()?)))
        };
        // Another backend of the same HAProxy, or one no target here routes.
        let Some((router, metrics)) = served else {
            return;
        };
        if router.count_logged(&line, &metrics, now) {
            self.counted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn receive(socket: UdpSocket, log: Weak<RequestLog>, mut stopped: oneshot::Receiver<()>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = tokio::select! {
            _ = &mut stopped => return,
            got = socket.recv_from(&mut buf) => match got {
                Ok((n, _)) => n,
                Err(e) => {
                    tracing::debug!(error = %e, "reading HAProxy's request log");
                    continue;
                }
            },
        };
        let Some(log) = log.upgrade() else {
            return;
        };
        log.take(&buf[..n], SystemTime::now());
    }
}
