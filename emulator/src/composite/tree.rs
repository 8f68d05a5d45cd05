//! `POST /services/data/vXX.X/composite/tree/{SObject}` (sObject Tree, 42.0+): creates trees of parent and
//! child records in one transaction and one API call. Each record names its `attributes.type` and a
//! `referenceId`; children sit under the parent's child relationship name (`"Contacts": {"records": [...]}`)
//! and get their lookup to the parent set. Records are created level by level (every root, then every second
//! level record, ...), which is the order of the ids in the response. Any failure rolls everything back and
//! the 400 response lists only the failing records.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value as Json};

use crate::app::SharedState;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, record_error_json, ApiError};
use crate::rest::describe::child_relationships_of;
use crate::rest::object_index;
use crate::store::{Org, RecordError, RecordId};

/// At most this many records in one request, across all trees.
pub const MAX_RECORDS: usize = 200;
/// At most this many levels: a root and four generations below it.
pub const MAX_DEPTH: usize = 5;
/// At most this many different objects in one request.
pub const MAX_TYPES: usize = 5;

/// One record of the request, flattened out of its tree.
struct TreeRecord {
    reference_id: String,
    object: usize,
    /// Field values only: `attributes` and child relationships are removed.
    fields: Map<String, Json>,
    /// The position of the parent in the flattened list and the child's lookup field to it.
    parent: Option<(usize, String)>,
    depth: usize,
}

/// Why a request is refused before anything is written: either one record's fault (reported in the documented
/// `{"hasErrors":true,"results":[...]}` shape) or the request's as a whole (a REST error array).
enum Refusal {
    Record {
        reference_id: String,
        error: RecordError,
    },
    Request(ApiError),
}

fn failure_body(failures: &[(String, RecordError)]) -> Json {
    let results: Vec<Json> = failures
        .iter()
        .map(|(reference_id, error)| {
            json!({"referenceId": reference_id, "errors": [record_error_json(error)]})
        })
        .collect();
    json!({"hasErrors": true, "results": results})
}

fn invalid_input(message: impl Into<String>) -> RecordError {
    RecordError::new("INVALID_INPUT", message, vec![])
}

/// Walks the request's trees depth-first, checking shape and limits, into a flat list.
struct Flattener<'a> {
    org: &'a Org,
    records: Vec<TreeRecord>,
    types: HashSet<usize>,
}

impl Flattener<'_> {
    fn add(
        &mut self,
        value: &Json,
        expected_object: usize,
        parent: Option<(usize, String)>,
        depth: usize,
    ) -> Result<(), Refusal> {
        let Json::Object(map) = value else {
            return Err(Refusal::Request(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                "Each record of an sObject tree must be a JSON object",
            )));
        };
        let attributes = map.get("attributes").and_then(Json::as_object);
        let reference_id = attributes
            .and_then(|a| a.get("referenceId"))
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        if reference_id.is_empty() {
            return Err(Refusal::Record {
                reference_id,
                error: invalid_input("Include a reference ID for each record in the request"),
            });
        }
        let record_error = |error: RecordError| Refusal::Record {
            reference_id: reference_id.clone(),
            error,
        };
        let expected_name = &self.org.object_at(expected_object).schema.name;
        let type_name = attributes
            .and_then(|a| a.get("type"))
            .and_then(Json::as_str)
            .ok_or_else(|| {
                record_error(invalid_input(
                    "Include the sObject type in the attributes of each record",
                ))
            })?;
        if !type_name.eq_ignore_ascii_case(expected_name) {
            return Err(record_error(invalid_input(format!(
                "The record's type {type_name} doesn't match the type {expected_name} its position in the tree \
                 requires"
            ))));
        }
        if depth > MAX_DEPTH {
            return Err(Refusal::Request(ApiError::bad_request(
                "LIMIT_EXCEEDED",
                format!("An sObject tree can be at most {MAX_DEPTH} levels deep"),
            )));
        }
        self.types.insert(expected_object);
        if self.types.len() > MAX_TYPES {
            return Err(Refusal::Request(ApiError::bad_request(
                "LIMIT_EXCEEDED",
                format!("A request can hold records of at most {MAX_TYPES} different types"),
            )));
        }
        let relationships = child_relationships_of(self.org, expected_name);
        let mut fields = Map::new();
        let mut children = Vec::new();
        for (key, value) in map {
            if key == "attributes" {
                continue;
            }
            let nested = value.as_object().and_then(|object| object.get("records"));
            let Some(nested) = nested else {
                fields.insert(key.clone(), value.clone());
                continue;
            };
            let relationship = relationships.iter().find(|relationship| {
                relationship
                    .name
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(key))
            });
            let Some(relationship) = relationship else {
                return Err(record_error(RecordError::new(
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type {expected_name}"),
                    vec![key.clone()],
                )));
            };
            let Json::Array(list) = nested else {
                return Err(Refusal::Request(ApiError::bad_request(
                    "JSON_PARSER_ERROR",
                    format!("The records of the child relationship {key} must be a JSON array"),
                )));
            };
            let child_object = self
                .org
                .object_index(&relationship.child.name)
                .ok_or_else(|| Refusal::Request(ApiError::not_found()))?;
            children.push((child_object, relationship.field.name.to_string(), list));
        }
        let position = self.records.len();
        self.records.push(TreeRecord {
            reference_id,
            object: expected_object,
            fields,
            parent,
            depth,
        });
        if self.records.len() > MAX_RECORDS {
            return Err(Refusal::Request(ApiError::bad_request(
                "LIMIT_EXCEEDED",
                format!("A request can create at most {MAX_RECORDS} records"),
            )));
        }
        for (child_object, lookup, list) in children {
            for child in list {
                self.add(
                    child,
                    child_object,
                    Some((position, lookup.clone())),
                    depth + 1,
                )?;
            }
        }
        Ok(())
    }
}

/// Every reference id used more than once, each occurrence reported.
fn duplicate_references(records: &[TreeRecord]) -> Vec<(String, RecordError)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for record in records {
        *counts.entry(&record.reference_id).or_default() += 1;
    }
    records
        .iter()
        .filter(|record| counts[record.reference_id.as_str()] > 1)
        .map(|record| {
            (
                record.reference_id.clone(),
                invalid_input(format!(
                    "Duplicate ReferenceId provided in the request: {}",
                    record.reference_id
                )),
            )
        })
        .collect()
}

/// The handler.
pub async fn create_tree(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if api.version_number < 42.0 {
        return Err(ApiError::not_found());
    }
    let request: Json = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!("The request body is not JSON: {error}"),
        )
    })?;
    let Some(Json::Array(roots)) = request.get("records") else {
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must be an object with a records array",
        ));
    };
    let mut org = app.org.write();
    let root_object = object_index(&org, &object)?;
    let mut flattener = Flattener {
        org: &org,
        records: Vec::new(),
        types: HashSet::new(),
    };
    for root in roots {
        match flattener.add(root, root_object, None, 1) {
            Ok(()) => {}
            Err(Refusal::Request(error)) => return Err(error),
            Err(Refusal::Record {
                reference_id,
                error,
            }) => {
                return Ok(json_response(
                    StatusCode::BAD_REQUEST,
                    &failure_body(&[(reference_id, error)]),
                ))
            }
        }
    }
    let records = flattener.records;
    let duplicates = duplicate_references(&records);
    if !duplicates.is_empty() {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &failure_body(&duplicates),
        ));
    }
    let mut order: Vec<usize> = (0..records.len()).collect();
    // Level by level, keeping request order within a level (a stable sort).
    order.sort_by_key(|&position| records[position].depth);
    let mut transaction = org.transaction(api.write_context());
    let mut ids: Vec<Option<RecordId>> = vec![None; records.len()];
    for &position in &order {
        let record = &records[position];
        let mut fields = record.fields.clone();
        if let Some((parent, lookup)) = &record.parent {
            let parent_id = ids[*parent].expect("parents are created on an earlier level");
            fields.insert(lookup.clone(), json!(parent_id.as_str()));
        }
        match transaction.create(record.object, &fields) {
            Ok(id) => ids[position] = Some(id),
            Err(error) => {
                // Dropping the transaction without committing rolls every record back.
                drop(transaction);
                return Ok(json_response(
                    StatusCode::BAD_REQUEST,
                    &failure_body(&[(record.reference_id.clone(), error)]),
                ));
            }
        }
    }
    transaction.commit();
    let results: Vec<Json> = order
        .iter()
        .map(|&position| {
            json!({
                "referenceId": records[position].reference_id,
                "id": ids[position].map(|id| id.as_str().to_string()),
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"hasErrors": false, "results": results}),
    ))
}
