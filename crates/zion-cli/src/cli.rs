//! The command line: global flags and subcommands (the README shows them in use).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Zion: progressive delivery and deployment governance in one binary.
#[derive(Debug, Parser)]
#[command(name = "zion", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Cmd,
}

/// Flags accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The control plane's URL (default: the spec's server.listen).
    #[arg(long, global = true, env = "ZION_SERVER")]
    pub server: Option<String>,
    /// API token (default: <data_dir>/admin.token).
    #[arg(long, global = true, env = "ZION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The spec file.
    #[arg(short = 'f', long = "file", global = true, default_value = "zion.yaml")]
    pub file: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Strategies, as the CLI spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StrategyArg {
    Canary,
    BlueGreen,
    Rolling,
}

/// Deployment types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    Feature,
    Hotfix,
    Config,
    Rollback,
}

impl From<StrategyArg> for zion_core::spec::Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Canary => Self::Canary,
            StrategyArg::BlueGreen => Self::BlueGreen,
            StrategyArg::Rolling => Self::Rolling,
        }
    }
}

impl From<TypeArg> for zion_core::deployment::DeploymentType {
    fn from(t: TypeArg) -> Self {
        match t {
            TypeArg::Feature => Self::Feature,
            TypeArg::Hotfix => Self::Hotfix,
            TypeArg::Config => Self::Config,
            TypeArg::Rollback => Self::Rollback,
        }
    }
}

/// `zion deploy`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    pub service: String,
    pub version: String,
    /// Environment (optional when the service runs in only one).
    #[arg(long)]
    pub env: Option<String>,
    /// Override the service's strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Why this deployment is made.
    #[arg(long = "type", value_enum)]
    pub kind: Option<TypeArg>,
    /// Follow the rollout until it ends; exit 0 if it succeeded, 1 if not.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: stop following after this long (`90s`, `10m`) and exit
    /// 1; the deployment goes on (`zion wait ID` follows it again).
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = parse_wait_timeout)]
    pub timeout: Option<std::time::Duration>,
    /// Outside the deployment window, wait (pending) for it to open instead
    /// of being refused.
    #[arg(long)]
    pub wait_for_window: bool,
    /// Admin only: skip windows, freezes, approvals and checks; the reason
    /// is recorded and the deployment is marked everywhere.
    #[arg(long, value_name = "REASON")]
    pub break_glass: Option<String>,
    /// The artifact's expected SHA-256 (hex); the `artifact` check compares.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Test results (JUnit XML) to attach for the environment's quality gates.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Line coverage (LCOV or Cobertura XML) to attach for the quality gates.
    #[arg(long, value_name = "FILE")]
    pub coverage: Option<PathBuf>,
    /// Security or lint findings (SARIF 2.1.0) to attach, counted by level.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// The commit the version was built from.
    #[arg(long, value_name = "SHA", conflicts_with = "git")]
    pub commit: Option<String>,
    /// When that commit was made, RFC 3339 (`2026-03-01T10:15:30+01:00`).
    #[arg(long, value_name = "TIME", conflicts_with = "git")]
    pub committed_at: Option<jiff::Timestamp>,
    /// Take the commit and its time from HEAD of the git repository at PATH.
    #[arg(long, value_name = "PATH")]
    pub git: Option<PathBuf>,
}

/// `zion token …`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCmd {
    /// Create a token for a principal; the token is shown once.
    Create {
        /// The principal's name (recorded as the cause of what it does).
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The GitHub login whose `/approve` comments act as this principal.
        #[arg(long, value_name = "LOGIN")]
        github: Option<String>,
    },
    /// Every token: name, role, GitHub login, created, revoked.
    List,
    /// Revoke the live token called NAME.
    Revoke { name: String },
}

/// The period of `zion slo report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SloPeriodArg {
    Day,
    Week,
    Month,
}

/// `zion slo …`.
#[derive(Debug, Clone, Subcommand)]
pub enum SloCmd {
    /// Every SLO: objective, SLI over its window, budget left, burn rates
    /// of the alert windows, alerts firing.
    Status,
    /// Each SLO over the last day, week or month: SLI, budget, and the SLI
    /// per hour (day) or per day (week, month), with a chart in HTML.
    Report {
        #[arg(long, value_enum, default_value = "day")]
        period: SloPeriodArg,
        #[arg(long, value_enum, default_value = "md")]
        format: HistoryFormat,
    },
    /// Prometheus recording and alerting rules for the spec's SLOs, with
    /// Sloth's names, over the metrics Zion's /metrics exports; read from
    /// the spec alone, no server needed.
    Rules,
}

/// `zion compliance …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ComplianceCmd {
    /// Change management, access control, deployment control, monitoring
    /// and log integrity, each with its evidence (deployment ids, entries).
    Report {
        /// Only entries since: a duration back (`30d`), a date or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
    },
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
}

/// Formats of the deployment report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    Md,
    Html,
    Json,
}

/// `zion report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Start of the period: a duration back (`30d`), a date or an RFC 3339
    /// time [default: 30d].
    #[arg(long)]
    pub since: Option<String>,
    /// End of the period (exclusive): a duration back, a date (the whole
    /// day is included) or an RFC 3339 time [default: now].
    #[arg(long)]
    pub until: Option<String>,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Time zone that days and months are cut in: an IANA name
    /// (`Europe/Paris`) or an offset (`+02:00`) [default: UTC].
    #[arg(long)]
    pub tz: Option<String>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: HistoryFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// `zion audit …`.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCmd {
    /// Entries, oldest first.
    Log {
        /// Only entries since: a duration back (`7d`) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only this action (`deployment.transition`, `token.create`…).
        #[arg(long)]
        action: Option<String>,
        /// Only this subject (`deployment/42`, `token/alice`…).
        #[arg(long)]
        subject: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Recompute every leaf hash and root, check every checkpoint; exit 1
    /// naming the first bad entry.
    Verify {
        /// Verify an exported folder instead, offline (no server, no database).
        #[arg(long, value_name = "DIR")]
        bundle: Option<std::path::PathBuf>,
        /// With --bundle: the verifier key you trust (`zion audit key`),
        /// instead of the one shipped in the folder.
        #[arg(long, value_name = "KEY", requires = "bundle")]
        key: Option<String>,
    },
    /// Inclusion proof of entry INDEX (0-based) as JSON.
    Proof {
        index: u64,
        /// In the tree of this many entries (a signed checkpoint's size);
        /// default: the latest checkpoint.
        #[arg(long)]
        size: Option<u64>,
    },
    /// Consistency proof between two tree sizes.
    Consistency { old: u64, new: u64 },
    /// The latest signed checkpoint (a C2SP signed note).
    Checkpoint,
    /// The key that verifies the checkpoints (`<name>+<hint>+<key>`).
    Key,
    /// Write entries, the latest checkpoint and the verifier key to DIR.
    Export { dir: std::path::PathBuf },
}

/// `zion incident …`.
#[derive(Debug, Clone, Subcommand)]
pub enum IncidentCmd {
    /// Incidents, open ones first.
    List {
        /// Include resolved incidents.
        #[arg(long)]
        all: bool,
    },
    /// Resolve an open incident.
    Resolve {
        id: i64,
        /// How it was resolved.
        #[arg(long)]
        comment: Option<String>,
    },
}

/// Roles, as the CLI spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Deployer,
    Approver,
    Admin,
}

/// `zion up`'s options: what differs between replicas of Zion that share
/// one spec and one PostgreSQL database.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UpArgs {
    /// The API's address, instead of the spec's server.listen (each
    /// replica on one host needs its own).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The data directory, instead of the spec's server.data_dir (each
    /// replica needs its own: it holds the replica's id and lock; copy
    /// audit.key and admin.token from the first replica's into it).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// How long a target's lease lasts without renewal: a replica that
    /// dies has its targets driven by the others after about this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_lease_ttl)]
    pub lease_ttl: std::time::Duration,
    /// Bind every target's listener and preview listener on this address,
    /// with the spec's ports (one address per replica of `zion up` on one
    /// machine: 127.0.0.1, 127.0.0.2…).
    #[arg(long, value_name = "IP")]
    pub targets_host: Option<IpAddr>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the control plane (API, controller, proxies) in the foreground.
    Up(UpArgs),
    /// Validate the spec; errors as `path: message`.
    Lint,
    /// Send the spec to a running server.
    Apply,
    /// Deploy VERSION of SERVICE.
    Deploy(DeployArgs),
    /// Targets: stable version, active deployment, running versions.
    Status {
        service: Option<String>,
        #[arg(long)]
        env: Option<String>,
    },
    /// The replicas of Zion on this database: last heartbeat, live or not,
    /// how many targets each drives.
    Replicas,
    /// One deployment: phase, step, weights, events, analysis rounds.
    Get {
        id: i64,
        /// Analysis round records to list: the last N, or `all`.
        #[arg(long, value_name = "N|all", default_value = "10", value_parser = parse_rounds)]
        rounds: Rounds,
    },
    /// Follow a deployment until it ends, as `deploy --wait` does; exit 0
    /// if it succeeded, 1 if not.
    Wait {
        id: i64,
        /// Stop following after this long and exit 1; the deployment goes on.
        #[arg(long, value_name = "DURATION", value_parser = parse_wait_timeout)]
        timeout: Option<std::time::Duration>,
    },
    /// Go to the next step now (or, with --full, to 100% at once).
    Promote {
        id: i64,
        /// Skip the remaining steps and analysis.
        #[arg(long)]
        full: bool,
    },
    /// Hold the deployment at its current step (analysis keeps running).
    Pause { id: i64 },
    /// Continue a paused deployment.
    Resume { id: i64 },
    /// Send all traffic back to stable and stop the new version.
    Abort { id: i64 },
    /// Deploy the last succeeded version before the current one.
    Rollback {
        service: String,
        #[arg(long)]
        env: Option<String>,
        /// A specific earlier version.
        #[arg(long)]
        to: Option<String>,
        /// Admin only: skip windows, freezes, approvals and checks (reason required).
        #[arg(long, value_name = "REASON")]
        break_glass: Option<String>,
        /// Follow it until it ends.
        #[arg(long)]
        wait: bool,
        /// With --wait: stop following after this long and exit 1.
        #[arg(long, value_name = "DURATION", requires = "wait", value_parser = parse_wait_timeout)]
        timeout: Option<std::time::Duration>,
    },
    /// Approve a deployment waiting for approval.
    Approve {
        id: i64,
        /// Why (recorded with the approval).
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a deployment waiting for approval (it ends `rejected`).
    Reject {
        id: i64,
        /// Why (recorded with the rejection).
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deployments waiting for an approval you may give.
    Approvals,
    /// API tokens: create (shown once), list, revoke.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Compliance evidence computed from the audit log.
    Compliance {
        #[command(subcommand)]
        cmd: ComplianceCmd,
    },
    /// The tamper-evident audit log: entries, verification, proofs, export.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Service level objectives: their status now, and Prometheus rules.
    Slo {
        #[command(subcommand)]
        cmd: SloCmd,
    },
    /// Incidents: opened when a production deployment rolls back.
    Incident {
        #[command(subcommand)]
        cmd: IncidentCmd,
    },
    /// The notifications outbox: each message's receiver, event and state
    /// (pending, delivered, retrying with its attempts and next try, given
    /// up) and its last error, newest first.
    Notifications,
    /// Past deployments, newest first.
    History {
        service: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// `30d`, `12h`, a date or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
    /// The deployment report: volumes, success rates, speed, rollbacks,
    /// approvals, quality gates, DORA metrics and trends.
    Report(ReportArgs),
    /// Store deployments and incidents recorded by other tools (JSON lines:
    /// one object per line); importing a file again adds nothing.
    Import {
        /// The JSON-lines file.
        #[arg(value_name = "FILE")]
        history: std::path::PathBuf,
    },
    /// The guided local demonstration: a real canary, a promotion and an
    /// automatic rollback, in under a minute.
    Demo {
        /// Requests per second of the demo's steady load.
        #[arg(long, default_value_t = 200)]
        rps: u32,
        /// The rollout strategy to show.
        #[arg(long, value_enum, default_value = "canary")]
        strategy: StrategyArg,
    },
    /// A small HTTP service used by the demo and the tests.
    #[command(hide = true)]
    DemoApp {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        version: String,
        /// Misbehave when running VERSION: `VERSION:errors=0.3,latency=40ms,after=3s`
        /// (a share of 500s and added latency, starting `after` the start),
        /// `cpu=1` (threads kept busy) and `memory=200` (MB held), or
        /// `VERSION:crash` (exit at start). Repeatable.
        #[arg(long = "fault")]
        faults: Vec<String>,
    },
}

/// How many analysis round records `zion get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounds {
    All,
    Last(usize),
}

fn parse_rounds(text: &str) -> Result<Rounds, String> {
    if text == "all" {
        return Ok(Rounds::All);
    }
    text.parse()
        .map(Rounds::Last)
        .map_err(|_| format!("`{text}` is not a count: give a number of round records, or `all`"))
}

/// A `--timeout`: a spec duration above zero.
fn parse_lease_ttl(text: &str) -> Result<std::time::Duration, String> {
    match zion_core::duration::parse_duration(text)? {
        d if d < std::time::Duration::from_millis(300) => Err(format!(
            "`{text}` is too short for a lease: give at least 300ms (10s is the default)"
        )),
        d => Ok(d),
    }
}

fn parse_wait_timeout(text: &str) -> Result<std::time::Duration, String> {
    match zion_core::duration::parse_duration(text)? {
        d if d.is_zero() => Err(format!(
            "`{text}` is zero: give how long to follow, e.g. 90s or 10m"
        )),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["zion", "get", "7", "--output", "json", "-f", "x.yaml"]).unwrap();
        assert_eq!(cli.global.output, Output::Json);
        assert_eq!(cli.global.file, PathBuf::from("x.yaml"));
        assert!(matches!(
            cli.command,
            Cmd::Get {
                id: 7,
                rounds: Rounds::Last(10)
            }
        ));
    }

    #[test]
    fn wait_timeouts_and_round_counts_are_checked() {
        let cli =
            Cli::try_parse_from(["zion", "deploy", "web", "2.0", "--wait", "--timeout", "2s"])
                .unwrap();
        let Cmd::Deploy(a) = cli.command else {
            panic!("not a deploy: {:?}", cli.command);
        };
        assert_eq!(a.timeout, Some(std::time::Duration::from_secs(2)));
        // A timeout without --wait has nothing to limit.
        let err =
            Cli::try_parse_from(["zion", "deploy", "web", "2.0", "--timeout", "2s"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        for bad in ["0s", "2", "soon"] {
            let err = Cli::try_parse_from(["zion", "wait", "7", "--timeout", bad]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
        let cli = Cli::try_parse_from(["zion", "get", "7", "--rounds", "all"]).unwrap();
        assert!(matches!(
            cli.command,
            Cmd::Get {
                rounds: Rounds::All,
                ..
            }
        ));
        let err = Cli::try_parse_from(["zion", "get", "7", "--rounds", "some"]).unwrap_err();
        assert!(err.to_string().contains("or `all`"), "{err}");
    }

    #[test]
    fn deploy_takes_evidence_and_a_commit_or_a_repository() {
        let cli = Cli::try_parse_from([
            "zion",
            "deploy",
            "web",
            "2.0",
            "--junit",
            "junit.xml",
            "--coverage",
            "lcov.info",
            "--sarif",
            "clippy.sarif",
            "--commit",
            "9fceb02",
            "--committed-at",
            "2026-03-01T10:15:30+01:00",
            "--type",
            "hotfix",
        ])
        .unwrap();
        let Cmd::Deploy(a) = cli.command else {
            panic!("not a deploy: {:?}", cli.command);
        };
        assert_eq!(a.junit, Some(PathBuf::from("junit.xml")));
        assert_eq!(a.coverage, Some(PathBuf::from("lcov.info")));
        assert_eq!(a.sarif, Some(PathBuf::from("clippy.sarif")));
        assert_eq!(a.commit.as_deref(), Some("9fceb02"));
        assert_eq!(
            a.committed_at.map(|t| t.to_string()).as_deref(),
            Some("2026-03-01T09:15:30Z")
        );
        assert_eq!(a.kind, Some(TypeArg::Hotfix));
        // A time without its offset is not RFC 3339.
        assert!(
            Cli::try_parse_from([
                "zion",
                "deploy",
                "web",
                "2.0",
                "--committed-at",
                "2026-03-01 10:15"
            ])
            .is_err()
        );
        // --git says both; it cannot be mixed with either.
        for flag in ["--commit", "--committed-at"] {
            let value = if flag == "--commit" {
                "9fceb02"
            } else {
                "2026-03-01T10:15:30Z"
            };
            let err =
                Cli::try_parse_from(["zion", "deploy", "web", "2.0", "--git", ".", flag, value])
                    .unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        }
    }
}
