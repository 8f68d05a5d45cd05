//! An ingest job: what was asked for (operation, object, external id, dialect), its uploads, its progress, and
//! the per-row outcomes the result files are rendered from.

use std::sync::Arc;

use axum::body::Bytes;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use super::upload::ParsedUpload;
use crate::bulk::job::{JobIdentity, JobState};
use crate::store::RecordId;

/// `operation` of an ingest job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IngestOperation {
    Insert,
    Update,
    Upsert,
    Delete,
    HardDelete,
}

impl IngestOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            IngestOperation::Insert => "insert",
            IngestOperation::Update => "update",
            IngestOperation::Upsert => "upsert",
            IngestOperation::Delete => "delete",
            IngestOperation::HardDelete => "hardDelete",
        }
    }
}

/// What happened to one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowOutcome {
    Succeeded {
        id: RecordId,
        created: bool,
    },
    /// `error` is already in the `CODE:message:fields` form of `sf__Error`.
    Failed {
        id: Option<RecordId>,
        error: String,
    },
}

/// The mutable part of a job.
#[derive(Debug)]
pub struct IngestProgress {
    pub state: JobState,
    pub system_modstamp: i64,
    /// Every `PUT .../batches` body; more than one makes the close fail.
    pub uploads: Vec<Bytes>,
    pub error_message: Option<String>,
    /// The upload once parsed (rows not yet in `outcomes` are unprocessed).
    pub data: Option<Arc<ParsedUpload>>,
    /// One outcome per processed row, in row order.
    pub outcomes: Vec<RowOutcome>,
    pub records_failed: u64,
    pub total_processing_ms: u64,
    pub api_active_ms: u64,
    /// Set by abort, delete and reset: the processing task stops before its next batch.
    pub cancelled: bool,
}

/// One ingest job.
#[derive(Debug)]
pub struct IngestJob {
    pub identity: JobIdentity,
    pub operation: IngestOperation,
    /// Canonical name of the upsert key field.
    pub external_id_field: Option<String>,
    pub progress: Mutex<IngestProgress>,
}

impl IngestJob {
    pub fn new(
        identity: JobIdentity,
        operation: IngestOperation,
        external_id_field: Option<String>,
    ) -> IngestJob {
        let created = identity.created_date;
        IngestJob {
            identity,
            operation,
            external_id_field,
            progress: Mutex::new(IngestProgress {
                state: JobState::Open,
                system_modstamp: created,
                uploads: Vec::new(),
                error_message: None,
                data: None,
                outcomes: Vec::new(),
                records_failed: 0,
                total_processing_ms: 0,
                api_active_ms: 0,
                cancelled: false,
            }),
        }
    }

    /// `services/data/v58.0/jobs/ingest/750.../batches` (no leading slash, as Salesforce writes it).
    pub fn content_url(&self) -> String {
        format!(
            "services/data/v{}/jobs/ingest/{}/batches",
            self.identity.api_version, self.identity.id
        )
    }

    fn head(&self, progress: &IngestProgress) -> Map<String, Json> {
        let mut map = self
            .identity
            .info_head(progress.state, progress.system_modstamp);
        if let Some(field) = &self.external_id_field {
            map.insert("externalIdFieldName".into(), json!(field));
        }
        map
    }

    /// The create (and close/abort) response: identity, `contentUrl`, dialect.
    pub fn summary_json(&self) -> Json {
        let progress = self.progress.lock();
        let mut map = self.head(&progress);
        map.insert("contentUrl".into(), json!(self.content_url()));
        self.identity.insert_dialect(&mut map);
        Json::Object(map)
    }

    /// An entry of the job list.
    pub fn list_json(&self) -> Json {
        let progress = self.progress.lock();
        let mut map = self.head(&progress);
        map.insert("jobType".into(), json!("V2Ingest"));
        self.identity.insert_dialect(&mut map);
        Json::Object(map)
    }

    /// `GET /jobs/ingest/{id}`: everything, with counters and timings.
    pub fn info_json(&self) -> Json {
        let progress = self.progress.lock();
        let mut map = self.head(&progress);
        map.insert("jobType".into(), json!("V2Ingest"));
        map.insert("contentUrl".into(), json!(self.content_url()));
        self.identity.insert_dialect(&mut map);
        map.insert(
            "numberRecordsProcessed".into(),
            json!(progress.outcomes.len()),
        );
        map.insert("numberRecordsFailed".into(), json!(progress.records_failed));
        map.insert("retries".into(), json!(0));
        map.insert(
            "totalProcessingTime".into(),
            json!(progress.total_processing_ms),
        );
        map.insert(
            "apiActiveProcessingTime".into(),
            json!(progress.api_active_ms),
        );
        map.insert("apexProcessingTime".into(), json!(0));
        if let Some(message) = &progress.error_message {
            map.insert("errorMessage".into(), json!(message));
        }
        Json::Object(map)
    }

    /// Stops processing before the next batch (abort, delete, reset).
    pub fn cancel(&self) {
        self.progress.lock().cancelled = true;
    }
}
