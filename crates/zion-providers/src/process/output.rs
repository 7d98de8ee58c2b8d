//! What a replica writes: its stdout and stderr go to one file per replica
//! process (not pipes, so that it outlives the controller that started it:
//! a write to a pipe whose reader died fails, or kills the writer), kept
//! under a size bound, and its last lines, read from the file's end, say
//! why a version fails to start.
//!
//! A file is named for its process (`replica-PID-STARTTICKS.log`), so a
//! controller that adopts the process finds it through
//! `/proc/PID/fd/1` and knows it for one of Zion's by its name, wherever
//! the controller that started it kept it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

/// Lines kept per replica.
pub const OUTPUT_LINES: usize = 20;
/// Bytes kept of one line; the rest is cut and marked with `…`.
pub const OUTPUT_LINE_BYTES: usize = 240;
/// Size an output file may reach before it is cut down to its last
/// [`OUTPUT_KEPT_BYTES`]. A file is checked every [`OUTPUT_CHECK`] while
/// its replica is supervised, so it holds at most this plus what the
/// process writes in one check (nobody checks the file of a replica no
/// controller supervises, until one adopts it).
pub const OUTPUT_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// What a cut keeps of the file: its last lines within this many bytes.
pub const OUTPUT_KEPT_BYTES: u64 = 64 * 1024;
/// How often a supervised replica's file is checked for new lines and size.
pub(crate) const OUTPUT_CHECK: Duration = Duration::from_millis(200);
/// How much of a file's end is read for its last lines.
const TAIL_BYTES: u64 = 64 * 1024;
/// A file still named for a process that was being started when its
/// controller died is swept once it is this old.
const STARTING_GRACE: Duration = Duration::from_secs(60);
const PREFIX: &str = "replica-";
const STARTING_PREFIX: &str = "starting-";
const SUFFIX: &str = ".log";

/// The last [`OUTPUT_LINES`] non-blank lines of the latest process that
/// wrote any: a restarted process's first line replaces what the one
/// before it said, so that until it speaks, the last words of the one that
/// died stay readable.
#[derive(Debug, Default)]
pub(crate) struct OutputTail {
    pid: Option<u32>,
    lines: Vec<String>,
}

impl OutputTail {
    /// Sets what process `pid` has written last; none keeps what is there.
    pub fn set(&mut self, pid: u32, lines: Vec<String>) {
        if !lines.is_empty() {
            self.pid = Some(pid);
            self.lines = lines;
        }
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.clone()
    }

    /// The kept lines if process `pid` wrote them, else none.
    pub fn lines_of(&self, pid: u32) -> Vec<String> {
        if self.pid == Some(pid) {
            self.lines()
        } else {
            Vec::new()
        }
    }
}

/// A fresh output file in `dir` (created if missing), open for appending:
/// every write of the process lands at the file's end, even after a cut.
/// Its name is temporary until [`name_for_process`] renames it.
pub(crate) fn create(dir: &Path) -> io::Result<(PathBuf, File)> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        "{STARTING_PREFIX}{}-{nanos}-{}{SUFFIX}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    Ok((path, file))
}

/// The name of process `pid`'s file: what an adopting controller expects.
fn file_name(pid: u32, start_ticks: u64) -> String {
    format!("{PREFIX}{pid}-{start_ticks}{SUFFIX}")
}

/// Renames a file [`create`]d for a process to that process's name (the
/// process keeps writing to it). On failure the file keeps working under
/// its first name; only adopting it is no longer possible.
pub(crate) fn name_for_process(path: PathBuf, pid: u32, start_ticks: u64) -> PathBuf {
    let Some(dir) = path.parent() else {
        return path;
    };
    let named = dir.join(file_name(pid, start_ticks));
    match fs::rename(&path, &named) {
        Ok(()) => named,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "could not name a replica's output file");
            path
        }
    }
}

/// The output file of a live process Zion started, found through the
/// process's stdout (then stderr); None if neither is one of Zion's files
/// for that very process (the process may have redirected them).
pub(crate) fn of_process(pid: u32, start_ticks: u64) -> Option<PathBuf> {
    let expected = file_name(pid, start_ticks);
    [1, 2].into_iter().find_map(|fd| {
        let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
        let ours = target.file_name().is_some_and(|n| *n == *expected)
            && fs::metadata(&target).is_ok_and(|m| m.is_file());
        ours.then_some(target)
    })
}

/// Deletes a replica's file, if there.
pub(crate) fn remove(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => debug!(path = %path.display(), "removed replica output file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(path = %path.display(), error = %e, "could not remove a replica's output file")
        }
    }
}

/// Deletes the files in `dir` of processes that no longer run (and
/// temporary ones left by a start that never finished); `is_running`
/// says whether (pid, start ticks) still runs. Returns how many.
pub(crate) fn sweep(dir: &Path, is_running: impl Fn(u32, u64) -> bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = if let Some((pid, ticks)) = parse_name(name) {
            !is_running(pid, ticks)
        } else if name.starts_with(STARTING_PREFIX) && name.ends_with(SUFFIX) {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STARTING_GRACE)
        } else {
            false
        };
        if stale {
            remove(&entry.path());
            removed += 1;
        }
    }
    removed
}

/// (pid, start ticks) of a file named by [`file_name`].
fn parse_name(name: &str) -> Option<(u32, u64)> {
    let (pid, ticks) = name
        .strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .split_once('-')?;
    Some((pid.parse().ok()?, ticks.parse().ok()?))
}

/// The file's last lines, as [`last_lines`] cleans them.
pub(crate) fn read_last_lines(path: &Path) -> io::Result<Vec<String>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    Ok(last_lines(&bytes, start == 0))
}

/// Cuts the file down to its last lines within [`OUTPUT_KEPT_BYTES`] once
/// it is over [`OUTPUT_FILE_BYTES`]; whether it did. The process appends
/// (O_APPEND), so its next write lands after the kept lines (or, written
/// during the cut, just before them); a line written during the cut itself
/// may be lost, never split.
pub(crate) fn bound(path: &Path) -> io::Result<bool> {
    bound_to(path, OUTPUT_FILE_BYTES, OUTPUT_KEPT_BYTES)
}

fn bound_to(path: &Path, max: u64, keep: u64) -> io::Result<bool> {
    let mut file = OpenOptions::new().read(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    if len <= max {
        return Ok(false);
    }
    let start = len.saturating_sub(keep);
    file.seek(SeekFrom::Start(start))?;
    let mut kept = Vec::new();
    (&mut file).take(keep).read_to_end(&mut kept)?;
    // Whole lines only: the first may have begun before `start`, and the
    // size may have been read in the middle of a write (it grows a page at
    // a time), whose rest the cut would lose.
    let from = kept.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let to = kept.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    file.set_len(0)?;
    file.write_all(kept.get(from..to).unwrap_or_default())?;
    debug!(path = %path.display(), len, "cut a replica's output file");
    Ok(true)
}

/// The last [`OUTPUT_LINES`] non-blank lines of the end of a file; the
/// first line is partial (and dropped) unless `whole` says the bytes start
/// at the file's beginning.
fn last_lines(bytes: &[u8], whole: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if !whole && lines.len() > 1 {
        lines.remove(0);
    }
    let mut kept: Vec<String> = lines
        .iter()
        .rev()
        .map(|l| clean(l))
        .filter(|l| !l.is_empty())
        .take(OUTPUT_LINES)
        .collect();
    kept.reverse();
    kept
}

/// One line as it may be shown on a terminal: no trailing newline, control
/// characters (escape sequences among them) replaced, cut to the bound on
/// a character boundary.
fn clean(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim_end().chars() {
        let c = match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        };
        if out.len() + c.len_utf8() > OUTPUT_LINE_BYTES {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_of_the_latest_process_that_wrote() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let lines = last_lines(format!("{text}   \n").as_bytes(), true);
        assert_eq!(lines.len(), OUTPUT_LINES);
        assert_eq!(lines[0], "line 10");
        assert_eq!(lines[OUTPUT_LINES - 1], "line 29");
        let mut t = OutputTail::default();
        t.set(1, lines.clone());
        assert_eq!(t.lines_of(1), lines);
        assert!(t.lines_of(2).is_empty());
        t.set(2, Vec::new());
        assert_eq!(t.lines(), lines, "a silent new process hides nothing");
        t.set(2, vec!["restarted".into()]);
        assert_eq!(t.lines(), ["restarted"]);
    }

    #[test]
    fn a_partial_first_line_is_dropped_unless_it_starts_the_file() {
        assert_eq!(last_lines(b"ne 1\nline 2", false), ["line 2"]);
        assert_eq!(last_lines(b"line 1\nline 2", true), ["line 1", "line 2"]);
        assert_eq!(last_lines(b"only part", false), ["only part"]);
    }

    #[test]
    fn lines_are_bounded_and_safe_to_print() {
        let raw = format!("{}\r\n\u{1b}[31mred\u{1b}[0m\tdone\n", "é".repeat(500));
        let lines = last_lines(raw.as_bytes(), true);
        assert!(lines[0].len() <= OUTPUT_LINE_BYTES + '…'.len_utf8());
        assert!(lines[0].ends_with('…') && lines[0].starts_with("éé"));
        assert_eq!(lines[1], "\u{fffd}[31mred\u{fffd}[0m done");
    }

    #[test]
    fn a_file_over_its_bound_is_cut_to_its_last_whole_lines_and_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut file) = create(dir.path()).unwrap();
        for i in 0..100 {
            writeln!(file, "line {i:03}").unwrap();
        }
        assert!(!bound_to(&path, 1000, 50).unwrap(), "800 bytes is under");
        for i in 100..200 {
            writeln!(file, "line {i:03}").unwrap();
        }
        // A line still being written when the size is read.
        write!(file, "line 2").unwrap();
        assert!(bound_to(&path, 1000, 50).unwrap());
        // 50 bytes hold the last four whole lines of nine bytes, and parts
        // of two: those are dropped.
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, "line 196\nline 197\nline 198\nline 199\n");
        writeln!(file, "after").unwrap();
        let lines = read_last_lines(&path).unwrap();
        assert_eq!(lines.last().map(String::as_str), Some("after"));
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn files_are_named_for_their_process_and_swept_once_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _file) = create(dir.path()).unwrap();
        let live = name_for_process(path, 10, 20);
        assert_eq!(live, dir.path().join("replica-10-20.log"));
        let (gone, _) = create(dir.path()).unwrap();
        let gone = name_for_process(gone, 11, 21);
        let (starting, _) = create(dir.path()).unwrap();
        fs::write(dir.path().join("notes.txt"), "not ours").unwrap();
        assert_eq!(sweep(dir.path(), |pid, ticks| (pid, ticks) == (10, 20)), 1);
        assert!(live.exists() && !gone.exists() && starting.exists());
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(parse_name("replica-10-x.log"), None);
    }
}
