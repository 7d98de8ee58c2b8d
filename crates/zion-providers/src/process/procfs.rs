//! What `/proc` says about a process, and signals to whole process groups.

use std::fs;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, SysconfVar, getpgrp, sysconf};
use tracing::{debug, warn};

/// The fields of `/proc/PID/stat` Zion uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Field 3: R, S, D, Z, X…
    pub state: char,
    /// Field 5.
    pub pgrp: i64,
    /// Fields 14 + 15, in clock ticks.
    pub cpu_ticks: u64,
    /// Field 22, in clock ticks after boot.
    pub start_ticks: u64,
}

impl Stat {
    /// Not a zombie nor dead: it still runs code and may hold resources.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let close = text.rfind(')')?;
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let num = |n: usize| field(n)?.parse::<u64>().ok();
    Some(Stat {
        state: field(3)?.chars().next()?,
        pgrp: field(5)?.parse().ok()?,
        cpu_ticks: num(14)? + num(15)?,
        start_ticks: num(22)?,
    })
}

/// Reads and parses `/proc/PID/stat`; None if there is no such process.
pub(crate) fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is still the process that started at `start_ticks` and
/// still runs (a zombie has ended).
pub(crate) fn is_running(pid: u32, start_ticks: u64) -> bool {
    read_stat(pid).is_some_and(|s| s.is_live() && s.start_ticks == start_ticks)
}

/// Resident set size in KiB from the `VmRSS:` line of `/proc/PID/status`.
pub(crate) fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resident memory of `pid` in KiB; None for a gone process or a kernel thread.
pub(crate) fn read_rss_kib(pid: u32) -> Option<u64> {
    parse_rss_kib(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Clock ticks per second for the CPU fields of `/proc/PID/stat`.
pub(crate) fn clock_ticks_per_second() -> f64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        // Linux has used 100 on every common architecture for decades.
        _ => 100.0,
    }
}

/// Live processes in process group `pgid` that started no earlier than
/// `min_start_ticks`. The start bound keeps a recycled group id from ever
/// matching: members of the group Zion created started after its leader.
pub(crate) fn group_members(pgid: u32, min_start_ticks: u64) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            read_stat(pid).is_some_and(|s| {
                s.is_live() && s.pgrp == i64::from(pgid) && s.start_ticks >= min_start_ticks
            })
        })
        .collect()
}

/// Whether `pid` could be a replica group of ours: never init, never Zion
/// itself, never Zion's own group (a corrupt record must not kill Zion).
pub(crate) fn is_foreign_group(pid: u32) -> bool {
    pid > 1 && pid != std::process::id() && i64::from(pid) != i64::from(getpgrp().as_raw())
}

/// Sends `signal` to process group `pgid` if it still has a live member that
/// is ours; returns whether there was one.
pub(crate) fn signal_group(pgid: u32, start_ticks: u64, signal: Signal) -> bool {
    if !is_foreign_group(pgid) || group_members(pgid, start_ticks).is_empty() {
        return false;
    }
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) => {
            debug!(pgid, ?signal, "signalled process group");
            true
        }
        // Gone between the scan and the signal: nothing left to do.
        Err(nix::errno::Errno::ESRCH) => false,
        Err(e) => {
            warn!(pgid, ?signal, error = %e, "could not signal process group");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                          17 5 0 0 20 0 3 0 987654 12345678 900 18446744073709551615";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_stat(SAMPLE).expect("parses");
        assert_eq!(s.state, 'S');
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.cpu_ticks, 22);
        assert_eq!(s.start_ticks, 987654);
        assert!(s.is_live());
        assert!(parse_stat("12 (x) Z 1").is_none());
    }

    #[test]
    fn own_stat_and_rss_are_read_from_proc() {
        let me = std::process::id();
        let s = read_stat(me).expect("own stat");
        assert!(s.is_live());
        assert!(s.start_ticks > 0);
        assert!(read_rss_kib(me).expect("own rss") > 0);
        assert!(read_stat(u32::MAX).is_none());
        assert!(is_running(me, s.start_ticks));
        assert!(!is_running(me, s.start_ticks + 1));
        assert!(!is_running(u32::MAX, 0));
    }

    #[test]
    fn rss_line_is_parsed() {
        let status = "Name:\tpython3\nVmPeak:\t  9000 kB\nVmRSS:\t   20480 kB\nThreads:\t1\n";
        assert_eq!(parse_rss_kib(status), Some(20480));
        assert_eq!(parse_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn zion_itself_is_never_a_target() {
        assert!(!is_foreign_group(0));
        assert!(!is_foreign_group(1));
        assert!(!is_foreign_group(std::process::id()));
        assert!(!signal_group(std::process::id(), 0, Signal::SIGTERM));
        assert!(clock_ticks_per_second() > 0.0);
    }
}
