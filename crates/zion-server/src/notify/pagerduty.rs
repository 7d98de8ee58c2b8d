//! PagerDuty's Events API v2: `POST <api_url>/v2/enqueue` with the stored
//! event and the routing key from the receiver's `routing_key_env` (kept
//! out of the outbox: it is a secret). PagerDuty answers 202.

use zion_core::spec::PagerdutyReceiver;
use zion_store::OutboxRow;

use super::send::{Failure, Request};

pub(super) fn request(
    name: &str,
    p: &PagerdutyReceiver,
    row: &OutboxRow,
) -> Result<Request, Failure> {
    let key = super::secret(name, "routing_key_env", &p.routing_key_env)?;
    let mut event: serde_json::Value = serde_json::from_str(&row.body)
        .map_err(|e| Failure::Permanent(format!("the stored event is not JSON ({e})")))?;
    event["routing_key"] = serde_json::Value::String(key);
    Ok(Request {
        url: format!("{}/v2/enqueue", p.api_url.trim_end_matches('/')),
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: event.to_string(),
    })
}
