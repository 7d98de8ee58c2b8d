//! No process of Zion's outlives a graceful stop, and the admin token is
//! private.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::*;

#[test]
fn graceful_stop_leaves_no_replica_and_frees_every_port() {
    let mut p = Project::new("        - { weight: 100 }", &[], "20s");
    p.start();
    assert_eq!(mode(&p.data_dir().join("admin.token")), 0o600);
    assert!(
        p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"])
            .status
            .success()
    );
    let replicas = p.replicas();
    assert_eq!(replicas.len(), 2);
    assert!(replicas.iter().all(|(pid, _)| alive(*pid)));
    p.stop(Signal::SIGTERM);
    for (pid, port) in &replicas {
        eventually(Duration::from_secs(10), "replicas to be gone", || {
            (!alive(*pid)).then_some(())
        });
        assert!(
            port_free(*port),
            "port {port} still held after a graceful stop"
        );
    }
    assert!(
        port_free(p.target.port()),
        "the target's listener is still open"
    );
    assert!(port_free(p.api.port()), "the API listener is still open");
}
