//! `exec` hooks: a program run in the spec's folder with the deployment's
//! facts in its environment; exit 0 passes. On timeout its whole process
//! group is killed, so a script's children do not outlive it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::{Attempt, Facts};

pub(super) async fn run(
    argv: &[String],
    timeout: Duration,
    facts: &Facts,
    base_dir: &Path,
) -> Attempt {
    let Some((program, args)) = argv.split_first() else {
        return failed("no command".into(), String::new());
    };
    let addresses: Vec<String> = facts.new_addresses.iter().map(|a| a.to_string()).collect();
    // `./smoke.sh` is the spec folder's: a relative path with a slash is
    // made absolute, since where a child resolves it after changing
    // directory is left to the platform.
    let path = Path::new(program);
    let program = if path.is_relative() && program.contains('/') {
        base_dir.join(path).into_os_string()
    } else {
        program.into()
    };
    let child = tokio::process::Command::new(&program)
        .args(args)
        .current_dir(base_dir)
        .env("ZION_DEPLOYMENT_ID", facts.deployment_id.to_string())
        .env("ZION_SERVICE", &facts.service)
        .env("ZION_ENVIRONMENT", &facts.environment)
        .env("ZION_VERSION", &facts.version)
        .env(
            "ZION_STABLE_VERSION",
            facts.stable_version.as_deref().unwrap_or(""),
        )
        .env("ZION_PHASE", &facts.phase)
        .env(
            "ZION_STEP",
            facts.step.map(|s| s.to_string()).unwrap_or_default(),
        )
        .env("ZION_HOOK", &facts.hook)
        .env("ZION_NEW_ADDRESSES", addresses.join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            let program = program.to_string_lossy();
            return failed(format!("cannot run {program}: {e}"), String::new());
        }
    };
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            failed(
                format!(
                    "did not finish within {}; stopped",
                    zion_core::duration::format_duration(timeout)
                ),
                String::new(),
            )
        }
        Ok(Err(e)) => failed(
            format!("cannot wait for {}: {e}", program.to_string_lossy()),
            String::new(),
        ),
        Ok(Ok(out)) => {
            let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&out.stderr));
            let detail = match out.status.code() {
                Some(c) => format!("exited with {c}"),
                None => "was killed by a signal".to_string(),
            };
            Attempt {
                passed: out.status.success(),
                detail,
                output,
            }
        }
    }
}

fn failed(detail: String, output: String) -> Attempt {
    Attempt {
        passed: false,
        detail,
        output,
    }
}
