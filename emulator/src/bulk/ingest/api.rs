//! HTTP handlers of `/services/data/vXX.X/jobs/ingest` (Bulk API 2.0 Developer Guide: ingest jobs): create, upload, close or abort, job info, list,
//! delete and the three result files.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::job::{IngestJob, IngestOperation};
use super::results::{self, ResultKind};
use super::run;
use crate::app::SharedState;
use crate::bulk::errors::{
    invalid_job, invalid_job_state, job_not_found, json_error, unsupported_content_type,
};
use crate::bulk::format::{ColumnDelimiter, ContentType, CsvDialect, LineEnding};
use crate::bulk::job::{JobIdentity, JobState};
use crate::bulk::list::list_page;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};
use crate::store::transaction::upsert_key_field;

/// Bulk API 2.0 ingest exists from API 41.0 on.
pub const MIN_INGEST_VERSION: f64 = 41.0;

type JobPath = Path<(String, String)>;

fn check_version(api: &ApiContext) -> Result<(), ApiError> {
    if api.version_number < MIN_INGEST_VERSION {
        return Err(ApiError::not_found());
    }
    Ok(())
}

fn find_job(app: &SharedState, api: &ApiContext, id: &str) -> Result<Arc<IngestJob>, ApiError> {
    check_version(api)?;
    app.bulk.ingest.get(id).ok_or_else(job_not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    object: Option<String>,
    operation: Option<IngestOperation>,
    external_id_field_name: Option<String>,
    /// Parsed only so that anything but `CSV` is refused.
    #[allow(dead_code)]
    content_type: Option<ContentType>,
    column_delimiter: Option<ColumnDelimiter>,
    line_ending: Option<LineEnding>,
}

/// `POST /jobs/ingest`.
pub async fn create(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_version(&api)?;
    let request: CreateRequest = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let object = request
        .object
        .filter(|o| !o.trim().is_empty())
        .ok_or_else(|| invalid_job("The object of the job is required"))?;
    let operation = request
        .operation
        .ok_or_else(|| invalid_job("The operation of the job is required"))?;
    let (object, external_id_field, now) = {
        let org = app.org.read();
        let index = org
            .object_index(&object)
            .ok_or_else(|| invalid_job(format!("sObject type '{object}' is not supported.")))?;
        let schema = &org.object_at(index).schema;
        let external_id_field = match (operation, request.external_id_field_name) {
            (IngestOperation::Upsert, None) => {
                return Err(invalid_job("An upsert job needs externalIdFieldName"))
            }
            (IngestOperation::Upsert, Some(field)) => {
                let key = upsert_key_field(&org, index, &field).map_err(|_| {
                    invalid_job(format!(
                        "The field {field} of {} is not an external ID field",
                        schema.name
                    ))
                })?;
                Some(schema.fields[key].name.to_string())
            }
            _ => None,
        };
        (
            schema.name.to_string(),
            external_id_field,
            org.clock.now_ms(),
        )
    };
    let identity = JobIdentity {
        id: app.bulk.next_id(),
        operation: operation.as_str(),
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
    let job = Arc::new(IngestJob::new(identity, operation, external_id_field));
    app.bulk.ingest.insert(job.identity.id, job.clone());
    Ok(json_response(StatusCode::OK, &job.summary_json()))
}

/// `GET /jobs/ingest`.
pub async fn list(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_version(&api)?;
    let body = list_page(
        &app.bulk.ingest,
        &api,
        &params,
        "ingest",
        "V2Ingest",
        IngestJob::list_json,
    )?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /jobs/ingest/{id}`.
pub async fn info(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    Ok(json_response(StatusCode::OK, &job.info_json()))
}

fn is_csv(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = given.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("text/csv") {
        Ok(())
    } else {
        Err(unsupported_content_type(given))
    }
}

/// `PUT /jobs/ingest/{id}/batches`: stores the CSV (201, no body). Salesforce takes one upload per job; a second
/// one is accepted here and makes the close fail.
pub async fn upload(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    is_csv(&headers)?;
    let now = app.org.read().clock.now_ms();
    let mut progress = job.progress.lock();
    if progress.state != JobState::Open {
        return Err(invalid_job_state(format!(
            "Job {} is not open for uploads: its state is {}",
            job.identity.id,
            progress.state.as_str()
        )));
    }
    progress.uploads.push(body);
    progress.system_modstamp = now;
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Deserialize)]
struct StateChange {
    state: Option<String>,
}

/// `PATCH /jobs/ingest/{id}`: `{"state":"UploadComplete"}` starts processing, `{"state":"Aborted"}` aborts.
pub async fn change_state(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
    body: Bytes,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    let change: StateChange = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let now = app.org.read().clock.now_ms();
    match change.state.as_deref() {
        Some("UploadComplete") => {
            {
                let mut progress = job.progress.lock();
                if progress.state != JobState::Open {
                    return Err(invalid_job_state(format!(
                        "Job {} cannot be closed: its state is {}",
                        job.identity.id,
                        progress.state.as_str()
                    )));
                }
                if progress.uploads.len() > 1 {
                    return Err(invalid_job(format!(
                        "Found multipe contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
                        job.identity.id.short()
                    )));
                }
                progress.state = JobState::UploadComplete;
                progress.system_modstamp = now;
            }
            // The answer shows the job as closed: rendered before processing starts, since a small job can
            // finish before this handler would read its state again.
            let closed = job.summary_json();
            let worker_app = app.clone();
            let worker_job = job.clone();
            tokio::task::spawn_blocking(move || run::process(&worker_app, &worker_job));
            return Ok(json_response(StatusCode::OK, &closed));
        }
        Some("Aborted") => {
            let mut progress = job.progress.lock();
            if progress.state.is_terminal() {
                return Err(invalid_job_state(format!(
                    "Job {} cannot be aborted: its state is {}",
                    job.identity.id,
                    progress.state.as_str()
                )));
            }
            progress.state = JobState::Aborted;
            progress.cancelled = true;
            progress.system_modstamp = now;
        }
        other => {
            return Err(invalid_job_state(format!(
                "Invalid state change: {}; use UploadComplete or Aborted",
                other.unwrap_or("(none)")
            )))
        }
    }
    Ok(json_response(StatusCode::OK, &job.summary_json()))
}

/// `DELETE /jobs/ingest/{id}`: only jobs that are closed, done, failed or aborted.
pub async fn delete(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    {
        let mut progress = job.progress.lock();
        if progress.state == JobState::Open || progress.state == JobState::InProgress {
            return Err(invalid_job_state(format!(
                "Job {} cannot be deleted: its state is {}",
                job.identity.id,
                progress.state.as_str()
            )));
        }
        progress.cancelled = true;
    }
    app.bulk.ingest.remove(&job.identity.id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn csv_response(bytes: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    response
}

async fn result_file(
    app: SharedState,
    api: ApiContext,
    id: String,
    kind: ResultKind,
) -> Result<Response, ApiError> {
    let job = find_job(&app, &api, &id)?;
    let dialect = job.identity.dialect;
    let rendered = tokio::task::spawn_blocking(move || {
        let progress = job.progress.lock();
        results::render(&progress, kind, dialect)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            e.to_string(),
        )
    })?
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            e.to_string(),
        )
    })?;
    Ok(csv_response(rendered))
}

/// `GET /jobs/ingest/{id}/successfulResults/`.
pub async fn successful_results(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    result_file(app, api, id, ResultKind::Successful).await
}

/// `GET /jobs/ingest/{id}/failedResults/`.
pub async fn failed_results(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    result_file(app, api, id, ResultKind::Failed).await
}

/// `GET /jobs/ingest/{id}/unprocessedrecords/`.
pub async fn unprocessed_records(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, id)): JobPath,
) -> Result<Response, ApiError> {
    result_file(app, api, id, ResultKind::Unprocessed).await
}
