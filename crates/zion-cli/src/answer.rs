//! The API's answers to POST and DELETE, read into the views of
//! `zion_core::api` (a GET's answer is read by `Client::get_view`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::exit::Failure;

/// Reads `body`, the answer to `request` (`POST /tokens`), as a `T`.
pub(crate) fn view<T: DeserializeOwned>(body: Value, request: &str) -> Result<T, Failure> {
    serde_json::from_value(body).map_err(|e| {
        Failure::unreachable(format!(
            "the server answered {request} with a body this zion cannot read ({e}); are `zion` \
             and the server the same version?"
        ))
    })
}

/// A view as `--output json` prints it: a JSON map, its keys in the order
/// of their names, as the API's answers have always been printed.
pub(crate) fn json<T: serde::Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or_default()
}
