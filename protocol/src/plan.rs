//! The column plan: one entry per Postgres column of a mapped table, in table order, stored as a
//! JSON array in `sfsync.mapping.columns` (docs/protocol.md, *Catalog the sidecar reads*).
//!
//! The extension's planner (`src/plan.rs`) builds it from a describe; the capture triggers read
//! which columns are sent on insert and update, the writer how to build Salesforce bodies, the
//! reader which fields to query and how to convert them.

use serde::{Deserialize, Serialize};

/// One Postgres column of a mapped table and where its value comes from in Salesforce.
///
/// Serialized exactly as the extension stores it: `length`, `reference_to`, `relationship` and
/// `reference_field` are left out when empty. Reading is lenient: everything but `column`,
/// `field` and `sf_type` has a default (false, empty; `nillable` true).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    /// The Postgres column.
    pub column: String,
    /// The Salesforce name to SELECT (`Name`, `Account.Ext_Id__c`), canonical case.
    pub field: String,
    /// Keys to follow in a REST record (`["Account","Ext_Id__c"]`).
    #[serde(default)]
    pub path: Vec<String>,
    /// Salesforce field type (`string`, `currency`, ...).
    pub sf_type: String,
    /// The column's Postgres type ([`crate::sql_type`]).
    #[serde(default)]
    pub sql_type: String,
    /// Sent to Salesforce when the row is inserted / updated locally.
    #[serde(default)]
    pub insertable: bool,
    #[serde(default)]
    pub updatable: bool,
    /// The user asked for this field to stay read-only (`read_only_fields`), or Salesforce says so.
    #[serde(default)]
    pub read_only: bool,
    /// `sfid`, `isdeleted`, `systemmodstamp`: maintained by sync, never sent.
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default = "nillable_default")]
    pub nillable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// Objects a lookup (or the lookup behind a relationship column) points at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_to: Vec<String>,
    /// For `Account.Ext_Id__c`: the relationship name (`Account`)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    /// ... and the lookup field on this object it sets (`AccountId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_field: Option<String>,
}

fn nillable_default() -> bool {
    true
}

impl ColumnPlan {
    /// For a relationship column (`Account.Ext_Id__c`): the parent's external id field.
    pub fn relationship_key_field(&self) -> Option<&str> {
        self.relationship.as_ref()?;
        self.path.get(1).map(String::as_str)
    }

    /// An external id of the mapped object itself (not of a parent reached through a relationship).
    pub fn is_own_external_id(&self) -> bool {
        self.external_id && self.relationship.is_none() && !self.system
    }
}

#[cfg(test)]
mod tests {
    use super::ColumnPlan;
    use serde_json::{json, Value};

    /// A plan as the extension stores it in `sfsync.mapping.columns`.
    fn stored() -> Value {
        json!([
            {"column": "sfid", "field": "Id", "path": ["Id"], "sf_type": "id", "sql_type": "varchar(18)",
             "insertable": false, "updatable": false, "read_only": true, "system": true,
             "external_id": false, "nillable": true, "length": 18},
            {"column": "name", "field": "Name", "path": ["Name"], "sf_type": "string",
             "sql_type": "varchar(80)", "insertable": true, "updatable": true, "read_only": false,
             "system": false, "external_id": false, "nillable": false, "length": 80},
            {"column": "account__ext_id__c", "field": "Account.Ext_Id__c", "path": ["Account", "Ext_Id__c"],
             "sf_type": "string", "sql_type": "varchar(20)", "insertable": true, "updatable": true,
             "read_only": false, "system": false, "external_id": true, "nillable": true, "length": 20,
             "reference_to": ["Account"], "relationship": "Account", "reference_field": "AccountId"}
        ])
    }

    #[test]
    fn a_stored_plan_round_trips_unchanged() {
        let plan: Vec<ColumnPlan> = serde_json::from_value(stored()).expect("parses");
        assert!(plan[0].system);
        assert_eq!(plan[0].length, Some(18));
        assert!(!plan[1].nillable);
        assert_eq!(plan[2].path, ["Account", "Ext_Id__c"]);
        assert_eq!(plan[2].reference_field.as_deref(), Some("AccountId"));
        assert_eq!(plan[2].relationship_key_field(), Some("Ext_Id__c"));
        assert!(!plan[2].is_own_external_id());
        assert_eq!(serde_json::to_value(&plan).expect("serializes"), stored());
    }

    #[test]
    fn empty_optional_keys_are_left_out_and_defaulted_when_read() {
        let value = json!({"column": "x__c", "field": "X__c", "sf_type": "boolean"});
        let column: ColumnPlan = serde_json::from_value(value).expect("parses");
        assert!(column.nillable && !column.insertable && column.path.is_empty());
        let written = serde_json::to_value(&column).expect("serializes");
        let keys: Vec<&str> = written
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        for absent in ["length", "reference_to", "relationship", "reference_field"] {
            assert!(!keys.contains(&absent), "{absent} in {written}");
        }
    }
}
