//! Running a query job: one scan of the store under the read lock that keeps only the ids of the matching
//! records (in result order); pages are rendered from those ids later, so a million-row result costs 18 bytes a
//! row until it is fetched.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::job::{CompiledAt, QueryJob};
use crate::app::AppState;
use crate::bulk::job::JobState;
use crate::query::source::OrgSource;
use crate::soql::{CompiledQuery, ExecuteOptions, QueryRows, SoqlError};
use crate::store::{Org, RecordId};

/// The job's query compiled against the org's current metadata (recompiled after schema drift, since field
/// positions may have moved).
pub fn current_query(org: &Org, job: &QueryJob) -> Result<Arc<CompiledQuery>, SoqlError> {
    let mut compiled = job.compiled.lock();
    let generation = org.soql.generation();
    if compiled.generation != generation {
        *compiled = CompiledAt {
            query: Arc::new(CompiledQuery::compile(&job.soql, &org.soql)?),
            generation,
        };
    }
    Ok(compiled.query.clone())
}

fn org_time(org: &Org) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(org.clock.now_ms()).unwrap_or_default()
}

/// Runs a job that is `UploadComplete`. Blocking: run it on a blocking thread.
pub fn process(app: &AppState, job: &QueryJob) {
    let started = Instant::now();
    {
        let now = app.org.read().clock.now_ms();
        let mut progress = job.progress.lock();
        if progress.state != JobState::UploadComplete {
            return;
        }
        progress.state = JobState::InProgress;
        progress.system_modstamp = now;
    }
    let outcome = {
        let org = app.org.read();
        current_query(&org, job).map(|query| {
            let source = OrgSource::new(&org);
            let options = ExecuteOptions {
                include_deleted: job.include_deleted,
                now: org_time(&org),
            };
            let result = query.execute(&source, &options);
            let ids: Vec<RecordId> = match result.rows {
                QueryRows::Records(records) => records.iter().map(|record| record.id).collect(),
                QueryRows::Count | QueryRows::Aggregate(_) => Vec::new(),
            };
            (ids, org.clock.now_ms())
        })
    };
    let mut progress = job.progress.lock();
    if progress.state != JobState::InProgress {
        // Aborted while running.
        return;
    }
    match outcome {
        Ok((ids, now)) => {
            progress.ids = Arc::new(ids);
            progress.state = JobState::JobComplete;
            progress.system_modstamp = now;
        }
        Err(error) => {
            progress.state = JobState::Failed;
            progress.error_message = Some(format!("{}: {}", error.code, error.message));
        }
    }
    progress.total_processing_ms = started.elapsed().as_millis() as u64;
}
