//! Which pid space a recorded process lives in. Several controllers may
//! share one database from several hosts: a pid means something only on
//! the host (and in the pid namespace) that started it, so a controller
//! signals or adopts a recorded pid only when the record names its own host.

use std::fmt;
use std::fs;

/// The identity of this host's pid space, as recorded with every process:
/// `name/machine/boot/pid_ns`.
///
/// - `name`: the hostname, for people reading the records;
/// - `machine`: `/etc/machine-id` (stable across reboots), or the hostname
///   where there is none (many containers);
/// - `boot`: the kernel's boot id, new at every boot: pids of an earlier
///   boot name nothing any more;
/// - `pid_ns`: the pid namespace, so that two containers on one kernel
///   (same boot id) are told apart.
///
/// No part contains `/` (hostnames, hex ids, uuids and inode numbers never
/// do), so the string splits back into its parts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostId {
    /// The hostname.
    pub name: String,
    /// The machine id, or the hostname when there is none.
    pub machine: String,
    /// The kernel's boot id.
    pub boot: String,
    /// The pid namespace's inode number.
    pub pid_ns: String,
}

impl HostId {
    /// This host as the kernel describes it; a part that cannot be read is
    /// `unknown` (never empty, so that the string always splits in four).
    pub fn current() -> HostId {
        let read = |path: &str| {
            fs::read_to_string(path)
                .ok()
                .map(|s| clean(s.trim()))
                .filter(|s| !s.is_empty())
        };
        // The hostname of this UTS namespace, as gethostname(2) returns it.
        let name = read("/proc/sys/kernel/hostname").unwrap_or_else(|| UNKNOWN.to_string());
        let machine = read("/etc/machine-id").unwrap_or_else(|| name.clone());
        let boot = read("/proc/sys/kernel/random/boot_id").unwrap_or_else(|| UNKNOWN.into());
        // The link reads `pid:[4026531836]`.
        let pid_ns = fs::read_link("/proc/self/ns/pid")
            .ok()
            .and_then(|l| {
                let l = l.to_string_lossy().into_owned();
                Some(clean(l.strip_prefix("pid:[")?.strip_suffix(']')?))
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| UNKNOWN.into());
        HostId {
            name,
            machine,
            boot,
            pid_ns,
        }
    }

    /// Reads a recorded host back; None for '' (a record written before
    /// hosts were recorded) or anything that is not four parts.
    pub fn parse(s: &str) -> Option<HostId> {
        let mut parts = s.split('/');
        let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::to_string);
        let id = HostId {
            name: next()?,
            machine: next()?,
            boot: next()?,
            pid_ns: next()?,
        };
        parts.next().is_none().then_some(id)
    }

    /// `other` is this machine before its latest reboot: every process it
    /// names is gone, so its records can be forgotten. An unknown boot id
    /// proves nothing.
    pub fn is_earlier_boot(&self, other: &HostId) -> bool {
        self.machine == other.machine
            && self.name == other.name
            && self.boot != other.boot
            && self.boot != UNKNOWN
            && other.boot != UNKNOWN
    }
}

const UNKNOWN: &str = "unknown";

/// Keeps a part splittable: `/` and whitespace become `-`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '/' || c.is_whitespace() {
                '-'
            } else {
                c
            }
        })
        .collect()
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.name, self.machine, self.boot, self.pid_ns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_is_read_from_the_kernel_and_reads_back() {
        let me = HostId::current();
        assert_ne!(me.boot, UNKNOWN, "Linux always has a boot id");
        assert_ne!(me.pid_ns, UNKNOWN);
        assert_eq!(HostId::parse(&me.to_string()), Some(me.clone()));
        assert_eq!(HostId::current(), me, "stable within one boot");
        assert!(!me.is_earlier_boot(&me));
    }

    #[test]
    fn legacy_and_malformed_hosts_do_not_parse() {
        assert_eq!(HostId::parse(""), None);
        assert_eq!(HostId::parse("a/b/c"), None);
        assert_eq!(HostId::parse("a/b/c/d/e"), None);
        assert_eq!(HostId::parse("a//c/d"), None);
        assert_eq!(clean("my host/x"), "my-host-x");
    }

    #[test]
    fn an_earlier_boot_is_the_same_machine_with_another_boot_id() {
        let me = HostId::parse("vm/m1/boot-2/4026531836").unwrap();
        let before = HostId::parse("vm/m1/boot-1/4026531836").unwrap();
        let other_machine = HostId::parse("vm/m2/boot-1/4026531836").unwrap();
        let other_ns = HostId::parse("vm/m1/boot-2/4026532000").unwrap();
        let unknown = HostId::parse("vm/m1/unknown/4026531836").unwrap();
        assert!(me.is_earlier_boot(&before));
        assert!(!me.is_earlier_boot(&other_machine));
        assert!(
            !me.is_earlier_boot(&other_ns),
            "same boot: a live namespace"
        );
        assert!(!me.is_earlier_boot(&unknown));
    }
}
