//! Object and field metadata in describe format: the input spec (few keys required) and the complete definition.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::errors::SchemaError;

/// Field types of the describe `type` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Id,
    Reference,
    String,
    Textarea,
    Email,
    Phone,
    Url,
    Picklist,
    Multipicklist,
    Combobox,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Time,
    Address,
}

impl FieldType {
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            FieldType::Time => "xsd:time",
            FieldType::Address => "urn:address",
            _ => "xsd:string",
        }
    }

    /// Text-like types whose values are strings with a maximum length.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::Multipicklist
                | FieldType::Combobox
        )
    }

    fn default_length(self) -> u32 {
        match self {
            FieldType::Id | FieldType::Reference => 18,
            FieldType::Email => 80,
            FieldType::Phone => 40,
            FieldType::Multipicklist => 4099,
            t if t.is_text() => 255,
            _ => 0,
        }
    }
}

/// One picklist entry, as describe shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub default_value: bool,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub valid_for: Option<String>,
    pub value: String,
}

fn yes() -> bool {
    true
}

/// A complete field definition: exactly the describe key set of REST API Developer Guide: sObject Describe, serialized in describe order.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDef {
    pub aggregatable: bool,
    pub auto_number: bool,
    pub byte_length: u32,
    pub calculated: bool,
    pub calculated_formula: Option<String>,
    pub cascade_delete: bool,
    pub case_sensitive: bool,
    pub compound_field_name: Option<String>,
    pub controller_name: Option<String>,
    pub createable: bool,
    pub custom: bool,
    pub default_value: Option<Json>,
    pub default_value_formula: Option<String>,
    pub defaulted_on_create: bool,
    pub dependent_picklist: bool,
    pub deprecated_and_hidden: bool,
    pub digits: u32,
    pub display_location_in_decimal: bool,
    pub encrypted: bool,
    pub external_id: bool,
    pub extra_type_info: Option<String>,
    pub filterable: bool,
    pub filtered_lookup_info: Option<Json>,
    pub groupable: bool,
    pub high_scale_number: bool,
    pub html_formatted: bool,
    pub id_lookup: bool,
    pub inline_help_text: Option<String>,
    pub label: String,
    pub length: u32,
    pub mask: Option<String>,
    pub mask_type: Option<String>,
    pub name: Arc<str>,
    pub name_field: bool,
    pub name_pointing: bool,
    pub nillable: bool,
    pub permissionable: bool,
    pub picklist_values: Vec<PicklistValue>,
    pub precision: u32,
    pub query_by_distance: bool,
    pub reference_target_field: Option<String>,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    pub relationship_order: Option<u32>,
    pub restricted_delete: bool,
    pub restricted_picklist: bool,
    pub scale: u32,
    pub soap_type: String,
    pub sortable: bool,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub unique: bool,
    pub updateable: bool,
    pub write_requires_master_read: bool,
    /// A roll-up summary definition (never in describe; see [`super::rollup`]).
    #[serde(skip)]
    pub rollup: Option<super::rollup::RollupSpec>,
}

impl FieldDef {
    /// A master-detail field: a reference with `relationshipOrder` and `cascadeDelete`, as describe shows one.
    pub fn is_master_detail(&self) -> bool {
        self.field_type == FieldType::Reference
            && self.cascade_delete
            && self.relationship_order.is_some()
    }

    /// Whether values live in the record (address compounds are computed from their components).
    pub fn is_stored(&self) -> bool {
        self.field_type != FieldType::Address
    }

    /// Whether this field's values must be unique (unique fields and external ids are both indexed).
    pub fn is_indexed_key(&self) -> bool {
        self.unique || self.external_id
    }

    /// The picklist's default value, if one entry is marked default.
    pub fn default_picklist_value(&self) -> Option<&str> {
        self.picklist_values
            .iter()
            .find(|p| p.default_value && p.active)
            .map(|p| p.value.as_str())
    }
}

/// A field as given in an object file or `POST /__emulator/objects/{name}/fields`: only `name` and `type` required.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: Option<FieldType>,
    pub aggregatable: Option<bool>,
    pub auto_number: Option<bool>,
    pub byte_length: Option<u32>,
    pub calculated: Option<bool>,
    pub calculated_formula: Option<String>,
    pub cascade_delete: Option<bool>,
    pub case_sensitive: Option<bool>,
    pub compound_field_name: Option<String>,
    pub controller_name: Option<String>,
    pub createable: Option<bool>,
    pub custom: Option<bool>,
    pub default_value: Option<Json>,
    pub default_value_formula: Option<String>,
    pub defaulted_on_create: Option<bool>,
    pub dependent_picklist: Option<bool>,
    pub deprecated_and_hidden: Option<bool>,
    pub digits: Option<u32>,
    pub display_location_in_decimal: Option<bool>,
    pub encrypted: Option<bool>,
    pub external_id: Option<bool>,
    pub extra_type_info: Option<String>,
    pub filterable: Option<bool>,
    pub filtered_lookup_info: Option<Json>,
    pub groupable: Option<bool>,
    pub high_scale_number: Option<bool>,
    pub html_formatted: Option<bool>,
    pub id_lookup: Option<bool>,
    pub inline_help_text: Option<String>,
    pub label: Option<String>,
    pub length: Option<u32>,
    pub mask: Option<String>,
    pub mask_type: Option<String>,
    pub name_field: Option<bool>,
    pub name_pointing: Option<bool>,
    pub nillable: Option<bool>,
    pub permissionable: Option<bool>,
    pub picklist_values: Option<Vec<PicklistValue>>,
    pub precision: Option<u32>,
    pub query_by_distance: Option<bool>,
    pub reference_target_field: Option<String>,
    pub reference_to: Option<Vec<String>>,
    pub relationship_name: Option<String>,
    pub relationship_order: Option<u32>,
    pub restricted_delete: Option<bool>,
    pub restricted_picklist: Option<bool>,
    pub scale: Option<u32>,
    pub soap_type: Option<String>,
    pub sortable: Option<bool>,
    pub unique: Option<bool>,
    pub updateable: Option<bool>,
    pub write_requires_master_read: Option<bool>,
    /// Roll-up summary definition (emulator key, never returned by describe).
    pub rollup: Option<super::rollup::RollupSpec>,
}

/// Turns `My_Field__c` into `My Field`.
pub fn label_from_name(name: &str) -> String {
    name.trim_end_matches("__c")
        .trim_end_matches("__r")
        .replace('_', " ")
}

impl FieldSpec {
    /// Fills every key Salesforce would, from the type and the few keys given.
    pub fn into_def(self) -> Result<FieldDef, SchemaError> {
        let field_type = self
            .field_type
            .ok_or_else(|| SchemaError::MissingFieldType(self.name.clone()))?;
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SchemaError::BadFieldName(self.name.clone()));
        }
        if field_type == FieldType::Reference
            && self.reference_to.as_ref().is_none_or(Vec::is_empty)
        {
            return Err(SchemaError::ReferenceWithoutTarget(self.name.clone()));
        }
        let custom = self.custom.unwrap_or(self.name.ends_with("__c"));
        let length = self.length.unwrap_or(field_type.default_length());
        let is_id = field_type == FieldType::Id;
        let rollup = self.rollup.is_some();
        let calculated = self.calculated.unwrap_or(false) || rollup;
        let computed = calculated || self.auto_number.unwrap_or(false);
        let writable = !is_id && !computed && field_type != FieldType::Address;
        let formula = (calculated && self.calculated_formula.is_some()) || rollup;
        let master_detail = field_type == FieldType::Reference
            && self.cascade_delete.unwrap_or(false)
            && self.relationship_order.is_some();
        let external_id = self.external_id.unwrap_or(false);
        let long_text = field_type == FieldType::Textarea && length > 255;
        let numeric = matches!(
            field_type,
            FieldType::Double | FieldType::Currency | FieldType::Percent
        );
        let relationship_name = self.relationship_name.or_else(|| {
            (field_type == FieldType::Reference).then(|| default_relationship_name(&self.name))
        });
        let picklist_values = self.picklist_values.unwrap_or_default();
        let has_default =
            self.default_value.is_some() || picklist_values.iter().any(|p| p.default_value);
        Ok(FieldDef {
            aggregatable: self
                .aggregatable
                .unwrap_or(!long_text && field_type != FieldType::Address),
            auto_number: self.auto_number.unwrap_or(false),
            byte_length: self.byte_length.unwrap_or(match field_type {
                FieldType::Id | FieldType::Reference => 18,
                t if t.is_text() => length * 3,
                _ => 0,
            }),
            calculated,
            calculated_formula: self.calculated_formula,
            cascade_delete: self.cascade_delete.unwrap_or(false),
            case_sensitive: self.case_sensitive.unwrap_or(false),
            compound_field_name: self.compound_field_name,
            controller_name: self.controller_name,
            // Formula and roll-up fields are computed by the org: never writable, whatever the spec says.
            createable: self.createable.unwrap_or(writable) && !formula,
            custom,
            default_value: self.default_value,
            default_value_formula: self.default_value_formula,
            defaulted_on_create: self
                .defaulted_on_create
                .unwrap_or(field_type == FieldType::Boolean || is_id || has_default),
            dependent_picklist: self.dependent_picklist.unwrap_or(false),
            deprecated_and_hidden: self.deprecated_and_hidden.unwrap_or(false),
            digits: self
                .digits
                .unwrap_or(if field_type == FieldType::Int { 9 } else { 0 }),
            display_location_in_decimal: self.display_location_in_decimal.unwrap_or(false),
            encrypted: self.encrypted.unwrap_or(false),
            external_id,
            extra_type_info: self.extra_type_info.or_else(|| match field_type {
                FieldType::Textarea if long_text => Some("plaintextarea".into()),
                _ => None,
            }),
            filterable: self
                .filterable
                .unwrap_or(!long_text && field_type != FieldType::Address),
            filtered_lookup_info: self.filtered_lookup_info,
            groupable: self
                .groupable
                .unwrap_or(!long_text && !numeric && field_type != FieldType::Address),
            high_scale_number: self.high_scale_number.unwrap_or(false),
            html_formatted: self.html_formatted.unwrap_or(false),
            id_lookup: self.id_lookup.unwrap_or(is_id || external_id),
            inline_help_text: self.inline_help_text,
            label: self.label.unwrap_or_else(|| label_from_name(&self.name)),
            length,
            mask: self.mask,
            mask_type: self.mask_type,
            name_field: self.name_field.unwrap_or(false),
            name_pointing: self.name_pointing.unwrap_or(false),
            // A master-detail field is required (Salesforce Help: Relationships Among Objects).
            nillable: self
                .nillable
                .unwrap_or(!is_id && field_type != FieldType::Boolean && !master_detail),
            permissionable: self.permissionable.unwrap_or(custom && writable),
            picklist_values,
            precision: self.precision.unwrap_or(if numeric { 18 } else { 0 }),
            query_by_distance: self.query_by_distance.unwrap_or(false),
            reference_target_field: self.reference_target_field,
            reference_to: self.reference_to.unwrap_or_default(),
            relationship_name,
            relationship_order: self.relationship_order,
            restricted_delete: self.restricted_delete.unwrap_or(false),
            restricted_picklist: self.restricted_picklist.unwrap_or(false),
            scale: self.scale.unwrap_or(if field_type == FieldType::Currency {
                2
            } else {
                0
            }),
            soap_type: self
                .soap_type
                .unwrap_or_else(|| field_type.soap_type().to_string()),
            sortable: self
                .sortable
                .unwrap_or(!long_text && field_type != FieldType::Address),
            field_type,
            name: Arc::from(self.name.as_str()),
            unique: self.unique.unwrap_or(false),
            updateable: self.updateable.unwrap_or(writable) && !formula,
            write_requires_master_read: self.write_requires_master_read.unwrap_or(false),
            rollup: self.rollup,
        })
    }
}

/// `AccountId` → `Account`, `Parent_Account__c` → `Parent_Account__r`.
fn default_relationship_name(field_name: &str) -> String {
    if let Some(stem) = field_name.strip_suffix("__c") {
        format!("{stem}__r")
    } else if let Some(stem) = field_name.strip_suffix("Id") {
        stem.to_string()
    } else {
        field_name.to_string()
    }
}

/// A validation rule: `condition` true means the record is refused.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationRuleSpec {
    pub name: String,
    pub error_message: String,
    #[serde(default)]
    pub error_display_field: Option<String>,
    pub condition: String,
    #[serde(default = "yes")]
    pub active: bool,
}

/// An object as given in an object file or `POST /__emulator/objects`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSpec {
    pub name: String,
    pub label: Option<String>,
    pub label_plural: Option<String>,
    pub key_prefix: Option<String>,
    pub custom: Option<bool>,
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub validation_rules: Vec<ValidationRuleSpec>,
    /// Objects whose records have no `OwnerId` (`false`) or do (`true`, the default for custom objects).
    pub has_owner: Option<bool>,
    pub deletable: Option<bool>,
}

/// Positions of the system fields every write maintains.
#[derive(Clone, Debug, Default)]
pub struct SystemFields {
    pub id: usize,
    pub is_deleted: Option<usize>,
    pub created_date: Option<usize>,
    pub created_by_id: Option<usize>,
    pub last_modified_date: Option<usize>,
    pub last_modified_by_id: Option<usize>,
    pub system_modstamp: Option<usize>,
    pub owner_id: Option<usize>,
}

/// An object's complete schema. Record values are indexed by position in `fields`.
#[derive(Clone, Debug)]
pub struct ObjectSchema {
    pub name: Arc<str>,
    pub label: String,
    pub label_plural: String,
    pub key_prefix: String,
    pub custom: bool,
    /// False for objects whose records the API cannot create (Organization, Profile).
    pub createable: bool,
    pub deletable: bool,
    pub fields: Vec<FieldDef>,
    pub validation_rules: Vec<ValidationRuleSpec>,
    pub system: SystemFields,
    by_lower_name: HashMap<String, usize>,
    by_lower_relationship: HashMap<String, usize>,
}

impl ObjectSchema {
    pub fn new(
        name: &str,
        label: String,
        label_plural: String,
        key_prefix: String,
        custom: bool,
        fields: Vec<FieldDef>,
        validation_rules: Vec<ValidationRuleSpec>,
    ) -> Result<ObjectSchema, SchemaError> {
        let mut schema = ObjectSchema {
            name: Arc::from(name),
            label,
            label_plural,
            key_prefix,
            custom,
            createable: true,
            deletable: true,
            fields,
            validation_rules,
            system: SystemFields::default(),
            by_lower_name: HashMap::new(),
            by_lower_relationship: HashMap::new(),
        };
        schema.reindex()?;
        Ok(schema)
    }

    /// Rebuilds the name lookups and system field positions after the field list changed.
    pub fn reindex(&mut self) -> Result<(), SchemaError> {
        self.by_lower_name.clear();
        self.by_lower_relationship.clear();
        for (index, field) in self.fields.iter().enumerate() {
            if self
                .by_lower_name
                .insert(field.name.to_ascii_lowercase(), index)
                .is_some()
            {
                return Err(SchemaError::DuplicateField(field.name.to_string()));
            }
            if let Some(relationship) = &field.relationship_name {
                self.by_lower_relationship
                    .insert(relationship.to_ascii_lowercase(), index);
            }
        }
        let position = |name: &str| self.by_lower_name.get(&name.to_ascii_lowercase()).copied();
        let id =
            position("Id").ok_or_else(|| SchemaError::MissingIdField(self.name.to_string()))?;
        self.system = SystemFields {
            id,
            is_deleted: position("IsDeleted"),
            created_date: position("CreatedDate"),
            created_by_id: position("CreatedById"),
            last_modified_date: position("LastModifiedDate"),
            last_modified_by_id: position("LastModifiedById"),
            system_modstamp: position("SystemModstamp"),
            owner_id: position("OwnerId"),
        };
        Ok(())
    }

    /// Case-insensitive field lookup.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        if let Some(index) = self.by_lower_name.get(name) {
            return Some(*index);
        }
        self.by_lower_name.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    /// The reference field whose relationship name is `relationship` (case-insensitive).
    pub fn relationship_field(&self, relationship: &str) -> Option<usize> {
        self.by_lower_relationship
            .get(&relationship.to_ascii_lowercase())
            .copied()
    }

    /// Component fields of an address compound, in the order of the lower-camel keys
    /// `street, city, state, postalCode, country, latitude, longitude, geocodeAccuracy`.
    pub fn address_components(&self, compound: &str) -> Vec<(&'static str, Option<usize>)> {
        let stem = compound.strip_suffix("Address").unwrap_or(compound);
        [
            ("city", "City"),
            ("country", "Country"),
            ("geocodeAccuracy", "GeocodeAccuracy"),
            ("latitude", "Latitude"),
            ("longitude", "Longitude"),
            ("postalCode", "PostalCode"),
            ("state", "State"),
            ("street", "Street"),
        ]
        .into_iter()
        .map(|(key, suffix)| (key, self.field_index(&format!("{stem}{suffix}"))))
        .collect()
    }
}
