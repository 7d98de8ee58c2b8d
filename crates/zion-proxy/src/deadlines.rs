//! Coarse deadlines for requests waiting on their upstream: one ticker per
//! worker thread looks over every waiting request each [`TICK`] and wakes
//! those whose moment has come, instead of a timer per request.
//!
//! Almost every request is answered long before its deadline, so the timer
//! it arms is pure cost: tokio's timer wheel takes a lock and an insertion
//! to arm a timer and as much again to cancel it, several hundred
//! instructions per request. A deadline here is an entry in its thread's
//! board, armed and cancelled by a push and a pop under a lock that only
//! that thread takes (the ticker runs on the same thread). The price is
//! precision: a deadline fires up to one tick late, which suits what it is
//! used for: when a request starts counting as in flight (a precise timer
//! takes over from there).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::workers::Workers;

/// How often a board is looked over: the most a deadline fires late.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// A ticker with nothing to watch for this many ticks stops (the next
/// deadline starts another), so an idle proxy does not wake for nothing.
const IDLE_TICKS: u32 = 10;

/// The deadlines armed on one thread.
#[derive(Default)]
struct Board {
    /// Armed deadlines; a slot freed by a cancelled or fired one is reused.
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    armed: usize,
    /// Whether a ticker runs for this board (set and cleared under its lock,
    /// so an arm never misses one that is stopping).
    ticking: bool,
}

struct Entry {
    at: Instant,
    waker: Waker,
    fired: bool,
}

/// One board per worker slot (see [`Workers::slot`]).
fn boards() -> &'static [Mutex<Board>] {
    static BOARDS: OnceLock<Box<[Mutex<Board>]>> = OnceLock::new();
    BOARDS.get_or_init(|| (0..Workers::slots()).map(|_| Mutex::default()).collect())
}

/// A future ready once `at` has passed (up to one [`TICK`] later). Must be
/// polled within a tokio runtime, which runs its board's ticker.
pub(crate) struct Deadline {
    at: Instant,
    /// The board and slot of its entry, once armed.
    armed: Option<(&'static Mutex<Board>, usize)>,
}

impl Deadline {
    pub(crate) fn at(at: Instant) -> Deadline {
        Deadline { at, armed: None }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((board, slot)) = self.armed {
            let mut b = board.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = b.entries[slot]
                .as_mut()
                .expect("an armed deadline keeps its entry");
            if entry.fired {
                b.release(slot);
                drop(b);
                self.armed = None;
                return Poll::Ready(());
            }
            if !entry.waker.will_wake(cx.waker()) {
                entry.waker = cx.waker().clone();
            }
            if !b.ticking {
                // Its ticker ended with the runtime it ran on.
                b.ticking = true;
                tokio::spawn(tick(board));
            }
            return Poll::Pending;
        }
        let board = &boards()[Workers::slot()];
        let mut b = board.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = Entry {
            at: self.at,
            waker: cx.waker().clone(),
            fired: false,
        };
        let slot = match b.free.pop() {
            Some(slot) => {
                b.entries[slot] = Some(entry);
                slot
            }
            None => {
                b.entries.push(Some(entry));
                b.entries.len() - 1
            }
        };
        b.armed += 1;
        if !b.ticking {
            b.ticking = true;
            tokio::spawn(tick(board));
        }
        drop(b);
        self.armed = Some((board, slot));
        Poll::Pending
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some((board, slot)) = self.armed.take() {
            board
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .release(slot);
        }
    }
}

impl Board {
    fn release(&mut self, slot: usize) {
        if self.entries[slot].take().is_some() {
            self.armed -= 1;
            self.free.push(slot);
        }
    }
}

/// Clears a board's ticking flag when its ticker ends, however it ends (its
/// runtime shutting down drops it): the next deadline armed starts another.
struct Ticking(&'static Mutex<Board>);

impl Drop for Ticking {
    fn drop(&mut self) {
        let mut b = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        b.ticking = false;
        // Deadlines still armed start a ticker on their own runtime when
        // polled again (a board shared by threads outside the workers may
        // outlive the runtime its ticker ran on).
        for entry in b.entries.iter_mut().flatten() {
            entry.waker.wake_by_ref();
        }
    }
}

/// Wakes the board's due deadlines every tick until it has been idle for
/// [`IDLE_TICKS`].
/// The guard is made before the future, so that a ticker dropped before it
/// ever ran still clears the flag.
fn tick(board: &'static Mutex<Board>) -> impl Future<Output = ()> + Send {
    let ticking = Ticking(board);
    ticker(board, ticking)
}

async fn ticker(board: &'static Mutex<Board>, ticking: Ticking) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle = 0;
    loop {
        interval.tick().await;
        let now = Instant::now();
        let mut b = board.lock().unwrap_or_else(PoisonError::into_inner);
        if b.armed == 0 {
            // Nothing holds a slot: the slots a burst left behind can go.
            b.entries.clear();
            b.free.clear();
            idle += 1;
            if idle >= IDLE_TICKS {
                // Cleared under the same lock an arm checks it under.
                b.ticking = false;
                b.entries.shrink_to_fit();
                b.free.shrink_to_fit();
                drop(b);
                std::mem::forget(ticking);
                return;
            }
            continue;
        }
        idle = 0;
        for entry in b.entries.iter_mut().flatten() {
            if !entry.fired && entry.at <= now {
                entry.fired = true;
                entry.waker.wake_by_ref();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_after_its_moment_and_not_before() {
        let start = Instant::now();
        Deadline::at(start + Duration::from_millis(50)).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50),
            "fired early: {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(50) + 5 * TICK,
            "fired far too late: {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_dropped_deadline_leaves_its_board() {
        let at = Instant::now() + Duration::from_secs(60);
        let mut far = Box::pin(Deadline::at(at));
        // Armed by its first poll, then cancelled by the drop.
        assert!(
            futures_poll_once(far.as_mut()).await.is_pending(),
            "a deadline a minute away is not due"
        );
        let (board, slot) = far.armed.expect("armed by its poll");
        drop(far);
        let b = board.lock().unwrap();
        // Other tests share the board and may take the freed slot at once.
        assert!(
            b.entries
                .get(slot)
                .is_none_or(|e| e.as_ref().is_none_or(|e| e.at != at))
        );
    }

    #[tokio::test]
    async fn many_deadlines_fire_in_order_of_their_moments() {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for k in 0..20u64 {
            set.spawn(async move {
                let at = start + Duration::from_millis(20 * k);
                Deadline::at(at).await;
                assert!(Instant::now() >= at, "deadline {k} fired early");
            });
        }
        while let Some(done) = set.join_next().await {
            done.expect("no deadline fired early");
        }
    }

    async fn futures_poll_once(mut f: Pin<&mut Deadline>) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await
    }
}
