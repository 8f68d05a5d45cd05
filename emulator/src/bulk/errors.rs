//! The REST errors Bulk API 2.0 endpoints answer with (`[{"errorCode","message"}]`). Codes follow the Bulk API
//! error list spelled the way its JSON bodies spell them (`INVALIDJOB`, `API_ERROR`).

use axum::http::StatusCode;

use crate::http::error::ApiError;

/// 400 `INVALIDJOB`: a bad create request, or a close after several uploads.
pub fn invalid_job(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALIDJOB", message)
}

/// 400 `INVALIDJOBSTATE`: the job's state does not allow this call.
pub fn invalid_job_state(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALIDJOBSTATE", message)
}

/// 400 `API_ERROR`: what Bulk API 2.0 answers for SOQL features it does not run.
pub fn api_error(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("API_ERROR", message)
}

/// 400 `EXCEEDEDQUOTA`: a daily Bulk allocation is used up.
pub fn exceeded_quota(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("EXCEEDEDQUOTA", message)
}

/// 400 `JSON_PARSER_ERROR` for a request body that does not parse.
pub fn json_error(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "JSON_PARSER_ERROR",
        format!("Cannot parse the request body: {error}"),
    )
}

/// 404 for an unknown job id.
pub fn job_not_found() -> ApiError {
    ApiError::not_found()
}

/// 415 for an upload that is not `text/csv`.
pub fn unsupported_content_type(given: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        format!("Content-Type '{given}' is not supported: upload job data as text/csv"),
    )
}

/// 409 for results fetched through another API version than the job's.
pub fn version_conflict(job_version: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "INVALIDJOB",
        format!(
            "Query job results must be retrieved with the API version that created the job (v{job_version})"
        ),
    )
}
