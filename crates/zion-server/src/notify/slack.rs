//! A Slack incoming webhook: the Block Kit body as stored, to the URL in
//! the receiver's `url_env` (the URL is the secret). Slack answers 200 `ok`.

use zion_core::spec::SlackReceiver;
use zion_store::OutboxRow;

use super::send::{Failure, Request};

pub(super) fn request(name: &str, s: &SlackReceiver, row: &OutboxRow) -> Result<Request, Failure> {
    Ok(Request {
        url: super::secret(name, "url_env", &s.url_env)?,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: row.body.clone(),
    })
}
