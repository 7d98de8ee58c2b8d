//! A generic webhook: the body as JSON, signed when the receiver names a
//! secret: `X-Zion-Timestamp` and `X-Zion-Signature: sha256=<hex>` over
//! `<timestamp>.<body>`, as lifecycle hooks sign theirs, so a receiver can
//! refuse a forged or replayed call.

use std::time::{SystemTime, UNIX_EPOCH};

use zion_core::spec::WebhookReceiver;
use zion_store::OutboxRow;

use super::send::{Failure, Request};

pub(super) fn request(w: &WebhookReceiver, row: &OutboxRow) -> Result<Request, Failure> {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(var) = &w.secret_env {
        let secret = super::secret(&row.receiver, "secret_env", var)?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        let signature = crate::hooks::sign(secret.as_bytes(), &timestamp, &row.body);
        headers.push(("x-zion-timestamp".to_owned(), timestamp));
        headers.push(("x-zion-signature".to_owned(), format!("sha256={signature}")));
    }
    Ok(Request {
        url: w.url.clone(),
        headers,
        body: row.body.clone(),
    })
}
