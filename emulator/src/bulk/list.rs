//! `GET /jobs/ingest` and `GET /jobs/query`: jobs in creation order, 1,000 per page, chained through
//! `nextRecordsUrl` (`?queryLocator=...`), with `done` on the last page.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::errors::invalid_job;
use super::registry::JobTable;
use crate::http::context::ApiContext;
use crate::http::error::ApiError;

/// Jobs per page of the job list.
pub const JOBS_PER_PAGE: usize = 1000;

/// One page of `table` as the list body. `kind` is `ingest` or `query`; `job_type` the only `jobType` filter value
/// that matches these jobs (`V2Ingest` / `V2Query`).
pub fn list_page<T>(
    table: &JobTable<T>,
    api: &ApiContext,
    params: &HashMap<String, String>,
    kind: &str,
    job_type: &str,
    render: impl Fn(&T) -> Json,
) -> Result<Json, ApiError> {
    let offset = match params.get("queryLocator") {
        Some(locator) => locator
            .parse::<usize>()
            .map_err(|_| invalid_job(format!("Invalid queryLocator: {locator}")))?,
        None => 0,
    };
    if params
        .get("jobType")
        .is_some_and(|wanted| !wanted.eq_ignore_ascii_case(job_type))
    {
        return Ok(json!({"done": true, "records": [], "nextRecordsUrl": null}));
    }
    let (jobs, more): (Vec<Arc<T>>, bool) = table.page(offset, JOBS_PER_PAGE);
    let records: Vec<Json> = jobs.iter().map(|job| render(job)).collect();
    let next = more.then(|| {
        format!(
            "{}/jobs/{kind}?queryLocator={}",
            api.base(),
            offset + jobs.len()
        )
    });
    Ok(json!({"done": !more, "records": records, "nextRecordsUrl": next}))
}
