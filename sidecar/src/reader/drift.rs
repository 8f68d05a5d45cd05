//! Schema drift: how a fresh describe differs from the column plan the table was built from. Removed
//! fields are left out of every query (the sync goes on without them); changed types or lengths are
//! reported; fields new in Salesforce are listed by `sfsync-sidecar status`.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::catalog::ColumnPlan;
use crate::salesforce::{FieldDescribe, SObjectDescribe};

/// Differences between the plan and the object as Salesforce describes it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Mapped fields that no longer exist (their SOQL names).
    pub removed: Vec<String>,
    /// Mapped fields whose type or length changed: `Field: old → new`.
    pub changed: Vec<String>,
}

impl Drift {
    /// Compares every non-system column of `plan` with `describe`.
    pub fn between(plan: &[ColumnPlan], describe: &SObjectDescribe) -> Self {
        let mut drift = Drift::default();
        for column in plan.iter().filter(|column| !column.system) {
            if column.relationship.is_some() {
                // The external id lives on the parent; what must exist here is the lookup field.
                let lookup = column.reference_field.as_deref().unwrap_or_default();
                if describe.field(lookup).is_none() {
                    drift.removed.push(column.field.clone());
                }
                continue;
            }
            match describe.field(&column.field) {
                None => drift.removed.push(column.field.clone()),
                Some(field) => {
                    let now = sql_type(field);
                    if !field.field_type.eq_ignore_ascii_case(&column.sf_type)
                        || now.as_deref() != Some(column.sql_type.as_str())
                    {
                        drift.changed.push(format!(
                            "{}: {} {} → {} {}",
                            column.field,
                            column.sf_type,
                            column.sql_type,
                            field.field_type,
                            now.unwrap_or_else(|| "(unsupported)".to_string())
                        ));
                    }
                }
            }
        }
        drift
    }

    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty()
    }

    /// The removed fields, lower-cased, for leaving them out of queries.
    pub fn skipped_fields(&self) -> BTreeSet<String> {
        self.removed
            .iter()
            .map(|field| field.to_ascii_lowercase())
            .collect()
    }

    /// A sentence for `state_detail`, or `None` without drift.
    pub fn note(&self, object: &str) -> Option<String> {
        let mut parts = Vec::new();
        if !self.removed.is_empty() {
            parts.push(format!(
                "mapped field{} {} no longer exist{} in Salesforce {object} (synced without {})",
                plural(self.removed.len()),
                self.removed.join(", "),
                if self.removed.len() == 1 { "s" } else { "" },
                if self.removed.len() == 1 {
                    "it"
                } else {
                    "them"
                },
            ));
        }
        if !self.changed.is_empty() {
            parts.push(format!(
                "Salesforce changed the definition of {} (the column keeps its type: drop and add the field \
                 with alter_mapping to follow): {}",
                if self.changed.len() == 1 { "a mapped field" } else { "mapped fields" },
                self.changed.join("; ")
            ));
        }
        (!parts.is_empty()).then(|| format!("schema drift: {}", parts.join("; ")))
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// The column `field` would get today (the contract's type map, as the extension's planner applies it).
fn sql_type(field: &FieldDescribe) -> Option<String> {
    sfsync_protocol::sql_type(
        &field.field_type,
        i64::from(field.length),
        i64::from(field.precision),
        i64::from(field.scale),
    )
}

/// Fields Salesforce has now that the stored describe (from when the table was installed) did not.
pub fn new_fields(stored: Option<&Value>, live: &SObjectDescribe) -> Vec<String> {
    let known: HashSet<String> = stored
        .and_then(|describe| describe.get("fields"))
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|field| field.get("name").and_then(Value::as_str))
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    live.fields
        .iter()
        .filter(|field| !known.contains(&field.name.to_ascii_lowercase()))
        .map(|field| field.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn describe(fields: Value) -> SObjectDescribe {
        SObjectDescribe::from_json(json!({"name": "Account", "fields": fields})).expect("describe")
    }

    fn column(field: &str, sf_type: &str, sql_type: &str) -> ColumnPlan {
        ColumnPlan {
            column: field.to_ascii_lowercase(),
            field: field.to_string(),
            path: vec![field.to_string()],
            sf_type: sf_type.to_string(),
            sql_type: sql_type.to_string(),
            insertable: false,
            updatable: false,
            read_only: false,
            system: false,
            external_id: false,
            nillable: true,
            length: None,
            relationship: None,
            reference_field: None,
            reference_to: vec![],
        }
    }

    #[test]
    fn removed_and_changed_fields_are_named() {
        let plan = vec![
            column("Name", "string", "varchar(255)"),
            column("Gone__c", "string", "varchar(20)"),
            column("Amount__c", "currency", "numeric(18,2)"),
            column("Code__c", "string", "varchar(10)"),
        ];
        let live = describe(json!([
            {"name": "Name", "type": "string", "length": 255},
            {"name": "Amount__c", "type": "string", "length": 40},
            {"name": "Code__c", "type": "string", "length": 20},
            {"name": "Brand_New__c", "type": "boolean"}
        ]));
        let drift = Drift::between(&plan, &live);
        assert_eq!(drift.removed, ["Gone__c"]);
        assert_eq!(
            drift.changed,
            [
                "Amount__c: currency numeric(18,2) → string varchar(40)",
                "Code__c: string varchar(10) → string varchar(20)"
            ]
        );
        let note = drift.note("Account").expect("a note");
        assert!(
            note.contains("Gone__c no longer exists in Salesforce Account"),
            "{note}"
        );
        assert!(
            note.contains("Code__c: string varchar(10) → string varchar(20)"),
            "{note}"
        );
        assert_eq!(
            drift.skipped_fields().into_iter().collect::<Vec<_>>(),
            ["gone__c"]
        );
    }

    #[test]
    fn an_unchanged_object_has_no_drift_and_new_fields_are_listed() {
        let plan = vec![column("Name", "string", "varchar(80)")];
        let stored = json!({"name": "Account", "fields": [{"name": "Name", "type": "string", "length": 80}]});
        let live = describe(json!([
            {"name": "Name", "type": "string", "length": 80},
            {"name": "Brand_New__c", "type": "boolean"}
        ]));
        assert!(Drift::between(&plan, &live).is_empty());
        assert_eq!(Drift::between(&plan, &live).note("Account"), None);
        assert_eq!(new_fields(Some(&stored), &live), ["Brand_New__c"]);
    }

    #[test]
    fn a_relationship_column_needs_its_lookup_field() {
        let mut parent_key = column("Account.Ext_Id__c", "string", "varchar(20)");
        parent_key.relationship = Some("Account".into());
        parent_key.reference_field = Some("AccountId".into());
        let with_lookup = describe(json!([{"name": "AccountId", "type": "reference"}]));
        assert!(Drift::between(std::slice::from_ref(&parent_key), &with_lookup).is_empty());
        let without = describe(json!([{"name": "Name", "type": "string"}]));
        assert_eq!(
            Drift::between(&[parent_key], &without).removed,
            ["Account.Ext_Id__c"]
        );
    }
}
