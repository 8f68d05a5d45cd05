//! What ingest and query jobs share: states, the identity fields every job-info body starts with, and job ids
//! with key prefix `750`.

use serde_json::{json, Map, Value as Json};

use super::format::CsvDialect;
use crate::store::value::format_datetime;
use crate::store::RecordId;

/// Key prefix of Bulk API jobs (`AsyncApexJob`-style `750...` ids).
pub const JOB_KEY_PREFIX: &str = "750";

/// A job's `state` (Bulk API 2.0 Developer Guide: ingest jobs step 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Open,
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Open => "Open",
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }

    /// No further state change will happen.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

/// Who created a job, when, and through which API version; fixed at creation.
#[derive(Clone, Debug)]
pub struct JobIdentity {
    pub id: RecordId,
    /// `query`, `insert`, ... as the client sent it (canonical spelling).
    pub operation: &'static str,
    /// The canonical object name.
    pub object: String,
    pub created_by: RecordId,
    /// Org clock, ms.
    pub created_date: i64,
    /// `62.0`: results must be fetched with the same version (query jobs).
    pub api_version: String,
    pub api_version_number: f64,
    pub dialect: CsvDialect,
    /// The `client=` of `Sforce-Call-Options` at creation (becomes the change log's origin for ingest writes).
    pub origin_client: Option<String>,
}

impl JobIdentity {
    /// The fields every job-info body starts with, in Salesforce's order, up to `concurrencyMode`/`contentType`/
    /// `apiVersion`.
    pub fn info_head(&self, state: JobState, system_modstamp: i64) -> Map<String, Json> {
        let mut map = Map::new();
        map.insert("id".into(), json!(self.id.as_str()));
        map.insert("operation".into(), json!(self.operation));
        map.insert("object".into(), json!(self.object));
        map.insert("createdById".into(), json!(self.created_by.as_str()));
        map.insert(
            "createdDate".into(),
            json!(format_datetime(self.created_date)),
        );
        map.insert(
            "systemModstamp".into(),
            json!(format_datetime(system_modstamp)),
        );
        map.insert("state".into(), json!(state.as_str()));
        map.insert("concurrencyMode".into(), json!("Parallel"));
        map.insert("contentType".into(), json!("CSV"));
        map.insert("apiVersion".into(), json!(self.api_version_number));
        map
    }

    /// `lineEnding` and `columnDelimiter`, appended after the head.
    pub fn insert_dialect(&self, map: &mut Map<String, Json>) {
        map.insert(
            "lineEnding".into(),
            json!(self.dialect.line_ending.as_str()),
        );
        map.insert(
            "columnDelimiter".into(),
            json!(self.dialect.delimiter.as_str()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_fields_in_order() {
        let identity = JobIdentity {
            id: RecordId::generate(JOB_KEY_PREFIX, 1),
            operation: "insert",
            object: "Account".into(),
            created_by: RecordId::generate("005", 1),
            created_date: 1_641_145_139_000,
            api_version: "58.0".into(),
            api_version_number: 58.0,
            dialect: CsvDialect::default(),
            origin_client: None,
        };
        let mut head = identity.info_head(JobState::Open, 1_641_145_139_000);
        identity.insert_dialect(&mut head);
        let keys: Vec<&str> = head.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "operation",
                "object",
                "createdById",
                "createdDate",
                "systemModstamp",
                "state",
                "concurrencyMode",
                "contentType",
                "apiVersion",
                "lineEnding",
                "columnDelimiter"
            ]
        );
        assert_eq!(head["createdDate"], "2022-01-02T17:38:59.000+0000");
        assert_eq!(Json::Object(head)["apiVersion"].to_string(), "58.0");
        assert!(identity.id.as_str().starts_with("750"));
    }
}
