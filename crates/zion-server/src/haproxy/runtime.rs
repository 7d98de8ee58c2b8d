//! HAProxy's Runtime API: one command per connection to its admin socket
//! (`stats socket <path> level admin`), the answer read to the end. Every
//! failure says what to fix: a missing socket, one Zion may not open, one
//! nobody listens on, one below admin level, a backend or server HAProxy
//! does not know.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long one command may take, connection included.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The Runtime API of one HAProxy.
#[derive(Debug, Clone)]
pub struct Runtime {
    socket: PathBuf,
}

impl Runtime {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Runtime {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends `command` and returns HAProxy's answer, refused when it says
    /// the socket is not at admin level.
    pub async fn command(&self, command: &str) -> Result<String, String> {
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, self.exchange(command))
            .await
            .map_err(|_| {
                format!(
                    "HAProxy's admin socket {} gave no answer to `{command}` within {}s",
                    self.socket.display(),
                    ANSWER_TIMEOUT.as_secs()
                )
            })??;
        if answer.trim_start().starts_with("Permission denied") {
            return Err(format!(
                "HAProxy's socket {} is not at admin level (`{command}` answered \"Permission \
                 denied\"): declare it with `stats socket {} level admin`",
                self.socket.display(),
                self.socket.display()
            ));
        }
        Ok(answer)
    }

    /// Sends `command`, which answers nothing when it succeeds.
    pub async fn expect_empty(&self, command: &str) -> Result<(), String> {
        let answer = self.command(command).await?;
        if answer.trim().is_empty() {
            Ok(())
        } else {
            Err(refused(command, &answer))
        }
    }

    /// Sends `command`, whose success answer holds `success`.
    pub async fn expect(&self, command: &str, success: &str) -> Result<(), String> {
        let answer = self.command(command).await?;
        if answer.contains(success) {
            Ok(())
        } else {
            Err(refused(command, &answer))
        }
    }

    async fn exchange(&self, command: &str) -> Result<String, String> {
        let mut stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.connect_error(&e))?;
        let io = |e: std::io::Error| {
            format!(
                "HAProxy's admin socket {}: {e} while sending `{command}`",
                self.socket.display()
            )
        };
        stream
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(io)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.map_err(io)?;
        Ok(answer)
    }

    fn connect_error(&self, e: &std::io::Error) -> String {
        let path = self.socket.display();
        match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "HAProxy's admin socket {path} does not exist: start HAProxy with \
                 `stats socket {path} level admin` in its `global` section, or fix the \
                 provider's `socket`"
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "Zion may not open HAProxy's admin socket {path} (permission denied): give \
                 Zion's user access with the `stats socket` line's `mode`, `user` or `group`"
            ),
            std::io::ErrorKind::ConnectionRefused => format!(
                "nothing answers on HAProxy's admin socket {path} (connection refused): is \
                 HAProxy running?"
            ),
            _ => format!("cannot connect to HAProxy's admin socket {path}: {e}"),
        }
    }
}

/// A command HAProxy answered with something else than success.
fn refused(command: &str, answer: &str) -> String {
    let answer = answer.trim();
    let first = answer.lines().next().unwrap_or(answer);
    format!("HAProxy refused `{command}`: {first}")
}
