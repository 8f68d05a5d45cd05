//! Bulk API 2.0 (Bulk API 2.0 Developer Guide): ingest jobs and query jobs, their shared job info, polling and CSV helpers.

pub mod csv_results;
pub mod ingest;
pub mod job;
pub mod query;

pub use csv_results::{BulkRowError, CsvTable, IngestFailure, IngestSuccess};
pub use ingest::{IngestJobRequest, IngestOperation, IngestOutcome};
pub use job::{ColumnDelimiter, JobInfo, JobState, LineEnding, PollOptions};
pub use query::{BulkQueryResults, BulkResultPage, QueryJobRequest, QueryOperation};
