//! The column plan: from a Salesforce describe and a mapping's field list to typed Postgres columns.
//!
//! The plan's type ([`ColumnPlan`]) and the type map ([`sql_type`]) are the contract's, declared in
//! `sfsync-protocol` (docs/architecture.md, *Contracts*). The plan is stored on the mapping (`sfsync.mapping.columns`)
//! and drives the DDL, the capture triggers (which columns are sent on insert/update), the reader
//! (which fields to query and how to convert them) and the writer (how to build Salesforce bodies).

use crate::errors::raise;
use crate::names::{is_api_name, split_relationship_path, MAX_IDENTIFIER_BYTES};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

use sfsync_protocol::sql_type;
pub use sfsync_protocol::ColumnPlan;

#[derive(Serialize, Debug)]
pub struct MappingPlan {
    pub object: String,
    pub table: String,
    pub columns: Vec<ColumnPlan>,
    pub upsert_field: Option<String>,
    pub upsert_column: Option<String>,
    pub has_isdeleted: bool,
    pub has_systemmodstamp: bool,
}

/// Errors found while planning; every variant names the bad value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("malformed describe: {0}")]
    MalformedDescribe(String),
    #[error("the describe is for object {found:?}, not {expected:?}")]
    WrongObject { expected: String, found: String },
    #[error("object {0} is not queryable in Salesforce")]
    NotQueryable(String),
    #[error("invalid field name {0:?}")]
    BadFieldName(String),
    #[error("duplicate field {0:?} in the field list")]
    DuplicateField(String),
    #[error("fields not found on {object}: {fields}")]
    MissingFields { object: String, fields: String },
    #[error("field {field} has type {sf_type}, which sfsync cannot map")]
    UnsupportedType { field: String, sf_type: String },
    #[error("{0} is not a relationship field on {1} (expected <relationshipName>.<ExternalIdField>, e.g. Account.Ext_Id__c)")]
    UnknownRelationship(String, String),
    #[error("{0} is not an external id field of {1}")]
    NotExternalId(String, String),
    #[error("read_only_fields names {0:?}, which is not in the field list")]
    ReadOnlyNotMapped(String),
    #[error("upsert field {0:?} is not in the field list")]
    UpsertNotMapped(String),
    #[error("upsert field {0} is not an external id field (externalId is false in the describe)")]
    UpsertNotExternalId(String),
    #[error("identifier {0:?} would be longer than 63 bytes; Postgres would truncate it")]
    IdentifierTooLong(String),
    #[error("field {field} maps to column {column:?}, which another field already uses")]
    ColumnClash { field: String, column: String },
}

impl PlanError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            PlanError::MalformedDescribe(_) => PgSqlErrorCode::ERRCODE_INVALID_JSON_TEXT,
            PlanError::IdentifierTooLong(_) => PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
            PlanError::BadFieldName(_) => PgSqlErrorCode::ERRCODE_INVALID_NAME,
            PlanError::DuplicateField(_) | PlanError::ColumnClash { .. } => {
                PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN
            }
            PlanError::MissingFields { .. } | PlanError::UnknownRelationship(..) => {
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN
            }
            _ => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }
}

/// What the planner needs to know about one describe field.
struct FieldInfo<'a> {
    raw: &'a Map<String, Value>,
    name: &'a str,
}

impl<'a> FieldInfo<'a> {
    fn str(&self, key: &str) -> Option<&'a str> {
        self.raw.get(key).and_then(Value::as_str)
    }
    fn flag(&self, key: &str) -> bool {
        self.raw.get(key).and_then(Value::as_bool).unwrap_or(false)
    }
    fn int(&self, key: &str) -> Option<i64> {
        self.raw.get(key).and_then(Value::as_i64)
    }
    fn sf_type(&self) -> &'a str {
        self.str("type").unwrap_or("")
    }
    fn reference_to(&self) -> Vec<String> {
        self.raw
            .get("referenceTo")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn sf_read_only(&self) -> bool {
        self.flag("calculated") || (!self.flag("createable") && !self.flag("updateable"))
    }
}

/// A parsed describe: the object's canonical name and its fields by lower-cased name.
struct Describe<'a> {
    name: &'a str,
    queryable: bool,
    fields: Vec<FieldInfo<'a>>,
    by_name: HashMap<String, usize>,
}

impl<'a> Describe<'a> {
    fn parse(value: &'a Value) -> Result<Self, PlanError> {
        let object = value
            .as_object()
            .ok_or_else(|| PlanError::MalformedDescribe("expected a JSON object".into()))?;
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| PlanError::MalformedDescribe("missing string key \"name\"".into()))?;
        let raw_fields = object
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| PlanError::MalformedDescribe("missing array key \"fields\"".into()))?;
        let mut fields = Vec::with_capacity(raw_fields.len());
        let mut by_name = HashMap::with_capacity(raw_fields.len());
        for (i, f) in raw_fields.iter().enumerate() {
            let raw = f.as_object().ok_or_else(|| {
                PlanError::MalformedDescribe(format!("fields[{i}] is not an object"))
            })?;
            let fname = raw.get("name").and_then(Value::as_str).ok_or_else(|| {
                PlanError::MalformedDescribe(format!("fields[{i}] has no string \"name\""))
            })?;
            if raw.get("type").and_then(Value::as_str).is_none() {
                return Err(PlanError::MalformedDescribe(format!(
                    "field {fname} has no string \"type\""
                )));
            }
            by_name.insert(fname.to_ascii_lowercase(), fields.len());
            fields.push(FieldInfo { raw, name: fname });
        }
        let queryable = object
            .get("queryable")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        Ok(Describe {
            name,
            queryable,
            fields,
            by_name,
        })
    }

    fn field(&self, name: &str) -> Option<&FieldInfo<'a>> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.fields[i])
    }

    fn relationship(&self, relationship: &str) -> Option<&FieldInfo<'a>> {
        self.fields.iter().find(|f| {
            f.sf_type() == "reference"
                && f.str("relationshipName")
                    .is_some_and(|r| r.eq_ignore_ascii_case(relationship))
        })
    }

    fn compound_components(&self, compound: &str) -> Vec<&FieldInfo<'a>> {
        self.fields
            .iter()
            .filter(|f| {
                f.str("compoundFieldName")
                    .is_some_and(|c| c.eq_ignore_ascii_case(compound))
            })
            .collect()
    }
}

fn check_identifier(name: &str) -> Result<(), PlanError> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        Err(PlanError::IdentifierTooLong(name.to_string()))
    } else {
        Ok(())
    }
}

/// Inputs of the planner besides the describe.
pub struct PlanRequest<'a> {
    pub object_name: &'a str,
    pub fields: &'a [String],
    pub read_only_fields: &'a [String],
    pub upsert_field: Option<&'a str>,
    pub read_write: bool,
    /// Parent describes by object name, used to type relationship external-id columns.
    pub parents: Option<&'a Value>,
}

/// Builds the column plan, or explains precisely what is wrong with the request.
pub fn build_plan(request: &PlanRequest<'_>, describe: &Value) -> Result<MappingPlan, PlanError> {
    let describe = Describe::parse(describe)?;
    if !describe.name.eq_ignore_ascii_case(request.object_name) {
        return Err(PlanError::WrongObject {
            expected: request.object_name.to_string(),
            found: describe.name.to_string(),
        });
    }
    if !describe.queryable {
        return Err(PlanError::NotQueryable(describe.name.to_string()));
    }
    let table = describe.name.to_ascii_lowercase();
    check_identifier(&table)?;

    let read_only_requested: HashSet<String> = request
        .read_only_fields
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let requested: HashSet<String> = request
        .fields
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    for ro in request.read_only_fields {
        if !requested.contains(&ro.to_ascii_lowercase()) {
            return Err(PlanError::ReadOnlyNotMapped(ro.clone()));
        }
    }

    let mut columns: Vec<ColumnPlan> = Vec::new();
    let mut seen_fields: HashSet<String> = HashSet::new();
    let mut missing: Vec<String> = Vec::new();

    // System columns first: they are mapped whenever the object has them (README, *Concepts*).
    columns.push(ColumnPlan {
        column: "sfid".into(),
        field: "Id".into(),
        path: vec!["Id".into()],
        sf_type: "id".into(),
        sql_type: "varchar(18)".into(),
        insertable: false,
        updatable: false,
        read_only: true,
        system: true,
        external_id: false,
        nillable: true,
        length: Some(18),
        reference_to: vec![],
        relationship: None,
        reference_field: None,
    });
    seen_fields.insert("id".into());
    let mut has_isdeleted = false;
    let mut has_systemmodstamp = false;
    for (system_field, sf_type) in [("IsDeleted", "boolean"), ("SystemModstamp", "datetime")] {
        if let Some(info) = describe.field(system_field) {
            let column = system_field.to_ascii_lowercase();
            columns.push(ColumnPlan {
                column: column.clone(),
                field: info.name.to_string(),
                path: vec![info.name.to_string()],
                sf_type: sf_type.into(),
                sql_type: sql_type(sf_type, 0, 0, 0).expect("system types are mapped"),
                insertable: false,
                updatable: false,
                read_only: true,
                system: true,
                external_id: false,
                nillable: true,
                length: None,
                reference_to: vec![],
                relationship: None,
                reference_field: None,
            });
            seen_fields.insert(column);
            has_isdeleted |= system_field == "IsDeleted";
            has_systemmodstamp |= system_field == "SystemModstamp";
        }
    }

    let mut requested_seen: HashSet<String> = HashSet::new();
    for requested_name in request.fields {
        let lower = requested_name.to_ascii_lowercase();
        if !requested_seen.insert(lower.clone()) {
            return Err(PlanError::DuplicateField(requested_name.clone()));
        }
        if let Some((relationship, ext_field)) = split_relationship_path(requested_name) {
            let lookup = describe.relationship(relationship).ok_or_else(|| {
                PlanError::UnknownRelationship(requested_name.clone(), describe.name.to_string())
            })?;
            let relationship_name = lookup
                .str("relationshipName")
                .unwrap_or(relationship)
                .to_string();
            let targets = lookup.reference_to();
            let (field_name, sf_type, length, precision, scale, external_id) =
                match parent_field(request.parents, &targets, ext_field) {
                    Some(parent) => {
                        if !parent.flag("externalId") {
                            return Err(PlanError::NotExternalId(
                                ext_field.to_string(),
                                targets.join("/"),
                            ));
                        }
                        (
                            parent.name.to_string(),
                            parent.sf_type().to_string(),
                            parent.int("length").unwrap_or(255),
                            parent.int("precision").unwrap_or(0),
                            parent.int("scale").unwrap_or(0),
                            true,
                        )
                    }
                    None => (ext_field.to_string(), "string".to_string(), 255, 0, 0, true),
                };
            let column = format!(
                "{}__{}",
                relationship_name.to_ascii_lowercase(),
                field_name.to_ascii_lowercase()
            );
            check_identifier(&column)?;
            let sql = sql_type(&sf_type, length, precision, scale).ok_or_else(|| {
                PlanError::UnsupportedType {
                    field: requested_name.clone(),
                    sf_type: sf_type.clone(),
                }
            })?;
            let read_only = read_only_requested.contains(&lower) || !request.read_write;
            push_column(
                &mut columns,
                &mut seen_fields,
                ColumnPlan {
                    field: format!("{relationship_name}.{field_name}"),
                    path: vec![relationship_name.clone(), field_name.clone()],
                    column,
                    sf_type,
                    sql_type: sql,
                    insertable: !read_only && lookup.flag("createable"),
                    updatable: !read_only && lookup.flag("updateable"),
                    read_only: read_only || lookup.sf_read_only(),
                    system: false,
                    external_id,
                    nillable: true,
                    length: Some(length),
                    reference_to: targets,
                    relationship: Some(relationship_name),
                    reference_field: Some(lookup.name.to_string()),
                },
            )?;
            continue;
        }
        if !is_api_name(requested_name) {
            return Err(PlanError::BadFieldName(requested_name.clone()));
        }
        let Some(info) = describe.field(requested_name) else {
            missing.push(requested_name.clone());
            continue;
        };
        if info.flag("deprecatedAndHidden") {
            missing.push(requested_name.clone());
            continue;
        }
        let components = match info.sf_type() {
            "address" | "location" => {
                let parts = describe.compound_components(info.name);
                if parts.is_empty() {
                    return Err(PlanError::UnsupportedType {
                        field: info.name.to_string(),
                        sf_type: info.sf_type().to_string(),
                    });
                }
                parts
            }
            _ => vec![info],
        };
        let read_only_by_user = read_only_requested.contains(&lower);
        for part in components {
            let lower_part = part.name.to_ascii_lowercase();
            if seen_fields.contains(&lower_part) {
                if lower_part == "id" || lower_part == "isdeleted" || lower_part == "systemmodstamp"
                {
                    continue; // always mapped anyway
                }
                return Err(PlanError::DuplicateField(part.name.to_string()));
            }
            let sf_type = part.sf_type().to_string();
            let length = part.int("length").unwrap_or(0);
            let sql = sql_type(
                &sf_type,
                length,
                part.int("precision").unwrap_or(0),
                part.int("scale").unwrap_or(0),
            )
            .ok_or_else(|| PlanError::UnsupportedType {
                field: part.name.to_string(),
                sf_type: sf_type.clone(),
            })?;
            let column = lower_part.clone();
            check_identifier(&column)?;
            let read_only = read_only_by_user || !request.read_write || part.sf_read_only();
            push_column(
                &mut columns,
                &mut seen_fields,
                ColumnPlan {
                    column,
                    field: part.name.to_string(),
                    path: vec![part.name.to_string()],
                    sql_type: sql,
                    insertable: !read_only && part.flag("createable"),
                    updatable: !read_only && part.flag("updateable"),
                    read_only,
                    system: false,
                    external_id: part.flag("externalId"),
                    nillable: part
                        .raw
                        .get("nillable")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    length: (length > 0).then_some(length),
                    reference_to: part.reference_to(),
                    relationship: None,
                    reference_field: None,
                    sf_type,
                },
            )?;
        }
    }
    if !missing.is_empty() {
        return Err(PlanError::MissingFields {
            object: describe.name.to_string(),
            fields: missing.join(", "),
        });
    }

    let (upsert_field, upsert_column) = match request.upsert_field {
        None => (None, None),
        Some(upsert) => {
            let column = columns
                .iter()
                .find(|c| c.relationship.is_none() && c.field.eq_ignore_ascii_case(upsert))
                .ok_or_else(|| PlanError::UpsertNotMapped(upsert.to_string()))?;
            if !column.external_id {
                return Err(PlanError::UpsertNotExternalId(column.field.clone()));
            }
            (Some(column.field.clone()), Some(column.column.clone()))
        }
    };
    for index in ["hcu_idx_{t}_sfid", "hc_idx_{t}_systemmodstamp"] {
        check_identifier(&index.replace("{t}", &table))?;
    }
    if let Some(column) = &upsert_column {
        check_identifier(&format!("hcu_idx_{table}_{column}"))?;
    }
    Ok(MappingPlan {
        object: describe.name.to_string(),
        table,
        columns,
        upsert_field,
        upsert_column,
        has_isdeleted,
        has_systemmodstamp,
    })
}

fn push_column(
    columns: &mut Vec<ColumnPlan>,
    seen: &mut HashSet<String>,
    column: ColumnPlan,
) -> Result<(), PlanError> {
    if !seen.insert(column.column.clone()) {
        return Err(PlanError::ColumnClash {
            field: column.field,
            column: column.column,
        });
    }
    columns.push(column);
    Ok(())
}

/// Finds `field` in the describe of one of `targets` among the supplied parent describes.
fn parent_field<'a>(
    parents: Option<&'a Value>,
    targets: &[String],
    field: &str,
) -> Option<FieldInfo<'a>> {
    let parents = parents?.as_object()?;
    targets.iter().find_map(|target| {
        let describe = parents
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(target))
            .map(|(_, d)| d)?;
        let fields = describe.get("fields")?.as_array()?;
        fields.iter().find_map(|f| {
            let raw = f.as_object()?;
            let name = raw.get("name")?.as_str()?;
            name.eq_ignore_ascii_case(field)
                .then_some(FieldInfo { raw, name })
        })
    })
}

/// SQL entry point: the column plan of a mapping as JSON, or an error naming what is wrong.
#[pg_extern(immutable, parallel_safe)]
fn _column_plan(
    object_name: &str,
    fields: Vec<String>,
    describe: JsonB,
    read_only_fields: default!(Vec<String>, "'{}'"),
    upsert_field: default!(Option<&str>, "NULL"),
    read_write: default!(bool, "true"),
    parents: default!(Option<JsonB>, "NULL"),
) -> JsonB {
    let request = PlanRequest {
        object_name,
        fields: &fields,
        read_only_fields: &read_only_fields,
        upsert_field,
        read_write,
        parents: parents.as_ref().map(|p| &p.0),
    };
    match build_plan(&request, &describe.0) {
        Ok(plan) => JsonB(serde_json::to_value(plan).expect("plan serialises")),
        Err(e) => raise(e.sqlstate(), e.to_string()),
    }
}
