//! The org store seen through the SOQL engine's traits: records are read in place (values borrowed), parents
//! are found through the id held in the reference field, and address compounds (not stored, built from their
//! components) are assembled into a per-source arena so they can be lent out like stored values; formula fields
//! are computed ([`crate::formula`]) into another.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use typed_arena::Arena;

use super::catalog::{AddressParts, SoqlCatalog};
use crate::soql::{Address, FieldValue, ObjectMeta, ParentRecord, RecordSource, Schema};
use crate::store::{Org, Record, RecordId, Value};

/// A read-only view of an org for one query run, one page, or one validation check.
pub struct OrgSource<'o> {
    org: &'o Org,
    catalog: &'o SoqlCatalog,
    /// Assembled address values; created on first use since most queries select none.
    addresses: OnceCell<Arena<Address>>,
    /// Formula field values computed by this source (formula fields are never stored), lent out like stored ones.
    computed: OnceCell<Arena<Value>>,
    /// Children by parent id, per (object index, lookup field): built by the first parent-to-child subquery
    /// that needs them, so a page of parents costs one scan of the child object rather than one per parent.
    children: RefCell<HashMap<(usize, usize), Rc<ChildIndex<'o>>>>,
}

/// The records of one object by the id their lookup field holds.
type ChildIndex<'o> = HashMap<&'o str, Vec<&'o Record>>;

impl<'o> OrgSource<'o> {
    pub fn new(org: &'o Org) -> OrgSource<'o> {
        OrgSource {
            org,
            catalog: &org.soql,
            addresses: OnceCell::new(),
            computed: OnceCell::new(),
            children: RefCell::new(HashMap::new()),
        }
    }

    fn child_index(&self, object: usize, field_index: usize) -> Rc<ChildIndex<'o>> {
        let mut indexes = self.children.borrow_mut();
        let index = indexes.entry((object, field_index)).or_insert_with(|| {
            let mut index: ChildIndex<'o> = HashMap::new();
            for record in self.org.object_at(object).iter() {
                if let Value::Text(parent) = record.get(field_index) {
                    index.entry(&**parent).or_default().push(record);
                }
            }
            Rc::new(index)
        });
        Rc::clone(index)
    }

    pub fn org(&self) -> &'o Org {
        self.org
    }

    pub fn catalog(&self) -> &'o SoqlCatalog {
        self.catalog
    }

    /// The org's object index of a record, from its id's key prefix.
    fn object_of(&self, record: &Record) -> Option<usize> {
        self.org.object_index_by_prefix(record.id.key_prefix())
    }

    fn text(record: &Record, position: Option<usize>) -> Option<String> {
        position.and_then(|position| match record.get(position) {
            Value::Null => None,
            Value::Text(text) => Some(text.to_string()),
            other => Some(other.display_text()),
        })
    }

    fn number(record: &Record, position: Option<usize>) -> Option<rust_decimal::Decimal> {
        position.and_then(|position| match record.get(position) {
            Value::Decimal(number) => Some(*number),
            Value::Int(number) => Some(rust_decimal::Decimal::from(*number)),
            _ => None,
        })
    }

    fn address<'a>(&'a self, record: &Record, parts: &AddressParts) -> FieldValue<'a> {
        let address = Address {
            street: Self::text(record, parts[0]),
            city: Self::text(record, parts[1]),
            state: Self::text(record, parts[2]),
            postal_code: Self::text(record, parts[3]),
            country: Self::text(record, parts[4]),
            latitude: Self::number(record, parts[5]),
            longitude: Self::number(record, parts[6]),
            geocode_accuracy: Self::text(record, parts[7]),
        };
        // Salesforce answers null for an address whose components are all null.
        if address == Address::default() {
            return FieldValue::Null;
        }
        let arena = self.addresses.get_or_init(Arena::new);
        FieldValue::Address(arena.alloc(address))
    }
}

impl Schema for OrgSource<'_> {
    fn object(&self, name: &str) -> Option<&ObjectMeta> {
        self.catalog.object(name)
    }
}

impl RecordSource for OrgSource<'_> {
    type Record = Record;
    type Records<'a>
        = Box<dyn Iterator<Item = &'a Record> + 'a>
    where
        Self: 'a;

    fn records<'a>(&'a self, object: &ObjectMeta) -> Self::Records<'a> {
        match self.catalog.position(object.name()) {
            Some(position) => Box::new(self.org.object_at(position).iter()),
            None => Box::new(std::iter::empty()),
        }
    }

    fn record_id<'a>(&'a self, record: &'a Record) -> &'a str {
        record.id.as_str()
    }

    fn is_deleted(&self, record: &Record) -> bool {
        record.is_deleted()
    }

    fn value<'a>(&'a self, record: &'a Record, field_index: usize) -> FieldValue<'a> {
        let calculated = if self.org.formulas.any() {
            self.object_of(record).and_then(|object| {
                crate::formula::calculated_value(self.org, object, record, field_index)
            })
        } else {
            None
        };
        let stored: &'a Value = match calculated {
            Some(value) => self.computed.get_or_init(Arena::new).alloc(value),
            None => record.get(field_index),
        };
        match stored {
            Value::Null => {
                // Address compounds are never stored: a null may stand for one.
                let Some(object) = self.object_of(record) else {
                    return FieldValue::Null;
                };
                let Some(extras) = self.catalog.extras_at(object) else {
                    return FieldValue::Null;
                };
                match extras.addresses.get(field_index) {
                    Some(Some(parts)) if extras.has_address => self.address(record, parts),
                    _ => FieldValue::Null,
                }
            }
            Value::Bool(flag) => FieldValue::Bool(*flag),
            Value::Int(number) => FieldValue::Int(*number),
            Value::Decimal(number) => {
                // Numbers are written with the field's scale (`5.00` for a currency), as REST reads do.
                let scale = self
                    .object_of(record)
                    .and_then(|object| self.catalog.extras_at(object))
                    .and_then(|extras| extras.scales.get(field_index).copied().flatten());
                let mut number = *number;
                if let Some(scale) = scale {
                    number.rescale(scale);
                }
                FieldValue::Decimal(number)
            }
            Value::Text(text) => FieldValue::Text(text),
            Value::Date(date) => FieldValue::Date(*date),
            Value::DateTime(millis) => FieldValue::DateTime(*millis),
            Value::Time(millis) => FieldValue::Time(*millis),
        }
    }

    fn parent<'a>(
        &'a self,
        record: &'a Record,
        field_index: usize,
    ) -> Option<ParentRecord<'a, Record>> {
        let Value::Text(parent_id) = record.get(field_index) else {
            return None;
        };
        let parent_id = RecordId::parse(parent_id)?;
        let position = self.org.object_index_by_prefix(parent_id.key_prefix())?;
        let parent = self.org.object_at(position).get(&parent_id)?;
        Some(ParentRecord {
            object: self.catalog.meta_at(position)?,
            record: parent,
        })
    }

    fn children<'a>(
        &'a self,
        object: &ObjectMeta,
        field_index: usize,
        parent_id: &str,
    ) -> Vec<&'a Record> {
        let Some(position) = self.catalog.position(object.name()) else {
            return Vec::new();
        };
        self.child_index(position, field_index)
            .get(parent_id)
            .cloned()
            .unwrap_or_default()
    }
}
