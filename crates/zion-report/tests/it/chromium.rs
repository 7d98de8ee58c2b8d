//! Headless Chromium as a real child process: Debian's `chromium` package,
//! which `scripts/test.sh` installs. Each run gets a fresh profile and a
//! time limit, so a hung browser fails its test instead of hanging the suite.

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tempfile::TempDir;

pub const CHROMIUM: &str = "/usr/bin/chromium";
const TIME_LIMIT: Duration = Duration::from_secs(60);
/// When set, every page, PDF and screenshot the tests make is also copied
/// into this directory, for a person to look at.
const ARTIFACTS: &str = "ZION_REPORT_ARTIFACTS";

/// Flags for a quiet, offline, throwaway headless browser that runs as root.
const FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
];

/// A working directory for one test: the page, the browser's profiles, and
/// what the browser writes.
pub struct Browser {
    dir: TempDir,
    runs: usize,
}

impl Browser {
    /// Fails (never skips) when Chromium is not installed: CI runs
    /// `scripts/test.sh`, which installs it.
    pub fn new() -> Browser {
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: run scripts/test.sh, which installs Debian's \
             `chromium` package (or install it yourself: apt-get install chromium)"
        );
        Browser {
            dir: tempfile::tempdir().expect("a temporary directory"),
            runs: 0,
        }
    }

    /// Writes `html` to a file and returns its path.
    pub fn page(&self, name: &str, html: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, html).expect("page written");
        keep(&path);
        path
    }

    /// The document as Chromium parsed it (`--dump-dom`).
    pub fn dom(&mut self, page: &Path) -> String {
        let out = self.run(page, &[OsString::from("--dump-dom")]);
        let dom = fs::read_to_string(&out.stdout).expect("the DOM is UTF-8");
        assert!(
            !dom.trim().is_empty(),
            "Chromium dumped no DOM; its log:\n{}",
            out.log_tail()
        );
        dom
    }

    /// The page printed to PDF on Chromium's default paper.
    pub fn pdf(&mut self, page: &Path) -> Vec<u8> {
        let pdf = page.with_extension("pdf");
        let mut to = OsString::from("--print-to-pdf=");
        to.push(&pdf);
        let out = self.run(
            page,
            &[
                to,
                // The current name, and the one older Chromium knew: a
                // browser ignores a switch it does not know.
                OsString::from("--no-pdf-header-footer"),
                OsString::from("--print-to-pdf-no-header"),
            ],
        );
        read_output(&pdf, &out)
    }

    /// A PNG screenshot of the page in a window `width` × `height`.
    pub fn screenshot(&mut self, page: &Path, width: u32, height: u32) -> Vec<u8> {
        let png = page.with_extension("png");
        let mut to = OsString::from("--screenshot=");
        to.push(&png);
        let out = self.run(
            page,
            &[
                to,
                OsString::from(format!("--window-size={width},{height}")),
            ],
        );
        read_output(&png, &out)
    }

    fn run(&mut self, page: &Path, extra: &[OsString]) -> Run {
        self.runs += 1;
        let run = self.dir.path().join(format!("run-{}", self.runs));
        let profile = run.join("profile");
        fs::create_dir_all(&profile).expect("profile directory");
        let stdout = run.join("stdout");
        let log = run.join("stderr");
        let mut profile_flag = OsString::from("--user-data-dir=");
        profile_flag.push(&profile);
        let mut url = OsString::from("file://");
        url.push(page);
        let mut child = Command::new(CHROMIUM)
            .args(FLAGS)
            .arg(profile_flag)
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            // Files, not pipes: a large DOM cannot block the browser on a
            // full pipe while this waits for it to exit.
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&log).expect("stderr file"))
            // Its own process group, so its renderer and helper processes
            // can be stopped with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {CHROMIUM}: {e}"));
        let group = Pid::from_raw(child.id() as i32);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for Chromium") {
                break status;
            }
            if started.elapsed() > TIME_LIMIT {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait();
                panic!(
                    "Chromium did not finish within {TIME_LIMIT:?}; its log:\n{}",
                    tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Helpers that outlive the browser would hold the profile open.
        let _ = killpg(group, Signal::SIGKILL);
        let out = Run {
            status,
            stdout,
            log,
        };
        assert!(
            out.status.success(),
            "Chromium exited with {}; its log:\n{}",
            out.status,
            out.log_tail()
        );
        out
    }
}

struct Run {
    status: ExitStatus,
    stdout: PathBuf,
    log: PathBuf,
}

impl Run {
    fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

fn read_output(path: &Path, run: &Run) -> Vec<u8> {
    let bytes = fs::read(path).unwrap_or_else(|e| {
        panic!(
            "Chromium wrote no {}: {e}; its log:\n{}",
            path.display(),
            run.log_tail()
        )
    });
    keep(path);
    bytes
}

/// The last lines of a log, enough to see why a run failed.
fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Copies a file into the artifacts directory, when one is asked for.
fn keep(path: &Path) {
    let Some(dir) = std::env::var_os(ARTIFACTS) else {
        return;
    };
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).expect("artifacts directory");
    let name = path.file_name().expect("a file name");
    fs::copy(path, dir.join(name)).expect("artifact copied");
}
