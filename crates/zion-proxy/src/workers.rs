//! The threads that carry proxied connections: one single-threaded tokio
//! runtime per core, shared by every listener of the process.
//!
//! A connection lives on one of them from accept to close, together with the
//! upstream connections its requests borrow, so a request never leaves its
//! thread: no work stealing, no cross-thread wake-ups, no contended atomics.
//! On a shared multi-threaded runtime the same work costs measurably more
//! CPU per request (work stealing, wake-ups across threads, shared counters
//! bouncing between cores). The caller's runtime keeps the accept loops and
//! the control plane (route changes, shutdown, metrics reads).

use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinSet};
use tracing::warn;

/// Runtimes started at most, whatever the core count says.
const MAX_WORKERS: usize = 64;

/// The proxy's worker runtimes; empty when none could be started, and then
/// connections run on the caller's runtime instead.
pub(crate) struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

thread_local! {
    /// Which worker this thread is, None for any other thread.
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

static WORKERS: OnceLock<Workers> = OnceLock::new();

impl Workers {
    /// The process's workers, started on first use.
    pub(crate) fn get() -> &'static Workers {
        WORKERS.get_or_init(|| {
            let n = std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(MAX_WORKERS);
            Workers {
                handles: (0..n).map_while(start).collect(),
                next: AtomicUsize::new(0),
            }
        })
    }

    /// How many slots per-thread state needs: one per worker plus one shared
    /// by every other thread.
    pub(crate) fn slots() -> usize {
        Self::get().handles.len() + 1
    }

    /// This thread's slot in per-thread state (see [`Workers::slots`]).
    pub(crate) fn slot() -> usize {
        INDEX
            .with(Cell::get)
            .unwrap_or_else(|| Self::get().handles.len())
    }

    /// Runs `task` on the next worker in turn (on the current runtime when
    /// there are none), tracked by `set`.
    pub(crate) fn spawn<F>(&self, set: &mut JoinSet<()>, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.handles.is_empty() {
            return set.spawn(task);
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        set.spawn_on(task, &self.handles[i])
    }
}

/// Starts worker `index`: a thread that runs its runtime for the rest of the
/// process. None if the thread or runtime could not be created.
fn start(index: usize) -> Option<Handle> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(format!("zion-proxy-{index}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    let _ = tx.send(Err(err));
                    return;
                }
            };
            INDEX.with(|i| i.set(Some(index)));
            let _ = tx.send(Ok(runtime.handle().clone()));
            // Spawned tasks run while the thread sits in block_on.
            runtime.block_on(std::future::pending::<()>());
        });
    if let Err(err) = spawned {
        warn!(%err, "cannot start a proxy worker thread; using fewer");
        return None;
    }
    match rx.recv() {
        Ok(Ok(handle)) => Some(handle),
        Ok(Err(err)) => {
            warn!(%err, "cannot start a proxy worker runtime; using fewer");
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[tokio::test]
    async fn tasks_take_turns_over_every_worker() {
        let workers = Workers::get();
        assert!(!workers.handles.is_empty(), "no worker could start");
        assert_eq!(
            Workers::slot(),
            workers.handles.len(),
            "the test thread is no worker"
        );
        let mut set = JoinSet::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Twice round: the turn counter may start anywhere.
        for _ in 0..2 * workers.handles.len() {
            let tx = tx.clone();
            workers.spawn(&mut set, async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = tx.send((Workers::slot(), name));
            });
        }
        drop(tx);
        let mut slots = HashSet::new();
        while let Some((slot, name)) = rx.recv().await {
            assert!(slot < workers.handles.len(), "ran outside the workers");
            assert_eq!(name, Some(format!("zion-proxy-{slot}")));
            slots.insert(slot);
        }
        assert_eq!(
            slots.len(),
            workers.handles.len(),
            "some worker got nothing"
        );
        while set.join_next().await.is_some() {}
    }
}
