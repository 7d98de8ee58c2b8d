//! Reading Prometheus's answer to an instant query (`/api/v1/query`).

use serde_json::Value;

use super::Outcome;

/// The outcome of an instant query from the HTTP status and body Prometheus
/// answered with. `query` is the rendered PromQL, named in errors.
pub fn answer(status: u16, body: &[u8], query: &str) -> Outcome {
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    let error = doc
        .as_ref()
        .filter(|d| d.get("status").and_then(Value::as_str) == Some("error"))
        .map(|d| {
            let kind = d
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("error");
            let text = d.get("error").and_then(Value::as_str).unwrap_or("");
            (kind.to_string(), text.to_string())
        });
    if let Some((kind, text)) = &error
        && (kind == "bad_data" || (400..500).contains(&status))
    {
        return Outcome::Error(format!("Prometheus refused `{query}`: {kind}: {text}"));
    }
    if status >= 500 || error.is_some() {
        let detail = match &error {
            Some((kind, text)) => format!("{kind}: {text}"),
            None => snippet(body),
        };
        return Outcome::Unavailable(format!(
            "Prometheus answered {status} to `{query}`: {detail}"
        ));
    }
    if !(200..300).contains(&status) {
        return Outcome::Error(format!(
            "Prometheus answered {status} to `{query}`: {}",
            snippet(body)
        ));
    }
    let Some(data) = doc.as_ref().and_then(|d| d.get("data")) else {
        return Outcome::Unavailable(format!(
            "Prometheus's answer to `{query}` is not its JSON API: {}",
            snippet(body)
        ));
    };
    let result = data.get("result");
    match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => sample(result, query),
        Some("vector") => {
            let series = result
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            match series {
                [] => Outcome::NoData(format!("no data for `{query}`")),
                [one] => sample(one.get("value"), query),
                many => Outcome::Error(format!(
                    "`{query}` returned {} series; a check needs one (aggregate it, e.g. with sum())",
                    many.len()
                )),
            }
        }
        other => Outcome::Error(format!(
            "`{query}` returned a {}; a check needs an instant vector or a scalar",
            other.unwrap_or("result of no type")
        )),
    }
}

/// `[ <time>, "<value>" ]` → the value.
fn sample(pair: Option<&Value>, query: &str) -> Outcome {
    let text = pair
        .and_then(|p| p.get(1))
        .and_then(Value::as_str)
        .unwrap_or("");
    match text.parse::<f64>() {
        Ok(v) if v.is_nan() => Outcome::NoData(format!("`{query}` is NaN")),
        Ok(v) if v.is_infinite() => Outcome::NoData(format!("`{query}` is {text}")),
        Ok(v) => Outcome::Value(v),
        Err(_) => Outcome::Error(format!("`{query}` returned `{text}`, not a number")),
    }
}

/// The start of a body, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    text.chars().take(160).collect()
}
