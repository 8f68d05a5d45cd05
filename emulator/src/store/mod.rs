//! The org store: object schemas, records, recycle bin, delete log, change log and the org clock.
//! Everything lives in one [`Org`] behind a lock held by the server; every write goes through a
//! [`Transaction`] that commits atomically to the change log.

pub mod builtin;
pub mod change_log;
pub mod convert;
mod derive;
pub mod errors;
pub mod ids;
pub mod object_store;
pub mod persist;
pub mod render;
pub mod rollup;
pub mod schema;
pub mod seed;
pub mod transaction;
pub mod validation_rules;
pub mod value;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::query::catalog::SoqlCatalog;

pub use change_log::{ApiKind, ChangeEvent, ChangeLog, ChangeType};
pub use errors::{RecordError, SchemaError};
pub use ids::RecordId;
pub use object_store::{Listing, ObjectStore, Record};
pub use schema::{FieldDef, FieldSpec, FieldType, ObjectSchema, ObjectSpec};
pub use transaction::{Transaction, UpsertError, UpsertOutcome, WriteContext};
pub use value::Value;

/// Records stay in the recycle bin, and deletions in the delete log, for 15 days.
pub const RECYCLE_BIN_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;

/// The org's clock: real time plus an offset that `POST /__emulator/clock` moves forward.
#[derive(Clone, Debug, Default)]
pub struct OrgClock {
    pub offset_ms: i64,
    /// The last commit timestamp handed out; commit timestamps never go backwards.
    pub last_stamp_ms: i64,
}

impl OrgClock {
    pub fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        real + self.offset_ms
    }

    /// A commit timestamp no earlier than every earlier one (ms resolution). Transactions in the same
    /// millisecond share it, as on Salesforce: forcing a strictly increasing stamp would run the
    /// org's clock ahead of real time under more than 1,000 commits a second.
    pub fn next_stamp(&mut self) -> i64 {
        let stamp = self.now_ms().max(self.last_stamp_ms);
        self.last_stamp_ms = stamp;
        stamp
    }
}

/// One entry of the delete log read by getDeleted.
#[derive(Clone, Debug)]
pub struct DeletedEntry {
    pub object: Arc<str>,
    pub id: RecordId,
    pub deleted_date: i64,
}

/// Who the org's built-in users are.
#[derive(Clone, Debug)]
pub struct OrgUsers {
    /// The user every OAuth flow logs in as.
    pub admin: RecordId,
    /// A second user, the default author of `POST /__emulator/records` writes.
    pub other: RecordId,
}

/// The whole org.
#[derive(Debug)]
pub struct Org {
    objects: Vec<ObjectStore>,
    by_name: HashMap<String, usize>,
    by_prefix: HashMap<String, usize>,
    pub clock: OrgClock,
    pub change_log: ChangeLog,
    pub delete_log: Vec<DeletedEntry>,
    pub org_id: RecordId,
    pub users: OrgUsers,
    pub admin_username: String,
    /// When the set of objects or fields last changed (org clock, ms): global describe's `If-Modified-Since`.
    pub schema_changed_ms: i64,
    /// The SOQL engine's metadata and compiled validation rules, rebuilt on every schema change.
    pub soql: SoqlCatalog,
    /// The parsed formulas of formula fields, rebuilt on every schema change.
    pub formulas: crate::formula::Formulas,
    /// The resolved roll-up summary fields, rebuilt on every schema change.
    pub rollups: rollup::Rollups,
}

/// The organization id an emulated org reports unless `--org-id` gives another.
pub fn default_org_id() -> RecordId {
    RecordId::generate("00D", 1)
}

impl Org {
    /// A fresh org with the default org id; `admin_username` is the login user.
    pub fn new(admin_username: &str) -> Result<Org, SchemaError> {
        Org::with_org_id(admin_username, default_org_id())
    }

    /// A fresh org with the standard objects, its Organization record, two profiles and two users.
    pub fn with_org_id(admin_username: &str, org_id: RecordId) -> Result<Org, SchemaError> {
        let mut org = Org {
            objects: Vec::new(),
            by_name: HashMap::new(),
            by_prefix: HashMap::new(),
            clock: OrgClock::default(),
            change_log: ChangeLog::default(),
            delete_log: Vec::new(),
            org_id,
            users: OrgUsers {
                admin: RecordId::generate("005", 1),
                other: RecordId::generate("005", 2),
            },
            admin_username: admin_username.to_string(),
            schema_changed_ms: 0,
            soql: SoqlCatalog::default(),
            formulas: crate::formula::Formulas::default(),
            rollups: rollup::Rollups::default(),
        };
        org.add_missing_standard_objects()?;
        Ok(org)
    }

    /// Defines the standard objects the org lacks (all of them when new; those added since a state file was
    /// written when restoring one), then creates the built-in records.
    pub(crate) fn add_missing_standard_objects(&mut self) -> Result<(), SchemaError> {
        for schema in builtin::standard_objects()? {
            if self.object(&schema.name).is_none() {
                self.add_object_schema(schema)?;
            }
        }
        self.create_builtin_records();
        Ok(())
    }

    /// The built-in records: profiles and users when missing, and the Organization record, always rebuilt so it
    /// carries this run's org id.
    fn create_builtin_records(&mut self) {
        let admin_profile = RecordId::generate("00e", 1);
        let standard_profile = RecordId::generate("00e", 2);
        for (id, name) in [
            (admin_profile, "System Administrator"),
            (standard_profile, "Standard User"),
        ] {
            self.insert_builtin(
                "Profile",
                id,
                vec![
                    ("Name", Value::text(name)),
                    ("UserType", Value::text("Standard")),
                ],
            );
        }
        let users = [
            (
                self.users.admin,
                self.admin_username.clone(),
                "Admin",
                "Emulator",
                "admin",
                admin_profile,
            ),
            (
                self.users.other,
                "other@sfsync.emulator".to_string(),
                "Other",
                "User",
                "other",
                standard_profile,
            ),
        ];
        for (id, username, first, last, alias, profile) in users {
            let mut values = vec![
                ("Username", Value::text(username.as_str())),
                ("Email", Value::text(format!("{alias}@sfsync.emulator"))),
                ("FirstName", Value::text(first)),
                ("LastName", Value::text(last)),
                ("Name", Value::text(format!("{first} {last}"))),
                ("Alias", Value::text(alias)),
                ("ProfileId", Value::text(profile.as_str())),
                ("IsActive", Value::Bool(true)),
            ];
            for (key, value) in [
                ("TimeZoneSidKey", "GMT"),
                ("LocaleSidKey", "en_US"),
                ("EmailEncodingKey", "UTF-8"),
                ("LanguageLocaleKey", "en_US"),
                ("UserType", "Standard"),
            ] {
                values.push((key, Value::text(value)));
            }
            self.insert_builtin("User", id, values);
        }
        if let Some(index) = self.object_index("Organization") {
            let stale: Vec<RecordId> = self.objects[index].iter().map(|r| r.id).collect();
            for id in stale {
                self.objects[index].remove(&id);
            }
        }
        let mut organization = vec![("FiscalYearStartMonth", Value::Int(1))];
        for (key, value) in [
            ("Name", "sfsync emulator"),
            ("OrganizationType", "Developer Edition"),
            ("InstanceName", "EMU1"),
            ("Country", "US"),
            ("DefaultLocaleSidKey", "en_US"),
            ("TimeZoneSidKey", "GMT"),
            ("LanguageLocaleKey", "en_US"),
            ("DefaultAccountAccess", "Edit"),
            ("DefaultContactAccess", "ControlledByParent"),
            ("DefaultOpportunityAccess", "Edit"),
            ("DefaultLeadAccess", "ReadEditTransfer"),
            ("DefaultCaseAccess", "ReadEditTransfer"),
            ("UiSkin", "Theme3"),
            ("SignupCountryIsoCode", "US"),
        ] {
            organization.push((key, Value::text(value)));
        }
        self.insert_builtin("Organization", self.org_id, organization);
    }

    /// Inserts a built-in record unless one with its id exists: the given values, `false` for every other
    /// boolean, and audit fields stamped now by the admin user.
    fn insert_builtin(&mut self, object: &str, id: RecordId, values: Vec<(&str, Value)>) {
        let Some(index) = self.object_index(object) else {
            return;
        };
        let stamp = self.clock.next_stamp();
        let admin = self.users.admin;
        let store = &mut self.objects[index];
        store.id_serial = store.id_serial.max(2);
        if store.get(&id).is_some() {
            return;
        }
        let schema = &store.schema;
        let mut record = Record {
            id,
            values: vec![Value::Null; schema.fields.len()],
            deleted_at: None,
            listing: Listing::AtModstamp,
        };
        for (position, field) in schema.fields.iter().enumerate() {
            if field.field_type == FieldType::Boolean {
                record.set(position, Value::Bool(false));
            }
        }
        let mut set = |name: &str, value: Value| {
            if let Some(i) = schema.field_index(name) {
                record.set(i, value);
            }
        };
        set("Id", Value::text(id.as_str()));
        for (name, value) in values {
            set(name, value);
        }
        for key in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            set(key, Value::DateTime(stamp));
        }
        for key in ["CreatedById", "LastModifiedById"] {
            set(key, Value::text(admin.as_str()));
        }
        store.insert(record);
    }

    /// Registers a schema (standard or custom); the key prefix must be unused.
    pub fn add_object_schema(&mut self, schema: ObjectSchema) -> Result<usize, SchemaError> {
        let lower = schema.name.to_ascii_lowercase();
        if self.by_name.contains_key(&lower) {
            return Err(SchemaError::ObjectExists(schema.name.to_string()));
        }
        if self.by_prefix.contains_key(&schema.key_prefix) {
            return Err(SchemaError::BadKeyPrefix(schema.key_prefix.clone()));
        }
        let index = self.objects.len();
        self.by_prefix.insert(schema.key_prefix.clone(), index);
        self.by_name.insert(lower, index);
        self.objects.push(ObjectStore::new(schema));
        self.schema_changed_ms = self.clock.now_ms();
        self.rebuild_soql_catalog();
        Ok(index)
    }

    /// The next free custom key prefix: a00, a01, ... a0z, a10, ...
    pub fn next_custom_prefix(&self) -> String {
        const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..62 * 62)
            .map(|n| format!("a{}{}", BASE62[n / 62] as char, BASE62[n % 62] as char))
            .find(|prefix| !self.by_prefix.contains_key(prefix))
            .unwrap_or_else(|| "zzz".to_string())
    }

    /// Forgets every object (used before restoring a state file).
    pub(crate) fn clear_objects(&mut self) {
        self.objects.clear();
        self.by_name.clear();
        self.by_prefix.clear();
        self.rebuild_soql_catalog();
    }

    /// Rebuilds the SOQL metadata and compiled validation rules after any schema change.
    fn rebuild_soql_catalog(&mut self) {
        let generation = self.soql.generation() + 1;
        self.soql = SoqlCatalog::build(self.objects.iter().map(|store| &store.schema), generation);
        self.formulas =
            crate::formula::Formulas::build(self.objects.iter().map(|store| &store.schema));
        self.rollups =
            rollup::Rollups::build(self.objects.iter().map(|store| &store.schema), &self.soql);
    }

    /// Case-insensitive object lookup.
    pub fn object_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn object(&self, name: &str) -> Option<&ObjectStore> {
        self.object_index(name).map(|i| &self.objects[i])
    }

    pub fn object_at(&self, index: usize) -> &ObjectStore {
        &self.objects[index]
    }

    pub(crate) fn object_at_mut(&mut self, index: usize) -> &mut ObjectStore {
        &mut self.objects[index]
    }

    pub fn object_index_by_prefix(&self, prefix: &str) -> Option<usize> {
        self.by_prefix.get(prefix).copied()
    }

    pub fn object_by_prefix(&self, prefix: &str) -> Option<&ObjectStore> {
        self.object_index_by_prefix(prefix)
            .map(|i| &self.objects[i])
    }

    /// Every object, in definition order.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectStore> {
        self.objects.iter()
    }

    /// Finds any record (live or deleted) by id, whatever its object.
    pub fn find_record(&self, id: &RecordId) -> Option<(&ObjectStore, &Record)> {
        let object = self.object_by_prefix(id.key_prefix())?;
        object.get(id).map(|record| (object, record))
    }

    /// Starts a write transaction; drop it without [`Transaction::commit`] to roll back.
    pub fn transaction(&mut self, context: WriteContext) -> Transaction<'_> {
        Transaction::begin(self, context)
    }

    /// Empties the org: every record except the built-in users, the recycle bin, the delete log and the retained
    /// change log (sequence numbers keep increasing).
    pub fn reset(&mut self) {
        for store in &mut self.objects {
            store.clear();
        }
        self.delete_log.clear();
        self.change_log.clear();
        self.create_builtin_records();
    }

    /// Hard-deletes every record in the recycle bin; returns how many.
    pub fn purge_recycle_bin(&mut self) -> usize {
        let mut purged = 0;
        for store in &mut self.objects {
            let deleted: Vec<RecordId> = store
                .iter()
                .filter(|r| r.is_deleted())
                .map(|r| r.id)
                .collect();
            for id in deleted {
                store.remove(&id);
                purged += 1;
            }
        }
        purged
    }

    /// Applies the 15-day retention of the recycle bin and the delete log at the current org time.
    pub fn expire_retention(&mut self) {
        let cutoff = self.clock.now_ms() - RECYCLE_BIN_RETENTION_MS;
        for store in &mut self.objects {
            let expired: Vec<RecordId> = store
                .iter()
                .filter(|r| r.deleted_at.is_some_and(|at| at < cutoff))
                .map(|r| r.id)
                .collect();
            for id in expired {
                store.remove(&id);
            }
        }
        self.delete_log.retain(|entry| entry.deleted_date >= cutoff);
    }

    /// Moves the org clock forward and applies retention windows.
    pub fn advance_clock(&mut self, seconds: i64) {
        self.clock.offset_ms += seconds * 1000;
        self.expire_retention();
    }

    /// Adds a field to an object at run time (schema drift). Existing records read null for it.
    pub fn add_field(&mut self, object: &str, spec: FieldSpec) -> Result<(), SchemaError> {
        let index = self
            .object_index(object)
            .ok_or_else(|| SchemaError::UnknownObject(object.to_string()))?;
        let def = spec.into_def()?;
        self.check_reference_targets(std::slice::from_ref(&def), object)?;
        if crate::formula::is_formula(&def) {
            let mut candidate = self.objects[index].schema.clone();
            candidate.fields.push(def.clone());
            candidate.reindex()?;
            crate::formula::check_field(&def, &candidate, &|name| {
                self.object(name).map(|store| &store.schema)
            })?;
        }
        if def.rollup.is_some() {
            let mut candidate = self.objects[index].schema.clone();
            candidate.fields.push(def.clone());
            candidate.reindex()?;
            rollup::check(&def, &candidate, self)?;
        }
        let store = &mut self.objects[index];
        store.schema.fields.push(def);
        if let Err(error) = store.schema.reindex() {
            store.schema.fields.pop();
            store.schema.reindex()?;
            return Err(error);
        }
        store.rebuild_key_indexes();
        self.schema_changed_ms = self.clock.now_ms();
        self.rebuild_soql_catalog();
        Ok(())
    }

    /// Removes a field and its values (schema drift). System fields cannot be removed.
    pub fn remove_field(&mut self, object: &str, field: &str) -> Result<(), SchemaError> {
        let index = self
            .object_index(object)
            .ok_or_else(|| SchemaError::UnknownObject(object.to_string()))?;
        let store = &mut self.objects[index];
        let position =
            store
                .schema
                .field_index(field)
                .ok_or_else(|| SchemaError::UnknownField {
                    object: store.schema.name.to_string(),
                    field: field.to_string(),
                })?;
        let system = &store.schema.system;
        let system_positions = [
            Some(system.id),
            system.is_deleted,
            system.created_date,
            system.created_by_id,
            system.last_modified_date,
            system.last_modified_by_id,
            system.system_modstamp,
            system.owner_id,
        ];
        if system_positions.contains(&Some(position)) {
            return Err(SchemaError::SystemField(field.to_string()));
        }
        store.schema.fields.remove(position);
        store.schema.reindex()?;
        store.drop_column(position);
        store.rebuild_key_indexes();
        self.schema_changed_ms = self.clock.now_ms();
        self.rebuild_soql_catalog();
        Ok(())
    }

    /// Every reference field must point at objects that exist (except the polymorphic `Group`).
    pub fn check_reference_targets(
        &self,
        fields: &[FieldDef],
        defining: &str,
    ) -> Result<(), SchemaError> {
        for field in fields
            .iter()
            .filter(|f| f.field_type == FieldType::Reference)
        {
            for target in &field.reference_to {
                if target != "Group"
                    && !target.eq_ignore_ascii_case(defining)
                    && self.object_index(target).is_none()
                {
                    return Err(SchemaError::UnknownReferenceTarget {
                        field: field.name.to_string(),
                        target: target.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Defines a custom object from its describe-format spec; returns its index.
    pub fn define_object(&mut self, spec: ObjectSpec) -> Result<usize, SchemaError> {
        let schema = schema_from_spec(self, spec)?;
        self.add_object_schema(schema)
    }
}

/// Builds a custom object's schema: adds the system fields it lacks and checks rules and references.
pub fn schema_from_spec(org: &Org, spec: ObjectSpec) -> Result<ObjectSchema, SchemaError> {
    if !spec.name.ends_with("__c") {
        return Err(SchemaError::NotCustomName(spec.name));
    }
    let key_prefix = match spec.key_prefix {
        Some(prefix) if prefix.len() == 3 && prefix.chars().all(|c| c.is_ascii_alphanumeric()) => {
            prefix
        }
        Some(prefix) => return Err(SchemaError::BadKeyPrefix(prefix)),
        None => org.next_custom_prefix(),
    };
    let mut fields = Vec::new();
    let given: Vec<String> = spec
        .fields
        .iter()
        .map(|f| f.name.to_ascii_lowercase())
        .collect();
    let has = |name: &str| given.contains(&name.to_ascii_lowercase());
    let system = |name: &str, json: serde_json::Value| -> Result<FieldDef, SchemaError> {
        let mut spec: FieldSpec =
            serde_json::from_value(json).map_err(|source| SchemaError::ObjectFileJson {
                path: format!("built-in field {name}"),
                source,
            })?;
        spec.custom = Some(false);
        spec.into_def()
    };
    use serde_json::json;
    let audit_ref = |name: &str, rel: &str, label: &str| {
        json!({"name": name, "type": "reference", "referenceTo": ["User"], "relationshipName": rel, "label": label,
               "createable": false, "updateable": false, "nillable": false, "defaultedOnCreate": true})
    };
    let audit_date = |name: &str, label: &str| {
        json!({"name": name, "type": "datetime", "label": label, "createable": false, "updateable": false,
               "nillable": false, "defaultedOnCreate": true})
    };
    if !has("Id") {
        fields.push(system(
            "Id",
            json!({"name": "Id", "type": "id", "label": "Record ID"}),
        )?);
    }
    if !has("IsDeleted") {
        fields.push(system(
            "IsDeleted",
            json!({"name": "IsDeleted", "type": "boolean", "label": "Deleted", "createable": false, "updateable": false}),
        )?);
    }
    if !has("Name") {
        fields.push(system(
            "Name",
            json!({"name": "Name", "type": "string", "length": 80, "label": format!("{} Name", schema::label_from_name(&spec.name)),
                   "nameField": true, "idLookup": true}),
        )?);
    }
    if spec.has_owner.unwrap_or(true) && !has("OwnerId") {
        fields.push(system(
            "OwnerId",
            json!({"name": "OwnerId", "type": "reference", "referenceTo": ["Group", "User"], "relationshipName": "Owner",
                   "label": "Owner ID", "nillable": false, "defaultedOnCreate": true, "namePointing": true}),
        )?);
    }
    for (name, json) in [
        ("CreatedDate", audit_date("CreatedDate", "Created Date")),
        (
            "CreatedById",
            audit_ref("CreatedById", "CreatedBy", "Created By ID"),
        ),
        (
            "LastModifiedDate",
            audit_date("LastModifiedDate", "Last Modified Date"),
        ),
        (
            "LastModifiedById",
            audit_ref("LastModifiedById", "LastModifiedBy", "Last Modified By ID"),
        ),
        (
            "SystemModstamp",
            audit_date("SystemModstamp", "System Modstamp"),
        ),
    ] {
        if !has(name) {
            fields.push(system(name, json)?);
        }
    }
    let custom_fields = spec
        .fields
        .into_iter()
        .map(FieldSpec::into_def)
        .collect::<Result<Vec<_>, _>>()?;
    org.check_reference_targets(&custom_fields, &spec.name)?;
    // Custom fields go after Id/IsDeleted/Name/OwnerId and before the audit fields, as a real describe lists them.
    let audit_start = fields.len().saturating_sub(5);
    let tail = fields.split_off(audit_start);
    fields.extend(custom_fields);
    fields.extend(tail);
    let label = spec
        .label
        .unwrap_or_else(|| schema::label_from_name(&spec.name));
    let label_plural = spec.label_plural.unwrap_or_else(|| format!("{label}s"));
    let mut schema = ObjectSchema::new(
        &spec.name,
        label,
        label_plural,
        key_prefix,
        spec.custom.unwrap_or(true),
        fields,
        spec.validation_rules,
    )?;
    schema.deletable = spec.deletable.unwrap_or(true);
    for field in &schema.fields {
        crate::formula::check_field(field, &schema, &|name| {
            org.object(name).map(|store| &store.schema)
        })?;
    }
    for field in &schema.fields {
        rollup::check(field, &schema, org)?;
    }
    for rule in &schema.validation_rules {
        validation_rules::check_condition(&rule.condition, &schema, org).map_err(|e| {
            SchemaError::BadValidationRule {
                rule: rule.name.clone(),
                reason: e.to_string(),
            }
        })?;
    }
    Ok(schema)
}

/// Loads every `*.json` object file of a directory (sorted by name, so key prefixes are stable).
pub fn load_object_dir(org: &mut Org, dir: &std::path::Path) -> Result<Vec<String>, SchemaError> {
    let io_error = |source| SchemaError::ObjectFile {
        path: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut specs = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::ObjectFile {
            path: shown.clone(),
            source,
        })?;
        let spec: ObjectSpec =
            serde_json::from_str(&text).map_err(|source| SchemaError::ObjectFileJson {
                path: shown,
                source,
            })?;
        specs.push(spec);
    }
    // Objects may reference each other: define in passes until nothing more can be defined.
    let mut loaded = Vec::new();
    while !specs.is_empty() {
        let before = specs.len();
        let mut last_error = None;
        let mut pending = Vec::new();
        for spec in specs {
            if org.object(&spec.name).is_some() {
                continue;
            }
            let name = spec.name.clone();
            match schema_from_spec(org, spec.clone()) {
                Ok(schema) => {
                    org.add_object_schema(schema)?;
                    loaded.push(name);
                }
                Err(error @ SchemaError::UnknownReferenceTarget { .. }) => {
                    last_error = Some(error);
                    pending.push(spec);
                }
                Err(error) => return Err(error),
            }
        }
        if pending.len() == before {
            if let Some(error) = last_error {
                return Err(error);
            }
        }
        specs = pending;
    }
    Ok(loaded)
}
