//! [`SpecStore`]: the spec in force is the one saved last.

use super::fixtures::t;
use crate::SpecStore;

/// The spec in force is the last saved, whatever its time, read back byte
/// for byte.
pub fn latest_spec_is_the_last_saved<S: SpecStore>(fresh: impl Fn() -> S) {
    let store = fresh();
    assert_eq!(store.latest_spec().unwrap(), None);
    store
        .save_spec("a: 1\n", &"aa".repeat(32), "alice", t(1), None)
        .unwrap();
    // An earlier timestamp saved later still wins: "latest" means last applied.
    let yaml = "services:\n  - name: wéb # ✓\n";
    store
        .save_spec(yaml, &"bb".repeat(32), "bob", t(0), None)
        .unwrap();
    let spec = store.latest_spec().unwrap().unwrap();
    assert_eq!(spec.yaml, yaml);
    assert_eq!(spec.sha256_hex, "bb".repeat(32));
    assert_eq!(spec.applied_by, "bob");
    assert_eq!(spec.applied_at, t(0));
}
