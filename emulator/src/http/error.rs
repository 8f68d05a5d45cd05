//! REST error responses: a JSON array of `{"message","errorCode"[,"fields"]}` with the right HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use crate::store::RecordError;

pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// A top-level REST error (`errorCode` spelling).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_code: String,
    pub fields: Option<Vec<String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, error_code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            error_code: error_code.to_string(),
            fields: None,
        }
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> ApiError {
        self.fields = Some(fields);
        self
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    pub fn bad_request(error_code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error_code, message)
    }

    pub fn invalid_session() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    /// A URL naming an object the org does not have: Salesforce's plain 404, with nothing about the name added.
    pub fn unknown_object(_name: &str) -> ApiError {
        ApiError::not_found()
    }

    pub fn body(&self) -> Json {
        let mut item = json!({"message": self.message, "errorCode": self.error_code});
        if let Some(fields) = &self.fields {
            item["fields"] = json!(fields);
        }
        json!([item])
    }
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> ApiError {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError {
            status,
            message: error.message,
            error_code: error.code.to_string(),
            fields: Some(error.fields),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// A JSON response with Salesforce's content type.
pub fn json_response(status: StatusCode, body: &Json) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// Collections per-record error entry (`statusCode` spelling).
pub fn record_error_json(error: &RecordError) -> Json {
    json!({"statusCode": error.code, "message": error.message, "fields": error.fields})
}
