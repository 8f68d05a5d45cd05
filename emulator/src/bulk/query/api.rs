//! HTTP handlers of `/services/data/vXX.X/jobs/query` (Bulk API 2.0 Developer Guide: query jobs): create (SOQL compiled at once), job info, list,
//! abort, delete and result pages with `Sforce-Locator` / `Sforce-NumberOfRecords`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::check::{check_columns, check_syntax};
use super::job::{CompiledAt, QueryJob};
use super::pages::{decode_locator, encode_locator, page_body, page_window};
use super::run;
use crate::app::SharedState;
use crate::bulk::errors::{
    api_error, exceeded_quota, invalid_job, invalid_job_state, job_not_found, json_error,
    version_conflict,
};
use crate::bulk::format::{ColumnDelimiter, ContentType, CsvDialect, LineEnding};
use crate::bulk::job::{JobIdentity, JobState};
use crate::bulk::list::list_page;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};
use crate::soql::{CompiledQuery, SoqlError};

/// Bulk API 2.0 query jobs exist from API 47.0 on.
pub const MIN_QUERY_VERSION: f64 = 47.0;

type JobPath = Path<(String, String)>;

fn check_version(api: &ApiContext) -> Result<(), ApiError> {
    if api.version_number < MIN_QUERY_VERSION {
        return Err(ApiError::not_found());
    }
    Ok(())
}

fn find_job(app: &SharedState, api: &ApiContext, id: &str) -> Result<Arc<QueryJob>, ApiError> {
    check_version(api)?;
    app.bulk.query.get(id).ok_or_else(job_not_found)
}

fn soql_error(error: SoqlError) -> ApiError {
    ApiError::bad_request(error.code.as_str(), error.message)
}

/// `operation` of a query job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum QueryOperation {
    Query,
    QueryAll,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    operation: Option<QueryOperation>,
    query: Option<String>,
    /// Parsed only so that anything but `CSV` is refused.
    #[allow(dead_code)]
    content_type: Option<ContentType>,
    column_delimiter: Option<ColumnDelimiter>,
    line_ending: Option<LineEnding>,
}

/// `POST /jobs/query`.
pub async fn create(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_version(&api)?;
    let request: CreateRequest = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let operation = request.operation.unwrap_or(QueryOperation::Query);
    let soql = request
        .query
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| invalid_job("The query of the job is required"))?;
    check_syntax(&soql).map_err(|refused| api_error(refused.0))?;
    let (compiled, object, now) = {
        let org = app.org.read();
        let query = CompiledQuery::compile(&soql, &org.soql).map_err(soql_error)?;
        check_columns(&org.soql, query.object_name(), &query.columns())
            .map_err(|refused| api_error(refused.0))?;
        let object = query.object_name().to_string();
        let compiled = CompiledAt {
            query: Arc::new(query),
            generation: org.soql.generation(),
        };
        (compiled, object, org.clock.now_ms())
    };
    if !app.limits.try_spend_other("DailyBulkV2QueryJobs", 1) {
        return Err(exceeded_quota(
            "The daily allocation of Bulk API 2.0 query jobs (DailyBulkV2QueryJobs) is used up",
        ));
    }
    let identity = JobIdentity {
        id: app.bulk.next_id(),
        operation: match operation {
            QueryOperation::Query => "query",
            QueryOperation::QueryAll => "queryAll",
        },
        object,
        created_by: api.user,
        created_date: now,
        api_version: api.version.clone(),
        api_version_number: api.version_number,
        dialect: CsvDialect {
            delimiter: request.column_delimiter.unwrap_or_default(),
            line_ending: request.line_ending.unwrap_or_default(),
        },
        origin_client: api.client.clone(),
    };
    let include_deleted = operation == QueryOperation::QueryAll;
    let job = Arc::new(QueryJob::new(identity, soql, include_deleted, compiled));
    app.bulk.query.insert(job.identity.id, job.clone());
    let response = job.summary_json();
    let worker_app = app.clone();
    let worker_job = job.clone();
    tokio::task::spawn_blocking(move || run::process(&worker_app, &worker_job));
    Ok(json_response(StatusCode::OK, &response))
}

/// `GET /jobs/query`.
pub async fn list(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_version(&api)?;
    let body = list_page(
        &app.bulk.query,
        &api,
        &params,
        "query",
        "V2Query",
        QueryJob::list_json,
    )?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /jobs/query/{id}`.
pub async fn info(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    Ok(json_response(StatusCode::OK, &job.info_json()))
}

#[derive(Deserialize)]
struct StateChange {
    state: Option<String>,
}

/// `PATCH /jobs/query/{id}` with `{"state":"Aborted"}`.
pub async fn abort(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
    body: Bytes,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    let change: StateChange = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    if change.state.as_deref() != Some("Aborted") {
        return Err(invalid_job_state(format!(
            "Invalid state change: {}; a query job can only be Aborted",
            change.state.as_deref().unwrap_or("(none)")
        )));
    }
    let now = app.org.read().clock.now_ms();
    {
        let mut progress = job.progress.lock();
        if progress.state.is_terminal() {
            return Err(invalid_job_state(format!(
                "Job {} cannot be aborted: its state is {}",
                job.identity.id,
                progress.state.as_str()
            )));
        }
        progress.state = JobState::Aborted;
        progress.system_modstamp = now;
    }
    Ok(json_response(StatusCode::OK, &job.summary_json()))
}

/// `DELETE /jobs/query/{id}`.
pub async fn delete(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    let state = job.progress.lock().state;
    if state == JobState::InProgress {
        return Err(invalid_job_state(format!(
            "Job {} cannot be deleted while it is InProgress",
            job.identity.id
        )));
    }
    app.bulk.query.remove(&job.identity.id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("null"))
}

/// `GET /jobs/query/{id}/results?locator=&maxRecords=`: one page of CSV.
pub async fn results(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    if api.version != job.identity.api_version {
        return Err(version_conflict(&job.identity.api_version));
    }
    let (state, ids) = {
        let progress = job.progress.lock();
        (progress.state, progress.ids.clone())
    };
    if state != JobState::JobComplete {
        return Err(invalid_job_state(format!(
            "Job {} has no results: its state is {}",
            job.identity.id,
            state.as_str()
        )));
    }
    let start = match params.get("locator").filter(|l| !l.is_empty()) {
        Some(locator) => decode_locator(locator).ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_QUERY_LOCATOR",
                format!("Invalid locator: {locator}"),
            )
        })?,
        None => 0,
    };
    let max_records = match params.get("maxRecords") {
        Some(text) => Some(
            text.parse::<usize>()
                .ok()
                .filter(|max| *max > 0)
                .ok_or_else(|| {
                    api_error(format!("maxRecords must be a positive integer: {text}"))
                })?,
        ),
        None => None,
    };
    let window = page_window(ids.len(), start, max_records);
    let locator = window
        .next
        .map(encode_locator)
        .unwrap_or_else(|| "null".to_string());
    let count = window.end - window.start;
    let mut response = (StatusCode::OK, page_body(app.clone(), job, ids, window)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    headers.insert("Sforce-Locator", header_value(&locator));
    headers.insert("Sforce-NumberOfRecords", header_value(&count.to_string()));
    Ok(response)
}
