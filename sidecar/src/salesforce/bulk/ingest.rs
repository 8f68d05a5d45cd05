//! Bulk API 2.0 ingest: create the job, upload the CSV (one PUT), close it, poll, read the results.

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;

use super::csv_results::{parse_failed, parse_successful, CsvTable, IngestFailure, IngestSuccess};
use super::job::{checked_job_id, ColumnDelimiter, JobInfo, JobKind, LineEnding, PollOptions};
use crate::salesforce::client::{api_name, Call, CallKind, SalesforceClient};
use crate::salesforce::error::SalesforceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum IngestOperation {
    Insert,
    Update,
    Upsert,
    Delete,
    HardDelete,
}

/// What to create: `externalIdFieldName` is required for upserts.
#[derive(Debug, Clone)]
pub struct IngestJobRequest {
    pub object: String,
    pub operation: IngestOperation,
    pub external_id_field_name: Option<String>,
    pub line_ending: LineEnding,
    pub column_delimiter: ColumnDelimiter,
}

impl IngestJobRequest {
    pub fn new(object: &str, operation: IngestOperation) -> Self {
        Self {
            object: object.to_string(),
            operation,
            external_id_field_name: None,
            line_ending: LineEnding::Lf,
            column_delimiter: ColumnDelimiter::Comma,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateIngestBody<'a> {
    object: &'a str,
    operation: IngestOperation,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id_field_name: Option<&'a str>,
    content_type: &'static str,
    line_ending: LineEnding,
    column_delimiter: ColumnDelimiter,
}

/// Everything a finished ingest job reports. Row order is not guaranteed to follow the upload.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub job: JobInfo,
    pub successful_columns: Vec<String>,
    pub successful: Vec<IngestSuccess>,
    pub failed_columns: Vec<String>,
    pub failed: Vec<IngestFailure>,
    pub unprocessed: CsvTable,
}

impl SalesforceClient {
    /// `POST /jobs/ingest`.
    pub async fn bulk_ingest_create(
        &self,
        request: &IngestJobRequest,
    ) -> Result<JobInfo, SalesforceError> {
        const OPERATION: &str = "bulk_ingest_create";
        let object = api_name(OPERATION, &request.object)?;
        if let Some(field) = &request.external_id_field_name {
            api_name(OPERATION, field)?;
        }
        if request.operation == IngestOperation::Upsert && request.external_id_field_name.is_none()
        {
            return Err(SalesforceError::InvalidArgument {
                operation: OPERATION,
                reason: "an upsert job needs externalIdFieldName".to_string(),
            });
        }
        let body = serde_json::to_value(CreateIngestBody {
            object,
            operation: request.operation,
            external_id_field_name: request.external_id_field_name.as_deref(),
            content_type: "CSV",
            line_ending: request.line_ending,
            column_delimiter: request.column_delimiter,
        })
        .map_err(|source| SalesforceError::Encode {
            operation: OPERATION,
            source,
        })?;
        let call = Call::new(
            OPERATION,
            Method::POST,
            self.data_path(JobKind::Ingest.path()),
            CallKind::Write,
        )
        .customize(move |builder| builder.json(&body));
        self.execute_json(call).await
    }

    /// `PUT /jobs/ingest/{id}/batches` with the whole CSV (Salesforce allows one upload per job).
    pub async fn bulk_ingest_upload(
        &self,
        job_id: &str,
        csv: Bytes,
    ) -> Result<(), SalesforceError> {
        const OPERATION: &str = "bulk_ingest_upload";
        let job_id = checked_job_id(OPERATION, job_id)?;
        let call = Call::new(
            OPERATION,
            Method::PUT,
            self.data_path(&format!("jobs/ingest/{job_id}/batches")),
            CallKind::Write,
        )
        .customize(move |builder| {
            builder
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .body(csv.clone())
        });
        self.execute(call).await?;
        Ok(())
    }

    /// `PATCH /jobs/ingest/{id}` `{"state":"UploadComplete"}`.
    pub async fn bulk_ingest_close(&self, job_id: &str) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_set_state(
            JobKind::Ingest,
            "bulk_ingest_close",
            job_id,
            "UploadComplete",
        )
        .await
    }

    /// `PATCH /jobs/ingest/{id}` `{"state":"Aborted"}`.
    pub async fn bulk_ingest_abort(&self, job_id: &str) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_set_state(JobKind::Ingest, "bulk_ingest_abort", job_id, "Aborted")
            .await
    }

    /// `GET /jobs/ingest/{id}`.
    pub async fn bulk_ingest_status(&self, job_id: &str) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_info(JobKind::Ingest, "bulk_ingest_status", job_id)
            .await
    }

    /// Polls with backoff until `JobComplete` (`Failed`/`Aborted` are errors).
    pub async fn bulk_ingest_wait(
        &self,
        job_id: &str,
        options: PollOptions,
    ) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_wait(JobKind::Ingest, "bulk_ingest_status", job_id, options)
            .await
    }

    /// `GET .../successfulResults/`: original column names and the rows.
    pub async fn bulk_ingest_successful_results(
        &self,
        job: &JobInfo,
    ) -> Result<(Vec<String>, Vec<IngestSuccess>), SalesforceError> {
        let body = self
            .bulk_ingest_result_body(
                "bulk_ingest_successful_results",
                &job.id,
                "successfulResults/",
            )
            .await?;
        parse_successful(&body, delimiter_of(job))
    }

    /// `GET .../failedResults/`.
    pub async fn bulk_ingest_failed_results(
        &self,
        job: &JobInfo,
    ) -> Result<(Vec<String>, Vec<IngestFailure>), SalesforceError> {
        let body = self
            .bulk_ingest_result_body("bulk_ingest_failed_results", &job.id, "failedResults/")
            .await?;
        parse_failed(&body, delimiter_of(job))
    }

    /// `GET .../unprocessedrecords/`.
    pub async fn bulk_ingest_unprocessed_records(
        &self,
        job: &JobInfo,
    ) -> Result<CsvTable, SalesforceError> {
        const OPERATION: &str = "bulk_ingest_unprocessed_records";
        let body = self
            .bulk_ingest_result_body(OPERATION, &job.id, "unprocessedrecords/")
            .await?;
        CsvTable::parse(OPERATION, &body, delimiter_of(job))
    }

    /// Create, upload, close, wait, and read every result list.
    pub async fn bulk_ingest_run(
        &self,
        request: &IngestJobRequest,
        csv: Bytes,
        poll: PollOptions,
    ) -> Result<IngestOutcome, SalesforceError> {
        let job = self.bulk_ingest_create(request).await?;
        if let Err(error) = self.bulk_ingest_upload(&job.id, csv).await {
            // Leave no open job behind; the upload error is the one worth reporting.
            if let Err(abort_error) = self.bulk_ingest_abort(&job.id).await {
                tracing::warn!(job_id = %job.id, error = %crate::error_chain(&abort_error), "cannot abort the bulk job");
            }
            return Err(error);
        }
        self.bulk_ingest_close(&job.id).await?;
        let job = self.bulk_ingest_wait(&job.id, poll).await?;
        let (successful_columns, successful) = self.bulk_ingest_successful_results(&job).await?;
        let (failed_columns, failed) = self.bulk_ingest_failed_results(&job).await?;
        let unprocessed = self.bulk_ingest_unprocessed_records(&job).await?;
        Ok(IngestOutcome {
            job,
            successful_columns,
            successful,
            failed_columns,
            failed,
            unprocessed,
        })
    }

    async fn bulk_ingest_result_body(
        &self,
        operation: &'static str,
        job_id: &str,
        resource: &str,
    ) -> Result<Bytes, SalesforceError> {
        let job_id = checked_job_id(operation, job_id)?;
        let call = Call::new(
            operation,
            Method::GET,
            self.data_path(&format!("jobs/ingest/{job_id}/{resource}")),
            CallKind::Read,
        )
        .accept("text/csv");
        let response = self.execute(call).await?;
        response
            .bytes()
            .await
            .map_err(|source| SalesforceError::Transport { operation, source })
    }
}

fn delimiter_of(job: &JobInfo) -> u8 {
    job.column_delimiter.unwrap_or_default().byte()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_uses_the_documented_names() {
        let body = serde_json::to_value(CreateIngestBody {
            object: "Account",
            operation: IngestOperation::Upsert,
            external_id_field_name: Some("Ext__c"),
            content_type: "CSV",
            line_ending: LineEnding::Lf,
            column_delimiter: ColumnDelimiter::Comma,
        })
        .expect("serialises");
        assert_eq!(
            body,
            serde_json::json!({"object":"Account","operation":"upsert","externalIdFieldName":"Ext__c",
                "contentType":"CSV","lineEnding":"LF","columnDelimiter":"COMMA"})
        );
        assert_eq!(
            serde_json::to_value(IngestOperation::HardDelete).expect("serialises"),
            "hardDelete"
        );
    }
}
