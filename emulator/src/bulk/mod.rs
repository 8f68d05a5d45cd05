//! Bulk API 2.0 (Bulk API 2.0 Developer Guide): ingest jobs (`/jobs/ingest`) that write CSV rows through the store's transactions, and
//! query jobs (`/jobs/query`) whose CSV results are paged with `Sforce-Locator`. Jobs are kept in memory in
//! [`registry::BulkJobs`]; [`routes`] adds the endpoints to the emulator's router.
pub mod errors;
pub mod format;
pub mod ingest;
pub mod job;
pub mod list;
pub mod query;
pub mod registry;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use crate::app::SharedState;

pub use registry::BulkJobs;

/// Largest accepted upload: Salesforce takes 150 MB of base64, about 100 MB of CSV; leave room for both.
pub const MAX_UPLOAD_BYTES: usize = 150 * 1024 * 1024;

fn data(path: &str) -> String {
    format!("/services/data/{{version}}{path}")
}

/// The Bulk API 2.0 routes (authenticated and counted by the `/services/data` middleware like every API call).
pub fn routes() -> Router<SharedState> {
    use ingest::api;
    use query::api as query_api;
    Router::new()
        .route(&data("/jobs/ingest"), post(api::create).get(api::list))
        .route(
            &data("/jobs/ingest/{job}"),
            get(api::info).patch(api::change_state).delete(api::delete),
        )
        .route(
            &data("/jobs/ingest/{job}/batches"),
            put(api::upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            &data("/jobs/ingest/{job}/successfulResults"),
            get(api::successful_results),
        )
        .route(
            &data("/jobs/ingest/{job}/failedResults"),
            get(api::failed_results),
        )
        .route(
            &data("/jobs/ingest/{job}/unprocessedrecords"),
            get(api::unprocessed_records),
        )
        .route(
            &data("/jobs/query"),
            post(query_api::create).get(query_api::list),
        )
        .route(
            &data("/jobs/query/{job}"),
            get(query_api::info)
                .patch(query_api::abort)
                .delete(query_api::delete),
        )
        .route(&data("/jobs/query/{job}/results"), get(query_api::results))
}
