//! The `--state` file: the whole org (schemas, records, recycle bin, delete log, change log, counters) as JSON.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use thiserror::Error;

use super::change_log::{ApiKind, ChangeEvent, ChangeLog, ChangeType};
use super::ids::RecordId;
use super::object_store::{Listing, ObjectStore, Record};
use super::schema::{FieldDef, FieldSpec, ObjectSchema, ValidationRuleSpec};
use super::value::{parse_date, Value};
use super::{DeletedEntry, Org, OrgClock, SchemaError};

#[derive(Debug, Error)]
pub enum PersistError {
    #[error("reading state file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing state file {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("state file has a bad schema: {0}")]
    Schema(#[from] SchemaError),
    #[error("state file has a bad record id '{0}'")]
    BadId(String),
    #[error("state file has a bad value {0}")]
    BadValue(String),
}

const FORMAT_VERSION: u32 = 1;

fn createable_by_default() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    format: u32,
    admin_username: String,
    clock_offset_ms: i64,
    last_stamp_ms: i64,
    last_seq: u64,
    last_commit_number: u64,
    objects: Vec<ObjectSnapshot>,
    delete_log: Vec<(String, String, i64)>,
    change_log: Vec<EventSnapshot>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectSnapshot {
    name: String,
    label: String,
    label_plural: String,
    key_prefix: String,
    custom: bool,
    /// Absent from state files written before objects could be read-only.
    #[serde(default = "createable_by_default")]
    createable: bool,
    deletable: bool,
    /// Field definitions in describe format (every key).
    fields: Vec<Json>,
    validation_rules: Vec<ValidationRuleSpec>,
    id_serial: u64,
    auto_number: u64,
    /// `[id, deletedAt|null, [values in field order]]`
    records: Vec<(String, Option<i64>, Vec<Json>)>,
    /// `[id, stamp|null]` of the records getUpdated lists elsewhere than at their SystemModstamp (silent
    /// admin writes): at that stamp, or nowhere for null. Absent when none (and from older state files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    listings: Vec<(String, Option<i64>)>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventSnapshot {
    seq: u64,
    transaction_key: String,
    sequence_in_transaction: u32,
    commit_number: u64,
    entity: String,
    record_id: String,
    change_type: ChangeType,
    values: Vec<(String, Json)>,
    changed_fields: Vec<String>,
    commit_timestamp: i64,
    commit_user: String,
    origin_client: Option<String>,
    api: Option<ApiKind>,
    #[serde(default)]
    api_version: Option<String>,
}

/// Type-independent exact encoding of one value.
fn encode(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Decimal(d) => json!({"n": d.to_string()}),
        Value::Text(t) => Json::String(t.to_string()),
        Value::Date(d) => json!({"d": super::value::format_date(*d)}),
        Value::DateTime(ms) => json!({"t": ms}),
        Value::Time(ms) => json!({"h": ms}),
    }
}

fn decode(json: &Json) -> Result<Value, PersistError> {
    let bad = || PersistError::BadValue(json.to_string());
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Int(n.as_i64().ok_or_else(bad)?),
        Json::String(s) => Value::text(s.as_str()),
        Json::Object(map) => {
            if let Some(n) = map.get("n").and_then(Json::as_str) {
                Value::Decimal(n.parse().map_err(|_| bad())?)
            } else if let Some(d) = map.get("d").and_then(Json::as_str) {
                Value::Date(parse_date(d).ok_or_else(bad)?)
            } else if let Some(t) = map.get("t").and_then(Json::as_i64) {
                Value::DateTime(t)
            } else if let Some(h) = map.get("h").and_then(Json::as_u64) {
                Value::Time(h as u32)
            } else {
                return Err(bad());
            }
        }
        Json::Array(_) => return Err(bad()),
    })
}

fn parse_id(text: &str) -> Result<RecordId, PersistError> {
    RecordId::parse(text).ok_or_else(|| PersistError::BadId(text.to_string()))
}

/// Writes the org to `path` atomically (a temporary file, then a rename).
pub fn save(org: &Org, path: &Path) -> Result<(), PersistError> {
    let snapshot = Snapshot {
        format: FORMAT_VERSION,
        admin_username: org.admin_username.clone(),
        clock_offset_ms: org.clock.offset_ms,
        last_stamp_ms: org.clock.last_stamp_ms,
        last_seq: org.change_log.last_seq(),
        last_commit_number: org.change_log.last_commit_number(),
        objects: org
            .objects()
            .map(|store| ObjectSnapshot {
                name: store.schema.name.to_string(),
                label: store.schema.label.clone(),
                label_plural: store.schema.label_plural.clone(),
                key_prefix: store.schema.key_prefix.clone(),
                custom: store.schema.custom,
                createable: store.schema.createable,
                deletable: store.schema.deletable,
                fields: store
                    .schema
                    .fields
                    .iter()
                    .map(|f| {
                        let mut json = serde_json::to_value(f).unwrap_or(Json::Null);
                        // The roll-up definition is not a describe key: saved beside them.
                        if let (Some(rollup), Json::Object(map)) = (&f.rollup, &mut json) {
                            map.insert(
                                "rollup".into(),
                                serde_json::to_value(rollup).unwrap_or(Json::Null),
                            );
                        }
                        json
                    })
                    .collect(),
                validation_rules: store.schema.validation_rules.clone(),
                id_serial: store.id_serial,
                auto_number: store.auto_number,
                records: store
                    .iter()
                    .map(|r| {
                        let values = (0..store.schema.fields.len())
                            .map(|i| encode(r.get(i)))
                            .collect();
                        (r.id.to_string(), r.deleted_at, values)
                    })
                    .collect(),
                listings: store
                    .iter()
                    .filter_map(|r| match r.listing {
                        Listing::AtModstamp => None,
                        Listing::At(stamp) => Some((r.id.to_string(), Some(stamp))),
                        Listing::Hidden => Some((r.id.to_string(), None)),
                    })
                    .collect(),
            })
            .collect(),
        delete_log: org
            .delete_log
            .iter()
            .map(|e| (e.object.to_string(), e.id.to_string(), e.deleted_date))
            .collect(),
        change_log: org
            .change_log
            .iter()
            .map(|e| EventSnapshot {
                seq: e.seq,
                transaction_key: e.transaction_key.to_string(),
                sequence_in_transaction: e.sequence_in_transaction,
                commit_number: e.commit_number,
                entity: e.entity.to_string(),
                record_id: e.record_id.to_string(),
                change_type: e.change_type,
                values: e
                    .values
                    .iter()
                    .map(|(name, value)| (name.to_string(), encode(value)))
                    .collect(),
                changed_fields: e.changed_fields.iter().map(|f| f.to_string()).collect(),
                commit_timestamp: e.commit_timestamp,
                commit_user: e.commit_user.to_string(),
                origin_client: e.origin_client.clone(),
                api: e.api,
                api_version: e.api_version.as_deref().map(str::to_string),
            })
            .collect(),
    };
    let shown = path.display().to_string();
    let temporary = path.with_extension("tmp");
    let file = std::fs::File::create(&temporary).map_err(|source| PersistError::Write {
        path: shown.clone(),
        source,
    })?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut writer, &snapshot).map_err(|source| PersistError::Json {
        path: shown.clone(),
        source,
    })?;
    use std::io::Write;
    writer.flush().map_err(|source| PersistError::Write {
        path: shown.clone(),
        source,
    })?;
    drop(writer);
    std::fs::rename(&temporary, path).map_err(|source| PersistError::Write {
        path: shown,
        source,
    })
}

/// Reads an org saved by [`save`]; `org_id` is this run's (`--org-id`), whatever the file was saved with.
pub fn load(path: &Path, org_id: RecordId) -> Result<Org, PersistError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| PersistError::Read {
        path: shown.clone(),
        source,
    })?;
    let snapshot: Snapshot =
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|source| {
            PersistError::Json {
                path: shown.clone(),
                source,
            }
        })?;
    let mut org = Org::with_org_id(&snapshot.admin_username, org_id)?;
    // Replace the built-in objects with the saved ones (their schemas may have drifted).
    org.clear_objects();
    for saved in snapshot.objects {
        let fields = saved
            .fields
            .into_iter()
            .map(|json| {
                let spec: FieldSpec =
                    serde_json::from_value(json).map_err(|source| PersistError::Json {
                        path: shown.clone(),
                        source,
                    })?;
                Ok(spec.into_def()?)
            })
            .collect::<Result<Vec<FieldDef>, PersistError>>()?;
        let mut schema = ObjectSchema::new(
            &saved.name,
            saved.label,
            saved.label_plural,
            saved.key_prefix,
            saved.custom,
            fields,
            saved.validation_rules,
        )?;
        schema.createable = saved.createable;
        schema.deletable = saved.deletable;
        let index = org.add_object_schema(schema)?;
        let store: &mut ObjectStore = org.object_at_mut(index);
        store.id_serial = saved.id_serial;
        store.auto_number = saved.auto_number;
        let mut listings = HashMap::new();
        for (id, stamp) in saved.listings {
            listings.insert(parse_id(&id)?, stamp.map_or(Listing::Hidden, Listing::At));
        }
        for (id, deleted_at, values) in saved.records {
            let values = values.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            let id = parse_id(&id)?;
            store.insert(Record {
                id,
                values,
                deleted_at,
                listing: listings.get(&id).copied().unwrap_or_default(),
            });
        }
        store.rebuild_key_indexes();
    }
    org.clock = OrgClock {
        offset_ms: snapshot.clock_offset_ms,
        last_stamp_ms: snapshot.last_stamp_ms,
    };
    org.delete_log = snapshot
        .delete_log
        .into_iter()
        .map(|(object, id, deleted_date)| {
            Ok(DeletedEntry {
                object: Arc::from(object.as_str()),
                id: parse_id(&id)?,
                deleted_date,
            })
        })
        .collect::<Result<_, PersistError>>()?;
    let mut change_log = ChangeLog::new(snapshot.last_seq, snapshot.last_commit_number);
    let events = snapshot
        .change_log
        .into_iter()
        .map(|e| {
            Ok(ChangeEvent {
                seq: e.seq,
                transaction_key: Arc::from(e.transaction_key.as_str()),
                sequence_in_transaction: e.sequence_in_transaction,
                commit_number: e.commit_number,
                entity: Arc::from(e.entity.as_str()),
                record_id: parse_id(&e.record_id)?,
                change_type: e.change_type,
                values: e
                    .values
                    .iter()
                    .map(|(name, value)| Ok((Arc::from(name.as_str()), decode(value)?)))
                    .collect::<Result<_, PersistError>>()?,
                changed_fields: e
                    .changed_fields
                    .iter()
                    .map(|f| Arc::from(f.as_str()))
                    .collect(),
                commit_timestamp: e.commit_timestamp,
                commit_user: parse_id(&e.commit_user)?,
                origin_client: e.origin_client,
                api: e.api,
                api_version: e.api_version.as_deref().map(Arc::from),
            })
        })
        .collect::<Result<Vec<_>, PersistError>>()?;
    change_log.restore(events);
    org.change_log = change_log;
    org.add_missing_standard_objects()?;
    Ok(org)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::store::WriteContext;

    #[test]
    fn silent_listings_survive_a_state_file() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let context = WriteContext {
            user: org.users.admin,
            origin_client: None,
            api: None,
            api_version: None,
        };
        let mut name = Map::new();
        name.insert("Name".into(), json!("A"));
        let mut transaction = org.transaction(context.clone());
        let listed = transaction.create(account, &name).expect("create");
        transaction.commit();
        org.clock.offset_ms += 60_000;
        let mut transaction = org.transaction(context);
        transaction.silent();
        let hidden = transaction.create(account, &name).expect("create");
        transaction
            .update(Some(account), listed.as_str(), &name)
            .expect("update");
        transaction.commit();
        let listing = |org: &Org, id| org.object_at(account).get(&id).expect("record").listing;
        let path = std::env::temp_dir().join(format!(
            "sfsync-emulator-listings-{}.json",
            std::process::id()
        ));
        save(&org, &path).expect("saves");
        let loaded = load(&path, org.org_id).expect("loads");
        let _ = std::fs::remove_file(&path);
        assert_eq!(listing(&loaded, hidden), Listing::Hidden);
        assert!(matches!(listing(&loaded, listed), Listing::At(_)));
        assert_eq!(listing(&loaded, listed), listing(&org, listed));
    }
}
