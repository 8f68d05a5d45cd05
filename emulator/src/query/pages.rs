//! Running a query and rendering its pages (REST API Developer Guide: Query and QueryAll): the first page from the query itself, the following ones
//! from the cursor's snapshot of ids. Used by the `/query` and `/queryAll` handlers and by composite
//! subrequests (which pass the org as their transaction sees it).

use std::io::Write;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::locators::QueryCursor;
use super::source::OrgSource;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::soql::{CompiledQuery, ExecuteOptions, QueryRows, Render, SoqlError};
use crate::store::{Org, Record};

/// Default and bounds of `Sforce-Query-Options: batchSize=N`.
pub const DEFAULT_BATCH_SIZE: usize = 2000;
pub const MIN_BATCH_SIZE: usize = 200;
pub const MAX_BATCH_SIZE: usize = 2000;

/// The page size asked for in a `Sforce-Query-Options` header value, clamped to 200–2,000.
pub fn batch_size(header: Option<&str>) -> usize {
    let asked = header.and_then(|value| {
        value.split(',').find_map(|option| {
            let (key, number) = option.trim().split_once('=')?;
            if !key.trim().eq_ignore_ascii_case("batchSize") {
                return None;
            }
            number.trim().parse::<i64>().ok()
        })
    });
    match asked {
        Some(size) => size.clamp(MIN_BATCH_SIZE as i64, MAX_BATCH_SIZE as i64) as usize,
        None => DEFAULT_BATCH_SIZE,
    }
}

/// A query error as the REST API reports it (400 with the engine's `errorCode` and message).
pub fn soql_error(error: SoqlError) -> ApiError {
    ApiError::bad_request(error.code.as_str(), error.message)
}

/// `INVALID_QUERY_LOCATOR`, for unknown, expired and malformed locators.
pub fn invalid_locator() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY_LOCATOR",
        "invalid query locator",
    )
}

fn org_now(org: &Org) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(org.clock.now_ms()).unwrap_or_default()
}

/// Writes `{"totalSize":N,"done":B[,"nextRecordsUrl":U],"records":[...]}` around already rendered records.
fn page_body(
    total_size: usize,
    next_url: Option<&str>,
    records: &[u8],
    record_count: usize,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(records.len() + 128);
    let _ = write!(
        body,
        "{{\"totalSize\":{total_size},\"done\":{}",
        next_url.is_none()
    );
    if let Some(url) = next_url {
        body.extend_from_slice(b",\"nextRecordsUrl\":");
        let _ = serde_json::to_writer(&mut body, url);
    }
    body.extend_from_slice(b",\"records\":[");
    if record_count > 0 {
        body.extend_from_slice(records);
    }
    body.extend_from_slice(b"]}");
    body
}

/// Renders records as comma-separated JSON objects into `out`; returns how many.
fn render_records<'r>(
    query: &CompiledQuery,
    source: &OrgSource<'_>,
    records: impl Iterator<Item = &'r Record>,
    render: &Render<'_>,
    out: &mut Vec<u8>,
) -> usize {
    let mut count = 0;
    for record in records {
        if count > 0 {
            out.push(b',');
        }
        query.write_json_record(source, record, render, out);
        count += 1;
    }
    count
}

fn next_url(api_version: &str, locator: &str, offset: usize) -> String {
    format!("/services/data/v{api_version}/query/{locator}-{offset}")
}

/// Runs `text` over `org` and returns the body of the first page; opens a cursor in `app` when more pages
/// remain.
pub fn first_page(
    app: &AppState,
    org: &Org,
    api_version: &str,
    text: &str,
    include_deleted: bool,
    batch_size: usize,
) -> Result<Vec<u8>, ApiError> {
    let query = CompiledQuery::compile(text, &org.soql).map_err(soql_error)?;
    let source = OrgSource::new(org);
    let options = ExecuteOptions {
        include_deleted,
        now: org_now(org),
    };
    let result = query.execute(&source, &options);
    let records = match result.rows {
        QueryRows::Count => return Ok(page_body(result.total_size, None, b"", 0)),
        QueryRows::Aggregate(counts) => {
            let row = serde_json::to_vec(&Json::Array(vec![query.aggregate_json(&counts)]))
                .unwrap_or_default();
            // Strip the array brackets: page_body adds its own.
            let inner = &row[1..row.len().saturating_sub(1)];
            return Ok(page_body(result.total_size, None, inner, 1));
        }
        QueryRows::Records(records) => records,
    };
    let total = records.len();
    let first = records.len().min(batch_size);
    let mut rendered = Vec::with_capacity(first * 160);
    let render = Render {
        api_version,
        options: &options,
    };
    let count = render_records(
        &query,
        &source,
        records[..first].iter().copied(),
        &render,
        &mut rendered,
    );
    if first == total {
        return Ok(page_body(total, None, &rendered, count));
    }
    let object = org
        .soql
        .position(query.object_name())
        .ok_or_else(invalid_locator)?;
    let cursor = QueryCursor {
        text: text.to_string(),
        ids: records.iter().map(|record| record.id).collect(),
        query: Arc::new(query),
        generation: org.soql.generation(),
        object,
        include_deleted,
        batch_size,
    };
    let locator = app.query_locators.open(cursor, org.clock.now_ms());
    let next = next_url(api_version, &locator, first);
    Ok(page_body(total, Some(&next), &rendered, count))
}

/// Renders the page at `<locator>-<offset>` from the cursor's ids and the records as they are now. Records
/// removed since the query ran (hard-deleted, or deleted when the cursor is not `queryAll`) are left out,
/// so such a page can be shorter than the batch size.
pub fn next_page(
    app: &AppState,
    org: &Org,
    api_version: &str,
    locator_and_offset: &str,
) -> Result<Vec<u8>, ApiError> {
    let (locator, offset) = locator_and_offset
        .rsplit_once('-')
        .ok_or_else(invalid_locator)?;
    let offset: usize = offset.parse().map_err(|_| invalid_locator())?;
    let mut cursor = app
        .query_locators
        .get(locator, org.clock.now_ms())
        .ok_or_else(invalid_locator)?;
    if offset >= cursor.ids.len() {
        return Err(invalid_locator());
    }
    if cursor.generation != org.soql.generation() {
        // Fields were added or dropped since: field positions moved, so compile the text again.
        let query = CompiledQuery::compile(&cursor.text, &org.soql).map_err(soql_error)?;
        app.query_locators
            .recompiled(locator, Arc::new(query), org.soql.generation());
        cursor = app
            .query_locators
            .get(locator, org.clock.now_ms())
            .ok_or_else(invalid_locator)?;
    }
    let end = offset
        .saturating_add(cursor.batch_size)
        .min(cursor.ids.len());
    let source = OrgSource::new(org);
    let store = org.object_at(cursor.object);
    let records = cursor.ids[offset..end]
        .iter()
        .filter_map(|id| store.get(id))
        .filter(|record| cursor.include_deleted || !record.is_deleted());
    let mut rendered = Vec::with_capacity((end - offset) * 160);
    let options = ExecuteOptions {
        include_deleted: cursor.include_deleted,
        now: org_now(org),
    };
    let render = Render {
        api_version,
        options: &options,
    };
    let count = render_records(&cursor.query, &source, records, &render, &mut rendered);
    let next = (end < cursor.ids.len()).then(|| next_url(api_version, locator, end));
    Ok(page_body(
        cursor.ids.len(),
        next.as_deref(),
        &rendered,
        count,
    ))
}
