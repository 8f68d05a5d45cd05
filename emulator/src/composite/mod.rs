//! `POST /composite` (REST API Developer Guide: Composite and Composite Graph): up to 25 subrequests run in order as one store transaction, each through the
//! same code as the direct call it names, with `@{referenceId.path}` references to earlier results.
//!
//! Each subrequest runs from a savepoint: a failed one leaves nothing behind. With `allOrNone` the first
//! failure rolls back the whole transaction and every other subrequest answers 400 `PROCESSING_HALTED`;
//! without it the successful subrequests are committed together at the end. The whole request is one API call.
//! [`tree`] serves `/composite/tree/{SObject}` (sObject Tree).

pub mod dispatch;
pub mod references;
pub mod tree;

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde_json::{json, Map, Value as Json};

use self::dispatch::{dispatch, SubResponse, Subrequest};
use self::references::{resolve_json, resolve_text, valid_reference_id, Results};
use crate::app::SharedState;
use crate::http::body::parse_json;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};

/// The most subrequests one composite request may hold.
pub const MAX_SUBREQUESTS: usize = 25;

const HALTED: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";

/// Headers a subrequest may not set: they come from the top-level request.
const INHERITED_HEADERS: [&str; 3] = ["Accept", "Authorization", "Content-Type"];

/// One subrequest as sent.
struct Planned {
    method: String,
    url: String,
    reference_id: String,
    body: Option<Json>,
    headers: HashMap<String, String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALID_INPUT", message)
}

fn parse_subrequest(position: usize, value: &Json) -> Result<Planned, ApiError> {
    let Json::Object(map) = value else {
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!("compositeRequest[{position}] must be a JSON object"),
        ));
    };
    let text = |key: &str| -> Result<String, ApiError> {
        map.get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                invalid(format!(
                    "compositeRequest[{position}] has no \"{key}\" string; method, url and referenceId are required"
                ))
            })
    };
    let method = text("method")?;
    if !matches!(method.as_str(), "GET" | "POST" | "PATCH" | "DELETE" | "PUT") {
        return Err(invalid(format!(
            "compositeRequest[{position}]: method '{method}' is not one of GET, POST, PATCH, PUT, DELETE (case-sensitive)"
        )));
    }
    let url = text("url")?;
    let reference_id = text("referenceId")?;
    if !valid_reference_id(&reference_id) {
        return Err(invalid(format!(
            "Invalid referenceId '{reference_id}': a referenceId may contain only letters, digits and '_'"
        )));
    }
    let mut headers = HashMap::new();
    if let Some(given) = map.get("httpHeaders") {
        let Json::Object(given) = given else {
            return Err(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                format!(
                    "compositeRequest[{position}].httpHeaders must be a JSON object of strings"
                ),
            ));
        };
        for (name, value) in given {
            if INHERITED_HEADERS
                .iter()
                .any(|inherited| inherited.eq_ignore_ascii_case(name))
            {
                return Err(invalid(format!(
                    "compositeRequest[{position}] sets the {name} header, which subrequests inherit from the \
                     composite request and may not set"
                )));
            }
            let value = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            headers.insert(name.clone(), value);
        }
    }
    Ok(Planned {
        method,
        url,
        reference_id,
        body: map.get("body").cloned(),
        headers,
    })
}

fn parse_request(body: &Bytes) -> Result<(bool, Vec<Planned>), ApiError> {
    let body: Map<String, Json> = parse_json(body)?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let Some(Json::Array(requests)) = body.get("compositeRequest") else {
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must have a compositeRequest array",
        ));
    };
    if requests.is_empty() {
        return Err(invalid(
            "compositeRequest must hold at least one subrequest",
        ));
    }
    if requests.len() > MAX_SUBREQUESTS {
        return Err(ApiError::bad_request(
            "LIMIT_EXCEEDED",
            format!(
                "A composite request may hold at most {MAX_SUBREQUESTS} subrequests; this one has {}",
                requests.len()
            ),
        ));
    }
    let planned = requests
        .iter()
        .enumerate()
        .map(|(position, value)| parse_subrequest(position, value))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    for request in &planned {
        if !seen.insert(request.reference_id.as_str()) {
            return Err(invalid(format!(
                "Duplicate referenceId '{}': each subrequest needs its own",
                request.reference_id
            )));
        }
    }
    Ok((all_or_none, planned))
}

fn halted() -> SubResponse {
    SubResponse::error(&ApiError::bad_request("PROCESSING_HALTED", HALTED))
}

fn reference_failure(message: String) -> SubResponse {
    SubResponse::error(&ApiError::bad_request("PROCESSING_HALTED", message))
}

/// `POST /composite`.
pub async fn composite(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (all_or_none, planned) = parse_request(&body)?;
    let mut responses: Vec<Option<SubResponse>> = Vec::with_capacity(planned.len());
    let mut results = Results::new();
    let mut failed = false;
    {
        let mut org = app.org.write();
        let mut transaction = org.transaction(api.write_context());
        for request in &planned {
            if failed && all_or_none {
                responses.push(None);
                continue;
            }
            let resolved = resolve_text(&request.url, &results).and_then(|url| {
                let body = request
                    .body
                    .as_ref()
                    .map(|body| resolve_json(body, &results))
                    .transpose()?;
                Ok((url, body))
            });
            let response = match resolved {
                Err(error) => reference_failure(error.to_string()),
                Ok((url, body)) => {
                    let savepoint = transaction.savepoint();
                    let subrequest = Subrequest {
                        method: &request.method,
                        url: &url,
                        body: body.as_ref(),
                        headers: &request.headers,
                    };
                    let response = dispatch(&app, &api, &mut transaction, &subrequest, all_or_none);
                    if response.failed(all_or_none) {
                        transaction.rollback_to(savepoint);
                    }
                    response
                }
            };
            if !response.failed(all_or_none) {
                results.insert(request.reference_id.clone(), response.body.clone());
            } else {
                failed = true;
            }
            responses.push(Some(response));
        }
        if failed && all_or_none {
            drop(transaction);
        } else {
            transaction.commit();
        }
    }
    let rolled_back = failed && all_or_none;
    let composite_response: Vec<Json> = planned
        .iter()
        .zip(responses)
        .map(|(request, response)| {
            let response = match response {
                Some(response) if rolled_back && !response.failed(all_or_none) => halted(),
                Some(response) => response,
                None => halted(),
            };
            json!({
                "body": response.body,
                "httpHeaders": response.headers,
                "httpStatusCode": response.status.as_u16(),
                "referenceId": request.reference_id,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "compositeResponse": composite_response }),
    ))
}

/// The composite route.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/services/data/{version}/composite", post(composite))
        .route(
            "/services/data/{version}/composite/tree/{object}",
            post(tree::create_tree),
        )
}
