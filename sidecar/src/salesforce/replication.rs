//! The replication API: getUpdated and getDeleted (REST API Developer Guide: sObject Get Updated and Get Deleted).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;

use super::client::{api_name, Call, CallKind, SalesforceClient};
use super::datetime;
use super::error::SalesforceError;

/// `GET /sobjects/{Name}/updated/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatedRecords {
    pub ids: Vec<String>,
    /// Start the next call from here.
    #[serde(deserialize_with = "datetime::deserialize")]
    pub latest_date_covered: DateTime<Utc>,
}

/// `GET /sobjects/{Name}/deleted/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecords {
    #[serde(default)]
    pub deleted_records: Vec<DeletedRecord>,
    /// If this is later than the last sync, deletes were lost: a full resync is needed.
    #[serde(default, deserialize_with = "datetime::deserialize_option")]
    pub earliest_date_available: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "datetime::deserialize")]
    pub latest_date_covered: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    pub id: String,
    #[serde(deserialize_with = "datetime::deserialize")]
    pub deleted_date: DateTime<Utc>,
}

impl SalesforceClient {
    /// Ids of `object` records changed between `start` and `end` (Salesforce ignores the seconds).
    pub async fn get_updated(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<UpdatedRecords, SalesforceError> {
        self.replication("get_updated", object, "updated", start, end)
            .await
    }

    /// Records of `object` deleted between `start` and `end`.
    pub async fn get_deleted(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<DeletedRecords, SalesforceError> {
        self.replication("get_deleted", object, "deleted", start, end)
            .await
    }

    async fn replication<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        object: &str,
        resource: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<T, SalesforceError> {
        let object = api_name(operation, object)?;
        let parameters = [
            ("start", datetime::format_replication(&start)),
            ("end", datetime::format_replication(&end)),
        ];
        let call = Call::new(
            operation,
            Method::GET,
            self.data_path(&format!("sobjects/{object}/{resource}/")),
            CallKind::Read,
        )
        .customize(move |builder| builder.query(&parameters));
        self.execute_json(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_get_updated_parses() {
        let updated: UpdatedRecords = serde_json::from_str(
            r#"{"ids":["0015Y00002ZbgP3QAJ","0015Y00002c7g8uQAA"],"latestDateCovered":"2023-03-09T18:44:00.000+0000"}"#,
        )
        .expect("parses");
        assert_eq!(updated.ids.len(), 2);
        assert_eq!(
            datetime::format_rest(&updated.latest_date_covered),
            "2023-03-09T18:44:00.000+0000"
        );
    }

    /// REST API Developer Guide: sObject Get Updated and Get Deleted, getDeleted example, verbatim.
    #[test]
    fn documented_get_deleted_parses() {
        let deleted: DeletedRecords = serde_json::from_str(
            r#"{"deletedRecords":[{"id":"a00D0000008pQRAIA2","deletedDate":"2013-05-07T22:07:19.000+0000"}],
 "earliestDateAvailable":"2013-05-03T15:57:00.000+0000",
 "latestDateCovered":"2013-05-08T21:20:00.000+0000"}"#,
        )
        .expect("parses");
        assert_eq!(deleted.deleted_records[0].id, "a00D0000008pQRAIA2");
        assert_eq!(
            datetime::format_rest(&deleted.deleted_records[0].deleted_date),
            "2013-05-07T22:07:19.000+0000"
        );
        assert!(deleted.earliest_date_available.is_some());
    }
}
