//! `audit:` specs, valid and not.

use crate::spec::AuditSpec;
use crate::spec::validate::test_support::*;

#[test]
fn audit_origin_rules() {
    let spec = |audit: &str| {
        format!("audit: {audit}\nenvironments: [{{ name: staging }}]\nservices: []\n")
    };
    assert_eq!(
        valid(&spec("{ origin: zion/build-host }"))
            .audit
            .origin
            .as_deref(),
        Some("zion/build-host")
    );
    assert_eq!(
        valid(&spec("{ origin: example.com/log }"))
            .audit
            .origin
            .as_deref(),
        Some("example.com/log")
    );
    assert_eq!(valid(&spec("{}")).audit, AuditSpec::default());
    assert_eq!(valid(&with_env("")).audit.origin, None);
    assert_error(&spec("{ origin: \"\" }"), "audit.origin", "is empty");
    assert_error(
        &spec("{ origin: \"zion host\" }"),
        "audit.origin",
        "whitespace",
    );
    assert_error(
        &spec("{ origin: \"zion\\thost\" }"),
        "audit.origin",
        "whitespace",
    );
    assert_error(
        &spec("{ origin: zion+host }"),
        "audit.origin",
        "contains `+`",
    );
    assert_error(
        &spec("{ origin: \"zion\\u0001host\" }"),
        "audit.origin",
        "control character",
    );
    assert_error(
        &spec("{ orign: x }"),
        "audit.orign",
        "did you mean `origin`?",
    );
    assert_error(
        "audt: {}\nenvironments: [{ name: staging }]\n",
        "audt",
        "did you mean `audit`?",
    );
}

#[test]
fn console_status_page_is_off_unless_turned_on() {
    let spec = |console: &str| {
        format!("console: {console}\nenvironments: [{{ name: staging }}]\nservices: []\n")
    };
    assert!(!valid(&with_env("")).console.status_page);
    assert!(!valid(&spec("{}")).console.status_page);
    assert!(valid(&spec("{ status_page: true }")).console.status_page);
    assert_error(
        &spec("{ status_pages: true }"),
        "console.status_pages",
        "status_page",
    );
}
