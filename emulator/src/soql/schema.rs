//! Object and field metadata the SOQL engine resolves queries against, and the traits the org store
//! implements so the engine can read its metadata and records.

use std::collections::HashMap;

use super::value::FieldValue;

/// A field's describe `type`, the part of the metadata that decides which literals and operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Id,
    Reference,
    String,
    TextArea,
    Email,
    Phone,
    Url,
    Picklist,
    MultiPicklist,
    Combobox,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
    Time,
    Address,
}

impl FieldType {
    /// Maps a describe `type` value (`"string"`, `"datetime"`, ...) to the enum; `None` for types the engine does not know.
    pub fn from_describe(name: &str) -> Option<FieldType> {
        let kind = match name.to_ascii_lowercase().as_str() {
            "id" => FieldType::Id,
            "reference" => FieldType::Reference,
            "string" | "encryptedstring" => FieldType::String,
            "textarea" => FieldType::TextArea,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "url" => FieldType::Url,
            "picklist" => FieldType::Picklist,
            "multipicklist" => FieldType::MultiPicklist,
            "combobox" => FieldType::Combobox,
            "boolean" => FieldType::Boolean,
            "int" | "long" => FieldType::Int,
            "double" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "time" => FieldType::Time,
            "address" => FieldType::Address,
            _ => return None,
        };
        Some(kind)
    }

    /// True for the types whose values are text compared case-insensitively.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::TextArea
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::MultiPicklist
                | FieldType::Combobox
        )
    }

    /// True for 18-character record ids (the record's own `Id` and lookups).
    pub fn is_id(self) -> bool {
        matches!(self, FieldType::Id | FieldType::Reference)
    }

    /// True for numeric types (exact decimals or integers).
    pub fn is_number(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
        )
    }

    /// The SOAP type name Salesforce uses in filter error messages (`must be of type dateTime ...`).
    pub fn soap_name(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "id",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "double",
            FieldType::Date => "date",
            FieldType::DateTime => "dateTime",
            FieldType::Time => "time",
            FieldType::Address => "address",
            _ => "string",
        }
    }

    /// The describe `type` spelling, used in "invalid operator on ... field" messages.
    pub fn describe_name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Reference => "reference",
            FieldType::String => "string",
            FieldType::TextArea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Picklist => "picklist",
            FieldType::MultiPicklist => "multipicklist",
            FieldType::Combobox => "combobox",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Time => "time",
            FieldType::Address => "address",
        }
    }
}

/// One field of an object, as the describe call reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    /// Canonical API name (`Name`, `Amount__c`).
    pub name: String,
    pub field_type: FieldType,
    /// Whether the field may appear in WHERE (long text areas and compound fields may not).
    pub filterable: bool,
    /// Whether the field may appear in ORDER BY.
    pub sortable: bool,
    /// Custom fields are the ones `FIELDS(CUSTOM)` selects.
    pub custom: bool,
    /// Objects a reference points to (several for polymorphic lookups such as `OwnerId`).
    pub reference_to: Vec<String>,
    /// Relationship name for references (`Account` for `AccountId`, `Foo__r` for `Foo__c`).
    pub relationship_name: Option<String>,
}

impl FieldMeta {
    /// A plain filterable and sortable field; `custom` is derived from the `__c` suffix.
    pub fn new(name: &str, field_type: FieldType) -> FieldMeta {
        let lower = name.to_ascii_lowercase();
        let not_filterable = matches!(field_type, FieldType::Address);
        FieldMeta {
            name: name.to_string(),
            field_type,
            filterable: !not_filterable,
            sortable: !matches!(field_type, FieldType::Address | FieldType::MultiPicklist),
            custom: lower.ends_with("__c"),
            reference_to: Vec::new(),
            relationship_name: None,
        }
    }

    /// A lookup field pointing at `targets` through `relationship`.
    pub fn reference(name: &str, relationship: &str, targets: &[&str]) -> FieldMeta {
        let mut field = FieldMeta::new(name, FieldType::Reference);
        field.relationship_name = Some(relationship.to_string());
        field.reference_to = targets.iter().map(|target| target.to_string()).collect();
        field
    }
}

/// A child relationship of an object as its describe lists it: `Contacts` is Contact's `AccountId` seen from
/// Account. Parent-to-child subqueries name it in their FROM.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRelationshipMeta {
    /// `Contacts`, `Widgets__r`.
    pub name: String,
    /// The child object (`Contact`).
    pub child_object: String,
    /// The child's lookup field pointing at the parent (`AccountId`).
    pub field: String,
}

/// An object's metadata with case-insensitive indexes over its field and relationship names.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    name: String,
    fields: Vec<FieldMeta>,
    field_index: HashMap<String, usize>,
    relationship_index: HashMap<String, usize>,
    children: Vec<ChildRelationshipMeta>,
}

impl ObjectMeta {
    /// Builds the metadata; field positions in `fields` are the indexes records are read by.
    pub fn new(name: &str, fields: Vec<FieldMeta>) -> ObjectMeta {
        let mut field_index = HashMap::with_capacity(fields.len());
        let mut relationship_index = HashMap::new();
        for (position, field) in fields.iter().enumerate() {
            field_index.insert(field.name.to_ascii_lowercase(), position);
            if let Some(relationship) = &field.relationship_name {
                relationship_index.insert(relationship.to_ascii_lowercase(), position);
            }
        }
        ObjectMeta {
            name: name.to_string(),
            fields,
            field_index,
            relationship_index,
            children: Vec::new(),
        }
    }

    /// The same metadata with these child relationships (what the object's describe lists).
    pub fn with_child_relationships(mut self, children: Vec<ChildRelationshipMeta>) -> ObjectMeta {
        self.children = children;
        self
    }

    /// The child relationship called `name`, case-insensitively.
    pub fn child_relationship(&self, name: &str) -> Option<&ChildRelationshipMeta> {
        self.children
            .iter()
            .find(|child| child.name.eq_ignore_ascii_case(name))
    }

    /// Canonical object name (`Account`, `Invoice__c`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All fields, in describe order (the order `FIELDS(ALL)` selects them in).
    pub fn fields(&self) -> &[FieldMeta] {
        &self.fields
    }

    /// The field at `index`.
    pub fn field(&self, index: usize) -> Option<&FieldMeta> {
        self.fields.get(index)
    }

    /// Index of the field called `name`, case-insensitively.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        if let Some(index) = self.field_index.get(name) {
            return Some(*index);
        }
        self.field_index.get(&name.to_ascii_lowercase()).copied()
    }

    /// Index of the reference field whose relationship name is `relationship`, case-insensitively.
    pub fn relationship_field(&self, relationship: &str) -> Option<usize> {
        self.relationship_index
            .get(&relationship.to_ascii_lowercase())
            .copied()
    }
}

/// Object metadata lookup: what the engine needs to compile a query or a condition.
pub trait Schema {
    /// The object called `name` (case-insensitive), or `None` if the org has no such object.
    fn object(&self, name: &str) -> Option<&ObjectMeta>;
}

/// A parent record reached through a relationship, with its object's metadata.
pub struct ParentRecord<'a, R> {
    pub object: &'a ObjectMeta,
    pub record: &'a R,
}

/// Record access: what the engine needs to run a compiled query or condition.
///
/// Field values are read by the index of the field in [`ObjectMeta::fields`] of the record's
/// object, so the store should keep records as a vector laid out in that order.
pub trait RecordSource: Schema {
    /// The store's record type.
    type Record;
    /// Iterator over an object's records.
    type Records<'a>: Iterator<Item = &'a Self::Record>
    where
        Self: 'a;

    /// Every record of `object`, deleted ones (in the recycle bin) included; the engine filters
    /// them out unless the query runs as `queryAll`. Iterate in a stable order (creation order).
    fn records<'a>(&'a self, object: &ObjectMeta) -> Self::Records<'a>;

    /// The record's 18-character id.
    fn record_id<'a>(&'a self, record: &'a Self::Record) -> &'a str;

    /// True if the record is in the recycle bin (`IsDeleted = true`).
    fn is_deleted(&self, record: &Self::Record) -> bool;

    /// The value of the field at `field_index` of the record's object.
    fn value<'a>(&'a self, record: &'a Self::Record, field_index: usize) -> FieldValue<'a>;

    /// The parent record the reference field at `field_index` points to, if any.
    fn parent<'a>(
        &'a self,
        record: &'a Self::Record,
        field_index: usize,
    ) -> Option<ParentRecord<'a, Self::Record>>;

    /// The records of `object` whose reference field at `field_index` holds `parent_id`, deleted ones
    /// included, in [`RecordSource::records`] order: a parent's children for a parent-to-child subquery.
    /// This default scans the object; a store asked for many parents' children should index them.
    fn children<'a>(
        &'a self,
        object: &ObjectMeta,
        field_index: usize,
        parent_id: &str,
    ) -> Vec<&'a Self::Record> {
        self.records(object)
            .filter(|record| match self.value(record, field_index) {
                FieldValue::Text(id) => super::ids::ids_equal(id, parent_id),
                _ => false,
            })
            .collect()
    }
}
