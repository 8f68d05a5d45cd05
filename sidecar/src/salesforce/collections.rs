//! sObject Collections (REST API Developer Guide: sObject Collections): create, update, upsert by external id, delete and retrieve up to 200
//! records per call, with per-record results in request order.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::client::{api_name, path_segment, Call, CallKind, SalesforceClient};
use super::error::{RecordError, SalesforceError};
use super::query::Record;

/// sObject Collections accept at most this many records (or ids) per call.
pub const MAX_COLLECTION_RECORDS: usize = 200;
/// Above this many bytes of ids and fields, retrieve switches from GET to POST (URI length limit).
const RETRIEVE_GET_LIMIT: usize = 4_000;

/// The outcome for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    /// Upserts only: `true` when the record was inserted.
    #[serde(default)]
    pub created: Option<bool>,
    #[serde(default)]
    pub errors: Vec<RecordError>,
}

/// A record to insert (`attributes.type` is added from `object`).
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub object: String,
    pub fields: Record,
}

/// A change to an existing record.
#[derive(Debug, Clone)]
pub struct RecordUpdate {
    pub object: String,
    pub id: String,
    pub fields: Record,
}

fn check_count(operation: &'static str, count: usize) -> Result<(), SalesforceError> {
    if count > MAX_COLLECTION_RECORDS {
        return Err(SalesforceError::TooManyRecords {
            operation,
            count,
            max: MAX_COLLECTION_RECORDS,
        });
    }
    Ok(())
}

fn with_type(
    operation: &'static str,
    object: &str,
    fields: &Record,
) -> Result<Value, SalesforceError> {
    let object = api_name(operation, object)?;
    let mut record = Map::with_capacity(fields.len() + 1);
    record.insert("attributes".to_string(), json!({ "type": object }));
    for (name, value) in fields {
        if name != "attributes" {
            record.insert(name.clone(), value.clone());
        }
    }
    Ok(Value::Object(record))
}

fn check_results(
    operation: &'static str,
    sent: usize,
    results: Vec<RecordResult>,
) -> Result<Vec<RecordResult>, SalesforceError> {
    if results.len() != sent {
        return Err(SalesforceError::ResultCountMismatch {
            operation,
            sent,
            received: results.len(),
        });
    }
    Ok(results)
}

impl SalesforceClient {
    /// `POST /composite/sobjects`.
    pub async fn create_records(
        &self,
        records: &[NewRecord],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        const OPERATION: &str = "collections_create";
        check_count(OPERATION, records.len())?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let body_records = records
            .iter()
            .map(|record| with_type(OPERATION, &record.object, &record.fields))
            .collect::<Result<Vec<_>, _>>()?;
        let body = json!({ "allOrNone": all_or_none, "records": body_records });
        self.send_collection(
            OPERATION,
            Method::POST,
            "composite/sobjects",
            &body,
            records.len(),
        )
        .await
    }

    /// `PATCH /composite/sobjects`.
    pub async fn update_records(
        &self,
        records: &[RecordUpdate],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        const OPERATION: &str = "collections_update";
        check_count(OPERATION, records.len())?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let body_records = records
            .iter()
            .map(|record| {
                let mut value = with_type(OPERATION, &record.object, &record.fields)?;
                if let Value::Object(map) = &mut value {
                    map.retain(|name, _| !name.eq_ignore_ascii_case("id"));
                    map.insert("id".to_string(), Value::String(record.id.clone()));
                }
                Ok(value)
            })
            .collect::<Result<Vec<_>, SalesforceError>>()?;
        let body = json!({ "allOrNone": all_or_none, "records": body_records });
        self.send_collection(
            OPERATION,
            Method::PATCH,
            "composite/sobjects",
            &body,
            records.len(),
        )
        .await
    }

    /// `PATCH /composite/sobjects/{object}/{external_id_field}`: each record carries its external id
    /// value; `created` says whether it was inserted.
    pub async fn upsert_records(
        &self,
        object: &str,
        external_id_field: &str,
        records: &[Record],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        const OPERATION: &str = "collections_upsert";
        check_count(OPERATION, records.len())?;
        let object = api_name(OPERATION, object)?;
        let external_id_field = api_name(OPERATION, external_id_field)?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(position) = records.iter().position(|record| {
            !record
                .keys()
                .any(|key| key.eq_ignore_ascii_case(external_id_field))
        }) {
            return Err(SalesforceError::InvalidArgument {
                operation: OPERATION,
                reason: format!("record {position} has no value for {external_id_field}"),
            });
        }
        let body_records = records
            .iter()
            .map(|fields| with_type(OPERATION, object, fields))
            .collect::<Result<Vec<_>, _>>()?;
        let body = json!({ "allOrNone": all_or_none, "records": body_records });
        self.send_collection(
            OPERATION,
            Method::PATCH,
            &format!("composite/sobjects/{object}/{external_id_field}"),
            &body,
            records.len(),
        )
        .await
    }

    /// `DELETE /composite/sobjects?ids=...&allOrNone=...`.
    pub async fn delete_records(
        &self,
        ids: &[String],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        const OPERATION: &str = "collections_delete";
        check_count(OPERATION, ids.len())?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let parameters = [
            ("ids", ids.join(",")),
            ("allOrNone", all_or_none.to_string()),
        ];
        let call = Call::new(
            OPERATION,
            Method::DELETE,
            self.data_path("composite/sobjects"),
            CallKind::Write,
        )
        .customize(move |builder| builder.query(&parameters));
        let results: Vec<RecordResult> = self.execute_json(call).await?;
        check_results(OPERATION, ids.len(), results)
    }

    /// `GET` (few ids) or `POST` (many) `/composite/sobjects/{object}`: one entry per id, in order,
    /// `None` where the record does not exist.
    pub async fn retrieve_records(
        &self,
        object: &str,
        ids: &[String],
        fields: &[String],
    ) -> Result<Vec<Option<Record>>, SalesforceError> {
        const OPERATION: &str = "collections_retrieve";
        check_count(OPERATION, ids.len())?;
        let object = api_name(OPERATION, object)?;
        for field in fields {
            api_name(OPERATION, field)?;
        }
        if fields.is_empty() {
            return Err(SalesforceError::InvalidArgument {
                operation: OPERATION,
                reason: "at least one field is needed".to_string(),
            });
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.data_path(&format!("composite/sobjects/{object}"));
        let ids_text = ids
            .iter()
            .map(|id| path_segment(id))
            .collect::<Vec<_>>()
            .join(",");
        let fields_text = fields.join(",");
        let call = if ids_text.len() + fields_text.len() <= RETRIEVE_GET_LIMIT {
            let parameters = [("ids", ids.join(",")), ("fields", fields_text)];
            Call::new(OPERATION, Method::GET, path, CallKind::Read)
                .customize(move |builder| builder.query(&parameters))
        } else {
            let body = json!({ "ids": ids, "fields": fields });
            Call::new(OPERATION, Method::POST, path, CallKind::Read)
                .customize(move |builder| builder.json(&body))
        };
        let results: Vec<Option<Record>> = self.execute_json(call).await?;
        if results.len() != ids.len() {
            return Err(SalesforceError::ResultCountMismatch {
                operation: OPERATION,
                sent: ids.len(),
                received: results.len(),
            });
        }
        Ok(results)
    }

    async fn send_collection(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: &Value,
        sent: usize,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let encoded = serde_json::to_vec(body)
            .map_err(|source| SalesforceError::Encode { operation, source })?;
        let encoded = bytes::Bytes::from(encoded);
        let call = Call::new(operation, method, self.data_path(path), CallKind::Write).customize(
            move |builder| {
                builder
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(encoded.clone())
            },
        );
        let results: Vec<RecordResult> = self.execute_json(call).await?;
        check_results(operation, sent, results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_results_parse() {
        // REST API Developer Guide: sObject Collections, per-record results, verbatim.
        let results: Vec<RecordResult> = serde_json::from_str(
            r#"[{"id":"001RM000003oLrHYAU","success":true,"errors":[]},
 {"success":false,"errors":[{"statusCode":"MALFORMED_ID","message":"...","fields":[]}]}]"#,
        )
        .expect("parses");
        assert_eq!(results[0].id.as_deref(), Some("001RM000003oLrHYAU"));
        assert!(results[0].success);
        assert!(!results[1].success && results[1].id.is_none());
        assert_eq!(results[1].errors[0].status_code, "MALFORMED_ID");

        // REST API Developer Guide: sObject Collections, the all-or-none rollback entry, verbatim.
        let rolled_back: RecordResult = serde_json::from_str(
            r#"{"success":false,"errors":[{"statusCode":"ALL_OR_NONE_OPERATION_ROLLED_BACK","message":"Record rolled back because not all records were valid and the request was using AllOrNone header","fields":[]}]}"#,
        )
        .expect("parses");
        assert_eq!(
            rolled_back.errors[0].status_code,
            "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        );

        // REST API Developer Guide: sObject Collections, upsert result.
        let upserted: Vec<RecordResult> =
            serde_json::from_str(r#"[{"id":"001...","success":true,"errors":[],"created":false}]"#)
                .expect("parses");
        assert_eq!(upserted[0].created, Some(false));
    }

    #[test]
    fn records_get_their_type_attribute() {
        let mut fields = Record::new();
        fields.insert("Name".into(), json!("example.com"));
        fields.insert("attributes".into(), json!({"type": "Wrong"}));
        let value = with_type("test", "Account", &fields).expect("valid");
        assert_eq!(
            value,
            json!({"attributes": {"type": "Account"}, "Name": "example.com"})
        );
        assert!(with_type("test", "Account/../x", &fields).is_err());
    }

    #[test]
    fn more_than_200_records_are_refused() {
        assert!(check_count("test", 200).is_ok());
        let error = check_count("test", 201).expect_err("refused");
        assert!(
            error.to_string().contains("201 records given, at most 200"),
            "{error}"
        );
    }
}
