//! Bulk API 2.0 ingest jobs (Bulk API 2.0 Developer Guide: ingest jobs): a job is created, receives one CSV upload, is closed, and is then processed
//! asynchronously on a blocking thread through the store's transactions; per-row outcomes feed the result files.
pub mod api;
pub mod columns;
pub mod job;
pub mod results;
pub mod rows;
pub mod run;
pub mod upload;

pub use job::{IngestJob, IngestOperation, RowOutcome};
