//! sObject Collections (`/composite/sobjects`): create, update, upsert, delete and retrieve up to 200 records in
//! one transaction, with per-record results (`statusCode` errors) and `allOrNone` rollback (REST API Developer Guide: sObject Collections).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value as Json};

use super::object_index;
use crate::app::SharedState;
use crate::http::body::parse_json;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, record_error_json, ApiError};
use crate::store::convert::convert_value;
use crate::store::render::{record_json, resolve_field_list};
use crate::store::{Org, RecordError, RecordId, Transaction, UpsertError};

/// The most records one Collections call takes.
pub const MAX_RECORDS: usize = 200;

/// What a successful record operation did.
#[derive(Clone, Copy)]
enum Done {
    Created,
    Updated,
    Upserted { created: bool },
    Deleted,
}

type Outcome = Result<(RecordId, Done), RecordError>;

fn too_many() -> ApiError {
    ApiError::bad_request(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

struct WriteRequest {
    all_or_none: bool,
    records: Vec<Map<String, Json>>,
}

fn parse_write_request(body: &Bytes) -> Result<WriteRequest, ApiError> {
    let body: Map<String, Json> = parse_json(body)?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let Some(Json::Array(records)) = body.get("records") else {
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must have a records array",
        ));
    };
    if records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let records = records
        .iter()
        .map(|r| match r {
            Json::Object(map) => Ok(map.clone()),
            _ => Err(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                "Each record must be a JSON object",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WriteRequest {
        all_or_none,
        records,
    })
}

fn record_type(record: &Map<String, Json>) -> Option<&str> {
    record
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Json::as_str)
}

fn record_object(org: &Org, record: &Map<String, Json>) -> Result<usize, RecordError> {
    let name = record_type(record).ok_or_else(|| {
        RecordError::new("INVALID_TYPE", "Must send a concrete entity type.", vec![])
    })?;
    org.object_index(name).ok_or_else(|| {
        RecordError::new(
            "INVALID_TYPE",
            format!("sObject type '{name}' is not supported."),
            vec![],
        )
    })
}

fn id_of(record: &Map<String, Json>) -> Option<&str> {
    record
        .get("id")
        .or_else(|| record.get("Id"))
        .and_then(Json::as_str)
}

const ROLLED_BACK: &str = "Record rolled back because not all records were valid and the request was using AllOrNone header";

fn render(outcome: Outcome, rolled_back: bool) -> Json {
    match outcome {
        Ok((id, done)) if rolled_back => {
            let mut entry = json!({"success": false, "errors": [{
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": ROLLED_BACK, "fields": []
            }]});
            // A rolled-back insert has no id any more; other operations keep the id they were given.
            if !matches!(done, Done::Created | Done::Upserted { created: true }) {
                entry["id"] = json!(id.as_str());
            }
            entry
        }
        Ok((id, done)) => {
            let mut entry = json!({"id": id.as_str(), "success": true, "errors": []});
            if let Done::Upserted { created } = done {
                entry["created"] = json!(created);
            }
            entry
        }
        Err(error) => {
            let mut entry = json!({"success": false, "errors": [record_error_json(&error)]});
            if let Some(id) = error.id {
                entry = json!({"id": id.as_str(), "success": false, "errors": [record_error_json(&error)]});
            }
            entry
        }
    }
}

/// Runs the records of one Collections call inside `transaction` (a direct call's own, or a composite
/// request's); with `allOrNone` and a failure, everything this call did is rolled back.
fn run_in<F>(
    transaction: &mut Transaction<'_>,
    all_or_none: bool,
    count: usize,
    mut operation: F,
) -> Response
where
    F: FnMut(&mut Transaction<'_>, usize) -> Outcome,
{
    let start = transaction.savepoint();
    let mut outcomes = Vec::with_capacity(count);
    for position in 0..count {
        let savepoint = transaction.savepoint();
        let outcome = operation(transaction, position);
        if outcome.is_err() {
            transaction.rollback_to(savepoint);
        }
        outcomes.push(outcome);
    }
    let rolled_back = all_or_none && outcomes.iter().any(Result::is_err);
    if rolled_back {
        transaction.rollback_to(start);
    }
    let results: Vec<Json> = outcomes
        .into_iter()
        .map(|o| render(o, rolled_back))
        .collect();
    json_response(StatusCode::OK, &Json::Array(results))
}

/// `POST /composite/sobjects`.
pub async fn create(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = create_in(&mut transaction, &body, false)?;
    transaction.commit();
    Ok(response)
}

/// Collections create inside `transaction`; `force_all_or_none` is a composite request's `allOrNone`, which
/// overrides the call's own.
pub(crate) fn create_in(
    transaction: &mut Transaction<'_>,
    body: &Bytes,
    force_all_or_none: bool,
) -> Result<Response, ApiError> {
    let request = parse_write_request(body)?;
    let records = request.records;
    Ok(run_in(
        transaction,
        request.all_or_none || force_all_or_none,
        records.len(),
        |transaction, position| {
            let record = &records[position];
            let object = record_object(transaction.org(), record)?;
            if id_of(record).is_some() {
                return Err(RecordError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "cannot specify Id in an insert call",
                    vec!["Id".into()],
                ));
            }
            Ok((transaction.create(object, record)?, Done::Created))
        },
    ))
}

/// `PATCH /composite/sobjects`.
pub async fn update(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = update_in(&mut transaction, &body, false)?;
    transaction.commit();
    Ok(response)
}

/// Collections update inside `transaction` (see [`create_in`] for `force_all_or_none`).
pub(crate) fn update_in(
    transaction: &mut Transaction<'_>,
    body: &Bytes,
    force_all_or_none: bool,
) -> Result<Response, ApiError> {
    let request = parse_write_request(body)?;
    let records = request.records;
    Ok(run_in(
        transaction,
        request.all_or_none || force_all_or_none,
        records.len(),
        |transaction, position| {
            let record = &records[position];
            let id = id_of(record).ok_or_else(|| {
                RecordError::new(
                    "MISSING_ARGUMENT",
                    "Id not specified in an update call",
                    vec![],
                )
            })?;
            let object = match record_type(record) {
                Some(_) => Some(record_object(transaction.org(), record)?),
                None => None,
            };
            let mut body = record.clone();
            body.remove("id");
            Ok((transaction.update(object, id, &body)?, Done::Updated))
        },
    ))
}

/// `PATCH /composite/sobjects/{SObject}/{ExtIdField}` (the key value is in each record).
pub async fn upsert(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, field)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = upsert_in(&mut transaction, &object, &field, &body, false)?;
    transaction.commit();
    Ok(response)
}

/// Collections upsert inside `transaction` (see [`create_in`] for `force_all_or_none`).
pub(crate) fn upsert_in(
    transaction: &mut Transaction<'_>,
    object: &str,
    field: &str,
    body: &Bytes,
    force_all_or_none: bool,
) -> Result<Response, ApiError> {
    let request = parse_write_request(body)?;
    let (index, key_field) = {
        let org = transaction.org();
        let index = object_index(org, object)?;
        let key_field = crate::store::transaction::upsert_key_field(org, index, field)
            .map_err(|_| super::records::key_field_error(field))?;
        (index, key_field)
    };
    let records = request.records;
    Ok(run_in(
        transaction,
        request.all_or_none || force_all_or_none,
        records.len(),
        |transaction, position| {
            let record = &records[position];
            if let Some(name) = record_type(record) {
                if transaction.org().object_index(name) != Some(index) {
                    return Err(RecordError::new(
                        "INVALID_TYPE",
                        format!("sObject type '{name}' does not match {object}"),
                        vec![],
                    ));
                }
            }
            let field_def = &transaction.org().object_at(index).schema.fields[key_field];
            let key_name = field_def.name.clone();
            let key_json = record
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key_name))
                .map(|(_, v)| v.clone());
            let key = match key_json {
                Some(json) => convert_value(field_def, &json)?,
                None => {
                    return Err(RecordError::new(
                        "REQUIRED_FIELD_MISSING",
                        format!("Required fields are missing: [{key_name}]"),
                        vec![key_name.to_string()],
                    ))
                }
            };
            match transaction.upsert(index, key_field, &key, record, false) {
                Ok(outcome) => Ok((
                    outcome.id,
                    Done::Upserted {
                        created: outcome.created,
                    },
                )),
                Err(UpsertError::Record(error)) => Err(error),
                Err(UpsertError::MultipleMatches(ids)) => Err(RecordError::new(
                    "DUPLICATE_EXTERNAL_ID",
                    format!(
                        "{key_name}: more than one record found for external id field: [{}]",
                        ids.iter()
                            .map(RecordId::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    vec![key_name.to_string()],
                )),
            }
        },
    ))
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `DELETE /composite/sobjects?ids=..&allOrNone=..`.
pub async fn delete(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = delete_in(&mut transaction, &params, false)?;
    transaction.commit();
    Ok(response)
}

/// Collections delete inside `transaction` (see [`create_in`] for `force_all_or_none`).
pub(crate) fn delete_in(
    transaction: &mut Transaction<'_>,
    params: &HashMap<String, String>,
    force_all_or_none: bool,
) -> Result<Response, ApiError> {
    let ids = params.get("ids").map(|s| split_list(s)).unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "ids parameter is required",
        ));
    }
    if ids.len() > MAX_RECORDS {
        return Err(too_many());
    }
    Ok(run_in(
        transaction,
        flag(params, "allOrNone") || force_all_or_none,
        ids.len(),
        |transaction, position| Ok((transaction.delete(None, &ids[position])?, Done::Deleted)),
    ))
}

fn retrieve_records(
    app: &SharedState,
    api: &ApiContext,
    object: &str,
    ids: &[String],
    fields: &[String],
) -> Result<Response, ApiError> {
    let org = app.org.read();
    retrieve_in(&org, api, object, ids, fields)
}

/// Collections retrieve from `org` (as committed, or as a composite request's transaction sees it).
pub(crate) fn retrieve_in(
    org: &Org,
    api: &ApiContext,
    object: &str,
    ids: &[String],
    fields: &[String],
) -> Result<Response, ApiError> {
    if ids.len() > 2000 {
        return Err(too_many());
    }
    if fields.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "fields parameter is required",
        ));
    }
    let index = object_index(org, object)?;
    let store = org.object_at(index);
    let field_indexes = resolve_field_list(&store.schema, &fields.join(",")).map_err(|bad| {
        ApiError::bad_request(
            "INVALID_FIELD",
            format!("No such column '{bad}' on entity '{}'", store.schema.name),
        )
    })?;
    let mut results = Vec::with_capacity(ids.len());
    for id_text in ids {
        let (_, id) = crate::store::transaction::locate(org, Some(index), id_text)?;
        results.push(match store.get(&id) {
            Some(record) if !record.is_deleted() => {
                let record = crate::formula::with_calculated(org, index, record);
                record_json(&store.schema, &record, &api.version, Some(&field_indexes))
            }
            _ => Json::Null,
        });
    }
    Ok(json_response(StatusCode::OK, &Json::Array(results)))
}

/// `GET /composite/sobjects/{SObject}?ids=..&fields=..`.
pub async fn retrieve(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ids = params.get("ids").map(|s| split_list(s)).unwrap_or_default();
    let fields = params
        .get("fields")
        .map(|s| split_list(s))
        .unwrap_or_default();
    retrieve_records(&app, &api, &object, &ids, &fields)
}

/// `POST /composite/sobjects/{SObject}` with `{"ids": [...], "fields": [...]}`.
pub async fn retrieve_post(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        ids: Vec<String>,
        #[serde(default)]
        fields: Vec<String>,
    }
    let body: Body = parse_json(&body)?;
    retrieve_records(&app, &api, &object, &body.ids, &body.fields)
}
