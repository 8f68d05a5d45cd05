//! Describe results: the fields sync needs, typed, with the raw JSON kept for the extension.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /sobjects/{Name}/describe`, the parts sfsync uses. `raw` is the whole answer as received.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SObjectDescribe {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub label_plural: Option<String>,
    #[serde(default)]
    pub key_prefix: Option<String>,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub deletable: bool,
    #[serde(default)]
    pub queryable: bool,
    #[serde(default)]
    pub replicateable: bool,
    #[serde(default)]
    pub retrieveable: bool,
    pub fields: Vec<FieldDescribe>,
    #[serde(skip)]
    pub raw: Value,
}

impl SObjectDescribe {
    /// Parses a describe body, keeping the raw JSON next to the typed view.
    pub fn from_json(raw: Value) -> Result<Self, serde_json::Error> {
        let mut describe: SObjectDescribe = serde_json::from_value(raw.clone())?;
        describe.raw = raw;
        Ok(describe)
    }

    /// The field called `name` (API names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
    }
}

/// One entry of `fields[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    pub name: String,
    /// `id`, `reference`, `string`, `textarea`, `picklist`, `multipicklist`, `boolean`, `int`,
    /// `double`, `currency`, `percent`, `date`, `datetime`, `time`, `address`, `location`, ...
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub soap_type: Option<String>,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub byte_length: u32,
    #[serde(default)]
    pub precision: u32,
    #[serde(default)]
    pub scale: u32,
    #[serde(default)]
    pub digits: u32,
    #[serde(default)]
    pub nillable: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub calculated: bool,
    /// A formula field's formula (null for roll-up summaries and other computed fields).
    #[serde(default)]
    pub calculated_formula: Option<String>,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub id_lookup: bool,
    #[serde(default)]
    pub defaulted_on_create: bool,
    #[serde(default)]
    pub restricted_picklist: bool,
    #[serde(default)]
    pub reference_to: Vec<String>,
    #[serde(default)]
    pub relationship_name: Option<String>,
    #[serde(default)]
    pub compound_field_name: Option<String>,
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
}

/// One picklist entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    pub value: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub default_value: bool,
    #[serde(default)]
    pub valid_for: Option<String>,
}

/// `GET /sobjects/` (global describe).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalDescribe {
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub max_batch_size: Option<u32>,
    pub sobjects: Vec<SObjectSummary>,
}

/// One object in the global describe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SObjectSummary {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub key_prefix: Option<String>,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub deletable: bool,
    #[serde(default)]
    pub queryable: bool,
    #[serde(default)]
    pub replicateable: bool,
    #[serde(default)]
    pub retrieveable: bool,
}

/// One entry of `GET /services/data/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ApiVersionInfo {
    pub version: String,
    pub url: String,
    #[serde(default)]
    pub label: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// REST API Developer Guide: sObject Describe: the full key set of a real describe field, verbatim.
    const OWNER_FIELD: &str = r#"{"aggregatable":true,"autoNumber":false,"byteLength":18,"calculated":false,"calculatedFormula":null,
 "cascadeDelete":false,"caseSensitive":false,"compoundFieldName":null,"controllerName":null,
 "createable":true,"custom":false,"defaultValue":null,"defaultValueFormula":null,"defaultedOnCreate":true,
 "dependentPicklist":false,"deprecatedAndHidden":false,"digits":0,"displayLocationInDecimal":false,
 "encrypted":false,"externalId":false,"extraTypeInfo":null,"filterable":true,"filteredLookupInfo":null,
 "groupable":true,"highScaleNumber":false,"htmlFormatted":false,"idLookup":false,"inlineHelpText":null,
 "label":"Owner ID","length":18,"mask":null,"maskType":null,"name":"OwnerId","nameField":false,
 "namePointing":true,"nillable":false,"permissionable":false,"picklistValues":[],"precision":0,
 "queryByDistance":false,"referenceTargetField":null,"referenceTo":["Group","User"],
 "relationshipName":"Owner","relationshipOrder":null,"restrictedDelete":false,"restrictedPicklist":false,
 "scale":0,"soapType":"tns:ID","sortable":true,"type":"reference","unique":false,"updateable":true,
 "writeRequiresMasterRead":false}"#;

    /// REST API Developer Guide: sObject Describe: a picklist entry, verbatim.
    const PICKLIST_ENTRY: &str = r#"{"active":true,"defaultValue":false,"label":"U.S. Dollar","validFor":null,"value":"USD"}"#;

    /// REST API Developer Guide: Describe Global: global describe, verbatim.
    const GLOBAL_DESCRIBE: &str = r#"{"encoding":"UTF-8","maxBatchSize":200,"sobjects":[{
  "name":"Account","label":"Account","keyPrefix":"001","labelPlural":"Accounts",
  "custom":false,"layoutable":true,"activateable":false,
  "urls":{"sobject":"/services/data/v26.0/sobjects/Account",
          "describe":"/services/data/v26.0/sobjects/Account/describe",
          "rowTemplate":"/services/data/v26.0/sobjects/Account/{ID}"},
  "searchable":true,"updateable":true,"createable":true,"deprecatedAndHidden":false,
  "customSetting":false,"deletable":true,"feedEnabled":true,"mergeable":true,
  "queryable":true,"replicateable":true,"retrieveable":true,"undeletable":true,"triggerable":true}]}"#;

    #[test]
    fn documented_field_parses() {
        let field: FieldDescribe = serde_json::from_str(OWNER_FIELD).expect("parses");
        assert_eq!(field.name, "OwnerId");
        assert_eq!(field.field_type, "reference");
        assert_eq!(field.length, 18);
        assert_eq!(field.reference_to, ["Group", "User"]);
        assert_eq!(field.relationship_name.as_deref(), Some("Owner"));
        assert!(field.createable && field.updateable && !field.nillable);
        assert!(!field.calculated && !field.external_id && !field.unique && !field.id_lookup);
        assert_eq!(field.compound_field_name, None);
    }

    #[test]
    fn picklist_entry_parses() {
        let entry: PicklistValue = serde_json::from_str(PICKLIST_ENTRY).expect("parses");
        assert_eq!(entry.value, "USD");
        assert_eq!(entry.label.as_deref(), Some("U.S. Dollar"));
        assert!(entry.active && !entry.default_value);
    }

    #[test]
    fn describe_keeps_the_raw_json() {
        let raw: Value = serde_json::from_str(&format!(
            r#"{{"name":"Account","keyPrefix":"001","queryable":true,"fields":[{OWNER_FIELD}],"childRelationships":[]}}"#
        ))
        .expect("json");
        let describe = SObjectDescribe::from_json(raw.clone()).expect("parses");
        assert_eq!(describe.key_prefix.as_deref(), Some("001"));
        assert_eq!(
            describe.field("ownerid").map(|f| f.name.as_str()),
            Some("OwnerId")
        );
        assert_eq!(describe.raw, raw);
        assert!(describe.raw.get("childRelationships").is_some());
    }

    #[test]
    fn global_describe_parses() {
        let global: GlobalDescribe = serde_json::from_str(GLOBAL_DESCRIBE).expect("parses");
        assert_eq!(global.max_batch_size, Some(200));
        assert_eq!(global.sobjects[0].name, "Account");
        assert_eq!(global.sobjects[0].key_prefix.as_deref(), Some("001"));
        assert!(global.sobjects[0].replicateable);
    }

    #[test]
    fn versions_parse() {
        let versions: Vec<ApiVersionInfo> = serde_json::from_str(
            r#"[{"version":"20.0","url":"/services/data/v20.0","label":"Winter '11"}]"#,
        )
        .expect("parses");
        assert_eq!(versions[0].version, "20.0");
        assert_eq!(versions[0].label.as_deref(), Some("Winter '11"));
    }
}
