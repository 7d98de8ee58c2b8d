//! The beat of a background task that runs until the server shuts down:
//! the first tick at once, then one per period; a tick the task was too
//! busy to take is not made up, the next one waits a whole period.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

pub(crate) struct Ticker {
    every: Interval,
    shutdown: watch::Receiver<bool>,
}

impl Ticker {
    pub(crate) fn new(period: Duration, shutdown: watch::Receiver<bool>) -> Ticker {
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker { every, shutdown }
    }

    /// Waits for the next tick: false once the server is shutting down.
    pub(crate) async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = self.every.tick() => {}
            _ = self.shutdown.changed() => return false,
        }
        !*self.shutdown.borrow()
    }
}
