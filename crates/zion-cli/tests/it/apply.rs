//! `zion apply` sends a new spec to a running server: a new target starts
//! listening; an invalid spec is refused and changes nothing.

use std::time::Duration;

use crate::support::*;

#[test]
fn apply_adds_a_target_and_refuses_a_bad_spec() {
    let mut p = Project::new("        - { weight: 100 }", &[], "20s");
    p.start();
    let original = std::fs::read_to_string(p.spec_path()).unwrap();
    let prod = free_addr();
    let extended = original
        .replace(
            "  - name: staging\n",
            "  - name: staging\n  - name: production\n",
        )
        .replace(
            &format!("      staging: {{ listen: {} }}\n", p.target),
            &format!(
                "      staging: {{ listen: {} }}\n      production: {{ listen: {prod} }}\n",
                p.target
            ),
        );
    assert_ne!(extended, original);
    std::fs::write(p.spec_path(), &extended).unwrap();
    let out = p.zion(&["apply"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 environments"),
        "{}",
        describe(&out)
    );
    let out = p.zion(&["deploy", "web", "1.0", "--env", "production", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let answer = eventually(Duration::from_secs(10), "production to answer", || {
        http_get(prod, "/").ok()
    });
    assert_eq!((answer.0, answer.1.as_str()), (200, "1.0"));

    // An invalid spec: exit 2 with the path, and the server keeps the last one.
    std::fs::write(
        p.spec_path(),
        extended.replace("replicas: 2", "replicas: 0"),
    )
    .unwrap();
    let out = p.zion(&["apply"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("services[0].workload.process.replicas"),
        "{}",
        describe(&out)
    );
    std::fs::write(p.spec_path(), &extended).unwrap();
    let targets = p.json(&["status"]);
    assert_eq!(targets.as_array().unwrap().len(), 2, "{targets}");
}
