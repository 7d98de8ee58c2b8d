//! [`DeploymentStore::rounds`]: a run of identical inconclusive rounds is
//! one record with a count and a time range, across changes; anything else
//! keeps a record of its own.

use zion_core::analysis::Verdict;
use zion_core::deployment::Phase;

use super::fixtures::{
    created, deployment, moved, quiet_round as quiet, record_rounds as record, round, t,
};
use crate::{DeploymentStore, StoreError};

/// Identical inconclusive rounds, recorded one per change or several in
/// one, are one record keeping the first round and the last one's time; a
/// different round starts a record of its own; a round inside a run is
/// already recorded, and its change is refused whole.
pub fn a_run_of_identical_inconclusive_rounds_is_one_record<S: DeploymentStore>(
    fresh: impl Fn() -> S,
) {
    let store = fresh();
    let d = deployment("web", "staging", "2.0.0", 0);
    let mut d = store.create_deployment(&d, &created(&d), None).unwrap();
    let id = d.id;

    record(&store, &mut d, &[round(id, 1, Verdict::Pass)]);
    // One round per change, as the controller records them, then several
    // in one change.
    for n in 2..=4 {
        record(&store, &mut d, &[quiet(id, n)]);
    }
    record(&store, &mut d, &[quiet(id, 5), quiet(id, 6)]);
    // A round that differs (one request came) starts a row of its own, and
    // the quiet after it another.
    let mut one = quiet(id, 7);
    one.summary = "1 of 20 requests in 5s at 5%".into();
    record(&store, &mut d, &[one.clone(), quiet(id, 8), quiet(id, 9)]);
    record(&store, &mut d, &[round(id, 10, Verdict::Fail)]);

    let read = store.rounds(id).unwrap();
    let shape: Vec<(u32, u32, Verdict)> = read
        .iter()
        .map(|r| (r.number, r.count, r.verdict))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, 1, Verdict::Pass),
            (2, 5, Verdict::Inconclusive),
            (7, 1, Verdict::Inconclusive),
            (8, 2, Verdict::Inconclusive),
            (10, 1, Verdict::Fail),
        ]
    );
    // The run keeps its first round as recorded and the last one's time.
    let mut run = quiet(id, 2);
    run.count = 5;
    run.last_at = Some(quiet(id, 6).at);
    assert_eq!(read[1], run);
    assert_eq!(read[2], one);
    assert_eq!((read[0].last_at, read[4].last_at), (None, None));

    // A round inside a run is already recorded; nothing of its change is.
    let before = d.clone();
    let next = moved(&d, Phase::Paused, 2);
    let err = store.record(&next, &[], &[quiet(id, 4)]).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("round 4"), "{err}");
    assert_eq!(store.deployment(id).unwrap(), Some(before));
    assert_eq!(store.rounds(id).unwrap(), read);

    // After a round that differs, a new run.
    record(&store, &mut d, &[quiet(id, 11), quiet(id, 12)]);
    let last = store.rounds(id).unwrap().pop().unwrap();
    assert_eq!(
        (last.number, last.count, last.last_at),
        (11, 2, Some(t(112)))
    );
}
