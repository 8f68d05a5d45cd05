//! Salesforce API errors: the REST error body, per-record errors, and the client's typed error with
//! its transient/permanent classification.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::auth::AuthError;

/// Error codes that mean "try again later" rather than "this request is wrong".
const TRANSIENT_CODES: &[&str] = &["UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"];

/// Whether a Salesforce error/status code is worth retrying.
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// One entry of a REST error body `[{"message","errorCode","fields"}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestError {
    pub message: String,
    #[serde(rename = "errorCode")]
    pub error_code: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// Parses a REST error body: an array normally, a bare object in a few documented places.
pub fn parse_rest_errors(body: &[u8]) -> Option<Vec<RestError>> {
    serde_json::from_slice::<Vec<RestError>>(body)
        .ok()
        .or_else(|| {
            serde_json::from_slice::<RestError>(body)
                .ok()
                .map(|error| vec![error])
        })
}

/// One entry of `errors[]` in sObject Collections results (`statusCode`, not `errorCode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    #[serde(rename = "statusCode")]
    pub status_code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl RecordError {
    pub fn is_transient(&self) -> bool {
        is_transient_code(&self.status_code)
    }
}

/// Formats REST errors as `CODE: message (fields: A, B)`, joined with `; `.
pub struct ErrorList<'a>(pub &'a [RestError]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str("; ")?;
            }
            write!(formatter, "{}: {}", error.error_code, error.message)?;
            if !error.fields.is_empty() {
                write!(formatter, " (fields: {})", error.fields.join(", "))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum SalesforceError {
    #[error("cannot log in to Salesforce")]
    Auth(#[from] AuthError),
    #[error("{operation}: cannot reach Salesforce")]
    Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{operation}: HTTP {status}: {}", ErrorList(errors))]
    Api {
        operation: &'static str,
        status: u16,
        errors: Vec<RestError>,
    },
    #[error("{operation}: unexpected HTTP {status}: {body}")]
    UnexpectedStatus {
        operation: &'static str,
        status: u16,
        body: String,
    },
    #[error(
        "{operation}: Salesforce rejected a freshly obtained session: {}",
        ErrorList(errors)
    )]
    SessionRejected {
        operation: &'static str,
        errors: Vec<RestError>,
    },
    /// 403 `REQUEST_LIMIT_EXCEEDED`: the org's allowance is spent; wait before trying again.
    #[error("{operation}: the org's API limit is exceeded (REQUEST_LIMIT_EXCEEDED: {message}); retry in {}s", retry_after.as_secs())]
    RequestLimitExceeded {
        operation: &'static str,
        message: String,
        retry_after: Duration,
    },
    /// Refused locally: the call would spend the configured reserve (`SFSYNC_API_RESERVE`).
    #[error("{operation}: API budget exhausted ({used} of {max} daily calls used, {reserve} reserved); retry in {}s", retry_after.as_secs())]
    BudgetExhausted {
        operation: &'static str,
        used: u64,
        max: u64,
        reserve: u64,
        retry_after: Duration,
    },
    #[error("{operation}: cannot decode the response: {snippet}")]
    Decode {
        operation: &'static str,
        snippet: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{operation}: cannot encode the request")]
    Encode {
        operation: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{operation}: {count} records given, at most {max} are allowed per call")]
    TooManyRecords {
        operation: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{operation}: {received} results returned for {sent} records")]
    ResultCountMismatch {
        operation: &'static str,
        sent: usize,
        received: usize,
    },
    #[error("{operation}: {reason}")]
    InvalidArgument {
        operation: &'static str,
        reason: String,
    },
    #[error("{operation}: missing or invalid response header {header}")]
    MissingHeader {
        operation: &'static str,
        header: &'static str,
    },
    #[error("{operation}: cannot read the CSV result")]
    Csv {
        operation: &'static str,
        #[source]
        source: csv::Error,
    },
    #[error("Bulk API job {job_id} ended in state {state}: {message}")]
    BulkJobFailed {
        job_id: String,
        state: String,
        message: String,
    },
    #[error("Bulk API job {job_id} is still {state} after {}s", waited.as_secs())]
    BulkJobTimedOut {
        job_id: String,
        state: String,
        waited: Duration,
    },
}

impl SalesforceError {
    /// Connection errors, time-outs, 5xx, `UNABLE_TO_LOCK_ROW`, `SERVER_UNAVAILABLE` and transient
    /// login failures: retry with backoff.
    pub fn is_transient(&self) -> bool {
        match self {
            SalesforceError::Transport { .. } => true,
            SalesforceError::Auth(error) => error.is_transient(),
            SalesforceError::Api { status, errors, .. } => {
                *status >= 500
                    || *status == 429
                    || errors
                        .iter()
                        .any(|error| is_transient_code(&error.error_code))
            }
            SalesforceError::UnexpectedStatus { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// For limit errors: how long to wait before the next call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SalesforceError::RequestLimitExceeded { retry_after, .. }
            | SalesforceError::BudgetExhausted { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The REST error codes carried by an API error (empty for other kinds).
    pub fn error_codes(&self) -> Vec<&str> {
        match self {
            SalesforceError::Api { errors, .. }
            | SalesforceError::SessionRejected { errors, .. } => errors
                .iter()
                .map(|error| error.error_code.as_str())
                .collect(),
            SalesforceError::RequestLimitExceeded { .. } => vec!["REQUEST_LIMIT_EXCEEDED"],
            _ => Vec::new(),
        }
    }

    /// The HTTP status for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            SalesforceError::Api { status, .. }
            | SalesforceError::UnexpectedStatus { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_rest_error_bodies_parse() {
        // REST API Developer Guide: status codes and error responses, incorrect ID example (as quoted).
        let errors = parse_rest_errors(
            br#"[{"fields":["Id"],"message":"Account ID: id value of incorrect type: <id>","errorCode":"MALFORMED_ID"}]"#,
        )
        .expect("parses");
        assert_eq!(errors[0].error_code, "MALFORMED_ID");
        assert_eq!(errors[0].fields, ["Id"]);
        // REST API Developer Guide: status codes, 401 INVALID_SESSION_ID, expired session.
        let errors = parse_rest_errors(
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        )
        .expect("parses");
        assert_eq!(errors[0].error_code, "INVALID_SESSION_ID");
        assert!(errors[0].fields.is_empty());
        // REST API Developer Guide: sObject Rows by External ID, the bare-object form.
        let errors = parse_rest_errors(
            br#"{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}"#,
        )
        .expect("parses");
        assert_eq!(errors[0].error_code, "NOT_FOUND");
        // REST API Developer Guide: Limits and the Sforce-Limit-Info header, daily limit exhausted.
        let errors = parse_rest_errors(
            br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        )
        .expect("parses");
        assert_eq!(errors[0].message, "TotalRequests Limit exceeded.");
        assert!(parse_rest_errors(b"<html>Bad gateway</html>").is_none());
    }

    #[test]
    fn transient_classification() {
        let api = |status, code: &str| SalesforceError::Api {
            operation: "test",
            status,
            errors: vec![RestError {
                message: String::new(),
                error_code: code.to_string(),
                fields: vec![],
            }],
        };
        assert!(api(503, "SERVER_UNAVAILABLE").is_transient());
        assert!(api(500, "UNKNOWN_EXCEPTION").is_transient());
        assert!(api(400, "UNABLE_TO_LOCK_ROW").is_transient());
        assert!(!api(400, "REQUIRED_FIELD_MISSING").is_transient());
        assert!(!api(404, "NOT_FOUND").is_transient());
        let limit = SalesforceError::RequestLimitExceeded {
            operation: "test",
            message: "TotalRequests Limit exceeded.".into(),
            retry_after: Duration::from_secs(60),
        };
        assert!(!limit.is_transient());
        assert_eq!(limit.retry_after(), Some(Duration::from_secs(60)));
        assert!(RecordError {
            status_code: "UNABLE_TO_LOCK_ROW".into(),
            message: "unable to obtain exclusive access to this record or 1 records: 001".into(),
            fields: vec![],
        }
        .is_transient());
    }
}
