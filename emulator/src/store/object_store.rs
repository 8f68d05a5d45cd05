//! One object's records: compact rows indexed by id, by the stamp getUpdated lists them at (their
//! SystemModstamp unless a silent write moved it) and by unique/external-id values.

use std::collections::{BTreeSet, HashMap};

use super::ids::RecordId;
use super::schema::ObjectSchema;
use super::value::Value;

/// One stored record. `values` is indexed by field position; a row shorter than the field list reads as null
/// in the missing positions (fields added at run time).
#[derive(Clone, Debug)]
pub struct Record {
    pub id: RecordId,
    pub values: Vec<Value>,
    /// When the record went to the recycle bin (org clock, ms); `None` while live.
    pub deleted_at: Option<i64>,
    /// Where getUpdated lists the record: only silent admin writes make it differ from its SystemModstamp.
    pub listing: Listing,
}

/// Where getUpdated lists a record. Replication reads records by stamp; a silent write (see
/// [`super::Transaction::silent`]) moves SystemModstamp without replication hearing of it, so the
/// record has to stay where replication last saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Listing {
    /// At its SystemModstamp: every write since its creation was traced.
    #[default]
    AtModstamp,
    /// At this stamp (ms): the last traced write's; silent writes moved SystemModstamp since.
    At(i64),
    /// Nowhere: created by a silent write, and no traced write since.
    Hidden,
}

static NULL: Value = Value::Null;

impl Record {
    pub fn get(&self, index: usize) -> &Value {
        self.values.get(index).unwrap_or(&NULL)
    }

    pub fn set(&mut self, index: usize, value: Value) {
        if index >= self.values.len() {
            self.values.resize(index + 1, Value::Null);
        }
        self.values[index] = value;
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// Ids holding one value of a unique or external-id field (external ids that are not unique may repeat).
#[derive(Clone, Debug, Default)]
pub struct KeyIndex {
    entries: HashMap<Box<str>, Vec<RecordId>>,
}

impl KeyIndex {
    pub fn get(&self, key: &str) -> &[RecordId] {
        self.entries.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    fn insert(&mut self, key: Box<str>, id: RecordId) {
        self.entries.entry(key).or_default().push(id);
    }

    fn remove(&mut self, key: &str, id: RecordId) {
        if let Some(ids) = self.entries.get_mut(key) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.entries.remove(key);
            }
        }
    }
}

/// An object's schema plus its records. Deleted records stay (in the recycle bin) until purged.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    pub schema: ObjectSchema,
    slots: Vec<Option<Record>>,
    free_slots: Vec<u32>,
    by_id: HashMap<RecordId, u32>,
    /// (listed stamp, id) of every record getUpdated may list (live and deleted).
    by_modstamp: BTreeSet<(i64, RecordId)>,
    /// Field position → index of live records' values (unique and external-id fields only).
    key_indexes: HashMap<usize, KeyIndex>,
    /// Serial number of the last generated id.
    pub id_serial: u64,
    /// Last auto-number handed out.
    pub auto_number: u64,
    live_count: usize,
}

impl ObjectStore {
    pub fn new(schema: ObjectSchema) -> ObjectStore {
        let mut store = ObjectStore {
            schema,
            slots: Vec::new(),
            free_slots: Vec::new(),
            by_id: HashMap::new(),
            by_modstamp: BTreeSet::new(),
            key_indexes: HashMap::new(),
            id_serial: 0,
            auto_number: 0,
            live_count: 0,
        };
        store.rebuild_key_indexes();
        store
    }

    /// The key a value is indexed under: lower-cased unless the field is case-sensitive.
    pub fn index_key(&self, field: usize, value: &Value) -> Option<Box<str>> {
        let text = match value {
            Value::Null => return None,
            Value::Text(text) => text.to_string(),
            other => other.display_text(),
        };
        if self.schema.fields[field].case_sensitive {
            Some(text.into_boxed_str())
        } else {
            Some(text.to_lowercase().into_boxed_str())
        }
    }

    /// Rebuilds every unique/external-id index from the live records (after schema changes and loads).
    pub fn rebuild_key_indexes(&mut self) {
        let indexed: Vec<usize> = self
            .schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_indexed_key())
            .map(|(i, _)| i)
            .collect();
        let mut indexes: HashMap<usize, KeyIndex> =
            indexed.iter().map(|i| (*i, KeyIndex::default())).collect();
        for record in self.slots.iter().flatten().filter(|r| !r.is_deleted()) {
            for field in &indexed {
                if let Some(key) = self.index_key(*field, record.get(*field)) {
                    if let Some(index) = indexes.get_mut(field) {
                        index.insert(key, record.id);
                    }
                }
            }
        }
        self.key_indexes = indexes;
    }

    /// Live records whose `field` equals `value` under the field's case rules.
    pub fn find_by_key(&self, field: usize, value: &Value) -> Vec<RecordId> {
        let Some(key) = self.index_key(field, value) else {
            return vec![];
        };
        if let Some(index) = self.key_indexes.get(&field) {
            return index.get(&key).to_vec();
        }
        // Not an indexed field (e.g. a name used as idLookup): scan.
        self.iter_live()
            .filter(|r| self.index_key(field, r.get(field)).as_deref() == Some(&*key))
            .map(|r| r.id)
            .collect()
    }

    pub fn get(&self, id: &RecordId) -> Option<&Record> {
        self.by_id
            .get(id)
            .and_then(|slot| self.slots[*slot as usize].as_ref())
    }

    /// All records (live and in the recycle bin) in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.slots.iter().flatten()
    }

    pub fn iter_live(&self) -> impl Iterator<Item = &Record> {
        self.iter().filter(|r| !r.is_deleted())
    }

    /// Records (live and deleted) with the stamp getUpdated lists them at, ordered by (that stamp, Id),
    /// starting at `from_ms` inclusive. The stamp is the SystemModstamp unless a silent write moved it
    /// (see [`Listing`]); records created silently are left out.
    pub fn iter_by_modstamp(&self, from_ms: i64) -> impl Iterator<Item = (i64, &Record)> {
        let start = (from_ms, RecordId::generate("000", 0));
        self.by_modstamp
            .range(start..)
            .filter_map(move |(stamp, id)| self.get(id).map(|record| (*stamp, record)))
    }

    /// The stamp getUpdated lists `record` at (`None`: nowhere).
    pub fn listed_stamp(&self, record: &Record) -> Option<i64> {
        match record.listing {
            Listing::AtModstamp => Some(self.modstamp_of(record)),
            Listing::At(stamp) => Some(stamp),
            Listing::Hidden => None,
        }
    }

    pub fn live_count(&self) -> usize {
        self.live_count
    }

    pub fn total_count(&self) -> usize {
        self.by_id.len()
    }

    fn modstamp_of(&self, record: &Record) -> i64 {
        self.schema
            .system
            .system_modstamp
            .and_then(|i| record.get(i).as_datetime_ms())
            .unwrap_or(0)
    }

    fn index_record(&mut self, record: &Record) {
        let fields: Vec<usize> = self.key_indexes.keys().copied().collect();
        for field in fields {
            if let Some(key) = self.index_key(field, record.get(field)) {
                if let Some(index) = self.key_indexes.get_mut(&field) {
                    index.insert(key, record.id);
                }
            }
        }
    }

    fn unindex_record(&mut self, record: &Record) {
        let fields: Vec<usize> = self.key_indexes.keys().copied().collect();
        for field in fields {
            if let Some(key) = self.index_key(field, record.get(field)) {
                if let Some(index) = self.key_indexes.get_mut(&field) {
                    index.remove(&key, record.id);
                }
            }
        }
    }

    /// Stores a new record (or a restored one); maintains every index.
    pub(crate) fn insert(&mut self, record: Record) {
        if !record.is_deleted() {
            self.index_record(&record);
            self.live_count += 1;
        }
        if let Some(stamp) = self.listed_stamp(&record) {
            self.by_modstamp.insert((stamp, record.id));
        }
        let id = record.id;
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(record);
                slot
            }
            None => {
                self.slots.push(Some(record));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(id, slot);
    }

    /// Removes a record entirely (hard delete or rollback of a create) and returns it.
    pub(crate) fn remove(&mut self, id: &RecordId) -> Option<Record> {
        let slot = self.by_id.remove(id)?;
        let record = self.slots[slot as usize].take()?;
        self.free_slots.push(slot);
        if let Some(stamp) = self.listed_stamp(&record) {
            self.by_modstamp.remove(&(stamp, record.id));
        }
        if !record.is_deleted() {
            self.unindex_record(&record);
            self.live_count -= 1;
        }
        Some(record)
    }

    /// Replaces a record's content (update, delete, undelete, rollback) keeping indexes right.
    pub(crate) fn replace(&mut self, record: Record) -> Option<Record> {
        let old = self.remove(&record.id)?;
        self.insert(record);
        Some(old)
    }

    /// Drops every record (objects stay defined).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free_slots.clear();
        self.by_id.clear();
        self.by_modstamp.clear();
        self.live_count = 0;
        self.rebuild_key_indexes();
    }

    /// Removes the value at `position` from every record (a field was deleted from the schema).
    pub(crate) fn drop_column(&mut self, position: usize) {
        for record in self.slots.iter_mut().flatten() {
            if position < record.values.len() {
                record.values.remove(position);
            }
        }
    }
}
