//! The last lines a replica wrote: what a version that fails to start
//! said about it, bounded however much it writes.

use std::collections::VecDeque;

/// Lines kept per replica.
pub const OUTPUT_LINES: usize = 20;
/// Bytes kept of one line; the rest is cut and marked with `…`.
pub const OUTPUT_LINE_BYTES: usize = 240;

/// The last [`OUTPUT_LINES`] non-blank lines of stdout and stderr, in the
/// order they were read, of the latest process that wrote any: a restarted
/// process's first line replaces what the one before it said, so that
/// until it speaks, the last words of the one that died stay readable.
#[derive(Debug, Default)]
pub(crate) struct OutputTail {
    pid: Option<u32>,
    lines: VecDeque<String>,
}

impl OutputTail {
    /// Adds one line written by process `pid`.
    pub fn push(&mut self, pid: u32, raw: &str) {
        let line = clean(raw);
        if line.is_empty() {
            return;
        }
        if self.pid != Some(pid) {
            self.pid = Some(pid);
            self.lines.clear();
        }
        if self.lines.len() == OUTPUT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
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
        let mut t = OutputTail::default();
        for i in 0..30 {
            t.push(1, &format!("line {i}\n"));
        }
        t.push(1, "   \n");
        let lines = t.lines();
        assert_eq!(lines.len(), OUTPUT_LINES);
        assert_eq!(lines[0], "line 10");
        assert_eq!(lines[OUTPUT_LINES - 1], "line 29");
        assert_eq!(t.lines_of(1), lines);
        assert!(t.lines_of(2).is_empty());
        t.push(2, "restarted\n");
        assert_eq!(t.lines(), ["restarted"]);
    }

    #[test]
    fn lines_are_bounded_and_safe_to_print() {
        let mut t = OutputTail::default();
        t.push(1, &format!("{}\r\n", "é".repeat(500)));
        t.push(1, "\u{1b}[31mred\u{1b}[0m\tdone\n");
        let lines = t.lines();
        assert!(lines[0].len() <= OUTPUT_LINE_BYTES + '…'.len_utf8());
        assert!(lines[0].ends_with('…') && lines[0].starts_with("éé"));
        assert_eq!(lines[1], "\u{fffd}[31mred\u{fffd}[0m done");
    }
}
