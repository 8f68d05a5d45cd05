//! A query job: its SOQL compiled at create time, its state, and once run the snapshot of matching record ids
//! its result pages are rendered from.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Map, Value as Json};

use crate::bulk::job::{JobIdentity, JobState};
use crate::soql::CompiledQuery;
use crate::store::RecordId;

/// A compiled query and the catalog generation it was compiled against (recompiled after schema drift).
#[derive(Clone, Debug)]
pub struct CompiledAt {
    pub query: Arc<CompiledQuery>,
    pub generation: u64,
}

/// The mutable part of a query job.
#[derive(Debug)]
pub struct QueryProgress {
    pub state: JobState,
    pub system_modstamp: i64,
    pub error_message: Option<String>,
    /// The matching records, in result order, fixed when the job ran.
    pub ids: Arc<Vec<RecordId>>,
    pub total_processing_ms: u64,
    /// Result bytes rendered for rows not served before (`DailyBulkV2QueryFileStorageMB` accounting).
    pub result_bytes: u64,
    /// Rows `[0, counted_rows)` have been counted in `result_bytes`.
    pub counted_rows: usize,
    pub storage_mb_spent: u64,
}

/// One query job.
#[derive(Debug)]
pub struct QueryJob {
    pub identity: JobIdentity,
    pub soql: String,
    /// `queryAll`: recycle-bin records too.
    pub include_deleted: bool,
    pub compiled: Mutex<CompiledAt>,
    pub progress: Mutex<QueryProgress>,
}

impl QueryJob {
    pub fn new(
        identity: JobIdentity,
        soql: String,
        include_deleted: bool,
        compiled: CompiledAt,
    ) -> QueryJob {
        let created = identity.created_date;
        QueryJob {
            identity,
            soql,
            include_deleted,
            compiled: Mutex::new(compiled),
            progress: Mutex::new(QueryProgress {
                state: JobState::UploadComplete,
                system_modstamp: created,
                error_message: None,
                ids: Arc::new(Vec::new()),
                total_processing_ms: 0,
                result_bytes: 0,
                counted_rows: 0,
                storage_mb_spent: 0,
            }),
        }
    }

    fn head(&self, progress: &QueryProgress) -> Map<String, Json> {
        self.identity
            .info_head(progress.state, progress.system_modstamp)
    }

    /// The create (and abort) response.
    pub fn summary_json(&self) -> Json {
        let progress = self.progress.lock();
        let mut map = self.head(&progress);
        self.identity.insert_dialect(&mut map);
        Json::Object(map)
    }

    /// An entry of the job list.
    pub fn list_json(&self) -> Json {
        let progress = self.progress.lock();
        let mut map = self.head(&progress);
        map.insert("jobType".into(), json!("V2Query"));
        self.identity.insert_dialect(&mut map);
        Json::Object(map)
    }

    /// `GET /jobs/query/{id}`.
    pub fn info_json(&self) -> Json {
        let progress = self.progress.lock();
        let mut map = self.head(&progress);
        map.insert("jobType".into(), json!("V2Query"));
        self.identity.insert_dialect(&mut map);
        map.insert("numberRecordsProcessed".into(), json!(progress.ids.len()));
        map.insert("retries".into(), json!(0));
        map.insert(
            "totalProcessingTime".into(),
            json!(progress.total_processing_ms),
        );
        if let Some(message) = &progress.error_message {
            map.insert("errorMessage".into(), json!(message));
        }
        Json::Object(map)
    }
}
