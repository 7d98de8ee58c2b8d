//! Changing what nginx runs: the include file replaced atomically (a
//! temporary file beside it, renamed over it), the whole configuration
//! tested with `nginx -t -c <config>`, then a graceful reload with
//! `nginx -s reload -c <config>` (the master signalled through the pid
//! file its configuration names: new workers take new connections, old
//! ones finish the requests in flight). A configuration nginx refuses is
//! never reloaded: the previous include goes back in place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// How long `nginx -t` or `nginx -s reload` may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// One nginx, as its provider names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nginx {
    /// The program, as the spec names it (`nginx` or a path).
    pub binary: String,
    /// Its main configuration file.
    pub config: PathBuf,
}

impl Nginx {
    /// Writes `text` to `include`, tests nginx's configuration with it and
    /// reloads nginx. On any failure the previous include is back in
    /// place (none if there was none) and nginx still runs what it ran.
    pub async fn apply(&self, include: &Path, text: &str) -> Result<(), String> {
        // Targets sharing this nginx change it one at a time: `nginx -t`
        // tests every include, so another target's half-done change
        // would be this one's failure.
        let lock = one_change_at_a_time(&self.config);
        let _one = lock.lock().await;
        let previous = match tokio::fs::read(include).await {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", include.display())),
        };
        write_atomically(include, text.as_bytes()).await?;
        let restore = || async {
            let back = match &previous {
                Some(bytes) => write_atomically(include, bytes).await,
                None => tokio::fs::remove_file(include)
                    .await
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = back {
                tracing::warn!(include = %include.display(), error = %e, "cannot restore the previous nginx include");
            }
        };
        if let Err(reason) = self.run(&["-t"]).await {
            restore().await;
            return Err(format!(
                "nginx refused its configuration with the new {} ({reason}); the previous one \
                 is back in place and nginx was not reloaded",
                include.display()
            ));
        }
        if let Err(reason) = self.run(&["-s", "reload"]).await {
            restore().await;
            return Err(format!(
                "nginx could not be reloaded ({reason}): is it running with `-c {}` and the \
                 `pid` file that configuration names? The previous {} is back in place",
                self.config.display(),
                include.display()
            ));
        }
        Ok(())
    }

    /// Runs nginx with `args` and `-c <config>`; its complaint when it
    /// fails.
    async fn run(&self, args: &[&str]) -> Result<(), String> {
        let program = program(&self.binary);
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(args)
            .arg("-c")
            .arg(&self.config)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let shown = format!(
            "`{} {} -c {}`",
            self.binary,
            args.join(" "),
            self.config.display()
        );
        let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
            .await
            .map_err(|_| {
                format!(
                    "{shown} did not finish within {}s",
                    COMMAND_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "no nginx program `{}`: install nginx or give its path in the provider's \
                     `binary`",
                    self.binary
                ),
                _ => format!("cannot run {shown}: {e}"),
            })?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{shown} failed: {}",
            complaint(&String::from_utf8_lossy(&out.stderr))
        ))
    }
}

/// The lock of the nginx whose main configuration is `config`.
fn one_change_at_a_time(config: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(config.to_owned())
        .or_default()
        .clone()
}

/// What nginx said went wrong: its `[emerg]` and `[alert]` lines (the
/// `[warn]` and "test failed" ones say nothing more), else all it said.
pub fn complaint(stderr: &str) -> String {
    let lines: Vec<String> = stderr.lines().filter_map(level_and_message).collect();
    if lines.is_empty() {
        let all = stderr.trim();
        if all.is_empty() {
            "no message".to_owned()
        } else {
            all.lines().collect::<Vec<_>>().join("; ")
        }
    } else {
        lines.join("; ")
    }
}

/// An `[emerg]`, `[alert]` or `[error]` line as `[level] message`: without
/// the `nginx: ` prefix of its terminal form, nor the time and `pid#tid: `
/// of its error-log form (written to stderr when the configuration names
/// an error log), so that the same reason reads the same every time.
fn level_and_message(line: &str) -> Option<String> {
    let at = ["[emerg]", "[alert]", "[error]"]
        .iter()
        .filter_map(|level| line.find(level))
        .min()?;
    let (level, rest) = line[at..].split_at(line[at..].find(']')? + 1);
    let rest = rest.trim_start();
    // `1234#1234: message`.
    let rest = match rest.split_once(": ") {
        Some((ids, message))
            if !ids.is_empty() && ids.chars().all(|c| c.is_ascii_digit() || c == '#') =>
        {
            message
        }
        _ => rest,
    };
    // As a plain user nginx first fails to open its built-in error log,
    // and goes on with the configuration's: not the reason.
    (!rest.contains("could not open error log file")).then(|| format!("{level} {}", rest.trim()))
}

/// The program to run: a path as given; a bare name on the PATH, else
/// where Debian and source builds put nginx (/usr/sbin is off a plain
/// user's PATH).
pub fn program(binary: &str) -> PathBuf {
    if binary.contains('/') {
        return PathBuf::from(binary);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(binary))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            ["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"]
                .iter()
                .map(|dir| Path::new(dir).join(binary))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(binary))
}

/// Replaces `path` by `bytes` at once: nginx never reads half a file.
async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A leading dot and no `.conf` ending: an `include *.conf` never
    // picks the temporary file up.
    let tmp = path.with_file_name(format!(".{name}.zion-tmp"));
    let io = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_complaint_is_nginx_s_emergencies() {
        let stderr = "nginx: [alert] could not open error log file: open() \"/var/log/nginx/error.log\" failed (13: Permission denied)\n\
                      nginx: [warn] the \"user\" directive makes sense only if the master process runs with super-user privileges\n\
                      nginx: [emerg] duplicate upstream \"web\" in /tmp/x/up.conf:2\n\
                      nginx: configuration file /tmp/x/nginx.conf test failed\n";
        assert_eq!(
            complaint(stderr),
            "[emerg] duplicate upstream \"web\" in /tmp/x/up.conf:2"
        );
        // The error-log form nginx writes to stderr when the configuration
        // names an error log: the same reason, without time and pids.
        assert_eq!(
            complaint(
                "2026/12/03 12:09:42 [emerg] 4964#4964: duplicate upstream \"web\" in /x/up.conf:2\n"
            ),
            "[emerg] duplicate upstream \"web\" in /x/up.conf:2"
        );
        assert_eq!(complaint("something odd\n"), "something odd");
        assert_eq!(complaint(""), "no message");
    }
}
