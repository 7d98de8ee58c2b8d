//! `zion`: the command line of Zion — runs the control plane (`up`), talks
//! to it over its API (deploy, status, get, promote…), validates specs
//! (`lint`) and runs the guided demo. It holds no deployment logic of its
//! own: that is `zion-core`'s, driven by `zion-server`. The library form
//! exists so benchmarks can drive the same demo pieces as the binary.

mod audit;
pub mod cli;
pub mod client;
mod commands;
pub mod demo;
mod demo_app;
pub mod exit;
mod governance;
mod history;
mod judge_rounds;
mod render;
mod rounds;
mod slo;
mod token;
mod wait;

use crate::cli::{Cli, Cmd};
use crate::exit::Failure;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let g = &cli.global;
    match cli.command {
        Cmd::Up(args) => commands::up(g, args).await,
        Cmd::Lint => commands::lint(g),
        Cmd::Apply => commands::apply(g).await,
        Cmd::Deploy(args) => commands::deploy(g, args).await,
        Cmd::Status { service, env } => commands::status(g, service, env).await,
        Cmd::Replicas => commands::replicas(g).await,
        Cmd::Get { id, rounds } => commands::get(g, id, rounds).await,
        Cmd::Wait { id, timeout } => commands::wait(g, id, timeout).await,
        Cmd::Promote { id, full } => commands::act(g, id, "promote", full).await,
        Cmd::Pause { id } => commands::act(g, id, "pause", false).await,
        Cmd::Resume { id } => commands::act(g, id, "resume", false).await,
        Cmd::Abort { id } => commands::act(g, id, "abort", false).await,
        Cmd::Rollback {
            service,
            env,
            to,
            break_glass,
            wait,
            timeout,
        } => commands::rollback(g, service, env, to, break_glass, (wait, timeout)).await,
        Cmd::Approve { id, comment } => governance::decide(g, id, "approve", comment).await,
        Cmd::Reject { id, comment } => governance::decide(g, id, "reject", comment).await,
        Cmd::Approvals => governance::approvals(g).await,
        Cmd::Token { cmd } => token::run(g, cmd).await,
        Cmd::Slo { cmd } => slo::run(g, cmd).await,
        Cmd::Incident { cmd } => governance::incident(g, cmd).await,
        Cmd::Notifications => governance::notifications(g).await,
        Cmd::Audit { cmd } => audit::run(g, cmd).await,
        Cmd::Compliance { cmd } => audit::compliance(g, cmd).await,
        Cmd::History {
            service,
            env,
            since,
        } => commands::history(g, service, env, since).await,
        Cmd::Report(args) => history::report(g, args).await,
        Cmd::Import { history: file } => history::import(g, &file).await,
        Cmd::Demo { rps, strategy } => demo::run(g, rps, strategy).await,
        Cmd::DemoApp {
            port,
            version,
            faults,
        } => demo_app::run(port, version, &faults).await,
    }
}
