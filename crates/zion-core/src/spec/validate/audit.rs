//! `audit:`: the audit log's origin, the name its signed checkpoints carry.

use super::{Report, text};
use crate::spec::AuditSpec;
use crate::spec::raw::{RawAudit, keys};

/// `audit:`.
pub(super) fn audit(r: &mut Report, raw: &RawAudit) -> AuditSpec {
    r.unknown("audit", &raw.unknown, keys::AUDIT);
    let origin = text(raw.origin.as_ref()).and_then(|origin| {
        let path = "audit.origin";
        let problem = if origin.trim().is_empty() {
            Some(
                "is empty: name the log, e.g. `zion/build-host`, or remove the key to let the \
                 server use zion/<host name>"
                    .to_owned(),
            )
        } else if origin.chars().any(char::is_whitespace) {
            Some(format!(
                "`{origin}` contains whitespace: a log origin is one word such as zion/build-host \
                 (C2SP checkpoint origins hold no spaces)"
            ))
        } else if origin.contains('+') {
            Some(format!(
                "`{origin}` contains `+`, which a checkpoint origin and its key name may not \
                 hold: use e.g. zion/build-host"
            ))
        } else if origin.chars().any(char::is_control) {
            Some(format!(
                "{origin:?} contains a control character: use printable text such as \
                 zion/build-host"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                r.add(path, message);
                None
            }
            None => Some(origin.to_owned()),
        }
    });
    AuditSpec { origin }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
