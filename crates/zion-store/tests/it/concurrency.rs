//! Two stores (two connections) on one file, racing from two threads.

use std::sync::{Arc, Barrier};
use std::thread;

use zion_core::deployment::Phase;
use zion_store::{DeploymentStore, StoreError};

use crate::support::{created, deployment, moved, open};

#[test]
fn racing_creators_on_two_connections_only_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let stores = [Arc::new(open(dir.path())), Arc::new(open(dir.path()))];
    const TRIALS: usize = 15;

    for trial in 0..TRIALS {
        let service = format!("svc-{trial}");
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (store, barrier, service) = (store.clone(), barrier.clone(), service.clone());
                thread::spawn(move || {
                    let d = deployment(&service, "production", &format!("v{i}"), 0);
                    barrier.wait();
                    store.create_deployment(&d, &created(&d), None)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "trial {trial}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        match loser {
            StoreError::TargetBusy { id, phase, .. } => {
                assert_eq!((*id, *phase), (winners[0].id, Phase::Pending));
            }
            other => panic!("trial {trial}: the loser got {other:?}, not TargetBusy"),
        }
    }
    // Each connection sees the other's writes, exactly one per target.
    for store in &stores {
        let active = store.active_deployments().unwrap();
        assert_eq!(active.len(), TRIALS);
    }
}

#[test]
fn racing_changes_of_one_revision_on_two_connections_only_one_lands() {
    let dir = tempfile::tempdir().unwrap();
    let stores = [Arc::new(open(dir.path())), Arc::new(open(dir.path()))];
    let d = deployment("web", "production", "1", 0);
    let mut current = stores[0].create_deployment(&d, &created(&d), None).unwrap();

    for trial in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (store, barrier) = (store.clone(), barrier.clone());
                // Both read the same revision and make different changes.
                let mut next = moved(&current, Phase::Progressing, trial);
                next.reason = Some(format!("writer {i}"));
                thread::spawn(move || {
                    barrier.wait();
                    store.record(&next, &[], &[]).map(|()| next)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let landed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(landed.len(), 1, "trial {trial}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Conflict { .. })))
        );
        current = landed[0].clone();
        // The stored state is the winner's, not a mix.
        assert_eq!(
            stores[1].deployment(current.id).unwrap(),
            Some(current.clone())
        );
    }
    assert_eq!(current.revision, 11);
}
