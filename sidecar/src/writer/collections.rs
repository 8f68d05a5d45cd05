//! Sends one batch of writes as one sObject Collections call and reads Salesforce's per-record
//! results back into write outcomes (results come in request order).

use super::operation::{Write, WriteKind};
use super::outcome::{WriteError, WriteOutcome};
use super::schedule::Batch;
use crate::salesforce::{
    NewRecord, Record, RecordResult, RecordUpdate, SalesforceClient, SalesforceError,
};

/// Sends `batch` (at most 200 writes of one mapping and kind) and returns one outcome per write,
/// in order. A failure of the whole call is returned as the error.
pub async fn send(
    client: &SalesforceClient,
    batch: &Batch,
) -> Result<Vec<WriteOutcome>, SalesforceError> {
    let object = batch.mapping.object.as_str();
    let writes = batch.writes.iter().map(|waiting| &waiting.operation.write);
    let results = match batch.kind {
        WriteKind::Create => {
            let records: Vec<NewRecord> = writes
                .filter_map(|write| match write {
                    Write::Create { fields } => Some(NewRecord {
                        object: object.to_string(),
                        fields: fields.clone(),
                    }),
                    _ => None,
                })
                .collect();
            client.create_records(&records, false).await?
        }
        WriteKind::Upsert => {
            let records: Vec<Record> = writes
                .filter_map(|write| match write {
                    Write::Upsert { fields, .. } => Some(fields.clone()),
                    _ => None,
                })
                .collect();
            let field = batch.mapping.upsert_field_name().ok_or_else(|| {
                SalesforceError::InvalidArgument {
                    operation: "collections_upsert",
                    reason: format!("mapping of {object} has no upsert field"),
                }
            })?;
            client
                .upsert_records(object, field, &records, false)
                .await?
        }
        WriteKind::Update => {
            let records: Vec<RecordUpdate> = writes
                .filter_map(|write| match write {
                    Write::Update { sfid, fields } => Some(RecordUpdate {
                        object: object.to_string(),
                        id: sfid.clone(),
                        fields: fields.clone(),
                    }),
                    _ => None,
                })
                .collect();
            client.update_records(&records, false).await?
        }
        WriteKind::Delete => {
            let ids: Vec<String> = writes
                .filter_map(|write| match write {
                    Write::Delete { sfid } => Some(sfid.clone()),
                    _ => None,
                })
                .collect();
            client.delete_records(&ids, false).await?
        }
    };
    Ok(batch
        .writes
        .iter()
        .zip(results)
        .map(|(waiting, result)| record_outcome(&waiting.operation.write, result))
        .collect())
}

/// One record's result. A delete of a record that is already deleted has done its job (it happens
/// when the response to an earlier, applied delete was lost).
pub fn record_outcome(write: &Write, result: RecordResult) -> WriteOutcome {
    if result.success {
        let sfid = result.id.or_else(|| match write {
            Write::Update { sfid, .. } | Write::Delete { sfid } => Some(sfid.clone()),
            _ => None,
        });
        return WriteOutcome::Success { sfid };
    }
    if let Write::Delete { sfid } = write {
        let already_deleted = result
            .errors
            .iter()
            .any(|error| error.status_code == "ENTITY_IS_DELETED");
        if already_deleted {
            return WriteOutcome::Success {
                sfid: Some(sfid.clone()),
            };
        }
    }
    let error = WriteError::from_record_errors(&result.errors);
    let transient = result.errors.iter().any(|error| {
        error.is_transient() || error.status_code == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    });
    if transient {
        WriteOutcome::Retry { error, after: None }
    } else {
        WriteOutcome::Failed(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(value: serde_json::Value) -> RecordResult {
        serde_json::from_value(value).expect("a record result")
    }

    #[test]
    fn results_become_outcomes() {
        let create = Write::Create {
            fields: Record::new(),
        };
        assert_eq!(
            record_outcome(
                &create,
                result(json!({"id": "001x", "success": true, "errors": []}))
            ),
            WriteOutcome::Success {
                sfid: Some("001x".into())
            }
        );
        let locked = record_outcome(
            &create,
            result(
                json!({"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]}),
            ),
        );
        assert!(matches!(locked, WriteOutcome::Retry { .. }));
        let invalid = record_outcome(
            &create,
            result(
                json!({"success": false, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no", "fields": ["Name"]}]}),
            ),
        );
        assert_eq!(
            invalid,
            WriteOutcome::Failed(WriteError {
                code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
                message: "no".into(),
                fields: vec!["Name".into()]
            })
        );
        let delete = Write::Delete {
            sfid: "001y".into(),
        };
        assert_eq!(
            record_outcome(
                &delete,
                result(
                    json!({"success": false, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]})
                )
            ),
            WriteOutcome::Success {
                sfid: Some("001y".into())
            }
        );
    }
}
