//! The API server's HTTP conventions: JSON bodies, `Status` errors, query parameters, and which
//! representation a client asked for.

use std::collections::BTreeMap;

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, Uri, header},
    response::Response,
};
use serde_json::{Value, json};

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .expect("valid response")
}

pub(crate) fn status_error(code: StatusCode, reason: &str, message: String, details: Option<Value>) -> Response {
    let mut v = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    json_response(code, &v)
}

/// A boolean query parameter as the API server converts one: true unless `0` or `false` (any
/// case), so `watch=True` (the Python client's) watches.
pub(crate) fn query_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

/// A request's query parameters, percent- and form-decoded; the last of a repeated key wins.
pub(crate) fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    query_pairs(uri).collect()
}

/// A request's query parameters in order, repeated keys included (`command=…&command=…`).
pub(crate) fn query_pairs(uri: &Uri) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// Which Table flavour, if any, the client asked for in Accept.
pub(crate) fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|a| a.split(',').next().is_some_and(|first| first.contains("as=Table")))
}
