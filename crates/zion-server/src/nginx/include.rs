//! The include file Zion writes for a target routed by nginx: one
//! `upstream` block whose servers are the healthy replicas of the stable
//! and new versions, weighed so each version gets its share
//! (`zion_core::server_weights`). A server whose version gets no traffic is
//! written `down` (nginx refuses `weight=0`), so the file still says where
//! each version runs.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// One server of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub addr: SocketAddr,
    pub version: String,
    /// 0: `down`.
    pub weight: u16,
}

/// The address written when no version has a replica: nginx refuses an
/// upstream without servers, and answers 502 for one whose servers are all
/// down.
const NO_REPLICA: &str = "127.0.0.1:1";

/// The include file's text: the `upstream <name>` block, with a comment
/// per version giving its share of the traffic.
pub fn render(upstream: &str, servers: &[Server]) -> String {
    let total: u64 = servers.iter().map(|s| u64::from(s.weight)).sum();
    let mut out =
        String::from("# Written by Zion on every change of the traffic split: edits are lost.\n");
    let _ = writeln!(out, "upstream {upstream} {{");
    let mut last: Option<&str> = None;
    for s in servers {
        if last != Some(s.version.as_str()) {
            let of: u64 = servers
                .iter()
                .filter(|o| o.version == s.version)
                .map(|o| u64::from(o.weight))
                .sum();
            let share = (of * 100).checked_div(total).unwrap_or(0);
            let _ = writeln!(out, "    # version {}: {share}%", s.version);
            last = Some(&s.version);
        }
        if s.weight == 0 {
            let _ = writeln!(out, "    server {} down;", s.addr);
        } else {
            let _ = writeln!(out, "    server {} weight={};", s.addr, s.weight);
        }
    }
    if servers.is_empty() {
        let _ = writeln!(out, "    # no healthy replica: nginx answers 502");
        let _ = writeln!(out, "    server {NO_REPLICA} down;");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(port: u16, version: &str, weight: u16) -> Server {
        Server {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            version: version.into(),
            weight,
        }
    }

    #[test]
    fn each_version_gets_its_weights_and_a_version_at_zero_is_down() {
        let text = render(
            "web",
            &[
                server(9001, "1.0", 450),
                server(9002, "1.0", 450),
                server(9101, "2.0", 100),
            ],
        );
        assert_eq!(
            text,
            "# Written by Zion on every change of the traffic split: edits are lost.\n\
             upstream web {\n\
             \x20   # version 1.0: 90%\n\
             \x20   server 127.0.0.1:9001 weight=450;\n\
             \x20   server 127.0.0.1:9002 weight=450;\n\
             \x20   # version 2.0: 10%\n\
             \x20   server 127.0.0.1:9101 weight=100;\n\
             }\n"
        );
        let zero = render("web", &[server(9001, "1.0", 1), server(9101, "2.0", 0)]);
        assert!(zero.contains("server 127.0.0.1:9101 down;"), "{zero}");
        assert!(zero.contains("# version 2.0: 0%"), "{zero}");
        assert!(!zero.contains("weight=0"), "{zero}");
    }

    #[test]
    fn no_replica_still_gives_a_valid_upstream() {
        let text = render("api", &[]);
        assert!(text.contains("upstream api {"), "{text}");
        assert!(text.contains("server 127.0.0.1:1 down;"), "{text}");
    }
}
