//! Write transactions: every write API call runs as one transaction that validates, applies (with an undo log
//! for rollback) and, on commit, appends its record changes atomically to the org's change log. Switches of a
//! transaction leave the change log out (seeding, late commits) or every replication trace (silent writes).

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::change_log::{ApiKind, ChangeEvent, ChangeType};
use super::convert::{prepare_assignments, Assignments, WriteMode};
use super::errors::RecordError;
use super::ids::RecordId;
use super::object_store::{Listing, Record};
use super::schema::FieldType;
use super::value::Value;
use super::{derive, validation_rules, DeletedEntry, Org};

/// Who writes, and through which API: becomes the change log's commit user, origin and API kind.
#[derive(Clone, Debug)]
pub struct WriteContext {
    pub user: RecordId,
    /// `client=` value of the caller's `Sforce-Call-Options` header.
    pub origin_client: Option<String>,
    /// `None` for writes that do not come through an API (seeding).
    pub api: Option<ApiKind>,
    /// The caller's API version (`62.0`), for CDC's `changeOrigin`; `None` for non-API writes.
    pub api_version: Option<String>,
}

/// Result of an upsert that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpsertOutcome {
    pub id: RecordId,
    pub created: bool,
}

/// Why an upsert failed: a record error, or several records matching the key (HTTP 300).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpsertError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{} records match the external id", .0.len())]
    MultipleMatches(Vec<RecordId>),
}

enum Undo {
    Inserted {
        object: usize,
        id: RecordId,
    },
    Replaced {
        object: usize,
        before: Box<Record>,
    },
    Removed {
        object: usize,
        record: Box<Record>,
    },
    DeleteLogPushed,
    DeleteLogRemoved {
        position: usize,
        entry: DeletedEntry,
    },
    AutoNumber {
        object: usize,
        previous: u64,
    },
}

struct PendingEvent {
    object: usize,
    record_id: RecordId,
    change_type: ChangeType,
    fields: Vec<usize>,
}

/// A point to roll back to inside a transaction.
#[derive(Clone, Copy, Debug)]
pub struct Savepoint {
    undo_len: usize,
    pending_len: usize,
}

/// What a commit produced.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    pub commit_timestamp: i64,
    /// Sequence numbers of the appended events (empty when nothing changed).
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub changes: usize,
}

/// An open transaction; dropping it without [`Transaction::commit`] rolls every change back.
pub struct Transaction<'a> {
    org: &'a mut Org,
    context: WriteContext,
    timestamp: i64,
    undo: Vec<Undo>,
    pending: Vec<PendingEvent>,
    finished: bool,
    /// False for bulk loads that should not reach the change log (seeding by default).
    log_changes: bool,
    /// True when the stamp was given ([`Transaction::commit_at`]): records get exactly it.
    fixed_stamp: bool,
    /// False for silent writes: neither getUpdated (the store's listing) nor getDeleted (the delete log) hears of
    /// them.
    traced: bool,
}

fn required_missing(fields: Vec<String>) -> RecordError {
    RecordError::new(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", fields.join(", ")),
        fields,
    )
}

impl<'a> Transaction<'a> {
    pub(crate) fn begin(org: &'a mut Org, context: WriteContext) -> Transaction<'a> {
        let timestamp = org.clock.next_stamp();
        Transaction {
            org,
            context,
            timestamp,
            undo: Vec::new(),
            pending: Vec::new(),
            finished: false,
            log_changes: true,
            fixed_stamp: false,
            traced: true,
        }
    }

    /// Commits without appending to the change log (data that "was already there", such as seeded records).
    pub fn skip_change_log(&mut self) {
        self.log_changes = false;
    }

    /// Writes every record with exactly `stamp_ms` as its SystemModstamp and LastModifiedDate (CreatedDate too on
    /// create), as a Salesforce transaction that commits long after its stamp does: a "late commit". The org
    /// clock is left alone, so the stamp may lie in the past. Call it before the first write.
    pub fn commit_at(&mut self, stamp_ms: i64) {
        self.timestamp = stamp_ms;
        self.fixed_stamp = true;
    }

    /// Leaves no trace outside the records themselves: no change log entry (so no CDC event), no getUpdated
    /// listing (a record keeps being listed where it was before, a created one nowhere) and no delete log entry
    /// (getDeleted). SystemModstamp still moves as usual. Call it before the first write.
    pub fn silent(&mut self) {
        self.log_changes = false;
        self.traced = false;
    }

    /// Where getUpdated lists a record this transaction rewrites from `before`: at its new SystemModstamp, or, when
    /// silent, wherever it was listed before.
    fn listing_after(&self, object: usize, before: &Record) -> Listing {
        if self.traced {
            return Listing::AtModstamp;
        }
        match self.org.object_at(object).listed_stamp(before) {
            Some(stamp) => Listing::At(stamp),
            None => Listing::Hidden,
        }
    }

    /// The commit timestamp every record written by this transaction carries.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The `SystemModstamp` a record this transaction changes gets: the transaction's stamp, moved
    /// one millisecond past the record's previous one when that is not earlier (two commits within
    /// one millisecond), so a record's stamp always moves forward while the records of a transaction
    /// keep sharing one.
    fn stamp_for(&mut self, before: &Record, system_modstamp: Option<usize>) -> i64 {
        if self.fixed_stamp {
            // A late commit's stamp is given: exactly it, even behind the record's previous one.
            return self.timestamp;
        }
        let previous = system_modstamp.and_then(|i| before.get(i).as_datetime_ms());
        let written_here = |id: &RecordId| {
            self.undo.iter().any(|undo| match undo {
                Undo::Inserted { id: written, .. } => written == id,
                Undo::Replaced { before, .. } | Undo::Removed { record: before, .. } => {
                    before.id == *id
                }
                _ => false,
            })
        };
        if let Some(previous) =
            previous.filter(|previous| *previous >= self.timestamp && !written_here(&before.id))
        {
            self.timestamp = previous + 1;
            self.org.clock.last_stamp_ms = self.org.clock.last_stamp_ms.max(self.timestamp);
        }
        self.timestamp
    }

    /// Read access to the org while the transaction is open (it sees its own uncommitted writes).
    pub fn org(&self) -> &Org {
        self.org
    }

    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            undo_len: self.undo.len(),
            pending_len: self.pending.len(),
        }
    }

    /// Undoes everything done after `savepoint`.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        while self.undo.len() > savepoint.undo_len {
            if let Some(step) = self.undo.pop() {
                self.apply_undo(step);
            }
        }
        self.pending.truncate(savepoint.pending_len);
    }

    fn apply_undo(&mut self, step: Undo) {
        match step {
            Undo::Inserted { object, id } => {
                self.org.object_at_mut(object).remove(&id);
            }
            Undo::Removed { object, record } => {
                self.org.object_at_mut(object).insert(*record);
            }
            Undo::Replaced { object, before } => {
                self.org.object_at_mut(object).replace(*before);
            }
            Undo::DeleteLogPushed => {
                self.org.delete_log.pop();
            }
            Undo::DeleteLogRemoved { position, entry } => {
                let position = position.min(self.org.delete_log.len());
                self.org.delete_log.insert(position, entry);
            }
            Undo::AutoNumber { object, previous } => {
                self.org.object_at_mut(object).auto_number = previous;
            }
        }
    }

    /// Resolves an id for `object` (or for whatever object its key prefix names): `MALFORMED_ID` when it is not an
    /// id, or an id of another object.
    pub fn locate(
        &self,
        object: Option<usize>,
        id_text: &str,
    ) -> Result<(usize, RecordId), RecordError> {
        locate(self.org, object, id_text)
    }

    /// Creates a record from a JSON body.
    pub fn create(
        &mut self,
        object: usize,
        body: &Map<String, Json>,
    ) -> Result<RecordId, RecordError> {
        // Refused before its fields are looked at: on an object that cannot be created every field is read-only.
        not_createable(&self.org.object_at(object).schema)?;
        let assignments = prepare_assignments(self.org, object, body, WriteMode::Create)?;
        self.create_values(object, assignments)
    }

    /// Creates a record from already converted values (defaults, system fields, derived fields, required
    /// fields, validation rules and uniqueness are all applied here).
    pub fn create_values(
        &mut self,
        object: usize,
        assignments: Assignments,
    ) -> Result<RecordId, RecordError> {
        let timestamp = self.timestamp;
        let user = self.context.user;
        let store = self.org.object_at(object);
        let schema = &store.schema;
        not_createable(schema)?;
        let mut record = Record {
            id: RecordId::generate(&schema.key_prefix, 0),
            values: vec![Value::Null; schema.fields.len()],
            deleted_at: None,
            listing: if self.traced {
                Listing::AtModstamp
            } else {
                Listing::Hidden
            },
        };
        let mut assigned = vec![false; schema.fields.len()];
        for (index, value) in assignments {
            assigned[index] = true;
            record.set(index, value);
        }
        for (index, field) in schema.fields.iter().enumerate() {
            if assigned[index] || !record.get(index).is_null() || !field.is_stored() {
                continue;
            }
            let default = if let Some(json) = &field.default_value {
                super::convert::convert_value(field, json).unwrap_or(Value::Null)
            } else if let Some(value) = field.default_picklist_value() {
                Value::text(value)
            } else if field.field_type == FieldType::Boolean {
                Value::Bool(false)
            } else {
                Value::Null
            };
            record.set(index, default);
        }
        let system = schema.system.clone();
        if let Some(owner) = system.owner_id {
            if record.get(owner).is_null() {
                record.set(owner, Value::text(user.as_str()));
            }
        }
        let missing: Vec<String> = schema
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                f.createable && !f.nillable && f.is_stored() && record.get(*i).is_null()
            })
            .map(|(_, f)| f.name.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(required_missing(missing));
        }
        if let Some(i) = system.is_deleted {
            record.set(i, Value::Bool(false));
        }
        for i in [
            system.created_date,
            system.last_modified_date,
            system.system_modstamp,
        ]
        .into_iter()
        .flatten()
        {
            record.set(i, Value::DateTime(timestamp));
        }
        for i in [system.created_by_id, system.last_modified_by_id]
            .into_iter()
            .flatten()
        {
            record.set(i, Value::text(user.as_str()));
        }
        let mut auto_number = store.auto_number;
        let previous_auto_number = auto_number;
        derive::apply(schema, &mut record, true, &mut auto_number, timestamp);
        check_rules(self.org, object, &record)?;
        check_unique(self.org, object, &record, None)?;

        let store = self.org.object_at_mut(object);
        store.id_serial += 1;
        let id = RecordId::generate(&store.schema.key_prefix, store.id_serial);
        record.id = id;
        record.set(system.id, Value::text(id.as_str()));
        if auto_number != previous_auto_number {
            store.auto_number = auto_number;
            self.undo.push(Undo::AutoNumber {
                object,
                previous: previous_auto_number,
            });
        }
        let fields = non_null_fields(&record);
        store.insert(record);
        self.undo.push(Undo::Inserted { object, id });
        self.pending.push(PendingEvent {
            object,
            record_id: id,
            change_type: ChangeType::Create,
            fields,
        });
        Ok(id)
    }

    /// Updates a live record from a JSON body; `object` (when given) must be the id's object.
    pub fn update(
        &mut self,
        object: Option<usize>,
        id_text: &str,
        body: &Map<String, Json>,
    ) -> Result<RecordId, RecordError> {
        let (object, id) = self.locate(object, id_text)?;
        live_record(self.org, object, &id).map_err(|e| e.with_id(id))?;
        let assignments = prepare_assignments(self.org, object, body, WriteMode::Update)
            .map_err(|e| e.with_id(id))?;
        self.update_values(object, id, assignments)
            .map_err(|e| e.with_id(id))?;
        Ok(id)
    }

    /// Updates a live record with already converted values.
    pub fn update_values(
        &mut self,
        object: usize,
        id: RecordId,
        assignments: Assignments,
    ) -> Result<(), RecordError> {
        let timestamp = self.timestamp;
        let user = self.context.user;
        let before = live_record(self.org, object, &id)?.clone();
        let schema = &self.org.object_at(object).schema;
        let mut record = before.clone();
        let mut nulled_required = Vec::new();
        for (index, value) in assignments {
            let field = &schema.fields[index];
            if value.is_null() && !field.nillable {
                nulled_required.push(field.name.to_string());
            }
            record.set(index, value);
        }
        if !nulled_required.is_empty() {
            return Err(required_missing(nulled_required));
        }
        let mut auto_number = 0;
        derive::apply(schema, &mut record, false, &mut auto_number, timestamp);
        check_rules(self.org, object, &record)?;
        check_unique(self.org, object, &record, Some(&before))?;
        let system = schema.system.clone();
        let mut changed: Vec<usize> = (0..schema.fields.len())
            .filter(|i| record.get(*i) != before.get(*i))
            .collect();
        let stamp = self.stamp_for(&before, system.system_modstamp);
        for i in [system.last_modified_date, system.system_modstamp]
            .into_iter()
            .flatten()
        {
            record.set(i, Value::DateTime(stamp));
        }
        if let Some(i) = system.last_modified_by_id {
            if record.get(i).as_text() != Some(user.as_str()) {
                changed.push(i);
            }
            record.set(i, Value::text(user.as_str()));
        }
        if let Some(i) = system.last_modified_date {
            changed.push(i);
        }
        changed.sort_unstable();
        changed.dedup();
        record.listing = self.listing_after(object, &before);
        self.org.object_at_mut(object).replace(record);
        self.undo.push(Undo::Replaced {
            object,
            before: Box::new(before),
        });
        self.pending.push(PendingEvent {
            object,
            record_id: id,
            change_type: ChangeType::Update,
            fields: changed,
        });
        Ok(())
    }

    /// Resolves an upsert key field: an external id field, or `Id`; anything else is `NOT_FOUND`.
    pub fn upsert_key_field(&self, object: usize, field_name: &str) -> Result<usize, RecordError> {
        upsert_key_field(self.org, object, field_name)
    }

    /// Upserts by `key_field` = `key`: creates when nothing matches (unless `update_only`), updates one match,
    /// and reports several matches. The key field is removed from `body` and set from `key` on create.
    pub fn upsert(
        &mut self,
        object: usize,
        key_field: usize,
        key: &Value,
        body: &Map<String, Json>,
        update_only: bool,
    ) -> Result<UpsertOutcome, UpsertError> {
        let schema = &self.org.object_at(object).schema;
        let key_name = schema.fields[key_field].name.clone();
        let is_id = key_field == schema.system.id;
        let mut body = body.clone();
        body.retain(|name, _| !name.eq_ignore_ascii_case(&key_name));
        if key.is_null() {
            return Err(RecordError::new(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{key_name}]"),
                vec![key_name.to_string()],
            )
            .into());
        }
        let matches: Vec<RecordId> = if is_id {
            let id_text = key.as_text().unwrap_or_default();
            let (_, id) = self.locate(Some(object), id_text)?;
            live_record(self.org, object, &id).map_err(|e| e.with_id(id))?;
            vec![id]
        } else {
            self.org.object_at(object).find_by_key(key_field, key)
        };
        match matches.as_slice() {
            [] if update_only => Err(RecordError::not_found().into()),
            [] => {
                let mut assignments =
                    prepare_assignments(self.org, object, &body, WriteMode::Create)?;
                assignments.push((key_field, key.clone()));
                let id = self.create_values(object, assignments)?;
                Ok(UpsertOutcome { id, created: true })
            }
            [id] => {
                let id = *id;
                let assignments = prepare_assignments(self.org, object, &body, WriteMode::Update)
                    .map_err(|e| e.with_id(id))?;
                self.update_values(object, id, assignments)
                    .map_err(|e| e.with_id(id))?;
                Ok(UpsertOutcome { id, created: false })
            }
            _ => Err(UpsertError::MultipleMatches(matches)),
        }
    }

    /// Soft-deletes a record into the recycle bin and logs the deletion.
    pub fn delete(
        &mut self,
        object: Option<usize>,
        id_text: &str,
    ) -> Result<RecordId, RecordError> {
        let (object, id) = self.locate(object, id_text)?;
        let timestamp = self.timestamp;
        let user = self.context.user;
        let before = live_record(self.org, object, &id)
            .map_err(|e| e.with_id(id))?
            .clone();
        let schema = &self.org.object_at(object).schema;
        if !schema.deletable {
            return Err(RecordError::new(
                "DELETE_FAILED",
                format!("{} records cannot be deleted", schema.name),
                vec![],
            )
            .with_id(id));
        }
        let system = schema.system.clone();
        let entity = schema.name.clone();
        let mut record = before.clone();
        record.deleted_at = Some(timestamp);
        if let Some(i) = system.is_deleted {
            record.set(i, Value::Bool(true));
        }
        let stamp = self.stamp_for(&before, system.system_modstamp);
        for i in [system.last_modified_date, system.system_modstamp]
            .into_iter()
            .flatten()
        {
            record.set(i, Value::DateTime(stamp));
        }
        if let Some(i) = system.last_modified_by_id {
            record.set(i, Value::text(user.as_str()));
        }
        record.listing = self.listing_after(object, &before);
        self.org.object_at_mut(object).replace(record);
        self.undo.push(Undo::Replaced {
            object,
            before: Box::new(before),
        });
        if self.traced {
            self.org.delete_log.push(DeletedEntry {
                object: entity,
                id,
                deleted_date: timestamp,
            });
            self.undo.push(Undo::DeleteLogPushed);
        }
        self.pending.push(PendingEvent {
            object,
            record_id: id,
            change_type: ChangeType::Delete,
            fields: vec![],
        });
        // Master-detail: the details go to the recycle bin with their master, in this transaction.
        for (child, child_id) in self.details_of(object, &id, |record| !record.is_deleted()) {
            self.delete(Some(child), child_id.as_str())?;
        }
        Ok(id)
    }

    /// The detail records (of every object with a master-detail field pointing at `object`) whose master is
    /// `id` and that pass `keep`.
    fn details_of(
        &self,
        object: usize,
        id: &RecordId,
        keep: impl Fn(&Record) -> bool,
    ) -> Vec<(usize, RecordId)> {
        let master = &self.org.object_at(object).schema.name;
        let mut found = Vec::new();
        for (child, store) in self.org.objects().enumerate() {
            for (field, def) in store.schema.fields.iter().enumerate() {
                let points_here = def
                    .reference_to
                    .iter()
                    .any(|target| target.eq_ignore_ascii_case(master));
                if !def.is_master_detail() || !points_here {
                    continue;
                }
                found.extend(
                    store
                        .iter()
                        .filter(|record| {
                            record.get(field).as_text() == Some(id.as_str()) && keep(record)
                        })
                        .map(|record| (child, record.id)),
                );
            }
        }
        found
    }

    /// Recomputes the roll-up summary fields of every master whose details this transaction created, changed,
    /// moved, deleted or undeleted (and of masters it created). The master's audit fields stay and no change
    /// event is published for it, as in Salesforce.
    fn refresh_rollups(&mut self) {
        if self.org.rollups.is_empty() {
            return;
        }
        let mut targets: Vec<(usize, RecordId)> = Vec::new();
        let mut add = |target: (usize, RecordId)| {
            if !targets.contains(&target) {
                targets.push(target);
            }
        };
        for change in &self.pending {
            for (n, rollup) in self.org.rollups.list.iter().enumerate() {
                if rollup.master == change.object && change.change_type == ChangeType::Create {
                    add((n, change.record_id));
                }
                if rollup.child != change.object {
                    continue;
                }
                let current = self
                    .org
                    .object_at(change.object)
                    .get(&change.record_id)
                    .map(|record| record.get(rollup.relationship).clone());
                // The first undo step for the record holds its value before this transaction.
                let previous = self.undo.iter().find_map(|step| match step {
                    Undo::Replaced { object, before }
                    | Undo::Removed {
                        object,
                        record: before,
                    } if *object == change.object && before.id == change.record_id => {
                        Some(before.get(rollup.relationship).clone())
                    }
                    _ => None,
                });
                for master in [current, previous].into_iter().flatten() {
                    if let Some(text) = master.as_text() {
                        if let Ok((_, id)) = locate(self.org, Some(rollup.master), text) {
                            add((n, id));
                        }
                    }
                }
            }
        }
        for (n, id) in targets {
            let rollup = &self.org.rollups.list[n];
            let (master, field) = (rollup.master, rollup.field);
            let value = super::rollup::compute(self.org, rollup, &id);
            let Some(before) = self.org.object_at(master).get(&id) else {
                continue;
            };
            if before.get(field) == &value {
                continue;
            }
            let before = before.clone();
            let mut record = before.clone();
            record.set(field, value);
            self.org.object_at_mut(master).replace(record);
            self.undo.push(Undo::Replaced {
                object: master,
                before: Box::new(before),
            });
        }
    }

    /// Deletes a live record for good, bypassing the recycle bin (Bulk API `hardDelete`); logged in the delete
    /// log and the change log like a soft delete.
    pub fn hard_delete(
        &mut self,
        object: Option<usize>,
        id_text: &str,
    ) -> Result<RecordId, RecordError> {
        let (object, id) = self.locate(object, id_text)?;
        live_record(self.org, object, &id).map_err(|e| e.with_id(id))?;
        let schema = &self.org.object_at(object).schema;
        if !schema.deletable {
            return Err(RecordError::new(
                "DELETE_FAILED",
                format!("{} records cannot be deleted", schema.name),
                vec![],
            )
            .with_id(id));
        }
        let entity = schema.name.clone();
        let Some(record) = self.org.object_at_mut(object).remove(&id) else {
            return Err(RecordError::not_found().with_id(id));
        };
        self.undo.push(Undo::Removed {
            object,
            record: Box::new(record),
        });
        if self.traced {
            self.org.delete_log.push(DeletedEntry {
                object: entity,
                id,
                deleted_date: self.timestamp,
            });
            self.undo.push(Undo::DeleteLogPushed);
        }
        self.pending.push(PendingEvent {
            object,
            record_id: id,
            change_type: ChangeType::Delete,
            fields: vec![],
        });
        for (child, child_id) in self.details_of(object, &id, |_| true) {
            self.hard_delete(Some(child), child_id.as_str())?;
        }
        Ok(id)
    }

    /// Restores a record from the recycle bin.
    pub fn undelete(&mut self, id_text: &str) -> Result<RecordId, RecordError> {
        let (object, id) = self.locate(None, id_text)?;
        let user = self.context.user;
        let store = self.org.object_at(object);
        let before = match store.get(&id) {
            Some(record) if record.is_deleted() => record.clone(),
            Some(_) => {
                return Err(RecordError::new(
                    "UNDELETE_FAILED",
                    "Entity is not in the recycle bin",
                    vec![],
                )
                .with_id(id))
            }
            None => return Err(RecordError::not_found().with_id(id)),
        };
        let system = store.schema.system.clone();
        let deleted_at = before.deleted_at;
        let mut record = before.clone();
        record.deleted_at = None;
        if let Some(i) = system.is_deleted {
            record.set(i, Value::Bool(false));
        }
        check_unique(self.org, object, &record, None).map_err(|e| e.with_id(id))?;
        let stamp = self.stamp_for(&before, system.system_modstamp);
        for i in [system.last_modified_date, system.system_modstamp]
            .into_iter()
            .flatten()
        {
            record.set(i, Value::DateTime(stamp));
        }
        if let Some(i) = system.last_modified_by_id {
            record.set(i, Value::text(user.as_str()));
        }
        let fields = non_null_fields(&record);
        record.listing = self.listing_after(object, &before);
        self.org.object_at_mut(object).replace(record);
        self.undo.push(Undo::Replaced {
            object,
            before: Box::new(before),
        });
        // A silent undelete leaves getDeleted reporting the deletion it already reported.
        let logged = self.org.delete_log.iter().rposition(|entry| entry.id == id);
        if let Some(position) = logged.filter(|_| self.traced) {
            let entry = self.org.delete_log.remove(position);
            self.undo.push(Undo::DeleteLogRemoved { position, entry });
        }
        self.pending.push(PendingEvent {
            object,
            record_id: id,
            change_type: ChangeType::Undelete,
            fields,
        });
        // The details deleted with their master come back with it (those deleted before it stay in the bin);
        // the stamp of one transaction may move forward within it, hence `>=`.
        for (_, child_id) in self.details_of(object, &id, |record| {
            record.is_deleted() && record.deleted_at >= deleted_at
        }) {
            self.undelete(child_id.as_str())?;
        }
        Ok(id)
    }

    /// Makes every change permanent and appends them, in order, to the change log.
    pub fn commit(mut self) -> CommitInfo {
        self.refresh_rollups();
        self.finished = true;
        let pending = std::mem::take(&mut self.pending);
        let changes = pending.len();
        if pending.is_empty() || !self.log_changes {
            return CommitInfo {
                commit_timestamp: self.timestamp,
                first_seq: None,
                last_seq: None,
                changes: 0,
            };
        }
        let commit_number = self.org.change_log.next_commit_number();
        let transaction_key: Arc<str> =
            Arc::from(transaction_key(commit_number, self.timestamp).as_str());
        let api_version: Option<Arc<str>> = self.context.api_version.as_deref().map(Arc::from);
        let mut events = Vec::with_capacity(pending.len());
        for (position, change) in pending.into_iter().enumerate() {
            let store = self.org.object_at(change.object);
            let schema = &store.schema;
            let values = store
                .get(&change.record_id)
                .map(|record| {
                    change
                        .fields
                        .iter()
                        .map(|i| (schema.fields[*i].name.clone(), record.get(*i).clone()))
                        .collect()
                })
                .unwrap_or_default();
            // As in CDC, only UPDATE events name changed fields; CREATE/UNDELETE carry every value instead.
            let changed_fields = if change.change_type == ChangeType::Update {
                change
                    .fields
                    .iter()
                    .map(|i| schema.fields[*i].name.clone())
                    .collect()
            } else {
                Vec::new()
            };
            let entity = schema.name.clone();
            events.push(ChangeEvent {
                seq: self.org.change_log.next_seq(),
                transaction_key: transaction_key.clone(),
                sequence_in_transaction: position as u32 + 1,
                commit_number,
                entity,
                record_id: change.record_id,
                change_type: change.change_type,
                changed_fields,
                values,
                commit_timestamp: self.timestamp,
                commit_user: self.context.user,
                origin_client: self.context.origin_client.clone(),
                api: self.context.api,
                api_version: api_version.clone(),
            });
        }
        let first_seq = events.first().map(|e| e.seq);
        let last_seq = events.last().map(|e| e.seq);
        let now = self.org.clock.now_ms();
        self.org.change_log.append(events, now);
        CommitInfo {
            commit_timestamp: self.timestamp,
            first_seq,
            last_seq,
            changes,
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.rollback_to(Savepoint {
                undo_len: 0,
                pending_len: 0,
            });
        }
    }
}

/// A UUID-shaped transaction key derived from the commit number and time.
fn transaction_key(commit_number: u64, timestamp: i64) -> String {
    let a = commit_number.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (timestamp as u64);
    let b = (timestamp as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ commit_number;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `INVALID_TYPE_FOR_OPERATION` for objects the API cannot create records of (Organization, Profile).
fn not_createable(schema: &super::ObjectSchema) -> Result<(), RecordError> {
    if schema.createable {
        return Ok(());
    }
    Err(RecordError::new(
        "INVALID_TYPE_FOR_OPERATION",
        format!("entity type cannot be inserted: {}", schema.name),
        vec![],
    ))
}

fn non_null_fields(record: &Record) -> Vec<usize> {
    record
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .map(|(i, _)| i)
        .collect()
}

pub(crate) fn locate(
    org: &Org,
    object: Option<usize>,
    id_text: &str,
) -> Result<(usize, RecordId), RecordError> {
    let label = object
        .map(|o| org.object_at(o).schema.label.clone())
        .unwrap_or_else(|| "Record".to_string());
    let id = RecordId::parse(id_text).ok_or_else(|| RecordError::malformed_id(&label, id_text))?;
    let found = org.object_index_by_prefix(id.key_prefix());
    match (object, found) {
        (Some(expected), Some(actual)) if expected == actual => Ok((actual, id)),
        (None, Some(actual)) => Ok((actual, id)),
        _ => Err(RecordError::malformed_id(&label, id_text)),
    }
}

/// The live record `id` of `object`, or `NOT_FOUND` / `ENTITY_IS_DELETED`.
pub(crate) fn live_record<'o>(
    org: &'o Org,
    object: usize,
    id: &RecordId,
) -> Result<&'o Record, RecordError> {
    match org.object_at(object).get(id) {
        Some(record) if record.is_deleted() => Err(RecordError::entity_is_deleted()),
        Some(record) => Ok(record),
        None => Err(RecordError::not_found()),
    }
}

pub(crate) fn upsert_key_field(
    org: &Org,
    object: usize,
    field_name: &str,
) -> Result<usize, RecordError> {
    let schema = &org.object_at(object).schema;
    match schema.field_index(field_name) {
        Some(index) if index == schema.system.id || schema.fields[index].external_id => Ok(index),
        _ => Err(RecordError::not_found()),
    }
}

fn check_rules(org: &Org, object: usize, record: &Record) -> Result<(), RecordError> {
    match validation_rules::first_broken_rule(org, object, record) {
        Some(rule) => Err(RecordError::new(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            rule.error_message.clone(),
            rule.error_display_field.iter().cloned().collect(),
        )),
        None => Ok(()),
    }
}

/// `DUPLICATE_VALUE` when a unique field's value is held by another live record.
fn check_unique(
    org: &Org,
    object: usize,
    record: &Record,
    before: Option<&Record>,
) -> Result<(), RecordError> {
    let store = org.object_at(object);
    for (index, field) in store
        .schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.unique)
    {
        let value = record.get(index);
        if value.is_null()
            || before.is_some_and(|b| {
                store.index_key(index, b.get(index)) == store.index_key(index, value)
            })
        {
            continue;
        }
        if let Some(other) = store
            .find_by_key(index, value)
            .into_iter()
            .find(|other| *other != record.id)
        {
            return Err(RecordError::new(
                "DUPLICATE_VALUE",
                format!(
                    "duplicate value found: {} duplicates value on record with id: {other}",
                    field.name
                ),
                vec![field.name.to_string()],
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::ChangeType;

    fn context(org: &Org) -> WriteContext {
        WriteContext {
            user: org.users.admin,
            origin_client: Some("tester".into()),
            api: Some(ApiKind::Rest),
            api_version: Some("62.0".into()),
        }
    }

    fn body(value: serde_json::Value) -> Map<String, Json> {
        match value {
            Json::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn commit_appends_one_transaction_and_wakes_subscribers() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let mut changes = org.change_log.subscribe();
        let context = context(&org);
        let mut transaction = org.transaction(context);
        let a = transaction
            .create(account, &body(json!({"Name": "A"})))
            .expect("create");
        transaction
            .update(Some(account), a.as_str(), &body(json!({"Phone": "1"})))
            .expect("update");
        transaction.delete(None, a.as_str()).expect("delete");
        let info = transaction.commit();
        assert_eq!(info.changes, 3);
        assert!(changes.has_changed().expect("sender alive"));
        assert_eq!(*changes.borrow_and_update(), info.last_seq.expect("seq"));
        let events: Vec<_> = org.change_log.iter().collect();
        assert_eq!(
            events.iter().map(|e| e.change_type).collect::<Vec<_>>(),
            [ChangeType::Create, ChangeType::Update, ChangeType::Delete]
        );
        assert!(events
            .iter()
            .all(|e| e.transaction_key == events[0].transaction_key
                && e.origin_client.as_deref() == Some("tester")));
        assert_eq!(
            events[1]
                .changed_fields
                .iter()
                .map(|f| &**f)
                .collect::<Vec<_>>(),
            ["Phone", "LastModifiedDate"]
        );
        assert_eq!(org.delete_log.len(), 1);
        assert!(org
            .object_at(account)
            .get(&a)
            .expect("in recycle bin")
            .is_deleted());
    }

    #[test]
    fn dropping_a_transaction_rolls_everything_back() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let context = context(&org);
        let mut setup = org.transaction(context.clone());
        let kept = setup
            .create(account, &body(json!({"Name": "Kept"})))
            .expect("create");
        setup.commit();
        let seq_before = org.change_log.last_seq();
        {
            let mut transaction = org.transaction(context);
            transaction
                .create(account, &body(json!({"Name": "Gone"})))
                .expect("create");
            transaction
                .update(
                    Some(account),
                    kept.as_str(),
                    &body(json!({"Name": "Changed"})),
                )
                .expect("update");
            transaction.delete(None, kept.as_str()).expect("delete");
        }
        let store = org.object_at(account);
        assert_eq!(store.live_count(), 1);
        assert_eq!(store.total_count(), 1);
        let name = store.schema.field_index("Name").expect("Name");
        assert_eq!(
            store.get(&kept).expect("kept").get(name),
            &Value::text("Kept")
        );
        assert!(org.delete_log.is_empty());
        assert_eq!(org.change_log.last_seq(), seq_before);
    }

    #[test]
    fn hard_delete_skips_the_recycle_bin_and_rolls_back() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let context = context(&org);
        let mut setup = org.transaction(context.clone());
        let id = setup
            .create(account, &body(json!({"Name": "H"})))
            .expect("create");
        setup.commit();
        {
            let mut transaction = org.transaction(context.clone());
            transaction
                .hard_delete(Some(account), id.as_str())
                .expect("hard delete");
        }
        assert!(org.object_at(account).get(&id).is_some(), "rolled back");
        let mut transaction = org.transaction(context);
        transaction
            .hard_delete(None, id.as_str())
            .expect("hard delete");
        transaction.commit();
        assert!(org.object_at(account).get(&id).is_none());
        assert_eq!(org.delete_log.len(), 1);
        assert_eq!(
            org.change_log.iter().last().map(|e| e.change_type),
            Some(ChangeType::Delete)
        );
    }

    #[test]
    fn a_record_changed_again_in_its_millisecond_moves_forward_once_per_transaction() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let modstamp = |org: &Org, id: &RecordId| {
            let store = org.object_at(account);
            let index = store.schema.system.system_modstamp.expect("SystemModstamp");
            store
                .get(id)
                .expect("record")
                .get(index)
                .as_datetime_ms()
                .expect("stamp")
        };
        let context = context(&org);
        let mut transaction = org.transaction(context.clone());
        let first = transaction
            .create(account, &body(json!({"Name": "A"})))
            .expect("create");
        transaction.commit();
        let created = modstamp(&org, &first);
        // the next commit falls in the same millisecond (the clock cannot go back further)
        org.clock.offset_ms -= 60_000;
        let mut transaction = org.transaction(context);
        let second = transaction
            .create(account, &body(json!({"Name": "B"})))
            .expect("create");
        transaction
            .update(Some(account), first.as_str(), &body(json!({"Phone": "1"})))
            .expect("update");
        transaction
            .update(Some(account), first.as_str(), &body(json!({"Fax": "2"})))
            .expect("update");
        transaction.commit();
        assert_eq!(modstamp(&org, &first), created + 1);
        assert_eq!(modstamp(&org, &second), created);
        assert_eq!(org.clock.last_stamp_ms, created + 1);
    }

    #[test]
    fn silent_and_late_transactions_leave_no_trace_but_the_records() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let context = context(&org);
        let mut setup = org.transaction(context.clone());
        let kept = setup
            .create(account, &body(json!({"Name": "Kept"})))
            .expect("create");
        let gone = setup
            .create(account, &body(json!({"Name": "Gone"})))
            .expect("create");
        setup.commit();
        let created_at = org
            .object_at(account)
            .listed_stamp(org.object_at(account).get(&kept).expect("kept"));
        let seq = org.change_log.last_seq();
        org.clock.offset_ms += 60_000;

        let mut transaction = org.transaction(context.clone());
        transaction.silent();
        transaction
            .update(Some(account), kept.as_str(), &body(json!({"Phone": "1"})))
            .expect("update");
        transaction.delete(None, gone.as_str()).expect("delete");
        let unseen = transaction
            .create(account, &body(json!({"Name": "Unseen"})))
            .expect("create");
        transaction.commit();
        assert_eq!(org.change_log.last_seq(), seq);
        assert!(org.delete_log.is_empty());
        let store = org.object_at(account);
        let listed: Vec<RecordId> = store.iter_by_modstamp(0).map(|(_, r)| r.id).collect();
        assert!(
            !listed.contains(&unseen),
            "a silent create is listed nowhere"
        );
        let record = store.get(&kept).expect("kept");
        assert_eq!(store.listed_stamp(record), created_at, "still where it was");
        assert_ne!(
            record.get(store.schema.system.system_modstamp.expect("stamp")),
            &Value::DateTime(created_at.expect("listed")),
            "SystemModstamp moved"
        );
        assert!(store.get(&gone).expect("in recycle bin").is_deleted());

        // A late commit: exactly its stamp, the clock untouched; listed there once committed.
        let last_stamp = org.clock.last_stamp_ms;
        let late = last_stamp - 3_600_000;
        let mut transaction = org.transaction(context);
        transaction.commit_at(late);
        transaction.skip_change_log();
        transaction
            .update(Some(account), kept.as_str(), &body(json!({"Phone": "2"})))
            .expect("update");
        transaction.commit();
        assert_eq!(org.clock.last_stamp_ms, last_stamp);
        let store = org.object_at(account);
        let record = store.get(&kept).expect("kept");
        assert_eq!(store.listed_stamp(record), Some(late));
        assert_eq!(
            record.get(store.schema.system.system_modstamp.expect("stamp")),
            &Value::DateTime(late)
        );
        assert_eq!(org.change_log.last_seq(), seq);
    }

    #[test]
    fn modstamp_order_and_unique_index_follow_updates() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let context = context(&org);
        let mut ids = Vec::new();
        // transactions in one millisecond share a stamp: a millisecond apart, so the order is the
        // commits' order
        for name in ["A", "B", "C"] {
            org.clock.offset_ms += 1;
            let mut transaction = org.transaction(context.clone());
            ids.push(
                transaction
                    .create(account, &body(json!({"Name": name})))
                    .expect("create"),
            );
            transaction.commit();
        }
        org.clock.offset_ms += 1;
        let mut transaction = org.transaction(context);
        transaction
            .update(Some(account), ids[0].as_str(), &body(json!({"Phone": "9"})))
            .expect("update");
        transaction.commit();
        let order: Vec<RecordId> = org
            .object_at(account)
            .iter_by_modstamp(0)
            .map(|(_, r)| r.id)
            .collect();
        assert_eq!(order, [ids[1], ids[2], ids[0]]);
        let users = org.object("User").expect("User");
        let username = users.schema.field_index("Username").expect("Username");
        assert_eq!(
            users.find_by_key(username, &Value::text("ADMIN@X")),
            [org.users.admin]
        );
    }
}
