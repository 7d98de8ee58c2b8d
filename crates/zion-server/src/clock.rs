//! Where the control plane takes the time of day from. Every time it
//! decides by (approval expiry, windows and freezes, step pauses,
//! `scale_down_delay`, token expiry, report periods) and every time it
//! records come from one [`Clock`], so that a test can move the server's
//! time forward instead of waiting for it on a busy machine. Production
//! runs on the system clock. Traffic and health probes are stamped in real
//! time by the proxy and the providers, so their windows are not shifted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Names a file holding a test clock's offset (see [`Clock::from_env`]).
/// For tests of the `zion` binary only.
pub const TEST_CLOCK_FILE: &str = "ZION_TEST_CLOCK_FILE";

/// The server's time of day: the system clock, or for tests the system
/// clock shifted by an offset that only ever grows once the server runs
/// (its audit log refuses times that go back).
#[derive(Debug, Clone, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Default)]
enum Source {
    #[default]
    System,
    /// Shifted by milliseconds that [`Clock::advance`] adds to.
    Shifted(Arc<AtomicI64>),
    /// Shifted by the seconds written in a file, read at every call (the
    /// largest read so far, should the file be rewritten with less).
    File {
        path: Arc<PathBuf>,
        millis: Arc<AtomicI64>,
    },
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// For tests: the system clock shifted by `offset` (which may be
    /// negative, to pin the server at a past date) plus whatever
    /// [`Clock::advance`] adds later.
    pub fn shifted(offset: SignedDuration) -> Clock {
        Clock(Source::Shifted(Arc::new(AtomicI64::new(millis(offset)))))
    }

    /// Moves a [`Clock::shifted`] clock forward by `by`, as if that much
    /// time had passed.
    ///
    /// # Panics
    /// On any other clock: production time cannot be moved.
    pub fn advance(&self, by: Duration) {
        match &self.0 {
            Source::Shifted(offset) => {
                let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
                offset.fetch_add(by, Ordering::SeqCst);
            }
            _ => panic!("only a Clock::shifted() can be advanced"),
        }
    }

    /// The clock `zion up` runs on: the system clock, unless
    /// `ZION_TEST_CLOCK_FILE` names a file. That file holds a signed whole
    /// number of seconds added to the system time (`3600`, `-86400`); tests
    /// of the binary write it (atomically: a new file renamed over it) to
    /// move the server's time forward. It is read at every use; an offset
    /// smaller than one already read is ignored. For tests only.
    pub fn from_env() -> Result<Clock, String> {
        match std::env::var_os(TEST_CLOCK_FILE) {
            None => Ok(Clock::system()),
            Some(path) => Clock::from_file(Path::new(&path)),
        }
    }

    fn from_file(path: &Path) -> Result<Clock, String> {
        let seconds = read_offset(path).map_err(|why| {
            format!(
                "{TEST_CLOCK_FILE}={}: {why}; the file must hold a whole number of seconds \
                 (such as 3600 or -86400), or unset {TEST_CLOCK_FILE} to run on the system clock",
                path.display()
            )
        })?;
        Ok(Clock(Source::File {
            path: Arc::new(path.to_path_buf()),
            millis: Arc::new(AtomicI64::new(seconds.saturating_mul(1000))),
        }))
    }

    /// Whether this is the system clock, unshifted.
    pub fn is_system(&self) -> bool {
        matches!(self.0, Source::System)
    }

    /// The current time on this clock.
    pub fn now(&self) -> Timestamp {
        let offset = match &self.0 {
            Source::System => return Timestamp::now(),
            Source::Shifted(offset) => offset.load(Ordering::SeqCst),
            Source::File { path, millis } => {
                // A file being rewritten or briefly missing keeps the last
                // offset: the test that moves it renames a whole new file.
                if let Ok(seconds) = read_offset(path) {
                    millis.fetch_max(seconds.saturating_mul(1000), Ordering::SeqCst);
                }
                millis.load(Ordering::SeqCst)
            }
        };
        let now = Timestamp::now();
        now.checked_add(SignedDuration::from_millis(offset))
            .unwrap_or(if offset < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
    }
}

fn millis(d: SignedDuration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(if d.is_negative() { i64::MIN } else { i64::MAX })
}

fn read_offset(path: &Path) -> Result<i64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text.trim();
    text.parse::<i64>()
        .map_err(|_| format!("`{}` is not a whole number of seconds", excerpt(text)))
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Timestamp, b: Timestamp) -> bool {
        a.duration_since(b).abs() < SignedDuration::from_secs(60)
    }

    #[test]
    fn a_shifted_clock_runs_with_the_system_clock_and_moves_forward_on_demand() {
        let clock = Clock::shifted(SignedDuration::from_hours(-24));
        let day_ago = Timestamp::now() - SignedDuration::from_hours(24);
        assert!(close(clock.now(), day_ago), "{}", clock.now());
        clock.advance(Duration::from_secs(48 * 3600));
        let tomorrow = Timestamp::now() + SignedDuration::from_hours(24);
        assert!(close(clock.now(), tomorrow), "{}", clock.now());
        assert!(Clock::system().is_system() && !clock.is_system());
    }

    #[test]
    #[should_panic(expected = "only a Clock::shifted() can be advanced")]
    fn the_system_clock_cannot_be_moved() {
        Clock::system().advance(Duration::from_secs(1));
    }

    #[test]
    fn a_file_clock_follows_its_file_forward_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        std::fs::write(&file, "-3600\n").unwrap();
        let clock = Clock::from_file(&file).unwrap();
        let hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
        assert!(close(clock.now(), hour_ago), "{}", clock.now());
        std::fs::write(&file, "86400").unwrap();
        let tomorrow = Timestamp::now() + SignedDuration::from_hours(24);
        assert!(close(clock.now(), tomorrow), "{}", clock.now());
        // Back, unreadable or gone: time goes on from the largest offset.
        for text in ["0", "soon"] {
            std::fs::write(&file, text).unwrap();
            assert!(close(clock.now(), tomorrow), "{text}: {}", clock.now());
        }
        std::fs::remove_file(&file).unwrap();
        assert!(close(clock.now(), tomorrow), "{}", clock.now());
    }

    #[test]
    fn a_bad_clock_file_is_refused_with_what_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        std::fs::write(&file, "1h").unwrap();
        let err = Clock::from_file(&file).unwrap_err();
        assert!(
            err.contains("`1h` is not a whole number of seconds")
                && err.contains("such as 3600")
                && err.contains(TEST_CLOCK_FILE),
            "{err}"
        );
        let err = Clock::from_file(&dir.path().join("missing")).unwrap_err();
        assert!(
            err.contains("missing") && err.contains("No such file"),
            "{err}"
        );
    }
}
