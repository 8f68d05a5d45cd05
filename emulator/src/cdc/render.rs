//! Renders change-log entries and gap events as CDC messages over CometD (Change Data Capture Developer Guide: change event message/Change Data Capture Developer Guide: ChangeEventHeader fields): payload fields with compound
//! fields nested (`BillingAddress: {Street, City, ...}`, person `Name: {FirstName, LastName, ...}`), the
//! `ChangeEventHeader`, a stable schema id per object schema, and `event.replayId`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use super::gaps::{GapEvent, GapType, EMPTY_RECORD_ID};
use crate::http::context::MAX_VERSION;
use crate::store::value::format_datetime_z;
use crate::store::{ChangeEvent, FieldType, ObjectSchema, Value};

/// Where a stored field goes in a change event payload.
#[derive(Clone, Debug)]
enum Placement {
    TopLevel,
    /// A component of a compound field: `BillingCity` → `BillingAddress.City`.
    Nested {
        compound: Arc<str>,
        key: Arc<str>,
    },
    /// Not part of change events (`Id`, `IsDeleted`, `SystemModstamp`, formulas, the person `Name` text).
    Omitted,
}

#[derive(Clone, Debug)]
struct FieldLayout {
    field_type: FieldType,
    scale: u32,
    placement: Placement,
}

/// How one object's fields appear in its change events.
#[derive(Clone, Debug)]
pub struct EntityLayout {
    pub schema_id: String,
    fields: HashMap<Arc<str>, FieldLayout>,
}

/// Fields never carried by change events.
const OMITTED_FIELDS: [&str; 3] = ["Id", "IsDeleted", "SystemModstamp"];
/// The components of a person name compound (Contact, Lead, User), in payload order.
const PERSON_NAME_PARTS: [&str; 5] = [
    "Salutation",
    "FirstName",
    "MiddleName",
    "LastName",
    "Suffix",
];
/// Audit fields Salesforce lists after the fields a caller changed (as the documented example shows).
const AUDIT_FIELDS: [&str; 2] = ["LastModifiedDate", "LastModifiedById"];

impl EntityLayout {
    pub fn of(schema: &ObjectSchema) -> EntityLayout {
        let person_name = schema.field("FirstName").is_some()
            && schema.field("LastName").is_some()
            && schema
                .field("Name")
                .is_some_and(|f| !f.createable && !f.updateable);
        let name_compound: Arc<str> = Arc::from("Name");
        let fields = schema
            .fields
            .iter()
            .map(|field| {
                let name: &str = &field.name;
                let placement = if OMITTED_FIELDS.contains(&name)
                    || field.field_type == FieldType::Address
                    || field.calculated
                    || (person_name && name == "Name")
                {
                    Placement::Omitted
                } else if person_name && PERSON_NAME_PARTS.contains(&name) {
                    Placement::Nested {
                        compound: name_compound.clone(),
                        key: field.name.clone(),
                    }
                } else if let Some(compound) = &field.compound_field_name {
                    let stem = compound.strip_suffix("Address").unwrap_or(compound);
                    let key = name
                        .strip_prefix(stem)
                        .filter(|rest| !rest.is_empty())
                        .unwrap_or(name);
                    Placement::Nested {
                        compound: Arc::from(compound.as_str()),
                        key: Arc::from(key),
                    }
                } else {
                    Placement::TopLevel
                };
                (
                    field.name.clone(),
                    FieldLayout {
                        field_type: field.field_type,
                        scale: field.scale,
                        placement,
                    },
                )
            })
            .collect();
        EntityLayout {
            schema_id: schema_id(schema),
            fields,
        }
    }

    /// For an entity whose object no longer exists: every value top level, typed by its value.
    pub fn unknown(entity: &str) -> EntityLayout {
        EntityLayout {
            schema_id: hash_id(entity.as_bytes()),
            fields: HashMap::new(),
        }
    }

    fn value_json(&self, name: &str, value: &Value) -> Json {
        match (value, self.fields.get(name)) {
            (Value::DateTime(ms), _) => Json::String(format_datetime_z(*ms)),
            (_, Some(layout)) => value.to_json(layout.field_type, layout.scale),
            (Value::Decimal(decimal), None) => decimal_json(*decimal),
            (_, None) => value.to_json(FieldType::String, 0),
        }
    }

    fn placement(&self, name: &str) -> Placement {
        self.fields
            .get(name)
            .map(|f| f.placement.clone())
            .unwrap_or(if OMITTED_FIELDS.contains(&name) {
                Placement::Omitted
            } else {
                Placement::TopLevel
            })
    }

    /// Adds one field to a payload (nested under its compound when it has one).
    fn put(&self, payload: &mut Map<String, Json>, name: &str, value: &Value) {
        let json = self.value_json(name, value);
        match self.placement(name) {
            Placement::Omitted => {}
            Placement::TopLevel => {
                payload.insert(name.to_string(), json);
            }
            Placement::Nested { compound, key } => {
                let entry = payload
                    .entry(compound.to_string())
                    .or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(parts) = entry {
                    parts.insert(key.to_string(), json);
                }
            }
        }
    }

    /// `changedFields` names: compound components dotted, omitted fields dropped, audit fields last.
    fn changed_field_names(&self, changed: &[Arc<str>]) -> Vec<String> {
        let mut names: Vec<String> = Vec::with_capacity(changed.len());
        let mut audit: Vec<String> = Vec::new();
        for field in changed {
            let name = match self.placement(field) {
                Placement::Omitted => continue,
                Placement::TopLevel => field.to_string(),
                Placement::Nested { compound, key } => format!("{compound}.{key}"),
            };
            if AUDIT_FIELDS.contains(&&**field) {
                audit.push(name);
            } else if !names.contains(&name) {
                names.push(name);
            }
        }
        names.extend(audit);
        names
    }
}

/// A stable 22-character id of an object schema (its name and its fields' names and types): it changes when the
/// schema drifts, as Salesforce's schema ids do.
pub fn schema_id(schema: &ObjectSchema) -> String {
    let mut text = String::with_capacity(schema.fields.len() * 24);
    text.push_str(&schema.name);
    for field in &schema.fields {
        text.push('\n');
        text.push_str(&field.name);
        text.push(':');
        text.push_str(&format!("{:?}", field.field_type));
    }
    hash_id(text.as_bytes())
}

fn hash_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

fn decimal_json(decimal: Decimal) -> Json {
    match decimal.to_string().parse::<serde_json::Number>() {
        Ok(number) => Json::Number(number),
        Err(_) => Json::String(decimal.to_string()),
    }
}

/// `com/salesforce/api/rest/62.0;client=sfsync-1`; empty for changes that did not come through an API.
pub fn change_origin(event: &ChangeEvent) -> String {
    let Some(api) = event.api else {
        return String::new();
    };
    let version = event
        .api_version
        .as_deref()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{MAX_VERSION}.0"));
    match &event.origin_client {
        Some(client) => format!(
            "com/salesforce/api/{}/{version};client={client}",
            api.as_str()
        ),
        None => format!("com/salesforce/api/{}/{version}", api.as_str()),
    }
}

/// The message for one change event, or for identical changes to several records of one transaction (`group`,
/// never empty, all of one entity and change type). Its replay id is the last member's sequence number.
pub fn change_message(channel: &str, group: &[&ChangeEvent], layout: &EntityLayout) -> Json {
    let first = group[0];
    let last = group[group.len() - 1];
    let mut payload = Map::new();
    for (name, value) in &first.values {
        layout.put(&mut payload, name, value);
    }
    let record_ids: Vec<&str> = group.iter().map(|e| e.record_id.as_str()).collect();
    payload.insert(
        "ChangeEventHeader".into(),
        json!({
            "commitNumber": first.commit_number,
            "commitUser": first.commit_user.as_str(),
            "sequenceNumber": first.sequence_in_transaction,
            "entityName": &*first.entity,
            "changeType": first.change_type.as_str(),
            "changedFields": layout.changed_field_names(&first.changed_fields),
            "changeOrigin": change_origin(first),
            "transactionKey": &*first.transaction_key,
            "commitTimestamp": first.commit_timestamp,
            "recordIds": record_ids,
        }),
    );
    envelope(channel, &layout.schema_id, payload, last.seq)
}

/// The message for a gap or overflow event: a header, no field values.
pub fn gap_message(channel: &str, gap: &GapEvent, layout: &EntityLayout) -> Json {
    let record_ids: Vec<&str> = if gap.gap_type == GapType::Overflow && gap.record_ids.is_empty() {
        vec![EMPTY_RECORD_ID]
    } else {
        gap.record_ids.iter().map(String::as_str).collect()
    };
    let mut payload = Map::new();
    payload.insert(
        "ChangeEventHeader".into(),
        json!({
            "commitNumber": gap.commit_number,
            "commitUser": gap.commit_user.as_str(),
            "sequenceNumber": 1,
            "entityName": &*gap.entity,
            "changeType": gap.gap_type.as_str(),
            "changedFields": [],
            "changeOrigin": "",
            "transactionKey": gap.transaction_key,
            "commitTimestamp": gap.commit_timestamp,
            "recordIds": record_ids,
        }),
    );
    envelope(channel, &layout.schema_id, payload, gap.seq)
}

fn envelope(channel: &str, schema_id: &str, payload: Map<String, Json>, replay_id: u64) -> Json {
    json!({
        "channel": channel,
        "data": {
            "schema": schema_id,
            "payload": payload,
            "event": {"replayId": replay_id},
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ApiKind, ChangeType, Org, RecordId};

    fn event(change_type: ChangeType, values: Vec<(&str, Value)>, changed: &[&str]) -> ChangeEvent {
        ChangeEvent {
            seq: 12,
            transaction_key: "0005e192-9e62-2554-3880-3c3718bd6308".into(),
            sequence_in_transaction: 1,
            commit_number: 74487681550,
            entity: "Account".into(),
            record_id: RecordId::parse("001RM000004UF9sYAG").expect("id"),
            change_type,
            changed_fields: changed.iter().map(|f| Arc::from(*f)).collect(),
            values: values.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
            commit_timestamp: 1608073758000,
            commit_user: RecordId::parse("005RM000001hv4SYAQ").expect("user"),
            origin_client: Some("SfdcInternalAPI/".into()),
            api: Some(ApiKind::Soap),
            api_version: Some("51.0".into()),
        }
    }

    #[test]
    fn renders_the_documented_update_example() {
        let org = Org::new("admin@x").expect("org");
        let layout = EntityLayout::of(&org.object("Account").expect("Account").schema);
        let update = event(
            ChangeType::Update,
            vec![
                ("Fax", Value::text("4155551212")),
                ("LastModifiedDate", Value::DateTime(1608073758000)),
            ],
            &["LastModifiedDate", "Fax"],
        );
        let message = change_message("/data/AccountChangeEvent", &[&update], &layout);
        let payload = &message["data"]["payload"];
        assert_eq!(payload["LastModifiedDate"], "2020-12-15T23:09:18.000Z");
        assert_eq!(payload["Fax"], "4155551212");
        assert_eq!(
            payload["ChangeEventHeader"],
            json!({"commitNumber":74487681550u64,"commitUser":"005RM000001hv4SYAQ","sequenceNumber":1,
                   "entityName":"Account","changeType":"UPDATE","changedFields":["Fax","LastModifiedDate"],
                   "changeOrigin":"com/salesforce/api/soap/51.0;client=SfdcInternalAPI/",
                   "transactionKey":"0005e192-9e62-2554-3880-3c3718bd6308","commitTimestamp":1608073758000u64,
                   "recordIds":["001RM000004UF9sYAG"]})
        );
        assert_eq!(message["data"]["event"]["replayId"], 12);
        assert_eq!(message["data"]["schema"].as_str().map(str::len), Some(22));
    }

    #[test]
    fn nests_compounds_and_drops_system_fields() {
        let org = Org::new("admin@x").expect("org");
        let layout = EntityLayout::of(&org.object("Contact").expect("Contact").schema);
        let create = event(
            ChangeType::Create,
            vec![
                ("Id", Value::text("003000000000001AAA")),
                ("IsDeleted", Value::Bool(false)),
                ("FirstName", Value::text("Ada")),
                ("LastName", Value::text("Lovelace")),
                ("Name", Value::text("Ada Lovelace")),
                ("MailingCity", Value::text("London")),
                ("MailingStreet", Value::text("1 St James's Sq")),
                ("SystemModstamp", Value::DateTime(1)),
            ],
            &[],
        );
        let message = change_message("/data/ContactChangeEvent", &[&create], &layout);
        let payload = message["data"]["payload"].as_object().expect("payload");
        assert_eq!(
            payload["Name"],
            json!({"FirstName": "Ada", "LastName": "Lovelace"})
        );
        assert_eq!(
            payload["MailingAddress"],
            json!({"City": "London", "Street": "1 St James's Sq"})
        );
        for absent in [
            "Id",
            "IsDeleted",
            "SystemModstamp",
            "FirstName",
            "MailingCity",
        ] {
            assert!(!payload.contains_key(absent), "{absent}");
        }
        let names = layout.changed_field_names(&[
            Arc::from("LastName"),
            Arc::from("Name"),
            Arc::from("MailingCity"),
            Arc::from("LastModifiedDate"),
        ]);
        assert_eq!(
            names,
            ["Name.LastName", "MailingAddress.City", "LastModifiedDate"]
        );
    }

    #[test]
    fn origin_and_gap_messages() {
        let mut seeded = event(ChangeType::Create, vec![], &[]);
        seeded.api = None;
        assert_eq!(change_origin(&seeded), "");
        let mut rest = event(ChangeType::Create, vec![], &[]);
        rest.api = Some(ApiKind::Rest);
        rest.api_version = Some("62.0".into());
        rest.origin_client = Some("sfsync-a".into());
        assert_eq!(
            change_origin(&rest),
            "com/salesforce/api/rest/62.0;client=sfsync-a"
        );
        rest.origin_client = None;
        assert_eq!(change_origin(&rest), "com/salesforce/api/rest/62.0");
        let gap = GapEvent {
            seq: 40,
            entity: "Account".into(),
            gap_type: GapType::Overflow,
            record_ids: vec![],
            transaction_key: "k".into(),
            commit_number: 3,
            commit_timestamp: 5,
            commit_user: RecordId::generate("005", 1),
        };
        let message = gap_message(
            "/data/ChangeEvents",
            &gap,
            &EntityLayout::unknown("Account"),
        );
        let header = &message["data"]["payload"]["ChangeEventHeader"];
        assert_eq!(header["changeType"], "GAP_OVERFLOW");
        assert_eq!(header["recordIds"], json!([EMPTY_RECORD_ID]));
        assert_eq!(
            message["data"]["payload"].as_object().map(Map::len),
            Some(1)
        );
        assert_eq!(message["data"]["event"]["replayId"], 40);
    }
}
