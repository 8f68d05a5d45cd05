//! A small in-memory org implementing [`Schema`] and [`RecordSource`], for the engine's own tests
//! and benchmark; it is also the model of how the real store should implement the traits.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use super::filter::parse_datetime_literal;
use super::ids::widen_id;
use super::schema::{FieldType, ObjectMeta, ParentRecord, RecordSource, Schema};
use super::value::{Address, FieldValue};

/// A stored value (owned; [`FieldValue`] borrows from it).
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Null,
    Bool(bool),
    Int(i64),
    Decimal(Decimal),
    Text(String),
    Date(NaiveDate),
    DateTime(i64),
    Time(u32),
    Address(Address),
}

/// One record: values laid out in the object's field order.
#[derive(Debug, Clone)]
pub struct MemoryRecord {
    pub id: String,
    pub deleted: bool,
    pub values: Vec<Stored>,
}

/// The org: objects, their records, and an id index for following lookups.
#[derive(Debug, Default)]
pub struct MemoryOrg {
    objects: Vec<ObjectMeta>,
    by_name: HashMap<String, usize>,
    records: Vec<Vec<MemoryRecord>>,
    by_id: HashMap<String, (usize, usize)>,
    next_id: u64,
}

impl MemoryOrg {
    pub fn define(&mut self, object: ObjectMeta) {
        self.by_name
            .insert(object.name().to_ascii_lowercase(), self.objects.len());
        self.objects.push(object);
        self.records.push(Vec::new());
    }

    fn object_position(&self, name: &str) -> usize {
        self.by_name[&name.to_ascii_lowercase()]
    }

    /// Inserts a record from JSON-ish values (`"2024-01-01"` for dates, ISO strings for datetimes,
    /// numbers for numbers, `"a;b"` for multipicklists) and returns its 18-character id.
    pub fn insert(&mut self, object: &str, fields: Value) -> String {
        let position = self.object_position(object);
        self.next_id += 1;
        let prefix = format!("{:03}", position + 1);
        let short = format!("{prefix}Aa{:010}", self.next_id);
        let id = widen_id(&short).unwrap_or(short);
        self.insert_with_id(object, &id, fields);
        id
    }

    /// Inserts a record with a given 18-character id.
    pub fn insert_with_id(&mut self, object: &str, id: &str, fields: Value) {
        let position = self.object_position(object);
        let meta = &self.objects[position];
        let mut values = vec![Stored::Null; meta.fields().len()];
        if let Some(id_index) = meta.field_index("Id") {
            values[id_index] = Stored::Text(id.to_string());
        }
        if let Value::Object(map) = fields {
            for (name, value) in map {
                let index = meta
                    .field_index(&name)
                    .unwrap_or_else(|| panic!("test data names unknown field {name}"));
                values[index] = to_stored(meta.fields()[index].field_type, &value);
            }
        }
        let record = MemoryRecord {
            id: id.to_string(),
            deleted: false,
            values,
        };
        self.by_id
            .insert(id.to_string(), (position, self.records[position].len()));
        self.records[position].push(record);
    }

    /// Moves a record to the recycle bin.
    pub fn delete(&mut self, id: &str) {
        let (object, position) = self.by_id[id];
        let record = &mut self.records[object][position];
        record.deleted = true;
        if let Some(index) = self.objects[object].field_index("IsDeleted") {
            record.values[index] = Stored::Bool(true);
        }
    }

    /// The stored record with `id`.
    pub fn record(&self, id: &str) -> &MemoryRecord {
        let (object, position) = self.by_id[id];
        &self.records[object][position]
    }
}

fn to_stored(field_type: FieldType, value: &Value) -> Stored {
    if value.is_null() {
        return Stored::Null;
    }
    match field_type {
        FieldType::Boolean => Stored::Bool(value.as_bool().unwrap_or(false)),
        FieldType::Int => Stored::Int(value.to_string().parse().unwrap_or(0)),
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            // A string keeps trailing zeros that a JSON number literal in test code would lose.
            let digits = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            Stored::Decimal(Decimal::from_str(&digits).unwrap_or_default())
        }
        FieldType::Date => Stored::Date(
            NaiveDate::parse_from_str(value.as_str().unwrap_or_default(), "%Y-%m-%d")
                .unwrap_or_default(),
        ),
        FieldType::DateTime => Stored::DateTime(
            parse_datetime_literal(value.as_str().unwrap_or_default()).unwrap_or(0),
        ),
        FieldType::Time => Stored::Time(value.as_u64().unwrap_or(0) as u32),
        FieldType::Address => Stored::Address(Address {
            street: value["street"].as_str().map(str::to_string),
            city: value["city"].as_str().map(str::to_string),
            state: value["state"].as_str().map(str::to_string),
            postal_code: value["postalCode"].as_str().map(str::to_string),
            country: value["country"].as_str().map(str::to_string),
            latitude: None,
            longitude: None,
            geocode_accuracy: None,
        }),
        _ => Stored::Text(value.as_str().unwrap_or_default().to_string()),
    }
}

impl Schema for MemoryOrg {
    fn object(&self, name: &str) -> Option<&ObjectMeta> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map(|position| &self.objects[*position])
    }
}

impl RecordSource for MemoryOrg {
    type Record = MemoryRecord;
    type Records<'a> = std::slice::Iter<'a, MemoryRecord>;

    fn records<'a>(&'a self, object: &ObjectMeta) -> Self::Records<'a> {
        let position = self.object_position(object.name());
        self.records[position].iter()
    }

    fn record_id<'a>(&'a self, record: &'a MemoryRecord) -> &'a str {
        &record.id
    }

    fn is_deleted(&self, record: &MemoryRecord) -> bool {
        record.deleted
    }

    fn value<'a>(&'a self, record: &'a MemoryRecord, field_index: usize) -> FieldValue<'a> {
        match record.values.get(field_index) {
            None | Some(Stored::Null) => FieldValue::Null,
            Some(Stored::Bool(flag)) => FieldValue::Bool(*flag),
            Some(Stored::Int(number)) => FieldValue::Int(*number),
            Some(Stored::Decimal(number)) => FieldValue::Decimal(*number),
            Some(Stored::Text(text)) => FieldValue::Text(text),
            Some(Stored::Date(date)) => FieldValue::Date(*date),
            Some(Stored::DateTime(millis)) => FieldValue::DateTime(*millis),
            Some(Stored::Time(millis)) => FieldValue::Time(*millis),
            Some(Stored::Address(address)) => FieldValue::Address(address),
        }
    }

    fn parent<'a>(
        &'a self,
        record: &'a MemoryRecord,
        field_index: usize,
    ) -> Option<ParentRecord<'a, MemoryRecord>> {
        let Some(Stored::Text(parent_id)) = record.values.get(field_index) else {
            return None;
        };
        let (object, position) = *self.by_id.get(parent_id)?;
        Some(ParentRecord {
            object: &self.objects[object],
            record: &self.records[object][position],
        })
    }
}
