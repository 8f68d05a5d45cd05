//! Bulk API 2.0 query jobs: create, poll, then read result pages chained by `Sforce-Locator`
//! (until the literal `null`), each page available as a byte stream so a caller can copy it into
//! Postgres with bounded memory.

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use reqwest::{Method, Response};
use serde::Serialize;

use super::csv_results::CsvTable;
use super::job::{checked_job_id, ColumnDelimiter, JobInfo, JobKind, LineEnding, PollOptions};
use crate::salesforce::client::{Call, CallKind, SalesforceClient};
use crate::salesforce::error::SalesforceError;

pub const LOCATOR_HEADER: &str = "Sforce-Locator";
pub const NUMBER_OF_RECORDS_HEADER: &str = "Sforce-NumberOfRecords";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum QueryOperation {
    Query,
    /// Includes soft-deleted records.
    QueryAll,
}

#[derive(Debug, Clone)]
pub struct QueryJobRequest {
    pub query: String,
    pub operation: QueryOperation,
    pub column_delimiter: ColumnDelimiter,
    pub line_ending: LineEnding,
}

impl QueryJobRequest {
    pub fn new(query: &str, operation: QueryOperation) -> Self {
        Self {
            query: query.to_string(),
            operation,
            column_delimiter: ColumnDelimiter::Comma,
            line_ending: LineEnding::Lf,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateQueryBody<'a> {
    operation: QueryOperation,
    query: &'a str,
    column_delimiter: ColumnDelimiter,
    line_ending: LineEnding,
}

impl SalesforceClient {
    /// `POST /jobs/query`.
    pub async fn bulk_query_create(
        &self,
        request: &QueryJobRequest,
    ) -> Result<JobInfo, SalesforceError> {
        const OPERATION: &str = "bulk_query_create";
        let body = serde_json::to_value(CreateQueryBody {
            operation: request.operation,
            query: &request.query,
            column_delimiter: request.column_delimiter,
            line_ending: request.line_ending,
        })
        .map_err(|source| SalesforceError::Encode {
            operation: OPERATION,
            source,
        })?;
        let call = Call::new(
            OPERATION,
            Method::POST,
            self.data_path(JobKind::Query.path()),
            CallKind::Read,
        )
        .customize(move |builder| builder.json(&body));
        self.execute_json(call).await
    }

    /// `GET /jobs/query/{id}`.
    pub async fn bulk_query_status(&self, job_id: &str) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_info(JobKind::Query, "bulk_query_status", job_id)
            .await
    }

    /// `PATCH /jobs/query/{id}` `{"state":"Aborted"}`.
    pub async fn bulk_query_abort(&self, job_id: &str) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_set_state(JobKind::Query, "bulk_query_abort", job_id, "Aborted")
            .await
    }

    /// Polls with backoff until `JobComplete`.
    pub async fn bulk_query_wait(
        &self,
        job_id: &str,
        options: PollOptions,
    ) -> Result<JobInfo, SalesforceError> {
        self.bulk_job_wait(JobKind::Query, "bulk_query_status", job_id, options)
            .await
    }

    /// The result pages of a completed job; `max_records` caps each page.
    pub fn bulk_query_results(&self, job: &JobInfo, max_records: Option<u64>) -> BulkQueryResults {
        BulkQueryResults {
            client: self.clone(),
            job_id: job.id.clone(),
            delimiter: job.column_delimiter.unwrap_or_default(),
            cursor: Locator::First,
            max_records,
        }
    }
}

enum Locator {
    First,
    Next(String),
    Finished,
}

/// Walks the result pages of one query job.
pub struct BulkQueryResults {
    client: SalesforceClient,
    job_id: String,
    delimiter: ColumnDelimiter,
    cursor: Locator,
    max_records: Option<u64>,
}

impl BulkQueryResults {
    /// Requests the next page; its body is not read yet. `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<BulkResultPage>, SalesforceError> {
        const OPERATION: &str = "bulk_query_results";
        let locator = match &self.cursor {
            Locator::Finished => return Ok(None),
            Locator::First => None,
            Locator::Next(locator) => Some(locator.clone()),
        };
        let job_id = checked_job_id(OPERATION, &self.job_id)?;
        let mut parameters: Vec<(&'static str, String)> = Vec::new();
        if let Some(locator) = locator {
            parameters.push(("locator", locator));
        }
        if let Some(max) = self.max_records {
            parameters.push(("maxRecords", max.to_string()));
        }
        let call = Call::new(
            OPERATION,
            Method::GET,
            self.client
                .data_path(&format!("jobs/query/{job_id}/results")),
            CallKind::Read,
        )
        .accept("text/csv")
        .customize(move |builder| builder.query(&parameters));
        let response = self.client.execute(call).await?;
        let next = response
            .headers()
            .get(LOCATOR_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .map(str::to_string);
        // No header at all is treated like `null`: there is nothing to chain to.
        self.cursor = match next {
            Some(locator) if !locator.is_empty() && locator != "null" => Locator::Next(locator),
            _ => Locator::Finished,
        };
        let number_of_records = response
            .headers()
            .get(NUMBER_OF_RECORDS_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        Ok(Some(BulkResultPage {
            number_of_records,
            delimiter: self.delimiter,
            response,
        }))
    }

    /// Whether another page remains after the ones already requested.
    pub fn has_more(&self) -> bool {
        !matches!(self.cursor, Locator::Finished)
    }
}

/// One result page: a CSV body with its header row.
pub struct BulkResultPage {
    /// `Sforce-NumberOfRecords`.
    pub number_of_records: Option<u64>,
    delimiter: ColumnDelimiter,
    response: Response,
}

impl BulkResultPage {
    pub fn delimiter(&self) -> u8 {
        self.delimiter.byte()
    }

    /// The body as it arrives, chunk by chunk.
    pub fn into_byte_stream(self) -> impl Stream<Item = Result<Bytes, SalesforceError>> + Send {
        self.response
            .bytes_stream()
            .map_err(|source| SalesforceError::Transport {
                operation: "bulk_query_results",
                source,
            })
    }

    /// The whole body (bounded by `maxRecords`).
    pub async fn bytes(self) -> Result<Bytes, SalesforceError> {
        self.response
            .bytes()
            .await
            .map_err(|source| SalesforceError::Transport {
                operation: "bulk_query_results",
                source,
            })
    }

    /// The page parsed as CSV.
    pub async fn csv(self) -> Result<CsvTable, SalesforceError> {
        let delimiter = self.delimiter();
        let body = self.bytes().await?;
        CsvTable::parse("bulk_query_results", &body, delimiter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_uses_the_documented_names() {
        let body = serde_json::to_value(CreateQueryBody {
            operation: QueryOperation::QueryAll,
            query: "SELECT Id, Name FROM Account",
            column_delimiter: ColumnDelimiter::Comma,
            line_ending: LineEnding::Lf,
        })
        .expect("serialises");
        assert_eq!(
            body,
            serde_json::json!({"operation":"queryAll","query":"SELECT Id, Name FROM Account",
                "columnDelimiter":"COMMA","lineEnding":"LF"})
        );
    }

    #[test]
    fn documented_result_page_parses() {
        let table = CsvTable::parse(
            "t",
            b"\"Id\",\"Name\"\n\"005R0000000UyrWIAS\",\"Jane Dunn\"\n",
            b',',
        )
        .expect("parses");
        assert_eq!(table.headers.iter().collect::<Vec<_>>(), ["Id", "Name"]);
        assert_eq!(
            table.rows[0].iter().collect::<Vec<_>>(),
            ["005R0000000UyrWIAS", "Jane Dunn"]
        );
    }
}
