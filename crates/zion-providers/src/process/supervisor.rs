//! One replica's life: spawn (or adopt), watch, probe, restart with
//! backoff, stop (or release).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};
use zion_core::spec::HealthSpec;

use super::output::{self, OUTPUT_CHECK, OutputTail};
use super::{ReplicaState, WorkloadError, procfs};
use crate::probe::{self, ExecEnv};
use crate::{ProcessRecord, ProcessRegistry, VersionKey};

/// First wait before restarting a crashed replica.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between restarts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A replica healthy this long before crashing restarts after the initial wait again.
pub(crate) const BACKOFF_RESET: Duration = Duration::from_secs(30);
/// How long probe results are kept for `health_share`.
const HISTORY_WINDOW: Duration = Duration::from_secs(600);
/// Bound on kept probe results whatever the interval.
const HISTORY_CAP: usize = 100_000;
/// A probe interval of zero would spin; nothing useful probes faster.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The first probe comes soon after start so fast services are ready fast.
const FIRST_PROBE_DELAY: Duration = Duration::from_millis(100);
/// After SIGKILL, how long to wait for a group to vanish before giving up.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How often an adopted replica, which is not our child and so cannot be
/// waited for, is looked up in `/proc` to notice its exit.
const ADOPTED_POLL: Duration = Duration::from_millis(50);

/// Locks a mutex, ignoring poisoning: every guarded value stays consistent
/// between statements, so a panicked holder leaves nothing half-written.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How to run one version's replicas, resolved once per `ensure`.
#[derive(Debug)]
pub(crate) struct Launch {
    pub key: VersionKey,
    pub command: Vec<String>,
    pub workdir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub health: HealthSpec,
}

impl Launch {
    fn exec_env(&self) -> ExecEnv<'_> {
        ExecEnv {
            workdir: &self.workdir,
            env: &self.env,
            version: &self.key.version,
        }
    }
}

/// Passing and failing probes of one version over time.
#[derive(Debug, Default)]
pub(crate) struct ProbeHistory {
    entries: VecDeque<(SystemTime, bool)>,
}

impl ProbeHistory {
    /// Adds one result and drops what is older than the window or over the cap.
    pub fn push(&mut self, at: SystemTime, passed: bool) {
        self.entries.push_back((at, passed));
        let cutoff = at.checked_sub(HISTORY_WINDOW);
        while let Some(&(t, _)) = self.entries.front() {
            if self.entries.len() > HISTORY_CAP || cutoff.is_some_and(|c| t < c) {
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// Share of passing results at or after `since`; None if there are none.
    pub fn share_since(&self, since: SystemTime) -> Option<f64> {
        let (passed, total) = self
            .entries
            .iter()
            .filter(|(t, _)| *t >= since)
            .fold((0u64, 0u64), |(p, n), (_, ok)| (p + u64::from(*ok), n + 1));
        (total > 0).then(|| passed as f64 / total as f64)
    }
}

/// What a replica's tasks report and `status` reads.
#[derive(Debug)]
pub(crate) struct ReplicaShared {
    pub port: u16,
    pub pid: Option<u32>,
    /// Start ticks of `pid`, to tell it from a later process with the same pid.
    pub start_ticks: u64,
    pub state: ReplicaState,
    pub restarts: u32,
    pub last_error: Option<String>,
    /// The latest probe of the current process passed.
    pub healthy: bool,
    pub consecutive_failures: u32,
    pub ever_passed: bool,
    /// When the current process first passed a probe (for the backoff reset).
    pub healthy_since: Option<Instant>,
    pub cpu_percent: Option<f64>,
    pub memory_mb: Option<f64>,
    /// Unexpected exits while `ever_passed` is false.
    pub exits_before_ready: u32,
    /// The last lines the latest process that wrote any wrote.
    pub output: OutputTail,
    /// The output file of the current process, or of the latest one while
    /// backing off after a crash (deleted when the next one starts).
    pub output_file: Option<PathBuf>,
    /// The current process was adopted: started by another controller (or
    /// an earlier run); its output file is wherever that one put it.
    pub adopted: bool,
}

impl ReplicaShared {
    pub fn new(port: u16) -> Self {
        ReplicaShared {
            port,
            pid: None,
            start_ticks: 0,
            state: ReplicaState::Starting,
            restarts: 0,
            last_error: None,
            healthy: false,
            consecutive_failures: 0,
            ever_passed: false,
            healthy_since: None,
            cpu_percent: None,
            memory_mb: None,
            exits_before_ready: 0,
            output: OutputTail::default(),
            output_file: None,
            adopted: false,
        }
    }
}

/// Everything a replica's tasks need; deliberately not the whole
/// `ProcessWorkloads`, so dropping that still tears replicas down.
pub(crate) struct ReplicaCtx {
    pub launch: Arc<Launch>,
    /// This host as recorded with every process (see [`crate::HostId`]).
    pub host: Arc<str>,
    pub index: u32,
    pub registry: Arc<dyn ProcessRegistry>,
    pub shared: Arc<Mutex<ReplicaShared>>,
    pub history: Arc<Mutex<ProbeHistory>>,
    /// Ports held by any replica of this `ProcessWorkloads`.
    pub ports: Arc<Mutex<BTreeSet<u16>>>,
    pub clk_tck: f64,
    /// Where the output files of processes started here go.
    pub output_dir: Arc<Path>,
}

/// A replica process: spawned here, or adopted (running, but not our child).
pub(crate) struct Running {
    /// None for an adopted process: it is watched through `/proc`.
    child: Option<Child>,
    pid: u32,
    start_ticks: u64,
    guard: KillOnDrop,
}

/// Kills the replica's process group when dropped while armed: the safety
/// net for a supervisor dropped without stopping (what `kill_on_drop` would
/// give, but a released replica must outlive its supervisor).
struct KillOnDrop {
    pid: u32,
    start_ticks: u64,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.armed {
            procfs::signal_group(self.pid, self.start_ticks, Signal::SIGKILL);
        }
    }
}

impl Running {
    /// Waits until the process ends; its exit status when it was our child.
    async fn wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.wait().await.map(Some),
            None => {
                while procfs::is_running(self.pid, self.start_ticks) {
                    tokio::time::sleep(ADOPTED_POLL).await;
                }
                Ok(None)
            }
        }
    }
}

/// Aborts a task when dropped, so a supervisor never leaves its prober behind.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// (wait before this restart, wait before the next one).
pub(crate) fn next_backoff(
    current: Duration,
    healthy_for: Option<Duration>,
) -> (Duration, Duration) {
    let wait = if healthy_for.is_some_and(|d| d >= BACKOFF_RESET) {
        INITIAL_BACKOFF
    } else {
        current
    };
    (wait, (wait * 2).min(MAX_BACKOFF))
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Reserves a free port: `prefer` if it can still be bound, else a fresh one
/// from the OS that no other replica of ours holds.
pub(crate) fn pick_port(ports: &Mutex<BTreeSet<u16>>, prefer: Option<u16>) -> io::Result<u16> {
    if let Some(p) = prefer {
        if port_is_free(p) {
            lock(ports).insert(p);
            return Ok(p);
        }
        lock(ports).remove(&p);
    }
    for _ in 0..64 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if lock(ports).insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "the OS kept offering ports already given to other replicas",
    ))
}

/// Spawns the replica on `port` in its own process group and records it.
pub(crate) fn start(ctx: &ReplicaCtx, port: u16) -> Result<Running, WorkloadError> {
    let launch = &ctx.launch;
    let key = &launch.key;
    let argv: Vec<String> = launch
        .command
        .iter()
        .map(|a| probe::substitute(a, port, &key.version))
        .collect();
    let Some((program, args)) = argv.split_first() else {
        return Err(WorkloadError::EmptyCommand {
            service: key.service.clone(),
            version: key.version.clone(),
        });
    };
    let output_error = |error: io::Error| WorkloadError::OutputFile {
        service: key.service.clone(),
        version: key.version.clone(),
        dir: ctx.output_dir.to_path_buf(),
        error,
    };
    // A file rather than a pipe: a pipe breaks when this controller dies,
    // and a replica that writes to it then fails (EPIPE) or dies (SIGPIPE).
    let (file_path, file) = output::create(&ctx.output_dir).map_err(output_error)?;
    let streams = file.try_clone().map(|err| (file, err));
    let (out, err) = match streams {
        Ok(s) => s,
        Err(e) => {
            output::remove(&file_path);
            return Err(output_error(e));
        }
    };
    let spawned = Command::new(program)
        .args(args)
        .current_dir(&launch.workdir)
        .envs(&launch.env)
        .env("PORT", port.to_string())
        .env("ZION_VERSION", &key.version)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own group: stopping signals everything the replica started,
        // and it outlives this controller, for the next one to adopt.
        // (No kill_on_drop: `KillOnDrop` is the safety net, disarmed on release.)
        .process_group(0)
        .spawn();
    let child = match spawned {
        Ok(c) => c,
        Err(error) => {
            output::remove(&file_path);
            return Err(WorkloadError::Spawn {
                service: key.service.clone(),
                version: key.version.clone(),
                program: program.clone(),
                error,
            });
        }
    };
    let Some(pid) = child.id() else {
        // Only possible once the child has been reaped, which cannot have happened yet.
        output::remove(&file_path);
        return Err(WorkloadError::Spawn {
            service: key.service.clone(),
            version: key.version.clone(),
            program: program.clone(),
            error: io::Error::other("the new process has no pid"),
        });
    };
    // Unreaped, so /proc/PID still exists even if it already exited.
    let start_ticks = procfs::read_stat(pid).map_or(0, |s| s.start_ticks);
    // Named before recorded, so that whoever adopts it finds its output.
    let file_path = output::name_for_process(file_path, pid, start_ticks);
    // Armed before anything can fail, so that an early return kills it.
    let guard = KillOnDrop {
        pid,
        start_ticks,
        armed: true,
    };
    ctx.registry.record(&ProcessRecord {
        host: ctx.host.to_string(),
        pid,
        start_ticks,
        service: key.service.clone(),
        environment: key.environment.clone(),
        version: key.version.clone(),
        port,
    });
    info!(service = %key.service, environment = %key.environment, version = %key.version,
          replica = ctx.index, pid, port, output = %file_path.display(), "started replica");
    let replaced = {
        let mut s = lock(&ctx.shared);
        s.port = port;
        s.pid = Some(pid);
        s.start_ticks = start_ticks;
        s.state = ReplicaState::Starting;
        s.healthy = false;
        s.healthy_since = None;
        s.adopted = false;
        s.output_file.replace(file_path)
    };
    // The file of the process this one replaces (kept for its last words).
    if let Some(old) = replaced {
        output::remove(&old);
    }
    Ok(Running {
        child: Some(child),
        pid,
        start_ticks,
        guard,
    })
}

/// Takes over a live replica process another controller started (its
/// record names this host; the caller checked its start ticks): probes it
/// once, so that a healthy one counts as ready as soon as this returns.
pub(crate) async fn adopt(ctx: &ReplicaCtx, pid: u32, start_ticks: u64) -> Running {
    let file = output::of_process(pid, start_ticks);
    let lines = file.as_deref().map(read_lines).unwrap_or_default();
    let port = {
        let mut s = lock(&ctx.shared);
        s.pid = Some(pid);
        s.start_ticks = start_ticks;
        s.state = ReplicaState::Starting;
        s.adopted = true;
        s.output.set(pid, lines);
        s.output_file = file;
        s.port
    };
    let health = &ctx.launch.health;
    let outcome = probe::check(&health.probe, port, health.timeout, &ctx.launch.exec_env()).await;
    lock(&ctx.history).push(SystemTime::now(), outcome.is_ok());
    {
        let mut s = lock(&ctx.shared);
        match outcome {
            Ok(()) => {
                s.healthy = true;
                s.ever_passed = true;
                s.healthy_since = Some(Instant::now());
                s.state = ReplicaState::Running;
            }
            Err(why) => {
                s.consecutive_failures = 1;
                s.last_error = Some(format!("health probe failed: {why}"));
            }
        }
    }
    let key = &ctx.launch.key;
    info!(service = %key.service, environment = %key.environment, version = %key.version,
          replica = ctx.index, pid, port, "adopted replica");
    Running {
        child: None,
        pid,
        start_ticks,
        guard: KillOnDrop {
            pid,
            start_ticks,
            armed: true,
        },
    }
}

/// A file's last lines; none if it cannot be read (a replica's file that
/// someone deleted says nothing more).
fn read_lines(path: &Path) -> Vec<String> {
    output::read_last_lines(path).unwrap_or_default()
}

/// Keeps the current process's output file under its bound and its last
/// lines in `output`, until aborted.
async fn output_loop(ctx: Arc<ReplicaCtx>) {
    let mut ticker = tokio::time::interval(OUTPUT_CHECK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // What the file looked like when last read: unchanged files are not read again.
    let mut seen: Option<(PathBuf, u64, Option<SystemTime>)> = None;
    loop {
        ticker.tick().await;
        let (pid, path) = {
            let s = lock(&ctx.shared);
            (s.pid, s.output_file.clone())
        };
        // A process that ended is read once more where its exit is booked.
        let (Some(pid), Some(path)) = (pid, path) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let now = (path, meta.len(), meta.modified().ok());
        if seen.as_ref() == Some(&now) {
            continue;
        }
        let cut = output::bound(&now.0).unwrap_or_else(|e| {
            warn!(key = %ctx.launch.key, replica = ctx.index, path = %now.0.display(),
                  error = %e, "could not keep a replica's output file under its bound");
            false
        });
        let lines = read_lines(&now.0);
        {
            let mut s = lock(&ctx.shared);
            if s.pid == Some(pid) {
                s.output.set(pid, lines);
            }
        }
        // A write after the look above changes the size: read again then.
        // A cut changed it already: read again next time.
        seen = (!cut).then_some(now);
    }
}

/// What the owner asks of a replica's supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// Stop the process: SIGTERM, SIGKILL after the grace period.
    Stop(Duration),
    /// Stop watching it, leaving it running and recorded for another
    /// controller to adopt.
    Release,
}

enum Event {
    Exited(io::Result<Option<ExitStatus>>),
    Halt(Halt),
    RetryDue,
}

fn requested_halt(
    changed: Result<(), watch::error::RecvError>,
    rx: &watch::Receiver<Option<Halt>>,
) -> Halt {
    match changed {
        Ok(()) => rx.borrow().unwrap_or(Halt::Stop(Duration::ZERO)),
        // The owner is gone without asking: nobody will wait for a grace period.
        Err(_) => Halt::Stop(Duration::ZERO),
    }
}

/// Watches the replica until asked to halt (on `halt_rx`), restarting it
/// when it exits on its own. Sets `done_tx` when the replica's processes
/// are gone, or released.
pub(crate) async fn supervise(
    ctx: Arc<ReplicaCtx>,
    first: Running,
    mut stop_rx: watch::Receiver<Option<Halt>>,
    done_tx: watch::Sender<bool>,
) {
    let _prober = AbortOnDrop(tokio::spawn(probe_loop(ctx.clone())));
    let _output = AbortOnDrop(tokio::spawn(output_loop(ctx.clone())));
    let key = &ctx.launch.key;
    let mut current = Some(first);
    let mut backoff = INITIAL_BACKOFF;
    let mut retry_at = Instant::now();
    let halt = loop {
        let event = match current.as_mut() {
            Some(run) => tokio::select! {
                status = run.wait() => Event::Exited(status),
                changed = stop_rx.changed() => Event::Halt(requested_halt(changed, &stop_rx)),
            },
            None => tokio::select! {
                _ = tokio::time::sleep_until(retry_at) => Event::RetryDue,
                changed = stop_rx.changed() => Event::Halt(requested_halt(changed, &stop_rx)),
            },
        };
        match event {
            Event::Halt(halt) => break halt,
            Event::Exited(status) => {
                let healthy_for = match current.take() {
                    Some(run) => on_exit(&ctx, run, status).await,
                    None => None,
                };
                let (wait, next) = next_backoff(backoff, healthy_for);
                backoff = next;
                retry_at = Instant::now() + wait;
            }
            Event::RetryDue => {
                let prefer = lock(&ctx.shared).port;
                let started = pick_port(&ctx.ports, Some(prefer))
                    .map_err(|error| WorkloadError::NoFreePort {
                        service: key.service.clone(),
                        version: key.version.clone(),
                        error,
                    })
                    .and_then(|port| start(&ctx, port));
                match started {
                    Ok(run) => {
                        lock(&ctx.shared).restarts += 1;
                        current = Some(run);
                    }
                    Err(e) => {
                        warn!(%key, replica = ctx.index, error = %e, "restart failed");
                        lock(&ctx.shared).last_error = Some(e.to_string());
                        let (wait, next) = next_backoff(backoff, None);
                        backoff = next;
                        retry_at = Instant::now() + wait;
                    }
                }
            }
        }
    };
    if let Some(run) = current.take() {
        match halt {
            Halt::Stop(grace) => terminate(&ctx, run, grace).await,
            Halt::Release => release(&ctx, run),
        }
    }
    let (port, file) = {
        let mut s = lock(&ctx.shared);
        s.pid = None;
        s.healthy = false;
        s.state = ReplicaState::Stopped;
        s.cpu_percent = None;
        s.memory_mb = None;
        (s.port, s.output_file.take())
    };
    // A released process keeps writing to its file, for its next owner.
    if let (Halt::Stop(_), Some(file)) = (halt, file) {
        output::remove(&file);
    }
    lock(&ctx.ports).remove(&port);
    done_tx.send_replace(true);
}

/// Books an unexpected exit once its output is in; returns how long the
/// process had been healthy.
async fn on_exit(
    ctx: &ReplicaCtx,
    run: Running,
    status: io::Result<Option<ExitStatus>>,
) -> Option<Duration> {
    // Whatever the dead leader started may still hold the port.
    procfs::signal_group(run.pid, run.start_ticks, Signal::SIGKILL);
    ctx.registry.forget(&ctx.host, run.pid);
    // Its last words explain the exit: all it wrote is in its file now.
    let file = lock(&ctx.shared).output_file.clone();
    let lines = file.as_deref().map(read_lines).unwrap_or_default();
    let message = match status {
        Ok(Some(s)) => format!("process exited unexpectedly ({s})"),
        Ok(None) => "adopted process exited unexpectedly (its exit status is unknown: \
                     it was not started by this controller)"
            .to_string(),
        Err(e) => format!("could not wait for the process: {e}"),
    };
    let mut s = lock(&ctx.shared);
    s.output.set(run.pid, lines);
    let output = s.output.lines_of(run.pid);
    if output.is_empty() {
        warn!(key = %ctx.launch.key, replica = ctx.index, pid = run.pid, "{message}");
    } else {
        warn!(key = %ctx.launch.key, replica = ctx.index, pid = run.pid,
              "{message}; its last output:\n  {}", output.join("\n  "));
    }
    s.pid = None;
    s.healthy = false;
    s.state = ReplicaState::Backoff;
    s.last_error = Some(message);
    s.cpu_percent = None;
    s.memory_mb = None;
    if !s.ever_passed {
        s.exits_before_ready = s.exits_before_ready.saturating_add(1);
    }
    s.healthy_since.take().map(|t| t.elapsed())
}

/// SIGTERM to the group, SIGKILL after `grace`, then wait until the whole
/// group is gone so its port is free when this returns.
async fn terminate(ctx: &ReplicaCtx, mut run: Running, grace: Duration) {
    let key = &ctx.launch.key;
    let (pid, ticks) = (run.pid, run.start_ticks);
    procfs::signal_group(pid, ticks, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    let exited = tokio::time::timeout_at(deadline, run.wait()).await.is_ok();
    let mut gone = exited && wait_group_gone(pid, ticks, deadline).await;
    if !gone {
        if procfs::signal_group(pid, ticks, Signal::SIGKILL) {
            info!(%key, replica = ctx.index, pid, ?grace, "replica outlived its grace period; killed");
        }
        if !exited {
            let _ = tokio::time::timeout(KILL_WAIT, run.wait()).await;
        }
        gone = wait_group_gone(pid, ticks, Instant::now() + KILL_WAIT).await;
    }
    if gone {
        ctx.registry.forget(&ctx.host, pid);
        info!(%key, replica = ctx.index, pid, "stopped replica");
    } else {
        // Kept in the registry so the next start's reaping finds it.
        warn!(%key, replica = ctx.index, pid, "replica processes survived SIGKILL");
    }
}

/// Leaves the replica running and recorded, for another controller to
/// adopt: nothing will kill it on drop, it keeps writing to its output
/// file, and a child's exit is reaped by the runtime in the background.
fn release(ctx: &ReplicaCtx, mut run: Running) {
    run.guard.armed = false;
    let key = &ctx.launch.key;
    info!(%key, replica = ctx.index, pid = run.pid, "released replica");
}

/// Polls until group `pgid` has no live member or `deadline` passes.
pub(crate) async fn wait_group_gone(pgid: u32, start_ticks: u64, deadline: Instant) -> bool {
    loop {
        if procfs::group_members(pgid, start_ticks).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

struct CpuSample {
    pid: u32,
    ticks: u64,
    at: Instant,
}

/// Probes every interval and samples CPU and memory, until aborted.
async fn probe_loop(ctx: Arc<ReplicaCtx>) {
    let health = &ctx.launch.health;
    let period = health.interval.max(MIN_INTERVAL);
    let mut ticker =
        tokio::time::interval_at(Instant::now() + period.min(FIRST_PROBE_DELAY), period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut prev: Option<CpuSample> = None;
    loop {
        ticker.tick().await;
        let (pid, port) = {
            let s = lock(&ctx.shared);
            (s.pid, s.port)
        };
        let outcome = match pid {
            Some(_) => {
                probe::check(&health.probe, port, health.timeout, &ctx.launch.exec_env()).await
            }
            // A replica that is not running fails its probes.
            None => Err(String::new()),
        };
        let now = SystemTime::now();
        let usage = pid.map(|p| sample_usage(p, &mut prev, ctx.clk_tck));
        {
            let mut s = lock(&ctx.shared);
            if s.pid != pid {
                // The process exited or was replaced while probing: the result is stale.
                continue;
            }
            match &outcome {
                Ok(()) => {
                    s.healthy = true;
                    s.consecutive_failures = 0;
                    s.ever_passed = true;
                    s.last_error = None;
                    s.healthy_since.get_or_insert_with(Instant::now);
                    if s.state == ReplicaState::Starting {
                        s.state = ReplicaState::Running;
                    }
                }
                Err(why) => {
                    s.healthy = false;
                    s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                    if !why.is_empty() {
                        s.last_error = Some(format!("health probe failed: {why}"));
                    }
                }
            }
            if let Some((cpu, mem)) = usage {
                s.cpu_percent = cpu;
                s.memory_mb = mem;
            }
        }
        lock(&ctx.history).push(now, outcome.is_ok());
    }
}

/// (CPU percent of one core since the previous sample, resident MiB).
fn sample_usage(
    pid: u32,
    prev: &mut Option<CpuSample>,
    clk_tck: f64,
) -> (Option<f64>, Option<f64>) {
    let memory = procfs::read_rss_kib(pid).map(|kib| kib as f64 / 1024.0);
    let Some(stat) = procfs::read_stat(pid) else {
        *prev = None;
        return (None, memory);
    };
    let now = Instant::now();
    let cpu = prev.as_ref().and_then(|p| {
        let wall = now.duration_since(p.at).as_secs_f64();
        (p.pid == pid && stat.cpu_ticks >= p.ticks && wall > 0.0)
            .then(|| (stat.cpu_ticks - p.ticks) as f64 / clk_tck / wall * 100.0)
    });
    *prev = Some(CpuSample {
        pid,
        ticks: stat.cpu_ticks,
        at: now,
    });
    (cpu, memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_healthy_run() {
        let mut b = INITIAL_BACKOFF;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (wait, next) = next_backoff(b, Some(Duration::from_secs(1)));
            waits.push(wait.as_millis());
            b = next;
        }
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 10000, 10000]);
        let (wait, next) = next_backoff(b, Some(BACKOFF_RESET));
        assert_eq!((wait, next), (INITIAL_BACKOFF, INITIAL_BACKOFF * 2));
        assert_eq!(next_backoff(b, None).0, MAX_BACKOFF);
    }

    #[test]
    fn history_share_counts_only_results_since_and_forgets_old_ones() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = ProbeHistory::default();
        assert_eq!(h.share_since(t0), None);
        h.push(t0, false);
        h.push(t0 + Duration::from_secs(1), true);
        h.push(t0 + Duration::from_secs(2), true);
        h.push(t0 + Duration::from_secs(3), false);
        assert_eq!(h.share_since(t0), Some(0.5));
        assert_eq!(h.share_since(t0 + Duration::from_secs(1)), Some(2.0 / 3.0));
        assert_eq!(h.share_since(t0 + Duration::from_secs(4)), None);
        h.push(t0 + HISTORY_WINDOW + Duration::from_secs(2), true);
        assert_eq!(
            h.entries.len(),
            3,
            "results older than the window are dropped"
        );
    }

    #[test]
    fn picked_ports_are_distinct_and_a_free_preferred_port_is_kept() {
        let ports = Mutex::new(BTreeSet::new());
        let picked: BTreeSet<u16> = (0..20).map(|_| pick_port(&ports, None).unwrap()).collect();
        assert_eq!(picked.len(), 20);
        let p = *picked.iter().next().unwrap();
        assert_eq!(pick_port(&ports, Some(p)).unwrap(), p);
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let busy = held.local_addr().unwrap().port();
        let other = pick_port(&ports, Some(busy)).unwrap();
        assert_ne!(other, busy);
    }
}
