//! Roll-up summary fields (Salesforce Help: Roll-Up Summary Field): COUNT, SUM, MIN or MAX of the detail records of
//! a master-detail relationship, optionally filtered, stored on the master and recomputed by the transaction that
//! changes a detail record, without touching the master's audit fields or publishing a change for it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::errors::SchemaError;
use super::object_store::Record;
use super::schema::{FieldDef, FieldType, ObjectSchema};
use super::value::Value;
use super::{Org, RecordId};
use crate::query::catalog::SoqlCatalog;
use crate::query::source::OrgSource;
use crate::soql::CompiledCondition;

/// The summary operation, `COUNT|SUM|MIN|MAX` (any case) in a definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RollupOperation {
    #[serde(rename = "COUNT", alias = "count", alias = "Count")]
    Count,
    #[serde(rename = "SUM", alias = "sum", alias = "Sum")]
    Sum,
    #[serde(rename = "MIN", alias = "min", alias = "Min")]
    Min,
    #[serde(rename = "MAX", alias = "max", alias = "Max")]
    Max,
}

impl RollupOperation {
    /// The Metadata API's `summaryOperation` value (lower case).
    pub fn metadata_name(self) -> &'static str {
        match self {
            RollupOperation::Count => "count",
            RollupOperation::Sum => "sum",
            RollupOperation::Min => "min",
            RollupOperation::Max => "max",
        }
    }
}

/// A roll-up definition as given in an object or field spec (the `rollup` key, never in describe).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupSpec {
    pub child_object: String,
    /// The child's master-detail field pointing at the master.
    pub relationship_field: String,
    pub operation: RollupOperation,
    /// The summarized child field (none for COUNT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A SOQL WHERE condition on the child; only matching children count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// A roll-up resolved against the org's objects.
#[derive(Clone, Debug)]
pub struct CompiledRollup {
    pub master: usize,
    pub field: usize,
    pub child: usize,
    pub relationship: usize,
    pub operation: RollupOperation,
    pub summarized: Option<usize>,
    pub filter: Option<CompiledCondition>,
}

/// Every roll-up of the org, rebuilt on every schema change.
#[derive(Clone, Debug, Default)]
pub struct Rollups {
    pub list: Vec<CompiledRollup>,
}

fn is_number(field_type: FieldType) -> bool {
    matches!(
        field_type,
        FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
    )
}

fn is_orderable(field_type: FieldType) -> bool {
    is_number(field_type) || matches!(field_type, FieldType::Date | FieldType::Datetime)
}

/// Checks the roll-up of `field` on `master` (which may not be in `org` yet) against the objects of `org`.
pub fn check(field: &FieldDef, master: &ObjectSchema, org: &Org) -> Result<(), SchemaError> {
    let Some(spec) = &field.rollup else {
        return Ok(());
    };
    let bad = |reason: String| SchemaError::BadRollup {
        field: field.name.to_string(),
        reason,
    };
    let child = org
        .object(&spec.child_object)
        .map(|store| &store.schema)
        .ok_or_else(|| bad(format!("unknown child object '{}'", spec.child_object)))?;
    let relationship = child.field(&spec.relationship_field).ok_or_else(|| {
        bad(format!(
            "unknown field '{}' on {}",
            spec.relationship_field, child.name
        ))
    })?;
    let points_here = relationship
        .reference_to
        .iter()
        .any(|target| target.eq_ignore_ascii_case(&master.name));
    if !relationship.is_master_detail() || !points_here {
        return Err(bad(format!(
            "{}.{} is not a master-detail field pointing at {}",
            child.name, relationship.name, master.name
        )));
    }
    match spec.operation {
        RollupOperation::Count => {
            if !is_number(field.field_type) {
                return Err(bad("a COUNT roll-up must be of a number type".into()));
            }
        }
        operation => {
            let name = spec
                .field
                .as_deref()
                .ok_or_else(|| bad(format!("{operation:?} needs the summarized field")))?;
            let summarized = child
                .field(name)
                .ok_or_else(|| bad(format!("unknown field '{name}' on {}", child.name)))?;
            let fits = if operation == RollupOperation::Sum {
                is_number(summarized.field_type) && is_number(field.field_type)
            } else {
                is_orderable(summarized.field_type)
                    && (is_number(summarized.field_type) == is_number(field.field_type))
            };
            if !fits {
                return Err(bad(format!(
                    "{}.{} ({:?}) cannot be summarized by {operation:?} into a {:?} field",
                    child.name, summarized.name, summarized.field_type, field.field_type
                )));
            }
        }
    }
    if let Some(filter) = &spec.filter {
        org.soql
            .check_condition(filter, child)
            .map_err(|e| bad(format!("filter: {}: {}", e.code, e.message.trim_start())))?;
    }
    Ok(())
}

impl Rollups {
    /// Resolves every roll-up definition of `schemas`; definitions that no longer resolve are left out.
    pub fn build<'a>(
        schemas: impl Iterator<Item = &'a ObjectSchema> + Clone,
        soql: &SoqlCatalog,
    ) -> Rollups {
        let all: Vec<&ObjectSchema> = schemas.collect();
        let position = |name: &str| all.iter().position(|s| s.name.eq_ignore_ascii_case(name));
        let mut list = Vec::new();
        for (master, schema) in all.iter().enumerate() {
            for (field, def) in schema.fields.iter().enumerate() {
                let Some(spec) = &def.rollup else { continue };
                let Some(child) = position(&spec.child_object) else {
                    continue;
                };
                let Some(relationship) = all[child].field_index(&spec.relationship_field) else {
                    continue;
                };
                let summarized = spec
                    .field
                    .as_deref()
                    .and_then(|name| all[child].field_index(name));
                if spec.operation != RollupOperation::Count && summarized.is_none() {
                    continue;
                }
                let filter = match &spec.filter {
                    Some(text) => match soql.check_condition(text, all[child]) {
                        Ok(condition) => Some(condition),
                        Err(_) => continue,
                    },
                    None => None,
                };
                list.push(CompiledRollup {
                    master,
                    field,
                    child,
                    relationship,
                    operation: spec.operation,
                    summarized,
                    filter,
                });
            }
        }
        Rollups { list }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

fn as_decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Int(i) => Some(Decimal::from(*i)),
        Value::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn order(left: &Value, right: &Value) -> std::cmp::Ordering {
    match (as_decimal(left), as_decimal(right)) {
        (Some(l), Some(r)) => l.cmp(&r),
        _ => match (left, right) {
            (Value::Date(l), Value::Date(r)) => l.cmp(r),
            (Value::DateTime(l), Value::DateTime(r)) => l.cmp(r),
            _ => std::cmp::Ordering::Equal,
        },
    }
}

/// The roll-up's value for the master `master_id`: over the live children pointing at it that pass the filter.
pub fn compute(org: &Org, rollup: &CompiledRollup, master_id: &RecordId) -> Value {
    let now = DateTime::<Utc>::from_timestamp_millis(org.clock.now_ms()).unwrap_or_default();
    let source = OrgSource::new(org);
    let child_store = org.object_at(rollup.child);
    let children = child_store.iter_live().filter(|record: &&Record| {
        record.get(rollup.relationship).as_text() == Some(master_id.as_str())
            && rollup
                .filter
                .as_ref()
                .is_none_or(|condition| condition.evaluate(&source, record, now))
    });
    let master_field = &org.object_at(rollup.master).schema.fields[rollup.field];
    let summarized = rollup.summarized.unwrap_or(0);
    let json = match rollup.operation {
        RollupOperation::Count => Json::from(children.count() as u64),
        RollupOperation::Sum => {
            let total: Decimal = children
                .filter_map(|record| as_decimal(record.get(summarized)))
                .sum();
            if master_field.field_type == FieldType::Int {
                Json::from(total.trunc().to_string().parse::<i64>().unwrap_or(0))
            } else {
                Value::Decimal(total).to_json(FieldType::Double, total.scale())
            }
        }
        operation => {
            let values = children
                .map(|record| record.get(summarized))
                .filter(|value| !value.is_null());
            let best = if operation == RollupOperation::Min {
                values.min_by(|l, r| order(l, r))
            } else {
                values.max_by(|l, r| order(l, r))
            };
            let child_field = &child_store.schema.fields[summarized];
            match best {
                Some(value) => value.to_json(child_field.field_type, child_field.scale),
                None => Json::Null,
            }
        }
    };
    super::convert::convert_value(master_field, &json).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::store::{ApiKind, FieldSpec, ObjectSpec, WriteContext};

    fn context(org: &Org) -> WriteContext {
        WriteContext {
            user: org.users.admin,
            origin_client: None,
            api: Some(ApiKind::Rest),
            api_version: Some("62.0".into()),
        }
    }

    fn body(value: Json) -> Map<String, Json> {
        value.as_object().expect("object").clone()
    }

    fn create(org: &mut Org, object: &str, value: Json) -> RecordId {
        let index = org.object_index(object).expect("object");
        let mut transaction = org.transaction(context(org));
        let id = transaction.create(index, &body(value)).expect("creates");
        transaction.commit();
        id
    }

    fn read(org: &Org, id: RecordId, field: &str) -> Value {
        let store = org.object("Invoice__c").expect("object");
        let position = store.schema.field_index(field).expect("field");
        store.get(&id).expect("record").get(position).clone()
    }

    fn field(value: Json) -> FieldSpec {
        serde_json::from_value(value).expect("field spec")
    }

    fn invoices() -> Org {
        let mut org = Org::new("admin@example.com").expect("org");
        let spec: ObjectSpec =
            serde_json::from_value(json!({"name": "Invoice__c", "fields": []})).expect("spec");
        org.define_object(spec).expect("master");
        let spec: ObjectSpec =
            serde_json::from_value(json!({"name": "Invoice_Line__c", "fields": [
                {"name": "Invoice__c", "type": "reference", "referenceTo": ["Invoice__c"],
                 "relationshipOrder": 0, "cascadeDelete": true},
                {"name": "Amount__c", "type": "int"},
                {"name": "Day__c", "type": "date"}
            ]}))
            .expect("spec");
        org.define_object(spec).expect("detail");
        for (name, field_type, operation, summarized) in [
            ("Total__c", "int", "sum", Some("Amount__c")),
            ("Lines__c", "int", "count", None),
            ("Smallest__c", "int", "min", Some("Amount__c")),
            ("First_Day__c", "date", "max", Some("Day__c")),
        ] {
            org.add_field(
                "Invoice__c",
                field(json!({"name": name, "type": field_type, "rollup": {
                    "childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                    "operation": operation, "field": summarized, "filter": "Amount__c != 13"}})),
            )
            .expect("roll-up");
        }
        org
    }

    #[test]
    fn values_follow_children_and_the_filter() {
        let mut org = invoices();
        let invoice = create(&mut org, "Invoice__c", json!({"Name": "A"}));
        assert_eq!(read(&org, invoice, "Total__c"), Value::Int(0));
        assert_eq!(read(&org, invoice, "Smallest__c"), Value::Null);
        for (amount, day) in [(5, "2026-01-02"), (13, "2026-12-31"), (2, "2026-03-04")] {
            create(
                &mut org,
                "Invoice_Line__c",
                json!({"Name": "l", "Invoice__c": invoice.as_str(), "Amount__c": amount, "Day__c": day}),
            );
        }
        assert_eq!(read(&org, invoice, "Total__c"), Value::Int(7));
        assert_eq!(read(&org, invoice, "Lines__c"), Value::Int(2));
        assert_eq!(read(&org, invoice, "Smallest__c"), Value::Int(2));
        assert_eq!(
            read(&org, invoice, "First_Day__c").display_text(),
            "2026-03-04"
        );
    }

    #[test]
    fn a_rolled_back_transaction_leaves_the_rollup() {
        let mut org = invoices();
        let invoice = create(&mut org, "Invoice__c", json!({"Name": "A"}));
        let lines = org.object_index("Invoice_Line__c").expect("object");
        let mut transaction = org.transaction(context(&org));
        transaction
            .create(
                lines,
                &body(json!({"Name": "l", "Invoice__c": invoice.as_str(), "Amount__c": 4})),
            )
            .expect("creates");
        drop(transaction);
        assert_eq!(read(&org, invoice, "Total__c"), Value::Int(0));
    }

    #[test]
    fn definitions_survive_a_state_file_round_trip() {
        let mut org = invoices();
        let invoice = create(&mut org, "Invoice__c", json!({"Name": "A"}));
        let path =
            std::env::temp_dir().join(format!("sfsync-rollup-state-{}.json", std::process::id()));
        crate::store::persist::save(&org, &path).expect("saves");
        let loaded = crate::store::persist::load(&path, org.org_id);
        let _ = std::fs::remove_file(&path);
        let mut loaded = loaded.expect("loads");
        assert_eq!(loaded.rollups.list.len(), 4);
        create(
            &mut loaded,
            "Invoice_Line__c",
            json!({"Name": "l", "Invoice__c": invoice.as_str(), "Amount__c": 9}),
        );
        assert_eq!(read(&loaded, invoice, "Total__c"), Value::Int(9));
        let total = loaded
            .object("Invoice__c")
            .and_then(|store| store.schema.field("Total__c"))
            .expect("field");
        assert!(total.calculated && !total.createable && !total.updateable);
    }

    #[test]
    fn an_unknown_child_is_refused_with_nothing_changed() {
        let mut org = invoices();
        let before = org
            .object("Invoice__c")
            .expect("object")
            .schema
            .fields
            .len();
        let error = org
            .add_field(
                "Invoice__c",
                field(json!({"name": "Bad__c", "type": "int", "rollup": {
                    "childObject": "Nope__c", "relationshipField": "Invoice__c", "operation": "COUNT"}})),
            )
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "roll-up summary field 'Bad__c': unknown child object 'Nope__c'"
        );
        assert_eq!(
            org.object("Invoice__c")
                .expect("object")
                .schema
                .fields
                .len(),
            before
        );
    }
}
