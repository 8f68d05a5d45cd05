//! The SOQL engine's view of the org's metadata: one [`ObjectMeta`] per object (same field order as the
//! store's records, so field indexes are shared), address compounds' component positions, decimal
//! scales, and every object's validation rules compiled once. Rebuilt whenever the schema changes.

use std::collections::HashMap;

use crate::rest::describe::child_relationships_among;
use crate::soql::{
    ChildRelationshipMeta, CompiledCondition, FieldMeta, FieldType, ObjectMeta, Schema, SoqlError,
};
use crate::store::schema::{FieldType as StoreType, ObjectSchema};

/// Positions of an address compound's components, in the order of [`crate::soql::Address`]'s fields:
/// street, city, state, postal code, country, latitude, longitude, geocode accuracy.
pub type AddressParts = [Option<usize>; 8];

/// A validation rule ready to run; `condition` is `None` when the rule no longer compiles (a field it
/// names was removed): such a rule never refuses a record.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Position in the object's `validation_rules`.
    pub rule: usize,
    pub condition: Option<CompiledCondition>,
}

/// Per-object facts the record adapter needs besides the engine's metadata.
#[derive(Debug, Clone, Default)]
pub struct ObjectExtras {
    /// For each field: the component positions when the field is an address compound.
    pub addresses: Vec<Option<AddressParts>>,
    /// For each field: the scale numbers are written with (`None` for non-decimal fields).
    pub scales: Vec<Option<u32>>,
    pub has_address: bool,
    pub has_decimal: bool,
}

/// Metadata for every object of the org, in the org's object order.
#[derive(Debug, Clone, Default)]
pub struct SoqlCatalog {
    objects: Vec<ObjectMeta>,
    extras: Vec<ObjectExtras>,
    by_name: HashMap<String, usize>,
    rules: Vec<Vec<CompiledRule>>,
    generation: u64,
}

fn field_type(store: StoreType) -> FieldType {
    match store {
        StoreType::Id => FieldType::Id,
        StoreType::Reference => FieldType::Reference,
        StoreType::String => FieldType::String,
        StoreType::Textarea => FieldType::TextArea,
        StoreType::Email => FieldType::Email,
        StoreType::Phone => FieldType::Phone,
        StoreType::Url => FieldType::Url,
        StoreType::Picklist => FieldType::Picklist,
        StoreType::Multipicklist => FieldType::MultiPicklist,
        StoreType::Combobox => FieldType::Combobox,
        StoreType::Boolean => FieldType::Boolean,
        StoreType::Int => FieldType::Int,
        StoreType::Double => FieldType::Double,
        StoreType::Currency => FieldType::Currency,
        StoreType::Percent => FieldType::Percent,
        StoreType::Date => FieldType::Date,
        StoreType::Datetime => FieldType::DateTime,
        StoreType::Time => FieldType::Time,
        StoreType::Address => FieldType::Address,
    }
}

/// The engine's metadata for one object, field for field in the store's order.
pub fn object_meta(schema: &ObjectSchema) -> ObjectMeta {
    let fields = schema
        .fields
        .iter()
        .map(|field| {
            let mut meta = FieldMeta::new(&field.name, field_type(field.field_type));
            meta.filterable = field.filterable;
            meta.sortable = field.sortable;
            meta.custom = field.custom;
            meta.reference_to = field.reference_to.clone();
            meta.relationship_name = field.relationship_name.clone();
            meta
        })
        .collect();
    ObjectMeta::new(&schema.name, fields)
}

fn object_extras(schema: &ObjectSchema) -> ObjectExtras {
    let mut extras = ObjectExtras::default();
    for field in &schema.fields {
        let address = (field.field_type == StoreType::Address).then(|| {
            let mut parts: AddressParts = [None; 8];
            for (key, position) in schema.address_components(&field.name) {
                let slot = match key {
                    "street" => 0,
                    "city" => 1,
                    "state" => 2,
                    "postalCode" => 3,
                    "country" => 4,
                    "latitude" => 5,
                    "longitude" => 6,
                    _ => 7,
                };
                parts[slot] = position;
            }
            parts
        });
        extras.has_address |= address.is_some();
        extras.addresses.push(address);
        let decimal = matches!(
            field.field_type,
            StoreType::Double | StoreType::Currency | StoreType::Percent
        );
        extras.has_decimal |= decimal;
        extras.scales.push(decimal.then_some(field.scale));
    }
    extras
}

impl SoqlCatalog {
    /// Builds the metadata of `schemas` (in the org's object order) and compiles their validation rules.
    pub fn build<'a>(
        schemas: impl IntoIterator<Item = &'a ObjectSchema>,
        generation: u64,
    ) -> SoqlCatalog {
        let schemas: Vec<&ObjectSchema> = schemas.into_iter().collect();
        let mut catalog = SoqlCatalog {
            generation,
            ..SoqlCatalog::default()
        };
        for (position, schema) in schemas.iter().enumerate() {
            catalog
                .by_name
                .insert(schema.name.to_ascii_lowercase(), position);
            let children = child_relationships_among(schemas.iter().copied(), &schema.name)
                .into_iter()
                .filter_map(|relationship| {
                    Some(ChildRelationshipMeta {
                        name: relationship.name?,
                        child_object: relationship.child.name.to_string(),
                        field: relationship.field.name.to_string(),
                    })
                })
                .collect();
            catalog
                .objects
                .push(object_meta(schema).with_child_relationships(children));
            catalog.extras.push(object_extras(schema));
        }
        let rules = schemas
            .iter()
            .map(|schema| {
                schema
                    .validation_rules
                    .iter()
                    .enumerate()
                    .filter(|(_, rule)| rule.active)
                    .map(|(position, rule)| CompiledRule {
                        rule: position,
                        condition: CompiledCondition::compile(
                            &rule.condition,
                            &schema.name,
                            &catalog,
                        )
                        .ok(),
                    })
                    .collect()
            })
            .collect();
        catalog.rules = rules;
        catalog
    }

    /// Compiles a rule condition for `schema` as if it were defined in this catalog (checking a new object's
    /// rules before it joins the org).
    pub fn check_condition(
        &self,
        condition: &str,
        schema: &ObjectSchema,
    ) -> Result<CompiledCondition, SoqlError> {
        if self.object(&schema.name).is_some() {
            return CompiledCondition::compile(condition, &schema.name, self);
        }
        let mut extended = self.clone();
        extended
            .by_name
            .insert(schema.name.to_ascii_lowercase(), extended.objects.len());
        extended.objects.push(object_meta(schema));
        extended.extras.push(object_extras(schema));
        CompiledCondition::compile(condition, &schema.name, &extended)
    }

    /// Increases on every rebuild: cached compiled queries older than this must be recompiled.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The metadata of the object at `position` (the org's object index).
    pub fn meta_at(&self, position: usize) -> Option<&ObjectMeta> {
        self.objects.get(position)
    }

    pub fn extras_at(&self, position: usize) -> Option<&ObjectExtras> {
        self.extras.get(position)
    }

    /// The org's object index of `name` (case-insensitive).
    pub fn position(&self, name: &str) -> Option<usize> {
        if let Some(position) = self.by_name.get(name) {
            return Some(*position);
        }
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// The compiled active rules of the object at `position`.
    pub fn rules_at(&self, position: usize) -> &[CompiledRule] {
        self.rules.get(position).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Schema for SoqlCatalog {
    fn object(&self, name: &str) -> Option<&ObjectMeta> {
        self.position(name).map(|position| &self.objects[position])
    }
}
