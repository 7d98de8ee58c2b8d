//! Health probes against one replica on 127.0.0.1: HTTP GET, TCP connect,
//! a command's exit status, or gRPC's standard health check (`grpc.rs`, its
//! bytes in `grpc_wire.rs`). Each returns why it failed, for operators.

mod grpc;
mod grpc_wire;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper::header::{HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::net::TcpStream;
use tokio::process::Command;
use zion_core::spec::Probe;

/// What an exec probe runs with: the same folder and environment as the replica.
pub(crate) struct ExecEnv<'a> {
    pub workdir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub version: &'a str,
}

/// Replaces `{port}` and `{version}` in one command element.
pub(crate) fn substitute(arg: &str, port: u16, version: &str) -> String {
    arg.replace("{port}", &port.to_string())
        .replace("{version}", version)
}

/// Runs one probe against `port`, giving up after `timeout`.
pub(crate) async fn check(
    probe: &Probe,
    port: u16,
    timeout: Duration,
    exec: &ExecEnv<'_>,
) -> Result<(), String> {
    match probe {
        Probe::Http(path) => tokio::time::timeout(timeout, http_get(port, path))
            .await
            .unwrap_or_else(|_| Err(format!("GET {path} timed out after {timeout:?}"))),
        Probe::Tcp => {
            match tokio::time::timeout(timeout, TcpStream::connect((Ipv4Addr::LOCALHOST, port)))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP connect to port {port}: {e}")),
                Err(_) => Err(format!(
                    "TCP connect to port {port} timed out after {timeout:?}"
                )),
            }
        }
        Probe::Exec(cmd) => run_command(cmd, port, timeout, exec).await,
        Probe::Grpc { service } => tokio::time::timeout(timeout, grpc::check(port, service))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "gRPC health Check on port {port} timed out after {timeout:?}"
                ))
            }),
    }
}

async fn http_get(port: u16, path: &str) -> Result<(), String> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| format!("GET {path}: connect to port {port}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    // The connection future must be driven while the request is in flight;
    // dropping it afterwards closes the socket.
    let conn = tokio::spawn(conn);
    let req = Request::get(path.as_str())
        .header(HOST, format!("127.0.0.1:{port}"))
        .header(USER_AGENT, "zion-health-probe")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {path}: invalid request: {e}"))?;
    let result = sender.send_request(req).await;
    conn.abort();
    let resp = result.map_err(|e| format!("GET {path}: {e}"))?;
    let status = resp.status();
    if status.is_success() || status.is_redirection() {
        Ok(())
    } else {
        Err(format!("GET {path} answered {status}"))
    }
}

async fn run_command(
    cmd: &[String],
    port: u16,
    timeout: Duration,
    exec: &ExecEnv<'_>,
) -> Result<(), String> {
    let argv: Vec<String> = cmd
        .iter()
        .map(|a| substitute(a, port, exec.version))
        .collect();
    let Some((program, args)) = argv.split_first() else {
        return Err("exec probe has no command".into());
    };
    let mut child = Command::new(program)
        .args(args)
        .current_dir(exec.workdir)
        .envs(exec.env)
        .env("PORT", port.to_string())
        .env("ZION_VERSION", exec.version)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group, so a timed-out probe is killed with everything it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("exec probe `{program}` could not start: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("exec probe `{program}` failed ({status})")),
        Ok(Err(e)) => Err(format!("exec probe `{program}`: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Err(format!(
                "exec probe `{program}` timed out after {timeout:?}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted_everywhere_in_an_element() {
        assert_eq!(
            substitute("--listen=127.0.0.1:{port}/{version}/{port}", 8081, "1.4.2"),
            "--listen=127.0.0.1:8081/1.4.2/8081"
        );
        assert_eq!(substitute("plain", 1, "v"), "plain");
    }
}
