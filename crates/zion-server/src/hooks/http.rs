//! `http` hooks: the deployment's facts as a JSON body, signed when the
//! hook names a secret; a 2xx answer passes.
//!
//! The signature is `X-Zion-Signature: sha256=<hex>`, the HMAC-SHA256
//! under the secret of `<X-Zion-Timestamp>.<body>`, so a receiver can
//! refuse a forged or replayed call.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zion_core::spec::HttpHook;

use super::{Attempt, Facts};

pub(super) async fn call(
    h: &HttpHook,
    timeout: Duration,
    facts: &Facts,
    base_dir: &Path,
) -> Attempt {
    let body = match serde_json::to_string(facts) {
        Ok(b) => b,
        Err(e) => return failed(format!("cannot write the payload: {e}")),
    };
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(source) = &h.secret {
        let secret = match crate::sources::secret(source, base_dir) {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        headers.push(("x-zion-timestamp".into(), timestamp.clone()));
        headers.push((
            "x-zion-signature".into(),
            format!("sha256={}", sign(secret.as_bytes(), &timestamp, &body)),
        ));
    }
    match crate::sources::http::send(&h.method, &h.url, &headers, Some(body), timeout).await {
        Ok((status, answer)) => Attempt {
            passed: (200..300).contains(&status),
            detail: format!("answered {status}"),
            output: String::from_utf8_lossy(&answer).into_owned(),
        },
        Err(fault) => failed(fault.to_string()),
    }
}

/// The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub(crate) fn sign(secret: &[u8], timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn failed(detail: String) -> Attempt {
    Attempt {
        passed: false,
        detail,
        output: String::new(),
    }
}
