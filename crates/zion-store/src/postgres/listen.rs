//! The listening connection behind [`crate::Database::changes`]: one
//! connection outside the pool that LISTENs on [`super::CHANNEL`] and counts
//! the other processes' commits. When the connection is lost (a restart of
//! the database, a network cut) it connects again, backing off up to
//! [`RETRY_MAX`], and counts once more: what was committed meanwhile was
//! never notified to it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::CHANNEL;

/// The first wait before connecting again, doubled on each failure.
const RETRY_MIN: Duration = Duration::from_millis(100);

/// The longest wait between two attempts: how late, at worst, a process
/// hears that the database is back.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A name for one store, unlikely to be any other's on any machine: the
/// process id, the time and a random number, in hex.
pub(super) fn store_id() -> String {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("z{:x}{:016x}", std::process::id(), h.finish())
}

/// Listens until the store's runtime stops, bumping `changes` for every
/// notification that is not `own`'s and once per reconnection.
pub(super) async fn listen(
    config: Config,
    own: String,
    location: String,
    changes: watch::Sender<u64>,
) {
    let mut listened_before = false;
    let mut wait = RETRY_MIN;
    loop {
        match listen_once(&config, &own, &changes, &mut listened_before).await {
            Ok(()) => {
                tracing::warn!(database = %location, "lost the connection that listens for other replicas' changes; connecting again");
                wait = RETRY_MIN;
            }
            Err(e) => {
                tracing::debug!(database = %location, error = %e, "cannot listen for changes yet");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// One connection: connects, LISTENs, then counts notifications until the
/// connection ends (Ok) or fails to start (Err).
async fn listen_once(
    config: &Config,
    own: &str,
    changes: &watch::Sender<u64>,
    listened_before: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let own = own.to_owned();
    let counter = changes.clone();
    // `poll_message` drives the connection (the LISTEN below is answered
    // through it) and hands over the notifications.
    let mut driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.payload() != own => {
                    counter.send_modify(|c| *c += 1);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let sql = format!("LISTEN {CHANNEL}");
    let listening = tokio::select! {
        r = client.batch_execute(&sql) => r,
        _ = &mut driver => return Ok(()),
    };
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    if *listened_before {
        // Whatever was committed while no one listened.
        changes.send_modify(|c| *c += 1);
    }
    *listened_before = true;
    let _ = driver.await;
    drop(client);
    Ok(())
}
