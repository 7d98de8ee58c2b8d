//! A throwaway PostgreSQL cluster for tests: `initdb` and `pg_ctl` under a
//! temporary folder, listening on a free port of 127.0.0.1 (and a socket in
//! that folder), never a server the machine happens to run. One cluster
//! per test binary ([`TestCluster::shared`]), a fresh database per test
//! ([`TestCluster::new_database`]). A watcher process stops the cluster and
//! removes its folder once the test binary has exited, however it exits
//! (statics are never dropped, and a killed binary runs no destructor).
//!
//! The binaries are found on `PATH`, then in `/usr/lib/postgresql/*/bin`
//! (Debian's packages, newest version first). `initdb` refuses to run as
//! root: as root the cluster runs as the `postgres` user when there is one,
//! else as `nobody`, in a folder that user owns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A running throwaway cluster.
pub struct TestCluster {
    /// Holds `data/`, the log and the socket; removed by the watcher.
    dir: PathBuf,
    port: u16,
    made: AtomicU64,
    /// The server's settings (`-o` of `pg_ctl start`), to start it again
    /// on the same port and socket after [`TestCluster::stop`].
    options: String,
}

/// Settings of a cluster made for tests: nothing survives it, so nothing
/// needs to reach the disk (fsync and friends off make `CREATE DATABASE`
/// and commits fast on a loaded machine).
const FAST: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
];

impl TestCluster {
    /// The test binary's cluster, started on first use.
    pub fn shared() -> &'static TestCluster {
        static SHARED: OnceLock<TestCluster> = OnceLock::new();
        SHARED.get_or_init(|| TestCluster::start(FAST).unwrap_or_else(|e| panic!("{e}")))
    }

    /// A cluster of the caller's own (with the shared one's fast settings),
    /// for a test that stops or restarts it: the shared one must keep
    /// running for the other tests of the binary.
    pub fn own() -> TestCluster {
        TestCluster::start(FAST).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A new cluster with these extra settings (`name=value`); `&[]` keeps
    /// PostgreSQL's durable defaults, for measurements.
    pub fn start(settings: &[&str]) -> Result<TestCluster, String> {
        let bin = find_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("zion-pg-")
            .tempdir()
            .map_err(|e| format!("no temporary folder for PostgreSQL: {e}"))?
            .keep();
        let data = dir.join("data");
        std::fs::create_dir(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let user = unprivileged_user();
        if let Some(user) = &user {
            // The user must reach the folder and own what it writes in.
            run(Command::new("chmod").arg("755").arg(&dir))?;
            run(Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(&dir))?;
        }
        let as_user = |program: &Path| -> Command {
            match &user {
                Some(user) => {
                    let mut c = Command::new("runuser");
                    c.args(["-u", user, "--"]).arg(program);
                    c
                }
                None => Command::new(program),
            }
        };
        run(as_user(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "zion",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
        let port = free_port()?;
        let mut options = format!(
            "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=200",
            dir.display()
        );
        for s in settings {
            options.push_str(&format!(" -c {s}"));
        }
        let cluster = TestCluster {
            dir,
            port,
            made: AtomicU64::new(0),
            options,
        };
        cluster.start_again()?;
        watch(&cluster.dir);
        Ok(cluster)
    }

    /// Stops the server (`pg_ctl stop`, fast: open sessions are ended and
    /// their transactions rolled back, as in a routine restart), keeping
    /// its data for [`TestCluster::start_again`].
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "fast", "stop"])
    }

    /// Starts the stopped server again, on the same port, socket and data.
    pub fn start_again(&self) -> Result<(), String> {
        self.pg_ctl(&[
            "-l",
            &self.dir.join("postgres.log").display().to_string(),
            "-t",
            "60",
            "-o",
            &self.options,
            "start",
        ])
    }

    /// Stops the server and starts it again.
    pub fn restart(&self) -> Result<(), String> {
        self.stop()?;
        self.start_again()
    }

    /// The URL of `database` on this cluster, as user `zion` (trusted: no
    /// password).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://zion@127.0.0.1:{}/{database}", self.port)
    }

    /// The port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's folder (its data, log and socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new, empty database and returns its URL.
    pub fn new_database(&self) -> String {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let name = format!("zion_test_{n}");
        let admin = self.url("postgres");
        let sql = format!("CREATE DATABASE {name}");
        // A thread of its own: the caller may be inside a tokio runtime.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"));
                tokio::spawn(connection);
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            });
        })
        .join()
        .expect("creating a test database");
        self.url(&name)
    }

    /// Runs `pg_ctl` with `args` on this cluster (e.g. `restart`), as the
    /// cluster's user.
    pub fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let bin = find_bin_dir()?;
        let mut c = match unprivileged_user() {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", &user, "--"]).arg(bin.join("pg_ctl"));
                c
            }
            None => Command::new(bin.join("pg_ctl")),
        };
        c.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w"])
            .args(args);
        run(&mut c)
    }
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        let initdb = dir.join("initdb");
        if initdb.is_file() && dir.join("pg_ctl").is_file() {
            // A symlink to Debian's folder: use the folder, where `postgres` is.
            let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
            return Ok(real.parent().unwrap_or(&dir).to_path_buf());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "PostgreSQL's initdb was not found on PATH nor in /usr/lib/postgresql/*/bin: \
         install PostgreSQL (apt-get install postgresql; scripts/test.sh does)"
            .to_string()
    })
}

/// The user to run the cluster as when this process is root.
fn unprivileged_user() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return None;
    }
    let exists = |user: &str| {
        Command::new("id")
            .arg(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    Some(
        if exists("postgres") {
            "postgres"
        } else {
            "nobody"
        }
        .to_string(),
    )
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port for PostgreSQL: {e}"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Starts a process that, once this one has exited, stops the cluster at
/// once (SIGQUIT to the postmaster: an immediate shutdown) and removes its
/// folder.
fn watch(dir: &Path) {
    let pid = std::process::id();
    let dir = dir.display().to_string();
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         kill -QUIT \"$(head -n 1 '{dir}/data/postmaster.pid')\" 2>/dev/null; \
         sleep 2; rm -rf '{dir}'"
    );
    let spawned = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("cannot watch the test cluster in {dir}: {e}; stop it by hand");
    }
}
