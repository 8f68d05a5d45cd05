//! Runs one composite subrequest through the same code as the direct call it names (sObject rows, upsert,
//! query/queryAll, sObject Collections), inside the composite request's transaction, and captures its result
//! as `httpStatusCode`, `httpHeaders` and a JSON `body`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value as Json};

use crate::app::AppState;
use crate::http::context::{parse_version, ApiContext};
use crate::http::error::ApiError;
use crate::query::pages::{batch_size, first_page, next_page};
use crate::rest::{collections, records};
use crate::store::Transaction;

/// One subrequest, references already resolved.
pub struct Subrequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub body: Option<&'a Json>,
    pub headers: &'a HashMap<String, String>,
}

/// What a subrequest answered.
#[derive(Debug, Clone)]
pub struct SubResponse {
    pub status: StatusCode,
    pub headers: Map<String, Json>,
    pub body: Json,
}

impl SubResponse {
    pub fn error(error: &ApiError) -> SubResponse {
        SubResponse {
            status: error.status,
            headers: Map::new(),
            body: error.body(),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status.as_u16() < 400
    }

    /// Whether the subrequest failed for the composite request: an error status, or, when the composite
    /// request is all-or-none (which then applies to nested Collections calls), any failed record.
    pub fn failed(&self, all_or_none: bool) -> bool {
        if !self.succeeded() {
            return true;
        }
        all_or_none
            && self.body.as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|item| item.get("success") == Some(&Json::Bool(false)))
            })
    }
}

/// The body of a response built in memory. Every handler here answers with a complete body, so one poll
/// with a no-op waker reads it; anything else would be a streaming body, which none of them produce.
fn body_now(body: Body) -> Bytes {
    let mut future = pin!(axum::body::to_bytes(body, usize::MAX));
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(Ok(bytes)) => bytes,
        _ => Bytes::new(),
    }
}

fn from_response(response: Response) -> SubResponse {
    let (parts, body) = response.into_parts();
    let bytes = body_now(body);
    let body = if bytes.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Json::Null)
    };
    let mut headers = Map::new();
    if let Some(location) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
    {
        headers.insert("Location".into(), Json::String(location.to_string()));
    }
    SubResponse {
        status: parts.status,
        headers,
        body,
    }
}

fn from_json_bytes(result: Result<Vec<u8>, ApiError>) -> SubResponse {
    match result {
        Ok(bytes) => SubResponse {
            status: StatusCode::OK,
            headers: Map::new(),
            body: serde_json::from_slice(&bytes).unwrap_or(Json::Null),
        },
        Err(error) => SubResponse::error(&error),
    }
}

fn from_result(result: Result<Response, ApiError>) -> SubResponse {
    match result {
        Ok(response) => from_response(response),
        Err(error) => SubResponse::error(&error),
    }
}

/// Decodes `%XX` escapes of a URL path segment.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        if bytes[position] == b'%' && position + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[position + 1..position + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                decoded.push(byte);
                position += 3;
                continue;
            }
        }
        decoded.push(bytes[position]);
        position += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn not_found(url: &str) -> SubResponse {
    SubResponse::error(&ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "The requested resource does not exist: {url} is not supported in a composite request"
        ),
    ))
}

fn method_not_allowed(method: &str) -> SubResponse {
    SubResponse::error(&ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("HTTP Method '{method}' not allowed. Allowed are HEAD,GET,POST,PATCH,DELETE"),
    ))
}

/// Runs `request` inside `transaction`. `force_all_or_none` is the composite request's `allOrNone`, which
/// overrides that of nested Collections calls.
pub fn dispatch(
    app: &AppState,
    outer: &ApiContext,
    transaction: &mut Transaction<'_>,
    request: &Subrequest<'_>,
    force_all_or_none: bool,
) -> SubResponse {
    let (path, query) = request.url.split_once('?').unwrap_or((request.url, ""));
    let params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return not_found(request.url);
    };
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let Some((version, version_number)) = segments.first().and_then(|v| parse_version(v)) else {
        return not_found(request.url);
    };
    let api = ApiContext {
        version,
        version_number,
        ..outer.clone()
    };
    let body = request
        .body
        .map(|body| Bytes::from(body.to_string()))
        .unwrap_or_default();
    let method = request.method;
    let words: Vec<&str> = segments[1..].iter().map(String::as_str).collect();
    let patch_override = params
        .get("_HttpMethod")
        .is_some_and(|m| m.eq_ignore_ascii_case("PATCH"));
    match (method, words.as_slice()) {
        ("POST", ["sobjects", object]) => {
            from_result(records::create_in(transaction, &api, object, &body))
        }
        ("GET", ["sobjects", object, id]) => from_result(records::read_in(
            transaction.org(),
            &api,
            object,
            id,
            &params,
        )),
        ("PATCH", ["sobjects", object, id]) => {
            from_result(records::update_in(transaction, object, id, &body))
        }
        ("POST", ["sobjects", object, id]) if patch_override => {
            from_result(records::update_in(transaction, object, id, &body))
        }
        ("POST", ["sobjects", object, "Id"]) if api.version_number >= 37.0 => {
            from_result(records::create_in(transaction, &api, object, &body))
        }
        ("DELETE", ["sobjects", object, id]) => {
            from_result(records::delete_in(transaction, object, id))
        }
        ("PATCH", ["sobjects", object, field, value]) => from_result(records::upsert_in(
            transaction,
            &api,
            object,
            field,
            value,
            &params,
            &body,
        )),
        ("POST", ["sobjects", object, field, value]) if patch_override => from_result(
            records::upsert_in(transaction, &api, object, field, value, &params, &body),
        ),
        ("GET", ["sobjects", object, field, value]) => from_result(records::read_by_key_in(
            transaction.org(),
            &api,
            object,
            field,
            value,
            &params,
        )),
        ("DELETE", ["sobjects", object, field, value]) => from_result(records::delete_by_key_in(
            transaction,
            &api,
            object,
            field,
            value,
        )),
        ("GET", [resource @ ("query" | "queryAll")]) => {
            let text = params.get("q").map(String::as_str).unwrap_or_default();
            let size = batch_size(
                request
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("Sforce-Query-Options"))
                    .map(|(_, value)| value.as_str()),
            );
            let include_deleted = *resource == "queryAll";
            from_json_bytes(first_page(
                app,
                transaction.org(),
                &api.version,
                text,
                include_deleted,
                size,
            ))
        }
        ("GET", ["query" | "queryAll", locator]) => {
            from_json_bytes(next_page(app, transaction.org(), &api.version, locator))
        }
        ("POST", ["composite", "sobjects"]) => from_result(collections::create_in(
            transaction,
            &body,
            force_all_or_none,
        )),
        ("PATCH", ["composite", "sobjects"]) => from_result(collections::update_in(
            transaction,
            &body,
            force_all_or_none,
        )),
        ("DELETE", ["composite", "sobjects"]) => from_result(collections::delete_in(
            transaction,
            &params,
            force_all_or_none,
        )),
        ("GET", ["composite", "sobjects", object]) => {
            let list = |name: &str| {
                params
                    .get(name)
                    .map(|text| collections::split_list(text))
                    .unwrap_or_default()
            };
            from_result(collections::retrieve_in(
                transaction.org(),
                &api,
                object,
                &list("ids"),
                &list("fields"),
            ))
        }
        ("PATCH", ["composite", "sobjects", object, field]) => from_result(collections::upsert_in(
            transaction,
            object,
            field,
            &body,
            force_all_or_none,
        )),
        (_, ["sobjects", _] | ["sobjects", _, _] | ["sobjects", _, _, _])
        | (_, ["query" | "queryAll"] | ["query" | "queryAll", _])
        | (_, ["composite", "sobjects", ..]) => method_not_allowed(method),
        _ => not_found(request.url),
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(percent_decode("A%20B%2F1"), "A B/1");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
