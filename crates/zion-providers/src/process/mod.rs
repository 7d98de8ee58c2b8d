//! Workloads as local processes: each version runs as N replicas, each a
//! process group of its own on a free port of 127.0.0.1, supervised
//! (restarted with backoff), probed, measured from `/proc`, and stopped
//! gracefully. Records in a [`ProcessRegistry`] let the next Zion reap what a
//! killed Zion left behind, or adopt it without a restart.
//!
//! Several controllers may share one registry, each driving some targets
//! (service and environment). Each record names its host ([`HostId`]); a
//! controller only ever signals or adopts processes of its own host. Which
//! call fits when:
//!
//! - taking a target over (a lease acquired; after a restart):
//!   [`ProcessWorkloads::adopt_target`], before the first `ensure` of it;
//! - giving a target up (a clean hand-over, or a lease found lost):
//!   [`ProcessWorkloads::release_target`], which leaves its processes
//!   running and recorded for the next owner to adopt;
//! - at start: [`ProcessWorkloads::reap_orphans_where`] for the records
//!   of targets no controller will adopt (no longer in the spec), or
//!   [`ProcessWorkloads::reap_orphans`] (every record of this host) when
//!   this is the only controller and it does not adopt.

mod output;
mod procfs;
mod supervisor;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::sync::{OwnedMutexGuard, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{info, warn};
use zion_core::spec::{HealthSpec, ProcessSpec};

pub use self::output::{OUTPUT_FILE_BYTES, OUTPUT_KEPT_BYTES, OUTPUT_LINE_BYTES, OUTPUT_LINES};
use self::supervisor::{Halt, Launch, ProbeHistory, ReplicaCtx, ReplicaShared, lock};
use crate::{HostId, ProcessRecord, ProcessRegistry, VersionKey};

/// Default time between SIGTERM and SIGKILL when stopping.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// After SIGKILL of orphans, how long to wait for them to vanish.
const ORPHAN_KILL_WAIT: Duration = Duration::from_secs(10);

/// Why a version's replicas could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The spec gives no program to run.
    #[error(
        "{service}@{version}: workload.process.command is empty; give the program to run and its arguments"
    )]
    EmptyCommand { service: String, version: String },
    /// The working directory is missing or not a folder.
    #[error(
        "{service}@{version}: working directory {} is unusable ({error}); fix workload.process.workdir (a relative path is relative to the spec file's folder)",
        path.display()
    )]
    Workdir {
        service: String,
        version: String,
        path: PathBuf,
        error: io::Error,
    },
    /// The program could not be executed.
    #[error(
        "{service}@{version}: could not start `{program}` ({error}); check workload.process.command and that the program exists on PATH or as a path relative to the workdir"
    )]
    Spawn {
        service: String,
        version: String,
        program: String,
        error: io::Error,
    },
    /// The file for the replica's output could not be created.
    #[error(
        "{service}@{version}: could not create a file for the replica's output in {} ({error}); make that folder writable, or free disk space",
        dir.display()
    )]
    OutputFile {
        service: String,
        version: String,
        dir: PathBuf,
        error: io::Error,
    },
    /// No port on 127.0.0.1 could be reserved.
    #[error(
        "{service}@{version}: no free TCP port on 127.0.0.1 ({error}); stop something that holds many local ports and retry"
    )]
    NoFreePort {
        service: String,
        version: String,
        error: io::Error,
    },
}

/// Where one replica is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Spawned, no probe has passed yet.
    Starting,
    /// A probe has passed since the process started.
    Running,
    /// Exited on its own; waiting before the next restart.
    Backoff,
    /// Stopped on request.
    Stopped,
}

/// One replica as last observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    /// 0-based position among the version's replicas.
    pub index: u32,
    /// Port on 127.0.0.1 the replica listens on (or will, once started).
    pub port: u16,
    /// Process id while a process runs; None while backing off or stopped.
    pub pid: Option<u32>,
    /// The latest probe of the current process passed.
    pub healthy: bool,
    /// Restarts after unexpected exits since the replica was started.
    pub restarts: u32,
    /// Where the replica is in its life.
    pub state: ReplicaState,
    /// Why it last exited or failed a probe; cleared when a probe passes.
    pub last_error: Option<String>,
    /// The last lines (at most [`OUTPUT_LINES`], each cut at
    /// [`OUTPUT_LINE_BYTES`]) its latest process to write any wrote to
    /// stdout and stderr, read from its output file (see
    /// [`ProcessWorkloads::with_output_dir`]).
    pub output: Vec<String>,
    /// Times it exited on its own before it ever passed a probe.
    pub exits_before_ready: u32,
    /// Its current process was adopted (started by an earlier run or
    /// another controller, see [`ProcessWorkloads::adopt_target`]).
    /// Cleared when the replica is restarted here.
    pub adopted: bool,
}

/// One version's replicas as last observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionStatus {
    /// Replicas asked for by the last `ensure`.
    pub desired: u32,
    /// Replicas whose latest probe passed.
    pub ready: u32,
    /// 127.0.0.1:port of the ready replicas, in replica order.
    pub healthy_endpoints: Vec<SocketAddr>,
    /// Longest current run of failed probes of any replica; 0 after a pass.
    pub consecutive_probe_failures: u32,
    /// Every replica has passed a probe at least once since it was started.
    pub ever_ready: bool,
    /// The most times one replica exited on its own before it ever passed
    /// a probe: a version that crashes at start shows it at once.
    pub exits_before_ready: u32,
    /// Percent of one core, summed over replicas (process group leaders).
    pub cpu_percent: Option<f64>,
    /// Resident MiB, summed over replicas (process group leaders).
    pub memory_mb: Option<f64>,
    /// Each replica, in index order.
    pub replicas: Vec<ReplicaStatus>,
}

/// What [`ProcessWorkloads::adopt_target`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Adoption {
    /// Live replicas now supervised here, without a restart.
    pub adopted: usize,
    /// Records of the target's processes that are gone (or whose pid
    /// another process now has), forgotten.
    pub forgotten: usize,
    /// Live replicas of versions no longer wanted, stopped.
    pub reaped: usize,
}

/// Runs versions as supervised local processes; cheap to clone (shared inside).
#[derive(Clone)]
pub struct ProcessWorkloads {
    inner: Arc<Inner>,
}

struct Inner {
    base_dir: PathBuf,
    registry: Arc<dyn ProcessRegistry>,
    host: HostId,
    /// `host` as recorded.
    host_record: Arc<str>,
    grace: Mutex<Duration>,
    /// Where the output files of replicas started here go.
    output_dir: Mutex<Arc<Path>>,
    clk_tck: f64,
    versions: Mutex<BTreeMap<VersionKey, VersionEntry>>,
    /// Serialises `ensure`/`stop` per version; status reads never wait on it.
    key_locks: Mutex<HashMap<VersionKey, Arc<tokio::sync::Mutex<()>>>>,
    ports: Arc<Mutex<BTreeSet<u16>>>,
}

struct VersionEntry {
    desired: u32,
    /// Sorted by index.
    replicas: Vec<ReplicaHandle>,
    history: Arc<Mutex<ProbeHistory>>,
}

struct ReplicaHandle {
    index: u32,
    shared: Arc<Mutex<ReplicaShared>>,
    /// Says when the replica must stop (with the grace period) or be released.
    stop_tx: watch::Sender<Option<Halt>>,
    /// Turns true once the replica's processes are gone.
    done_rx: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl ReplicaHandle {
    /// Asks the supervisor to stop; the returned receiver says when it has.
    fn request_stop(&self, grace: Duration) -> watch::Receiver<bool> {
        self.stop_tx.send_replace(Some(Halt::Stop(grace)));
        self.done_rx.clone()
    }

    /// Asks the supervisor to let go of the process without signalling it.
    fn request_release(&self) -> watch::Receiver<bool> {
        self.stop_tx.send_replace(Some(Halt::Release));
        self.done_rx.clone()
    }
}

async fn wait_done(mut done: watch::Receiver<bool>) {
    // An error means the supervisor is gone, which is done as well.
    let _ = done.wait_for(|d| *d).await;
}

impl std::fmt::Debug for ProcessWorkloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessWorkloads")
            .field("base_dir", &self.inner.base_dir)
            .field("running", &self.running())
            .finish()
    }
}

impl ProcessWorkloads {
    /// Workloads whose relative workdirs resolve against `base_dir` (the spec
    /// file's folder), recording every process in `registry`.
    pub fn new(base_dir: PathBuf, registry: Arc<dyn ProcessRegistry>) -> Self {
        let host = HostId::current();
        ProcessWorkloads {
            inner: Arc::new(Inner {
                base_dir,
                registry,
                host_record: host.to_string().into(),
                host,
                grace: Mutex::new(DEFAULT_GRACE),
                output_dir: Mutex::new(default_output_dir().into()),
                clk_tck: procfs::clock_ticks_per_second(),
                versions: Mutex::new(BTreeMap::new()),
                key_locks: Mutex::new(HashMap::new()),
                ports: Arc::new(Mutex::new(BTreeSet::new())),
            }),
        }
    }

    /// Sets the time between SIGTERM and SIGKILL when stopping (default 5 s).
    pub fn with_grace(self, grace: Duration) -> Self {
        *lock(&self.inner.grace) = grace;
        self
    }

    fn grace(&self) -> Duration {
        *lock(&self.inner.grace)
    }

    /// Sets the folder (created when first needed) for the files replicas
    /// started here write their stdout and stderr to: one file per replica
    /// process, `replica-PID-STARTTICKS.log`, appended to by the process,
    /// cut to its last [`OUTPUT_KEPT_BYTES`] once over
    /// [`OUTPUT_FILE_BYTES`] (checked every 200 ms while supervised), and
    /// deleted when the replica is stopped (a crashed process's file is
    /// kept until the replica's next process starts). A released replica
    /// keeps its file; whoever adopts it reads it where it is. Default: a
    /// folder of the system's temporary directory.
    pub fn with_output_dir(self, dir: PathBuf) -> Self {
        *lock(&self.inner.output_dir) = dir.into();
        self
    }

    fn output_dir(&self) -> Arc<Path> {
        lock(&self.inner.output_dir).clone()
    }

    /// This host, as recorded with every process started here.
    pub fn host(&self) -> &HostId {
        &self.inner.host
    }

    /// Whether a record's pid is in this host's pid space. A record from
    /// before hosts were recorded ('') counts as this host's only when
    /// `legacy_is_local`: such records were written by a lone controller.
    fn is_local(&self, rec: &ProcessRecord, legacy_is_local: bool) -> bool {
        *rec.host == *self.inner.host_record || (legacy_is_local && rec.host.is_empty())
    }

    /// A record of this machine before its latest reboot names a process
    /// that is certainly gone.
    fn is_earlier_boot(&self, rec: &ProcessRecord) -> bool {
        HostId::parse(&rec.host).is_some_and(|h| self.inner.host.is_earlier_boot(&h))
    }

    /// [`Self::reap_orphans_where`] for every record: for a lone controller
    /// that does not adopt (it ends whatever an earlier run left behind).
    /// Called at startup before anything else.
    pub async fn reap_orphans(&self) -> usize {
        self.reap_orphans_where(|_| true).await
    }

    /// Kills every recorded process that `which` selects, runs on this host,
    /// is not supervised here, and is still the same process (start ticks
    /// match — PIDs get reused): SIGTERM to its process group, SIGKILL
    /// after the grace period; waits until gone. Forgets the records of
    /// those and of selected processes that are gone; records of this
    /// machine's earlier boots are forgotten too. Records of other hosts
    /// are never touched. Returns how many were killed.
    ///
    /// At startup, select the targets no controller will adopt (no longer
    /// in the spec, say): with several controllers on one host, a target
    /// another controller drives must not be selected. A record from
    /// before hosts were recorded counts as this host's.
    pub async fn reap_orphans_where(&self, which: impl Fn(&ProcessRecord) -> bool) -> usize {
        let registry = &self.inner.registry;
        let own: BTreeSet<u32> = self.own_pids();
        let mut targets: Vec<ProcessRecord> = Vec::new();
        for rec in registry.list() {
            if !which(&rec) {
                continue;
            }
            if !self.is_local(&rec, true) {
                if self.is_earlier_boot(&rec) {
                    registry.forget(&rec.host, rec.pid);
                }
                continue;
            }
            if own.contains(&rec.pid) {
                continue;
            }
            let reused =
                procfs::read_stat(rec.pid).is_some_and(|s| s.start_ticks != rec.start_ticks);
            if reused {
                info!(pid = rec.pid, service = %rec.service, version = %rec.version,
                      "recorded pid now belongs to another process; leaving it alone");
            } else if procfs::is_foreign_group(rec.pid)
                && !procfs::group_members(rec.pid, rec.start_ticks).is_empty()
            {
                targets.push(rec);
                continue;
            }
            registry.forget(&rec.host, rec.pid);
        }
        if targets.is_empty() {
            self.sweep_output_files();
            return 0;
        }
        for rec in &targets {
            warn!(pid = rec.pid, port = rec.port, service = %rec.service,
                  environment = %rec.environment, version = %rec.version,
                  "stopping a replica left behind by a previous run");
        }
        self.kill_recorded(&targets).await;
        self.sweep_output_files();
        targets.len()
    }

    /// Deletes the output files in this controller's folder of processes
    /// that no longer run: left by a run that was killed, say. Those of
    /// live processes stay, whoever supervises them.
    fn sweep_output_files(&self) {
        let dir = self.output_dir();
        let removed = output::sweep(&dir, procfs::is_running);
        if removed > 0 {
            info!(removed, dir = %dir.display(), "removed output files of processes that are gone");
        }
    }

    /// SIGTERM to each recorded group, SIGKILL after the grace period,
    /// forgets each record once its group is gone.
    async fn kill_recorded(&self, targets: &[ProcessRecord]) {
        let registry = &self.inner.registry;
        // Found while the processes still run; deleted once they are gone.
        let files: Vec<Option<PathBuf>> = targets
            .iter()
            .map(|rec| output::of_process(rec.pid, rec.start_ticks))
            .collect();
        for rec in targets {
            procfs::signal_group(rec.pid, rec.start_ticks, Signal::SIGTERM);
        }
        let deadline = Instant::now() + self.grace();
        for rec in targets {
            if !supervisor::wait_group_gone(rec.pid, rec.start_ticks, deadline).await {
                procfs::signal_group(rec.pid, rec.start_ticks, Signal::SIGKILL);
            }
        }
        let deadline = Instant::now() + ORPHAN_KILL_WAIT;
        for (rec, file) in targets.iter().zip(files) {
            if supervisor::wait_group_gone(rec.pid, rec.start_ticks, deadline).await {
                registry.forget(&rec.host, rec.pid);
                if let Some(file) = file {
                    output::remove(&file);
                }
            } else {
                warn!(
                    pid = rec.pid,
                    "left-over replica survived SIGKILL; keeping its record"
                );
            }
        }
    }

    /// Takes over the target's (service and environment) replicas that an
    /// earlier run or another controller on this host left running: each
    /// recorded process of the target on this host that is still the same
    /// process (start ticks match) and not already supervised here is
    /// supervised as a replica of its version without a restart — probed
    /// once before this returns (a healthy one is among the healthy
    /// endpoints at once), then like any replica: counted by `status`,
    /// stopped by `stop` or an `ensure` that scales down, replaced by a
    /// fresh process when it dies (noticed through `/proc`: it is not our
    /// child). Its last lines are read from the output file it was
    /// started with (found through `/proc/PID/fd`), which is kept under its
    /// bound and deleted as if it had been started here: its stdout and
    /// stderr are files, not pipes, so it writes on whether or not the
    /// controller that started it is alive.
    ///
    /// `versions` gives, for a recorded version, how to run it (used for
    /// probes and restarts); a version it does not know (None) is no longer
    /// wanted: its processes are stopped as `reap_orphans` stops them.
    /// Records of the target's processes that are gone are forgotten.
    /// Records of other hosts are left alone.
    ///
    /// Call it when taking the target over, before the first `ensure` of
    /// it: `ensure` then finds the adopted replicas (a version's adopted
    /// replicas set its wanted count, so an `ensure` for as many restarts
    /// nothing). Adopted replicas join any the version already has here.
    pub async fn adopt_target<F>(&self, service: &str, environment: &str, versions: F) -> Adoption
    where
        F: Fn(&str) -> Option<(ProcessSpec, HealthSpec)>,
    {
        let registry = &self.inner.registry;
        let own = self.own_pids();
        let mut result = Adoption::default();
        let mut live: BTreeMap<String, Vec<ProcessRecord>> = BTreeMap::new();
        for rec in registry.list() {
            if rec.service != service || rec.environment != environment {
                continue;
            }
            if !self.is_local(&rec, false) {
                if self.is_earlier_boot(&rec) {
                    registry.forget(&rec.host, rec.pid);
                    result.forgotten += 1;
                }
                continue;
            }
            if own.contains(&rec.pid) {
                continue;
            }
            if procfs::is_running(rec.pid, rec.start_ticks) && procfs::is_foreign_group(rec.pid) {
                live.entry(rec.version.clone()).or_default().push(rec);
                continue;
            }
            // Gone (or its pid reused). Whatever the dead leader started may
            // still hold the port, unless the pid now names another process.
            if procfs::read_stat(rec.pid).is_none_or(|s| s.start_ticks == rec.start_ticks) {
                procfs::signal_group(rec.pid, rec.start_ticks, Signal::SIGKILL);
            }
            info!(pid = rec.pid, service = %rec.service, environment = %rec.environment,
                  version = %rec.version, "recorded replica is gone; forgetting it");
            registry.forget(&rec.host, rec.pid);
            result.forgotten += 1;
        }
        let mut unwanted = Vec::new();
        for (version, recs) in live {
            let key = VersionKey::new(service, environment, version.as_str());
            let Some((process, health)) = versions(&version) else {
                for rec in &recs {
                    warn!(pid = rec.pid, port = rec.port, %key,
                          "stopping a replica of a version no longer wanted");
                }
                unwanted.extend(recs);
                continue;
            };
            let launch = match self.launch(&key, &process, &health) {
                Ok(l) => Arc::new(l),
                Err(e) => {
                    // It runs, but could not be restarted: leave it to the
                    // `ensure` that will report the same error.
                    warn!(%key, error = %e, "not adopting replicas of a version that cannot be run");
                    continue;
                }
            };
            result.adopted += self.adopt_version(&launch, recs).await;
        }
        if !unwanted.is_empty() {
            self.kill_recorded(&unwanted).await;
            result.reaped = unwanted.len();
        }
        result
    }

    /// Supervises `recs` as replicas of `launch`'s version; returns how many.
    async fn adopt_version(&self, launch: &Arc<Launch>, recs: Vec<ProcessRecord>) -> usize {
        let key = &launch.key;
        let _guard = self.key_lock(key).await;
        let (mut used, history) = {
            let mut versions = lock(&self.inner.versions);
            let entry = versions.entry(key.clone()).or_insert_with(|| VersionEntry {
                desired: 0,
                replicas: Vec::new(),
                history: Arc::default(),
            });
            let used: BTreeSet<u32> = entry.replicas.iter().map(|r| r.index).collect();
            (used, entry.history.clone())
        };
        let mut adopted = Vec::with_capacity(recs.len());
        for rec in recs {
            let index = (0..).find(|i| !used.contains(i)).unwrap_or(u32::MAX);
            used.insert(index);
            lock(&self.inner.ports).insert(rec.port);
            let shared = Arc::new(Mutex::new(ReplicaShared::new(rec.port)));
            let ctx = Arc::new(ReplicaCtx {
                launch: launch.clone(),
                host: self.inner.host_record.clone(),
                index,
                registry: self.inner.registry.clone(),
                shared: shared.clone(),
                history: history.clone(),
                ports: self.inner.ports.clone(),
                clk_tck: self.inner.clk_tck,
                output_dir: self.output_dir(),
            });
            let running = supervisor::adopt(&ctx, rec.pid, rec.start_ticks).await;
            adopted.push(self.supervised(ctx, running, index, shared));
        }
        let count = adopted.len();
        let mut versions = lock(&self.inner.versions);
        if let Some(entry) = versions.get_mut(key) {
            entry.replicas.extend(adopted);
            entry.replicas.sort_by_key(|r| r.index);
            let have = u32::try_from(entry.replicas.len()).unwrap_or(u32::MAX);
            entry.desired = entry.desired.max(have);
        }
        count
    }

    /// Gives up the target (service and environment): its replicas stop
    /// being supervised and probed here, WITHOUT being signalled and
    /// without forgetting their records, so that the controller that takes
    /// the target over adopts them ([`Self::adopt_target`]). Its versions
    /// leave `status` and `running`. Returns how many processes were left
    /// running (a replica backing off after a crash has none).
    ///
    /// Call it on a clean hand-over, or on learning that the lease on the
    /// target is lost (the new owner adopts what runs).
    pub async fn release_target(&self, service: &str, environment: &str) -> usize {
        let keys: Vec<VersionKey> = self
            .running()
            .into_iter()
            .filter(|k| k.service == service && k.environment == environment)
            .collect();
        let mut released = 0;
        for key in keys {
            let _guard = self.key_lock(&key).await;
            let Some(entry) = lock(&self.inner.versions).remove(&key) else {
                continue;
            };
            released += entry
                .replicas
                .iter()
                .filter(|r| lock(&r.shared).pid.is_some())
                .count();
            let waits: Vec<_> = entry.replicas.iter().map(|r| r.request_release()).collect();
            for w in waits {
                wait_done(w).await;
            }
            info!(%key, "released version");
        }
        released
    }

    fn own_pids(&self) -> BTreeSet<u32> {
        lock(&self.inner.versions)
            .values()
            .flat_map(|e| e.replicas.iter())
            .filter_map(|r| lock(&r.shared).pid)
            .collect()
    }

    async fn key_lock(&self, key: &VersionKey) -> OwnedMutexGuard<()> {
        let m = lock(&self.inner.key_locks)
            .entry(key.clone())
            .or_default()
            .clone();
        m.lock_owned().await
    }

    fn launch(
        &self,
        key: &VersionKey,
        process: &ProcessSpec,
        health: &HealthSpec,
    ) -> Result<Launch, WorkloadError> {
        if process.command.is_empty() {
            return Err(WorkloadError::EmptyCommand {
                service: key.service.clone(),
                version: key.version.clone(),
            });
        }
        let workdir = match &process.workdir {
            // join keeps an absolute workdir as it is.
            Some(w) => self.inner.base_dir.join(Path::new(w)),
            None => self.inner.base_dir.clone(),
        };
        let usable = match std::fs::metadata(&workdir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(io::Error::other("it is not a folder")),
            Err(e) => Err(e),
        };
        if let Err(error) = usable {
            return Err(WorkloadError::Workdir {
                service: key.service.clone(),
                version: key.version.clone(),
                path: workdir,
                error,
            });
        }
        Ok(Launch {
            key: key.clone(),
            command: process.command.clone(),
            workdir,
            env: process.env.clone(),
            health: health.clone(),
        })
    }

    /// Idempotent: start `replicas` replicas of key.version if not already
    /// running (scale to `replicas` if different). Running replicas keep the
    /// spec they were started with; new ones use the given one.
    pub async fn ensure(
        &self,
        key: &VersionKey,
        process: &ProcessSpec,
        health: &HealthSpec,
        replicas: u32,
    ) -> Result<(), WorkloadError> {
        let launch = Arc::new(self.launch(key, process, health)?);
        if replicas == 0 {
            self.stop(key).await;
            return Ok(());
        }
        let _guard = self.key_lock(key).await;
        let (surplus, have, history) = {
            let mut versions = lock(&self.inner.versions);
            let entry = versions.entry(key.clone()).or_insert_with(|| VersionEntry {
                desired: replicas,
                replicas: Vec::new(),
                history: Arc::default(),
            });
            entry.desired = replicas;
            let keep = usize::try_from(replicas).unwrap_or(usize::MAX);
            let surplus: Vec<u32> = entry.replicas.iter().skip(keep).map(|r| r.index).collect();
            let have: BTreeSet<u32> = entry.replicas.iter().take(keep).map(|r| r.index).collect();
            (surplus, have, entry.history.clone())
        };
        if !surplus.is_empty() {
            info!(%key, replicas, "scaling down");
            self.stop_replicas(key, &surplus).await;
        }
        let missing: Vec<u32> = (0..)
            .filter(|i| !have.contains(i))
            .take(
                usize::try_from(replicas)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(have.len()),
            )
            .collect();
        let mut started = Vec::new();
        for index in missing {
            match self.start_replica(&launch, index, history.clone()) {
                Ok(handle) => started.push(handle),
                Err(e) => {
                    let grace = self.grace();
                    let waits: Vec<_> = started.iter().map(|h| h.request_stop(grace)).collect();
                    for w in waits {
                        wait_done(w).await;
                    }
                    let mut versions = lock(&self.inner.versions);
                    if versions.get(key).is_some_and(|e| e.replicas.is_empty()) {
                        versions.remove(key);
                    }
                    return Err(e);
                }
            }
        }
        let mut versions = lock(&self.inner.versions);
        if let Some(entry) = versions.get_mut(key) {
            entry.replicas.extend(started);
            entry.replicas.sort_by_key(|r| r.index);
        }
        Ok(())
    }

    fn start_replica(
        &self,
        launch: &Arc<Launch>,
        index: u32,
        history: Arc<Mutex<ProbeHistory>>,
    ) -> Result<ReplicaHandle, WorkloadError> {
        let key = &launch.key;
        let port = supervisor::pick_port(&self.inner.ports, None).map_err(|error| {
            WorkloadError::NoFreePort {
                service: key.service.clone(),
                version: key.version.clone(),
                error,
            }
        })?;
        let shared = Arc::new(Mutex::new(ReplicaShared::new(port)));
        let ctx = Arc::new(ReplicaCtx {
            launch: launch.clone(),
            host: self.inner.host_record.clone(),
            index,
            registry: self.inner.registry.clone(),
            shared: shared.clone(),
            history,
            ports: self.inner.ports.clone(),
            clk_tck: self.inner.clk_tck,
            output_dir: self.output_dir(),
        });
        let running = match supervisor::start(&ctx, port) {
            Ok(r) => r,
            Err(e) => {
                lock(&self.inner.ports).remove(&port);
                return Err(e);
            }
        };
        Ok(self.supervised(ctx, running, index, shared))
    }

    /// Starts supervising a running replica process.
    fn supervised(
        &self,
        ctx: Arc<ReplicaCtx>,
        running: supervisor::Running,
        index: u32,
        shared: Arc<Mutex<ReplicaShared>>,
    ) -> ReplicaHandle {
        let (stop_tx, stop_rx) = watch::channel(None);
        let (done_tx, done_rx) = watch::channel(false);
        let task = tokio::spawn(supervisor::supervise(ctx, running, stop_rx, done_tx));
        ReplicaHandle {
            index,
            shared,
            stop_tx,
            done_rx,
            task,
        }
    }

    /// Stops the listed replicas of `key` and drops them from its entry.
    async fn stop_replicas(&self, key: &VersionKey, indexes: &[u32]) {
        let grace = self.grace();
        let waits: Vec<_> = lock(&self.inner.versions)
            .get(key)
            .map(|e| {
                e.replicas
                    .iter()
                    .filter(|r| indexes.contains(&r.index))
                    .map(|r| r.request_stop(grace))
                    .collect()
            })
            .unwrap_or_default();
        for w in waits {
            wait_done(w).await;
        }
        if let Some(e) = lock(&self.inner.versions).get_mut(key) {
            e.replicas.retain(|r| !indexes.contains(&r.index));
        }
    }

    /// Graceful stop of every replica of the version: SIGTERM to the process
    /// group, SIGKILL after the grace period, wait for exit, forget records.
    /// Idempotent.
    pub async fn stop(&self, key: &VersionKey) {
        let _guard = self.key_lock(key).await;
        let indexes: Vec<u32> = {
            let mut versions = lock(&self.inner.versions);
            let Some(entry) = versions.get_mut(key) else {
                return;
            };
            entry.desired = 0;
            entry.replicas.iter().map(|r| r.index).collect()
        };
        info!(%key, "stopping version");
        self.stop_replicas(key, &indexes).await;
        lock(&self.inner.versions).remove(key);
    }

    /// Stops every version, all at once.
    pub async fn stop_all(&self) {
        let mut set = JoinSet::new();
        for key in self.running() {
            let this = self.clone();
            set.spawn(async move { this.stop(&key).await });
        }
        while set.join_next().await.is_some() {}
    }

    /// Starts a scale-down: when more than `replicas` (at least 1) replicas
    /// of `key` exist, lowers the wanted count so that the surplus (the
    /// highest indexes, as `ensure` stops them) leaves `status`'s ready
    /// replicas and healthy endpoints at once, before a later `ensure`
    /// stops them. Returns whether there is a surplus.
    pub fn lower_desired(&self, key: &VersionKey, replicas: u32) -> bool {
        if replicas == 0 {
            return false;
        }
        let mut versions = lock(&self.inner.versions);
        let Some(entry) = versions.get_mut(key) else {
            return false;
        };
        let keep = usize::try_from(replicas).unwrap_or(usize::MAX);
        if entry.replicas.len() <= keep {
            return false;
        }
        entry.desired = replicas;
        true
    }

    /// The version's replicas as last observed; None if it is not running.
    pub fn status(&self, key: &VersionKey) -> Option<VersionStatus> {
        let versions = lock(&self.inner.versions);
        let entry = versions.get(key)?;
        let mut status = VersionStatus {
            desired: entry.desired,
            ready: 0,
            healthy_endpoints: Vec::new(),
            consecutive_probe_failures: 0,
            ever_ready: !entry.replicas.is_empty(),
            exits_before_ready: 0,
            cpu_percent: None,
            memory_mb: None,
            replicas: Vec::with_capacity(entry.replicas.len()),
        };
        let wanted = usize::try_from(entry.desired).unwrap_or(usize::MAX);
        for (position, r) in entry.replicas.iter().enumerate() {
            let s = lock(&r.shared);
            // A replica beyond the wanted count is on its way out.
            if s.healthy && position < wanted {
                status.ready += 1;
                status
                    .healthy_endpoints
                    .push(SocketAddr::from((Ipv4Addr::LOCALHOST, s.port)));
            }
            status.consecutive_probe_failures = status
                .consecutive_probe_failures
                .max(s.consecutive_failures);
            status.ever_ready &= s.ever_passed;
            status.exits_before_ready = status.exits_before_ready.max(s.exits_before_ready);
            if let Some(c) = s.cpu_percent {
                *status.cpu_percent.get_or_insert(0.0) += c;
            }
            if let Some(m) = s.memory_mb {
                *status.memory_mb.get_or_insert(0.0) += m;
            }
            status.replicas.push(ReplicaStatus {
                index: r.index,
                port: s.port,
                pid: s.pid,
                healthy: s.healthy,
                restarts: s.restarts,
                state: s.state,
                last_error: s.last_error.clone(),
                output: s.output.lines(),
                exits_before_ready: s.exits_before_ready,
                adopted: s.adopted,
            });
        }
        Some(status)
    }

    /// Share of passing probes of this version's replicas since `since`,
    /// None if no probe ran.
    pub fn health_share(&self, key: &VersionKey, since: SystemTime) -> Option<f64> {
        let history = lock(&self.inner.versions).get(key)?.history.clone();
        lock(&history).share_since(since)
    }

    /// Versions with replicas, in key order.
    pub fn running(&self) -> Vec<VersionKey> {
        lock(&self.inner.versions).keys().cloned().collect()
    }

    /// The versions of one target with replicas, in version order: a
    /// range of the key order, so that a controller looking at each of
    /// many targets does not walk every target's versions each time.
    pub fn running_in(&self, service: &str, environment: &str) -> Vec<VersionKey> {
        let from = VersionKey::new(service, environment, "");
        lock(&self.inner.versions)
            .range(from..)
            .map(|(k, _)| k)
            .take_while(|k| k.service == service && k.environment == environment)
            .cloned()
            .collect()
    }
}

/// A folder of the temporary directory, one per user: replicas started by
/// different users never share files.
fn default_output_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let user = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    std::env::temp_dir().join(format!("zion-output-{user}"))
}

impl Drop for Inner {
    /// Last handle gone without `stop_all`: kill everything rather than leak
    /// processes. No grace period is possible without an async context.
    fn drop(&mut self) {
        let versions = std::mem::take(&mut *lock(&self.versions));
        for entry in versions.into_values() {
            for r in entry.replicas {
                // Abort first so the supervisor cannot restart what is killed next.
                r.task.abort();
                let (pid, ticks, file) = {
                    let mut s = lock(&r.shared);
                    (s.pid, s.start_ticks, s.output_file.take())
                };
                if let Some(pid) = pid {
                    procfs::signal_group(pid, ticks, Signal::SIGKILL);
                    self.registry.forget(&self.host_record, pid);
                }
                if let Some(file) = file {
                    output::remove(&file);
                }
            }
        }
    }
}
