//! `zion-server` is Zion's control plane: the controller that reconciles
//! every target towards the state its deployments call for (start and stop
//! versions, split traffic, run analysis, roll back), and the HTTP API that
//! the CLI talks to. It composes the store, the proxy and the providers; the
//! decisions themselves are `zion-core`'s. It is not the CLI.

mod app;
pub mod audit;
mod audit_watch;
pub mod auth;
mod clock;
mod console;
pub use console::render_overview;
mod controller;
pub mod data_plane;
pub mod datadir;
mod error;
pub mod github;
pub mod haproxy;
mod hooks;
mod http;
mod journal;
mod leases;
pub mod nginx;
mod notify;
pub mod slack;
pub use journal::Journal;
mod operations;
mod prechecks;
mod registry;
mod routers;
#[cfg(feature = "simulated")]
pub mod simulated;
mod slos;
mod sources;
mod targets;
mod telemetry;
mod ticker;
pub mod workloads;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zion_core::spec::Spec;
use zion_providers::ProcessWorkloads;
use zion_store::{Database, PostgresStore, SqliteStore, Store};

pub use app::App;
pub use clock::{Clock, TEST_CLOCK_FILE};
pub use error::ApiError;
pub use http::listener::ApiLimits;
pub use http::openapi::document as openapi_document;
pub use leases::DEFAULT_LEASE_TTL;

/// The environment variable whose PostgreSQL URL wins over
/// `server.database` (it may hold the password, which a spec may not).
pub const DATABASE_URL_ENV: &str = "ZION_DATABASE_URL";

/// How to run a control plane.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The validated spec.
    pub spec: Spec,
    /// The spec's text, recorded when applied.
    pub spec_yaml: String,
    /// The spec file's folder: relative paths resolve against it.
    pub base_dir: PathBuf,
    /// Where state lives (already resolved): the SQLite database, the lock,
    /// the audit key and the admin token.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL to keep the state in instead of SQLite in
    /// `data_dir` (which keeps the rest); None: SQLite.
    pub database: Option<String>,
    /// Overrides `server.listen` (tests and the demo use port 0).
    pub listen: Option<SocketAddr>,
    /// Binds every target's listener and preview listener on this address
    /// with the spec's ports (`zion up --targets-host`): several replicas
    /// of `zion up` on one machine each take their own.
    pub targets_host: Option<IpAddr>,
    /// Controller tick.
    pub tick: Duration,
    /// SIGTERM-to-SIGKILL grace when stopping replicas.
    pub stop_grace: Duration,
    /// The API's header-read timeout and connection cap.
    pub api_limits: ApiLimits,
    /// Where the time of day comes from: the system clock, or a test's.
    pub clock: Clock,
    /// How long a target's lease lasts without renewal: a replica that
    /// dies has its targets driven again by the others after about this.
    pub lease_ttl: Duration,
    /// Simulated versions and traffic instead of processes and listeners
    /// (benchmarks only); None: processes.
    #[cfg(feature = "simulated")]
    pub simulation: Option<simulated::Simulation>,
}

impl ServerOptions {
    /// Options for `spec` with defaults: data dir from the spec, 100 ms tick,
    /// the database from [`DATABASE_URL_ENV`] when set, else from the spec.
    pub fn new(spec: Spec, spec_yaml: String, base_dir: PathBuf) -> Self {
        let data_dir = base_dir.join(&spec.server.data_dir);
        let database = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .or_else(|| spec.server.database.clone());
        ServerOptions {
            spec,
            spec_yaml,
            base_dir,
            data_dir,
            database,
            listen: None,
            targets_host: None,
            tick: Duration::from_millis(100),
            stop_grace: Duration::from_secs(5),
            api_limits: ApiLimits::default(),
            clock: Clock::system(),
            lease_ttl: leases::DEFAULT_LEASE_TTL,
            #[cfg(feature = "simulated")]
            simulation: None,
        }
    }
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("could not open the state database: {0}")]
    Store(#[from] zion_store::StoreError),
    #[error(
        "the API cannot listen on {addr}: {source}; is another `zion up` running? change server.listen"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("target {service}/{environment} cannot listen on {addr}: {message}")]
    Proxy {
        service: String,
        environment: String,
        addr: SocketAddr,
        message: String,
    },
    #[error("no randomness for a token: {0}")]
    Random(String),
    #[error("audit log: {message}")]
    Audit { message: String },
    /// The data directory is another server's, or lost its database.
    #[error("{message}")]
    DataDir { message: String },
}

impl From<audit::AuditError> for StartError {
    fn from(e: audit::AuditError) -> Self {
        match e {
            audit::AuditError::Store(e) => StartError::Store(e),
            e => StartError::Audit {
                message: e.to_string(),
            },
        }
    }
}

impl StartError {
    /// Whether the database server could not be reached (or refused the
    /// connection): `zion up` exits with 3 then, as for an unreachable server.
    pub fn is_database_unreachable(&self) -> bool {
        matches!(
            self,
            StartError::Store(e) if e.is_unreachable()
        )
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StartError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A running control plane.
pub struct Running {
    pub api_addr: SocketAddr,
    /// The admin token from `<data_dir>/admin.token`.
    pub admin_token: String,
    pub app: Arc<App>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Stopped first at shutdown (see [`Running::shutdown`]).
    lease_loop: JoinHandle<()>,
    /// Why the server cannot go on, once it cannot (see [`Running::failed`]).
    fatal: watch::Receiver<Option<String>>,
    /// Released last, once every replica is stopped.
    _lock: datadir::DataDirLock,
}

impl Running {
    /// Resolves, with why, when the server cannot go on: its database was
    /// deleted or replaced, or its lock file removed. The caller should shut
    /// it down and exit with an error. Never resolves otherwise.
    pub async fn failed(&self) -> String {
        let mut fatal = self.fatal.clone();
        match fatal.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            // The watcher ended with the server: nothing more can fail.
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops the API and the controller, then every replica and proxy.
    /// The targets are handed over (or their leases released) as soon as
    /// the lease loop has stopped, which would take them back: not after
    /// the controller's pass in progress, which may be long (every target
    /// is due after a wake) and no longer acts on a target given up.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.lease_loop.await;
        let handed_over = leases::retire(&self.app).await;
        for t in self.tasks {
            let _ = t.await;
        }
        self.app.stop(handed_over).await;
    }
}

/// Starts the control plane: locks the data directory, opens the store,
/// reaps replicas left by a previous run, binds every target's proxy and
/// the API, and starts the controller.
pub async fn start(opts: ServerOptions) -> Result<Running, StartError> {
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| StartError::io(&opts.data_dir, e))?;
    // Before anything reads or changes the directory: a second server must
    // not reap the first one's replicas nor write into its database.
    let lock = datadir::lock(&opts.data_dir)?;
    let store: Arc<dyn Store> = match &opts.database {
        Some(url) => {
            let store = PostgresStore::connect(url)?;
            tracing::info!(database = %store.location(), "state in PostgreSQL");
            Arc::new(store)
        }
        None => {
            datadir::check_database_present(&opts.data_dir)?;
            Arc::new(SqliteStore::open(&opts.data_dir.join(datadir::DB_FILE))?)
        }
    };
    let watched = datadir::Watched::now(&opts.data_dir, opts.database.is_none())?;
    let audit_log = audit::AuditLog::open(
        store.as_ref(),
        &opts.data_dir,
        opts.spec.audit.origin.as_deref(),
    )?;
    if !opts.clock.is_system() {
        tracing::warn!(now = %opts.clock.now(), "running on a test clock, not the system clock");
    }
    let replica = datadir::replica_id(&opts.data_dir)?;
    let live_replicas: Vec<String> = store
        .replicas()?
        .into_iter()
        .filter(|b| b.id != replica && b.is_live(opts.lease_ttl))
        .map(|b| b.id)
        .collect();
    let admin_token = auth::ensure_admin_token(
        store.as_ref(),
        &opts.data_dir,
        &audit_log,
        &opts.clock,
        &live_replicas,
    )?;
    let registry = Arc::new(registry::StoreRegistry(store.clone()));
    let workloads = ProcessWorkloads::new(opts.base_dir.clone(), registry)
        .with_grace(opts.stop_grace)
        .with_output_dir(opts.data_dir.join(datadir::OUTPUT_DIR));
    // Processes of targets the spec no longer has are stopped; the others
    // are adopted, as they run, by whichever replica of `zion up` takes
    // their target (this one, after a restart), never stopped here: with
    // several replicas on one host, another may be driving them.
    let reaped = workloads
        .reap_orphans_where(|r| {
            opts.spec
                .service(&r.service)
                .is_none_or(|s| !s.targets.contains_key(&r.environment))
        })
        .await;
    if reaped > 0 {
        tracing::warn!(
            reaped,
            "stopped processes a previous run left for targets the spec no longer has"
        );
    }
    #[cfg(feature = "simulated")]
    let workloads = match &opts.simulation {
        Some(sim) => {
            workloads::Workloads::Simulated(simulated::SimulatedWorkloads::new(sim.clone()))
        }
        None => workloads::Workloads::Process(workloads),
    };
    #[cfg(not(feature = "simulated"))]
    let workloads = workloads::Workloads::Process(workloads);
    let app = Arc::new(App::new(
        store,
        workloads,
        opts.base_dir.clone(),
        audit_log,
        opts.clock.clone(),
        leases::Leases::new(replica, opts.lease_ttl),
    ));
    app.targets.set_host(opts.targets_host);
    app.targets.set_base_dir(opts.base_dir.clone());
    // Every replica serves every target's listeners: the routes and the
    // traffic go through the database when it is shared.
    app.targets
        .join_data_plane(Arc::new(data_plane::DataPlane::new(
            app.store.clone(),
            app.replica_id().to_owned(),
            opts.database.is_some(),
        )));
    if let Err(e) = app
        .apply_spec(opts.spec.clone(), &opts.spec_yaml, "zion up")
        .await
    {
        // A log that does not verify signs nothing, so a changed spec
        // cannot be recorded; start on the last recorded one, so that
        // `zion audit verify` can still say what is wrong.
        let why = match app.journal.audit.broken() {
            Some(why) if matches!(e, StartError::Audit { .. }) => why,
            _ => return Err(e),
        };
        tracing::error!(%why, error = %e, "the audit log does not verify: the new spec was not applied; running the last recorded spec");
        let Some(last) = app.store.latest_spec()? else {
            return Err(StartError::Audit {
                message: format!("{why}; no spec was ever recorded, so there is none to run"),
            });
        };
        let spec = zion_core::spec::parse_spec(&last.yaml).map_err(|errs| StartError::Audit {
            message: format!(
                "{why}; and the last recorded spec no longer parses ({}), so there is none to run",
                errs.to_string().trim_end()
            ),
        })?;
        app.apply_spec(spec, &last.yaml, "zion up").await?;
    }

    // Takes the targets this replica should drive before the controller
    // starts, so that a lone replica drives them from its first tick.
    leases::maintain(&app).await;
    tracing::info!(replica = %app.replica_id(), driving = app.driven_targets(), "replica of Zion");

    let addr = opts.listen.unwrap_or(opts.spec.server.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let api_addr = listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })?;
    let (tx, rx) = watch::channel(false);
    let (fatal_tx, fatal) = watch::channel(None);
    let owned: data_plane::Owned = {
        let app = app.clone();
        Arc::new(move |id| app.leases.drives(id))
    };
    let routes_changed = Arc::new(tokio::sync::Notify::new());
    let lease_loop = tokio::spawn(leases::run(app.clone(), rx.clone()));
    #[allow(unused_mut)] // Only the simulation adds a task.
    let mut tasks = vec![
        tokio::spawn(http::api::serve(
            app.clone(),
            listener,
            opts.api_limits,
            rx.clone(),
        )),
        tokio::spawn(datadir::watch_files(watched, fatal_tx, rx.clone())),
        tokio::spawn(data_plane::follow_routes(
            app.clone(),
            owned,
            routes_changed.clone(),
            rx.clone(),
        )),
        tokio::spawn(data_plane::flush_traffic(app.clone(), rx.clone())),
        tokio::spawn(leases::follow_changes(
            app.clone(),
            routes_changed,
            rx.clone(),
        )),
        tokio::spawn(notify::run(app.clone(), rx.clone())),
        tokio::spawn(audit_watch::run(app.clone(), rx.clone())),
        tokio::spawn(slos::run(app.clone(), rx.clone())),
        tokio::spawn(controller::run(app.clone(), opts.tick, rx)),
    ];
    #[cfg(feature = "simulated")]
    if let Some(sim) = app.workloads.simulated() {
        tasks.push(tokio::spawn(simulated::send_traffic(
            sim.clone(),
            tx.subscribe(),
        )));
    }
    tracing::info!(%api_addr, "zion control plane up");
    Ok(Running {
        api_addr,
        admin_token,
        app,
        shutdown: tx,
        tasks,
        lease_loop,
        fatal,
        _lock: lock,
    })
}
