//! The subcommands that run the server, validate specs, or call the API.

mod evidence;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use zion_core::api::{
    CommandRequest, DeployRequest, DeploymentDetail, DeploymentView, ReplicaView, RollbackRequest,
    SpecApplied, TargetView,
};
use zion_core::spec::{Spec, parse_spec, summary};
use zion_server::ServerOptions;

use crate::cli::{DeployArgs, Global, Output, Rounds, UpArgs};
use crate::client::{Client, spec_dir};
use crate::exit::Failure;
use crate::render::count;
use crate::{render, wait};

/// Reads and validates the spec file; errors exit 2.
pub fn load_spec(file: &Path) -> Result<(Spec, String), Failure> {
    let yaml = std::fs::read_to_string(file).map_err(|e| {
        Failure::usage(format!(
            "cannot read the spec {}: {e}; pass -f FILE or run where zion.yaml is",
            file.display()
        ))
    })?;
    match parse_spec(&yaml) {
        Ok(spec) => Ok((spec, yaml)),
        Err(errs) => Err(Failure::usage(format!(
            "{} is not a valid spec ({} error{}):\n{}",
            file.display(),
            errs.0.len(),
            if errs.0.len() == 1 { "" } else { "s" },
            errs.to_string().trim_end()
        ))),
    }
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

pub async fn up(g: &Global, args: UpArgs) -> Result<(), Failure> {
    let (spec, yaml) = load_spec(&g.file)?;
    init_logging();
    let mut opts = ServerOptions::new(spec, yaml, spec_dir(&g.file));
    opts.clock = zion_server::Clock::from_env().map_err(Failure::usage)?;
    opts.listen = args.listen.or(opts.listen);
    if let Some(dir) = args.data_dir {
        opts.data_dir = dir;
    }
    opts.lease_ttl = args.lease_ttl;
    opts.targets_host = args.targets_host;
    let data_dir = opts.data_dir.clone();
    check_data_dir(&data_dir)?;
    let running = zion_server::start(opts).await.map_err(|e| {
        // The database could not be reached: as for a server that cannot be.
        if e.is_database_unreachable() {
            Failure::unreachable(format!("cannot start: {e}"))
        } else {
            Failure::negative(format!("cannot start: {e}"))
        }
    })?;
    let targets = running.app.targets.addrs().await;
    let previews = running.app.targets.preview_addrs().await;
    eprintln!("zion is up: API http://{}", running.api_addr);
    eprintln!("  admin token: {}", data_dir.join("admin.token").display());
    for (target, addr) in &targets {
        eprintln!("  target {target}: http://{addr}");
        if let Some(preview) = previews.get(target) {
            eprintln!("  preview {target}: http://{preview}");
        }
    }
    let failed = tokio::select! {
        _ = shutdown_signal() => None,
        why = running.failed() => Some(why),
    };
    eprintln!("zion: stopping replicas and listeners…");
    running.shutdown().await;
    eprintln!("zion: stopped");
    match failed {
        Some(why) => Err(Failure::negative(format!("zion up stopped: {why}"))),
        None => Ok(()),
    }
}

/// `server.data_dir` must be a folder, or not exist yet (it is created):
/// said here, because creating it over a file only reports "File exists".
fn check_data_dir(dir: &Path) -> Result<(), Failure> {
    for part in dir.ancestors() {
        match std::fs::metadata(part) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                let subject = if part == dir {
                    format!("server.data_dir {}", dir.display())
                } else {
                    format!("server.data_dir {}: {}", dir.display(), part.display())
                };
                return Err(Failure::usage(format!(
                    "{subject} is a file, not a folder: point server.data_dir at a folder (it is \
                     created when missing), or move the file away"
                )));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            // Anything else (permissions…) is for start to report.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn lint(g: &Global) -> Result<(), Failure> {
    let yaml = std::fs::read_to_string(&g.file)
        .map_err(|e| Failure::usage(format!("cannot read the spec {}: {e}", g.file.display())))?;
    match parse_spec(&yaml) {
        Ok(spec) => {
            match g.output {
                Output::Json => println!("{}", json!({ "valid": true, "errors": [] })),
                Output::Text => {
                    println!("{}: valid", g.file.display());
                    println!("{}", summary(&spec));
                }
            }
            Ok(())
        }
        Err(errs) => {
            match g.output {
                Output::Json => {
                    let list: Vec<Value> = errs
                        .0
                        .iter()
                        .map(|e| json!({ "path": e.path, "message": e.message }))
                        .collect();
                    println!("{}", json!({ "valid": false, "errors": list }));
                }
                Output::Text => eprintln!("{errs}"),
            }
            Err(Failure::usage(String::new()))
        }
    }
}

pub async fn apply(g: &Global) -> Result<(), Failure> {
    let (_, yaml) = load_spec(&g.file)?;
    let client = Client::new(g)?;
    let answer = client.put_text("/spec", yaml).await?;
    let out: SpecApplied = client.view("PUT", "/spec", answer)?;
    match g.output {
        Output::Json => println!("{}", render::json(&out)),
        Output::Text => {
            println!(
                "applied {}: {}, {}",
                g.file.display(),
                count(out.environments as u64, "environment", "environments"),
                count(out.services as u64, "service", "services")
            );
            for w in &out.warnings {
                eprintln!("warning: {w}");
            }
        }
    }
    Ok(())
}

/// The environment: --env, else the only target of the service in the
/// local spec. Without --env the service is looked up first, so a typo in
/// its name is named as such rather than as a missing --env.
fn resolve_env(g: &Global, service: &str, env: Option<String>) -> Result<String, Failure> {
    if let Some(e) = env {
        return Ok(e);
    }
    let file = g.file.display();
    let spec = match std::fs::read_to_string(&g.file) {
        Err(e) => {
            return Err(Failure::usage(format!(
                "--env is required: cannot read {file} ({e}) to find where {service} runs"
            )));
        }
        Ok(yaml) => parse_spec(&yaml).map_err(|_| {
            Failure::usage(format!(
                "--env is required: {file} is not a valid spec (see `zion lint`), so where \
                 {service} runs is unknown"
            ))
        })?,
    };
    let Some(svc) = spec.service(service) else {
        let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        let known = if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        };
        return Err(Failure::usage(format!(
            "unknown service `{service}`; {file} declares: {known}"
        )));
    };
    if svc.targets.len() == 1 {
        return Ok(svc.targets.keys().next().cloned().unwrap_or_default());
    }
    let envs: Vec<&str> = svc.targets.keys().map(String::as_str).collect();
    Err(Failure::usage(format!(
        "--env is required: {service} runs in {}",
        envs.join(", ")
    )))
}

#[allow(clippy::too_many_arguments)]
pub async fn deploy(g: &Global, a: DeployArgs) -> Result<(), Failure> {
    let env = resolve_env(g, &a.service, a.env)?;
    // Read before anything is sent: a bad report or repository stops here.
    let evidence = evidence::read(
        a.junit.as_deref(),
        a.coverage.as_deref(),
        a.sarif.as_deref(),
    )?;
    let (commit, committed_at) = match &a.git {
        Some(path) => {
            let (sha, at) = evidence::from_git(path)?;
            (Some(sha), Some(at))
        }
        None => (a.commit, a.committed_at),
    };
    let client = Client::new(g)?;
    let body = DeployRequest {
        strategy: a.strategy.map(Into::into),
        kind: a.kind.map(Into::into),
        wait_for_window: a.wait_for_window,
        break_glass: a.break_glass,
        sha256: a.sha256,
        evidence,
        commit,
        committed_at,
        ..DeployRequest::new(&a.service, &env, &a.version)
    };
    let d = client.post_view("/deployments", &body).await?;
    finish_creation(g, &client, d, (a.wait, a.timeout)).await
}

/// `--wait` and its `--timeout`.
type WaitFlags = (bool, Option<Duration>);

async fn finish_creation(
    g: &Global,
    client: &Client,
    d: DeploymentView,
    (wait_flag, timeout): WaitFlags,
) -> Result<(), Failure> {
    let id = d.id;
    if wait_flag {
        return wait::follow_until(client, id, g.output, timeout).await;
    }
    match g.output {
        Output::Json => println!("{}", render::json(&d)),
        Output::Text => println!(
            "deployment {id} created: {}/{} {} → {} ({}); follow it with `zion get {id}`",
            d.service,
            d.environment,
            d.previous_version.as_deref().unwrap_or("(none)"),
            d.version,
            d.phase
        ),
    }
    Ok(())
}

pub async fn status(
    g: &Global,
    service: Option<String>,
    env: Option<String>,
) -> Result<(), Failure> {
    let all: Vec<TargetView> = Client::new(g)?.get_view("/services").await?;
    let rows: Vec<TargetView> = all
        .into_iter()
        .filter(|t| service.as_deref().is_none_or(|s| t.service == s))
        .filter(|t| env.as_deref().is_none_or(|e| t.environment == e))
        .collect();
    if let Some(s) = &service {
        if rows.is_empty() {
            return Err(Failure::usage(format!(
                "no target of service `{s}`{}",
                env.map(|e| format!(" in `{e}`")).unwrap_or_default()
            )));
        }
    }
    match g.output {
        Output::Json => println!("{}", render::json(&rows)),
        Output::Text => print!("{}", render::status(&rows)),
    }
    Ok(())
}

pub async fn replicas(g: &Global) -> Result<(), Failure> {
    let rows: Vec<ReplicaView> = Client::new(g)?.get_view("/replicas").await?;
    match g.output {
        Output::Json => println!("{}", render::json(&rows)),
        Output::Text => print!("{}", render::replicas(&rows)),
    }
    Ok(())
}

pub async fn get(g: &Global, id: i64, rounds: Rounds) -> Result<(), Failure> {
    let d: DeploymentDetail = Client::new(g)?
        .get_view(&format!("/deployments/{id}"))
        .await?;
    match g.output {
        Output::Json => println!("{}", render::json(&d)),
        Output::Text => print!("{}", render::deployment(&d, rounds)),
    }
    Ok(())
}

/// `zion wait ID`: follows a deployment already under way.
pub async fn wait(g: &Global, id: i64, timeout: Option<Duration>) -> Result<(), Failure> {
    wait::follow_until(&Client::new(g)?, id, g.output, timeout).await
}

pub async fn act(g: &Global, id: i64, command: &str, full: bool) -> Result<(), Failure> {
    let body = CommandRequest {
        full,
        comment: None,
    };
    let d: DeploymentView = Client::new(g)?
        .post_view(&format!("/deployments/{id}/{command}"), &body)
        .await?;
    match g.output {
        Output::Json => println!("{}", render::json(&d)),
        Output::Text => println!(
            "deployment {id}: {} ({})",
            d.phase,
            d.reason.as_deref().unwrap_or("")
        ),
    }
    Ok(())
}

pub async fn rollback(
    g: &Global,
    service: String,
    env: Option<String>,
    to: Option<String>,
    break_glass: Option<String>,
    wait_flags: WaitFlags,
) -> Result<(), Failure> {
    let env = resolve_env(g, &service, env)?;
    let client = Client::new(g)?;
    let body = RollbackRequest {
        service,
        environment: env,
        to,
        break_glass,
    };
    let d = client.post_view("/rollback", &body).await?;
    finish_creation(g, &client, d, wait_flags).await
}

pub async fn history(
    g: &Global,
    service: Option<String>,
    env: Option<String>,
    since: Option<String>,
) -> Result<(), Failure> {
    let mut query = Vec::new();
    if let Some(s) = &service {
        query.push(format!("service={}", urlencode(s)));
    }
    if let Some(e) = &env {
        query.push(format!("environment={}", urlencode(e)));
    }
    if let Some(s) = &since {
        query.push(format!("since={}", urlencode(s)));
    }
    let path = if query.is_empty() {
        "/history".to_string()
    } else {
        format!("/history?{}", query.join("&"))
    };
    let list: Vec<DeploymentView> = Client::new(g)?.get_view(&path).await?;
    match g.output {
        Output::Json => println!("{}", render::json(&list)),
        Output::Text => print!("{}", render::history(&list)),
    }
    Ok(())
}

/// Percent-encodes all but unreserved characters (one path segment or query value).
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
