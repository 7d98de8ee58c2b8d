//! `exec` checks: a command printing a number.

use std::path::Path;
use std::process::Stdio;

use zion_core::sources::template::{Vars, render};
use zion_core::sources::{Outcome, exec_value};
use zion_core::spec::ExecQuery;

/// The rendered command line and what it printed. Runs in the spec's
/// folder; killed when it outlives its timeout.
pub(super) async fn read(e: &ExecQuery, vars: &Vars, base_dir: &Path) -> (String, Outcome) {
    let argv: Vec<String> = e.command.iter().map(|a| render(a, vars)).collect();
    let line = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return (line, Outcome::Error("no command".into()));
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(base_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(err) => return (line, Outcome::Error(format!("cannot run {program}: {err}"))),
    };
    let outcome = match tokio::time::timeout(e.timeout, child.wait_with_output()).await {
        Err(_) => Outcome::Unavailable(format!(
            "did not finish within {}; stopped",
            zion_core::duration::format_duration(e.timeout)
        )),
        Ok(Err(err)) => Outcome::Unavailable(format!("cannot wait for {program}: {err}")),
        Ok(Ok(out)) if out.status.success() => exec_value(&String::from_utf8_lossy(&out.stdout)),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            let code = match out.status.code() {
                Some(c) => format!("exited with {c}"),
                None => "was killed by a signal".to_string(),
            };
            match last {
                Some(l) => Outcome::Error(format!("{code}: {}", l.trim())),
                None => Outcome::Error(code),
            }
        }
    };
    (line, outcome)
}
