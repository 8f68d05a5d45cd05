//! The replication API (REST API Developer Guide: sObject Get Updated and Get Deleted): `GET /sobjects/{Name}/updated?start=&end=` (ids whose SystemModstamp falls in the
//! window) and `GET /sobjects/{Name}/deleted?start=&end=` (the delete log, hard deletes included).
//!
//! Both truncate start and end to the minute and cover `[start, latestDateCovered)`, where `latestDateCovered`
//! is the end, or the current minute of the org clock when the end lies in the future: the next call should
//! start there. getUpdated reaches 30 days back and getDeleted 15 days (the delete log's retention); either
//! answers at most 600,000 ids.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;

use crate::app::SharedState;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};
use crate::rest::object_index;
use crate::store::value::{format_datetime, parse_datetime};
use crate::store::{Org, RECYCLE_BIN_RETENTION_MS};

/// How far back getUpdated reaches.
pub const UPDATED_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;
/// How far back getDeleted reaches (the delete log's retention).
pub const DELETED_WINDOW_MS: i64 = RECYCLE_BIN_RETENTION_MS;
/// The most ids one call answers.
pub const MAX_IDS: usize = 600_000;

const MINUTE_MS: i64 = 60_000;

fn truncate_to_minute(millis: i64) -> i64 {
    millis.div_euclid(MINUTE_MS) * MINUTE_MS
}

fn replication_error(message: String) -> ApiError {
    ApiError::bad_request("INVALID_REPLICATION_DATE", message)
}

/// A parameter as a datetime. A `+` of an offset that arrived unencoded was decoded to a space: put it back.
fn parse_parameter(params: &HashMap<String, String>, name: &str) -> Result<i64, ApiError> {
    let Some(text) = params.get(name) else {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            format!("The '{name}' parameter is required (an ISO 8601 datetime such as 2024-05-01T00:00:00+00:00)"),
        ));
    };
    let text = text.trim().replace(' ', "+");
    parse_datetime(&text).ok_or_else(|| {
        replication_error(format!(
            "'{text}' is not a valid {name} date: use ISO 8601, for example 2024-05-01T00:00:00+00:00"
        ))
    })
}

/// The window both calls cover, checked against how far back they reach.
struct Window {
    start: i64,
    /// Exclusive end: `latestDateCovered`.
    covered: i64,
}

fn window(
    org: &Org,
    params: &HashMap<String, String>,
    reach_ms: i64,
    reach_days: i64,
) -> Result<Window, ApiError> {
    let start = truncate_to_minute(parse_parameter(params, "start")?);
    let end = truncate_to_minute(parse_parameter(params, "end")?);
    let now = org.clock.now_ms();
    if end < start {
        return Err(replication_error(format!(
            "The end date ({}) must not be before the start date ({})",
            format_datetime(end),
            format_datetime(start)
        )));
    }
    let earliest = truncate_to_minute(now - reach_ms);
    if start < earliest {
        return Err(replication_error(format!(
            "The start date ({}) is more than {reach_days} days before the current date; the earliest start \
             accepted now is {}",
            format_datetime(start),
            format_datetime(earliest)
        )));
    }
    Ok(Window {
        start,
        covered: end.min(truncate_to_minute(now)),
    })
}

fn exceeded_id_limit(found: usize) -> ApiError {
    ApiError::bad_request(
        "EXCEEDED_ID_LIMIT",
        format!(
            "More than {MAX_IDS} ids match ({found} at least); ask for a shorter window between start and end"
        ),
    )
}

/// `GET /sobjects/{Name}/updated?start=&end=`.
pub async fn updated(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if api.version_number < 29.0 {
        return Err(ApiError::not_found());
    }
    let org = app.org.read();
    let index = object_index(&org, &object)?;
    let window = window(&org, &params, UPDATED_WINDOW_MS, 30)?;
    let store = org.object_at(index);
    let mut ids = Vec::new();
    // The store's listing stamp, not the field: a silent admin write moves SystemModstamp unseen.
    for (stamp, record) in store.iter_by_modstamp(window.start) {
        if stamp >= window.covered {
            break;
        }
        if record.is_deleted() {
            continue;
        }
        if ids.len() == MAX_IDS {
            return Err(exceeded_id_limit(MAX_IDS + 1));
        }
        ids.push(record.id.as_str().to_string());
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"ids": ids, "latestDateCovered": format_datetime(window.covered)}),
    ))
}

/// `GET /sobjects/{Name}/deleted?start=&end=`.
pub async fn deleted(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if api.version_number < 29.0 {
        return Err(ApiError::not_found());
    }
    let org = app.org.read();
    let index = object_index(&org, &object)?;
    let window = window(&org, &params, DELETED_WINDOW_MS, 15)?;
    let name = &org.object_at(index).schema.name;
    let mut entries: Vec<_> = org
        .delete_log
        .iter()
        .filter(|entry| {
            entry.object == *name
                && entry.deleted_date >= window.start
                && entry.deleted_date < window.covered
        })
        .collect();
    if entries.len() > MAX_IDS {
        return Err(exceeded_id_limit(entries.len()));
    }
    entries.sort_by_key(|entry| (entry.deleted_date, entry.id));
    let deleted: Vec<_> = entries
        .iter()
        .map(|entry| json!({"id": entry.id.as_str(), "deletedDate": format_datetime(entry.deleted_date)}))
        .collect();
    // Entries older than the retention window have been purged: nothing earlier is complete.
    let earliest = truncate_to_minute(org.clock.now_ms() - DELETED_WINDOW_MS);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "deletedRecords": deleted,
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(window.covered),
        }),
    ))
}

/// The replication routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/services/data/{version}/sobjects/{object}/updated",
            get(updated),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/deleted",
            get(deleted),
        )
}
