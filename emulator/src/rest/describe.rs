//! Describe resources: global (`/sobjects`), basic info (`/sobjects/{Name}`) and full (`/sobjects/{Name}/describe`).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value as Json};

use super::object_index;
use crate::app::SharedState;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};
use crate::store::{FieldDef, FieldType, ObjectSchema, ObjectStore, Org};

fn urls(base: &str, name: &str) -> Json {
    json!({
        "sobject": format!("{base}/sobjects/{name}"),
        "describe": format!("{base}/sobjects/{name}/describe"),
        "rowTemplate": format!("{base}/sobjects/{name}/{{ID}}"),
    })
}

/// The global-describe entry of one object (REST API Developer Guide: Describe Global key set).
fn summary(store: &ObjectStore, base: &str) -> Json {
    let schema = &store.schema;
    let name = &*schema.name;
    json!({
        "activateable": false,
        "createable": schema.createable,
        "custom": schema.custom,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": schema.deletable,
        "deprecatedAndHidden": false,
        "feedEnabled": !schema.custom,
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": schema.key_prefix,
        "label": schema.label,
        "labelPlural": schema.label_plural,
        "layoutable": true,
        "mergeable": matches!(name, "Account" | "Contact" | "Lead" | "Case"),
        "mruEnabled": true,
        "name": name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": true,
        "triggerable": true,
        "undeletable": schema.deletable,
        "updateable": true,
        "urls": urls(base, name),
    })
}

/// Whether an `If-Modified-Since` header (`EEE, dd MMM yyyy HH:mm:ss z`) is at or after the last schema change.
fn not_modified_since(headers: &HeaderMap, changed_ms: i64) -> bool {
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        // The header has second resolution.
        .is_some_and(|since| since.timestamp_millis() >= changed_ms / 1000 * 1000)
}

pub async fn global(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    headers: HeaderMap,
) -> Response {
    let org = app.org.read();
    if not_modified_since(&headers, org.schema_changed_ms) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let base = api.base();
    let sobjects: Vec<Json> = org.objects().map(|store| summary(store, &base)).collect();
    json_response(
        StatusCode::OK,
        &json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}),
    )
}

pub async fn basic_info(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let org = app.org.read();
    let store = org.object_at(object_index(&org, &object)?);
    Ok(json_response(
        StatusCode::OK,
        &json!({"objectDescribe": summary(store, &api.base()), "recentItems": []}),
    ))
}

/// Child relationship name a real org uses for the standard lookups; custom ones get `<Plural>__r`.
fn child_relationship_name(child: &ObjectSchema, field: &str) -> Option<String> {
    let standard = match (&*child.name, field) {
        ("Contact", "AccountId") => Some("Contacts"),
        ("Opportunity", "AccountId") => Some("Opportunities"),
        ("Case", "AccountId") | ("Case", "ContactId") => Some("Cases"),
        ("Case", "ParentId") => Some("Cases"),
        ("Account", "ParentId") => Some("ChildAccounts"),
        ("Contact", "ReportsToId") => Some("ReportsTo"),
        _ => None,
    };
    if let Some(name) = standard {
        return Some(name.to_string());
    }
    let custom_field = child.field(field).is_some_and(|f| f.custom);
    custom_field.then(|| format!("{}__r", child.label_plural.replace(' ', "_")))
}

/// One child relationship of an object: a lookup field of another object (or the same) pointing at it.
pub struct ChildRelationship<'a> {
    pub child: &'a ObjectSchema,
    pub field: &'a FieldDef,
    /// The name a parent's describe lists it under (`Contacts`); `None` for standard lookups without one.
    pub name: Option<String>,
}

/// Every child relationship of `parent` among `schemas` (the org's objects), in object and field order: what
/// describe lists, sObject Tree nests under and parent-to-child subqueries select from.
pub fn child_relationships_among<'a>(
    schemas: impl IntoIterator<Item = &'a ObjectSchema>,
    parent: &str,
) -> Vec<ChildRelationship<'a>> {
    let mut relationships = Vec::new();
    for child in schemas {
        for field in child
            .fields
            .iter()
            .filter(|f| f.field_type == FieldType::Reference)
        {
            if field
                .reference_to
                .iter()
                .any(|t| t.eq_ignore_ascii_case(parent))
            {
                relationships.push(ChildRelationship {
                    child,
                    field,
                    name: child_relationship_name(child, &field.name),
                });
            }
        }
    }
    relationships
}

/// Every child relationship of `parent` in `org`.
pub fn child_relationships_of<'a>(org: &'a Org, parent: &str) -> Vec<ChildRelationship<'a>> {
    child_relationships_among(org.objects().map(|store| &store.schema), parent)
}

fn child_relationships(org: &Org, parent: &str) -> Vec<Json> {
    child_relationships_of(org, parent)
        .into_iter()
        .map(|relationship| {
            json!({
                "cascadeDelete": relationship.field.cascade_delete,
                "childSObject": &*relationship.child.name,
                "deprecatedAndHidden": false,
                "field": &*relationship.field.name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": relationship.name,
                "restrictedDelete": relationship.field.restricted_delete,
            })
        })
        .collect()
}

pub async fn describe(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let org = app.org.read();
    let store = org.object_at(object_index(&org, &object)?);
    let schema = &store.schema;
    let base = api.base();
    let mut body = summary(store, &base);
    let name = &*schema.name;
    body["actionOverrides"] = json!([]);
    body["childRelationships"] = Json::Array(child_relationships(&org, name));
    body["compactLayoutable"] = json!(true);
    body["defaultImplementation"] = Json::Null;
    body["extendedBy"] = Json::Null;
    body["extendsInterfaces"] = Json::Null;
    body["fields"] = serde_json::to_value(&schema.fields).unwrap_or_else(|_| json!([]));
    body["implementedBy"] = Json::Null;
    body["implementsInterfaces"] = Json::Null;
    body["listviewable"] = Json::Null;
    body["lookupLayoutable"] = Json::Null;
    body["namedLayoutInfos"] = json!([]);
    body["networkScopeFieldName"] = Json::Null;
    body["recordTypeInfos"] = json!([{
        "active": true, "available": true, "defaultRecordTypeMapping": true, "developerName": "Master", "master": true,
        "name": "Master", "recordTypeId": "012000000000000AAA",
        "urls": {"layout": format!("{base}/sobjects/{name}/describe/layouts/012000000000000AAA")}
    }]);
    body["searchLayoutable"] = json!(true);
    body["sobjectDescribeOption"] = json!("FULL");
    body["supportedScopes"] = json!([{"label": "All", "name": "everything"}]);
    body["urls"] = json!({
        "sobject": format!("{base}/sobjects/{name}"),
        "describe": format!("{base}/sobjects/{name}/describe"),
        "rowTemplate": format!("{base}/sobjects/{name}/{{ID}}"),
        "updated": format!("{base}/sobjects/{name}/updated"),
        "deleted": format!("{base}/sobjects/{name}/deleted"),
    });
    Ok(json_response(StatusCode::OK, &body))
}
