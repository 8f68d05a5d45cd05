//! Bulk API 2.0 job info, states and polling shared by ingest and query jobs.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::salesforce::client::{Call, CallKind, SalesforceClient};
use crate::salesforce::error::SalesforceError;
use crate::salesforce::Backoff;

/// Job states: `Open` → `UploadComplete` → `InProgress` → `JobComplete` | `Failed` | `Aborted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum JobState {
    Open,
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
    Other(String),
}

impl From<String> for JobState {
    fn from(text: String) -> Self {
        match text.as_str() {
            "Open" => JobState::Open,
            "UploadComplete" => JobState::UploadComplete,
            "InProgress" => JobState::InProgress,
            "JobComplete" => JobState::JobComplete,
            "Failed" => JobState::Failed,
            "Aborted" => JobState::Aborted,
            _ => JobState::Other(text),
        }
    }
}

impl From<JobState> for String {
    fn from(state: JobState) -> Self {
        state.as_str().to_string()
    }
}

impl JobState {
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Open => "Open",
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
            JobState::Other(text) => text,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

/// `COMMA` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ColumnDelimiter {
    #[default]
    Comma,
    Backquote,
    Caret,
    Pipe,
    Semicolon,
    Tab,
}

impl ColumnDelimiter {
    pub fn byte(self) -> u8 {
        match self {
            ColumnDelimiter::Comma => b',',
            ColumnDelimiter::Backquote => b'`',
            ColumnDelimiter::Caret => b'^',
            ColumnDelimiter::Pipe => b'|',
            ColumnDelimiter::Semicolon => b';',
            ColumnDelimiter::Tab => b'\t',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LineEnding {
    #[default]
    Lf,
    Crlf,
}

/// What `GET /jobs/{ingest|query}/{id}` (and create/close) return.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    pub id: String,
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub object: Option<String>,
    pub state: JobState,
    #[serde(default)]
    pub external_id_field_name: Option<String>,
    #[serde(default)]
    pub content_url: Option<String>,
    #[serde(default)]
    pub column_delimiter: Option<ColumnDelimiter>,
    #[serde(default)]
    pub line_ending: Option<LineEnding>,
    #[serde(default)]
    pub number_records_processed: Option<u64>,
    #[serde(default)]
    pub number_records_failed: Option<u64>,
    #[serde(default)]
    pub retries: Option<u64>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub job_type: Option<String>,
}

/// How to wait for a job: delays grow from `backoff.base` to `backoff.max`; give up after `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct PollOptions {
    pub backoff: Backoff,
    pub timeout: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(10)),
            timeout: Duration::from_secs(6 * 3600),
        }
    }
}

/// `ingest` or `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    Ingest,
    Query,
}

impl JobKind {
    pub(crate) fn path(self) -> &'static str {
        match self {
            JobKind::Ingest => "jobs/ingest",
            JobKind::Query => "jobs/query",
        }
    }
}

/// Job ids go into URL paths: only letters and digits are accepted.
pub(crate) fn checked_job_id<'a>(
    operation: &'static str,
    job_id: &'a str,
) -> Result<&'a str, SalesforceError> {
    if !job_id.is_empty() && job_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(job_id)
    } else {
        Err(SalesforceError::InvalidArgument {
            operation,
            reason: format!("{job_id:?} is not a job id"),
        })
    }
}

impl SalesforceClient {
    pub(crate) async fn bulk_job_info(
        &self,
        kind: JobKind,
        operation: &'static str,
        job_id: &str,
    ) -> Result<JobInfo, SalesforceError> {
        let job_id = checked_job_id(operation, job_id)?;
        let call = Call::new(
            operation,
            Method::GET,
            self.data_path(&format!("{}/{job_id}", kind.path())),
            CallKind::Read,
        );
        self.execute_json(call).await
    }

    pub(crate) async fn bulk_job_set_state(
        &self,
        kind: JobKind,
        operation: &'static str,
        job_id: &str,
        state: &str,
    ) -> Result<JobInfo, SalesforceError> {
        let job_id = checked_job_id(operation, job_id)?;
        let body = serde_json::json!({ "state": state });
        let call = Call::new(
            operation,
            Method::PATCH,
            self.data_path(&format!("{}/{job_id}", kind.path())),
            CallKind::Write,
        )
        .customize(move |builder| builder.json(&body));
        self.execute_json(call).await
    }

    /// Polls until the job is terminal; `JobComplete` is returned, `Failed`/`Aborted` are errors.
    pub(crate) async fn bulk_job_wait(
        &self,
        kind: JobKind,
        operation: &'static str,
        job_id: &str,
        options: PollOptions,
    ) -> Result<JobInfo, SalesforceError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let info = self.bulk_job_info(kind, operation, job_id).await?;
            match info.state {
                JobState::JobComplete => return Ok(info),
                JobState::Failed | JobState::Aborted => {
                    return Err(SalesforceError::BulkJobFailed {
                        job_id: info.id.clone(),
                        state: info.state.as_str().to_string(),
                        message: info
                            .error_message
                            .clone()
                            .unwrap_or_else(|| "no error message".to_string()),
                    })
                }
                _ if started.elapsed() >= options.timeout => {
                    return Err(SalesforceError::BulkJobTimedOut {
                        job_id: info.id.clone(),
                        state: info.state.as_str().to_string(),
                        waited: started.elapsed(),
                    })
                }
                _ => {
                    tokio::time::sleep(options.backoff.delay(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bulk API 2.0 Developer Guide: ingest jobs, the create response, verbatim.
    const CREATED: &str = r#"{"id":"750...","operation":"insert","object":"Account","createdById":"005...","createdDate":"2022-01-02T17:38:59.000+0000",
 "systemModstamp":"...","state":"Open","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":58.0,
 "contentUrl":"services/data/v58.0/jobs/ingest/750.../batches","lineEnding":"LF","columnDelimiter":"COMMA"}"#;

    #[test]
    fn documented_job_info_parses() {
        let info: JobInfo = serde_json::from_str(CREATED).expect("parses");
        assert_eq!(info.state, JobState::Open);
        assert_eq!(info.column_delimiter, Some(ColumnDelimiter::Comma));
        assert_eq!(info.line_ending, Some(LineEnding::Lf));
        assert_eq!(
            info.content_url.as_deref(),
            Some("services/data/v58.0/jobs/ingest/750.../batches")
        );
        let finished: JobInfo = serde_json::from_str(
            r#"{"id":"7505","state":"JobComplete","jobType":"V2Ingest","numberRecordsProcessed":4,"numberRecordsFailed":0,"retries":0,"totalProcessingTime":170,"apiActiveProcessingTime":65,"apexProcessingTime":0}"#,
        )
        .expect("parses");
        assert!(finished.state.is_terminal());
        assert_eq!(finished.number_records_processed, Some(4));
        assert_eq!(finished.number_records_failed, Some(0));
    }

    #[test]
    fn job_ids_must_be_alphanumeric() {
        assert!(checked_job_id("t", "7505g00000ABCDeAAF").is_ok());
        assert!(checked_job_id("t", "../limits").is_err());
        assert!(checked_job_id("t", "").is_err());
    }
}
