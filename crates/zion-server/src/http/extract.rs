//! What makes every answer of the API an `{"error": {"code", "message"}}`
//! when it is one: JSON bodies and query strings read with messages that
//! name what was wrong, and a last layer that turns the bare or plain-text
//! errors of the router itself (405, 413…) into the same JSON.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, excerpt, shorten_quoted};

/// The longest request target the API reads (the first request of a
/// connection is held to it before hyper parses it, later ones here).
pub(crate) const MAX_URI: usize = 8 * 1024;

/// A JSON request body. Request types refuse unknown fields
/// (`deny_unknown_fields`), so a misspelt field is a 400 naming it rather
/// than a setting silently dropped.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match <Json<T> as FromRequest<S>>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_error(&e)),
        }
    }
}

/// A body that may be left out (no `Content-Type`); one that is sent must
/// be valid.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        match <Json<T> as OptionalFromRequest<S>>::from_request(req, state).await {
            Ok(v) => Ok(v.map(|Json(v)| ApiJson(v))),
            Err(e) => Err(json_error(&e)),
        }
    }
}

fn json_error(e: &JsonRejection) -> ApiError {
    let detail = shorten_quoted(&inner_message(e).unwrap_or_else(|| e.body_text()));
    match e {
        JsonRejection::JsonDataError(_) => ApiError::bad_request(format!(
            "the request body is not what this route takes: {detail}"
        )),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request(format!("the request body is not valid JSON: {detail}"))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON, with `Content-Type: application/json`",
        ),
        _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ApiError::bad_request(format!("the request body could not be read: {detail}")),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than this route accepts (2 MiB; an import up to 2 GiB)",
    )
}

/// The parser's own message (axum prefixes it with a sentence of its own).
fn inner_message(e: &dyn std::error::Error) -> Option<String> {
    e.source().map(ToString::to_string)
}

/// A query string. Its types refuse unknown parameters too.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(query_error(&e, parts.uri.query().unwrap_or(""))),
        }
    }
}

fn query_error(e: &QueryRejection, query: &str) -> ApiError {
    let detail = shorten_quoted(&inner_message(e).unwrap_or_else(|| e.body_text()));
    ApiError::bad_request(format!(
        "the query string `{}` is not valid here: {detail}",
        excerpt(query)
    ))
}

/// The API's outermost layer: refuses a request HTTP/1.1 does not allow
/// (no `Host`, or two) or whose target is too long, and turns any error the
/// router answered without a JSON body into the API's JSON error.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    if let Some(refusal) = refuse_head(req.version(), req.headers(), req.uri()) {
        return refusal.into_response();
    }
    let method = req.method().clone();
    let path = excerpt(req.uri().path());
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(response.headers())
        || is_html(response.headers())
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Plain-text errors of the router are a line; more is not read.
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = describe(status, &method, &path, &text, &parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let mut converted = error.into_response();
    // Keeps what the router said besides the body (`Allow` on a 405).
    for (name, value) in &parts.headers {
        converted.headers_mut().insert(name.clone(), value.clone());
    }
    converted
}

fn refuse_head(version: Version, headers: &HeaderMap, uri: &axum::http::Uri) -> Option<ApiError> {
    let hosts = headers.get_all(header::HOST).iter().count();
    if version == Version::HTTP_11 && hosts == 0 {
        return Some(ApiError::bad_request(
            "an HTTP/1.1 request must carry a Host header (RFC 9112, section 3.2)",
        ));
    }
    if hosts > 1 {
        return Some(ApiError::bad_request(
            "the request carries more than one Host header",
        ));
    }
    let len = uri.path_and_query().map_or(0, |p| p.as_str().len());
    (len > MAX_URI).then(|| uri_too_long(len))
}

pub(crate) fn uri_too_long(len: usize) -> ApiError {
    ApiError::new(
        StatusCode::URI_TOO_LONG,
        "uri_too_long",
        format!("the request target is {len} bytes long; the API reads at most {MAX_URI}"),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The web console's pages answer errors in HTML, for a browser to show.
fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

fn describe(
    status: StatusCode,
    method: &Method,
    path: &str,
    text: &str,
    headers: &HeaderMap,
) -> ApiError {
    let said = || {
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            shorten_quoted(text)
        }
    };
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            ApiError::new(
                status,
                "method_not_allowed",
                format!("{method} is not allowed on {path}; it takes {allowed}"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::NOT_FOUND => not_found(method, path),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported_media_type", said())
        }
        s if s.is_server_error() => ApiError::new(status, "internal", said()),
        _ => ApiError::new(status, "bad_request", said()),
    }
}

/// A request for a route the API does not have.
pub(crate) fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::not_found(format!(
        "no API route {method} {}; the routes are listed in the README's \"HTTP API\" section",
        excerpt(path)
    ))
}
