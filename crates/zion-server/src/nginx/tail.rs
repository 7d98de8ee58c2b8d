//! Follows a log file as nginx appends to it: the complete lines written
//! since the last read, across rotation (the file renamed and a new one
//! opened in its place: the old one is read to its end first) and
//! truncation (read again from the start). A last line without its
//! newline yet is kept until it is complete.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The longest partial line kept: longer is not a line of the log format.
const MAX_LINE: usize = 64 * 1024;

pub struct Follower {
    path: PathBuf,
    open: Option<Open>,
    /// Where the first file opened is read from: its end (what was there
    /// before is not this run's traffic), or its start.
    from_end: bool,
}

struct Open {
    file: File,
    inode: u64,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Follows `path` from its current end.
    pub fn from_end(path: PathBuf) -> Self {
        Follower {
            path,
            open: None,
            from_end: true,
        }
    }

    /// The complete lines appended since the last call. Nothing while the
    /// file does not exist.
    pub fn poll(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.open.is_none() {
            self.open = self.open_file();
            if self.open.is_none() {
                // Created later: all it holds then is new.
                self.from_end = false;
                return lines;
            }
        }
        if let Some(open) = self.open.as_mut() {
            open.read_lines(&mut lines);
        }
        let now = std::fs::metadata(&self.path).ok();
        let open = self.open.as_mut().expect("opened above");
        match now {
            // Rotated (or removed): the old file is read to its end;
            // the new one, when there, from its start.
            Some(m) if m.ino() != open.inode => {
                self.from_end = false;
                self.open = self.open_file();
                if let Some(open) = self.open.as_mut() {
                    open.read_lines(&mut lines);
                }
            }
            None => {
                self.from_end = false;
                self.open = None;
            }
            // Truncated in place: from the start again.
            Some(m) if m.len() < open.offset => {
                open.offset = 0;
                open.partial.clear();
                open.read_lines(&mut lines);
            }
            Some(_) => {}
        }
        lines
    }

    fn open_file(&self) -> Option<Open> {
        let file = File::open(&self.path).ok()?;
        let meta = file.metadata().ok()?;
        Some(Open {
            file,
            inode: meta.ino(),
            offset: if self.from_end { meta.len() } else { 0 },
            partial: Vec::new(),
        })
    }
}

impl Open {
    fn read_lines(&mut self, lines: &mut Vec<String>) {
        let mut buf = std::mem::take(&mut self.partial);
        if self.file.seek(SeekFrom::Start(self.offset)).is_err() {
            self.partial = buf;
            return;
        }
        let read = self.file.read_to_end(&mut buf).unwrap_or(0);
        self.offset += read as u64;
        let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        lines.extend(
            String::from_utf8_lossy(&buf[..complete])
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        let rest = &buf[complete..];
        if rest.len() <= MAX_LINE {
            self.partial = rest.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &std::path::Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn follows_appends_partial_lines_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let mut f = Follower::from_end(path.clone());
        // Not there yet: nothing; once there, from its start.
        assert!(f.poll().is_empty());
        append(&path, "first\n");
        // Created after the first look: all of it is new.
        assert_eq!(f.poll(), vec!["first"]);
        append(&path, "a\nb");
        assert_eq!(f.poll(), vec!["a"]);
        append(&path, "c\n");
        assert_eq!(f.poll(), vec!["bc"]);
        assert!(f.poll().is_empty());

        // Rotated: the old file's last lines, then the new one's.
        append(&path, "d\n");
        std::fs::rename(&path, dir.path().join("web.json.1")).unwrap();
        append(&dir.path().join("web.json.1"), "e\n");
        append(&path, "f\n");
        assert_eq!(f.poll(), vec!["d", "e", "f"]);

        // Truncated in place (copytruncate): from the start.
        std::fs::write(&path, "").unwrap();
        assert!(f.poll().is_empty());
        append(&path, "g\n");
        assert_eq!(f.poll(), vec!["g"]);
    }

    #[test]
    fn a_file_already_there_is_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        append(&path, "old\n");
        let mut f = Follower::from_end(path.clone());
        assert!(f.poll().is_empty());
        append(&path, "new\n");
        assert_eq!(f.poll(), vec!["new"]);
    }
}
