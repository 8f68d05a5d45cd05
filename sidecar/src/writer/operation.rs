//! Claimed changes and what the writer makes of them: per record, all queued changes are merged into
//! at most one Salesforce write (the protocol's merge rule), which knows the parent records it needs
//! and the external ids it provides to children.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::convert::{record_body, scalar_text, BodyKind};
use super::mapping::WriteMapping;
use super::outcome::WriteError;
use crate::db::queue::ClaimedRow;
use crate::salesforce::Record;

/// The action a change records (the contract's).
pub use sfsync_protocol::Action;

/// A record a write refers to or provides by external id: `(object, field, value)`, lower-cased
/// (Salesforce matches external ids case-insensitively unless told otherwise; being too careful
/// only orders a little more).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParentKey {
    pub object: String,
    pub field: String,
    pub value: String,
}

impl ParentKey {
    fn new(object: &str, field: &str, value: &str) -> Self {
        Self {
            object: object.to_ascii_lowercase(),
            field: field.to_ascii_lowercase(),
            value: value.to_lowercase(),
        }
    }
}

/// The one Salesforce write for a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Insert without an external id (a retry after a lost response can duplicate it).
    Create {
        fields: Record,
    },
    /// Insert-or-update on the mapping's upsert field; `fields` includes that field.
    Upsert {
        key: String,
        fields: Record,
    },
    Update {
        sfid: String,
        fields: Record,
    },
    Delete {
        sfid: String,
    },
}

/// Which API call a write goes into; writes of one kind and mapping share calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WriteKind {
    Create,
    Upsert,
    Update,
    Delete,
}

impl Write {
    pub fn kind(&self) -> WriteKind {
        match self {
            Write::Create { .. } => WriteKind::Create,
            Write::Upsert { .. } => WriteKind::Upsert,
            Write::Update { .. } => WriteKind::Update,
            Write::Delete { .. } => WriteKind::Delete,
        }
    }
}

/// A write and the queue entries it settles.
#[derive(Debug, Clone)]
pub struct Operation {
    pub mapping: Arc<WriteMapping>,
    pub record_id: i64,
    pub write: Write,
    /// The change whose result is the write's result.
    pub carrier: i64,
    /// Changes folded into the carrier (MERGED when it finishes, released with it on RETRY).
    pub merged: Vec<i64>,
    pub token: String,
    /// The oldest change's `created_at` (Unix seconds): where the write latency is measured from.
    pub oldest_created_at: f64,
    /// Records this write refers to by external id.
    pub needs: Vec<ParentKey>,
    /// External ids this write creates (or upserts), which children may refer to.
    pub provides: Vec<ParentKey>,
}

impl Operation {
    pub fn change_ids(&self) -> impl Iterator<Item = i64> + '_ {
        std::iter::once(self.carrier).chain(self.merged.iter().copied())
    }

    /// The record id the write sends: updates and deletes (an upsert goes by its external id, a
    /// create by none).
    pub fn sent_id(&self) -> Option<&str> {
        match &self.write {
            Write::Update { sfid, .. } | Write::Delete { sfid } => Some(sfid),
            Write::Create { .. } | Write::Upsert { .. } => None,
        }
    }

    /// Refuses a write whose id is not one of the mapped object's (its key prefix is another
    /// object's): an sfid planted in a row must not make the writer update or delete a record of
    /// another object, whatever Salesforce would make of it.
    pub fn check_sent_id(&self) -> Result<(), WriteError> {
        let Some(sfid) = self.sent_id() else {
            return Ok(());
        };
        if self.mapping.owns_id(sfid) {
            return Ok(());
        }
        let object = &self.mapping.object;
        let article = if object.starts_with(['A', 'E', 'I', 'O', 'U']) {
            "an"
        } else {
            "a"
        };
        Err(WriteError::new(
            "WRONG_OBJECT_ID",
            format!(
                "sfid {sfid} is not {article} {object} id (key prefix {}); the change was not sent",
                self.mapping.key_prefix.as_deref().unwrap_or("")
            ),
        ))
    }
}

/// What to do with one claimed record.
#[derive(Debug, Clone)]
pub enum Plan {
    Send(Operation),
    /// Send `operation` now and give `held_back` back to the queue, to be claimed again once the
    /// operation has finished (a delete that needs the sfid the resent insert returns).
    SendFirst {
        operation: Operation,
        held_back: Vec<i64>,
    },
    /// Nothing to send: every change finishes IGNORED with this reason.
    Ignore {
        change_ids: Vec<i64>,
        token: String,
        reason: &'static str,
    },
}

/// Groups claimed rows by record, keeping each record's changes in id order (the claim returns them
/// ordered by id, and that order is kept here).
pub fn group_by_record(rows: Vec<ClaimedRow>) -> Vec<Vec<ClaimedRow>> {
    let mut groups: Vec<Vec<ClaimedRow>> = Vec::new();
    let mut index: std::collections::HashMap<(i64, i64), usize> = std::collections::HashMap::new();
    for row in rows {
        let key = (row.mapping_id, row.record_id);
        match index.get(&key) {
            Some(&position) => groups[position].push(row),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![row]);
            }
        }
    }
    for group in &mut groups {
        group.sort_by_key(|row| row.change_id);
    }
    groups
}

/// Applies the merge rule to one record's changes (`changes` non-empty, in id order).
pub fn plan_record(mapping: &Arc<WriteMapping>, changes: &[ClaimedRow]) -> Plan {
    let token = changes[0].lease_token.clone();
    let all_ids: Vec<i64> = changes.iter().map(|change| change.change_id).collect();
    let actions: Vec<Option<Action>> = changes
        .iter()
        .map(|change| change.action.parse::<Action>().ok())
        .collect();
    let has_insert = actions.contains(&Some(Action::Insert));
    let delete_position = actions
        .iter()
        .rposition(|action| *action == Some(Action::Delete));
    let sfid = changes
        .iter()
        .rev()
        .find_map(|change| change.sfid.clone().filter(|sfid| !sfid.is_empty()));
    let oldest_created_at = changes
        .iter()
        .map(|change| change.created_at_epoch)
        .fold(f64::INFINITY, f64::min);
    let record_id = changes[0].record_id;

    let write_with = |write: Write,
                      carrier: i64,
                      merged: Vec<i64>,
                      provides: Vec<ParentKey>,
                      needs: Vec<ParentKey>| Operation {
        mapping: mapping.clone(),
        record_id,
        write,
        carrier,
        merged,
        token: token.clone(),
        oldest_created_at,
        needs,
        provides,
    };
    // the usual case: every other claimed change of the record is merged into the carrier
    let operation =
        |write: Write, carrier: i64, provides: Vec<ParentKey>, needs: Vec<ParentKey>| {
            let merged = all_ids
                .iter()
                .copied()
                .filter(|id| *id != carrier)
                .collect();
            Plan::Send(write_with(write, carrier, merged, provides, needs))
        };

    if let Some(position) = delete_position {
        if has_insert {
            // An insert claimed before (a sidecar crashed or timed out with it in flight) may have
            // reached Salesforce: dropping it with the delete would leave that record there. With
            // an upsert key the insert is resent (an upsert finds the record if it exists) and the
            // delete follows with the sfid it returns.
            if changes[0].attempts > 1 {
                let current = current_values(&changes[..position]);
                if let (write @ Write::Upsert { .. }, provides, needs) =
                    create_write(mapping, &current, None)
                {
                    let merged = changes[1..position]
                        .iter()
                        .map(|change| change.change_id)
                        .collect();
                    return Plan::SendFirst {
                        operation: write_with(write, changes[0].change_id, merged, provides, needs),
                        held_back: changes[position..]
                            .iter()
                            .map(|change| change.change_id)
                            .collect(),
                    };
                }
            }
            return Plan::Ignore {
                change_ids: all_ids,
                token,
                reason: "inserted and deleted before it reached Salesforce",
            };
        }
        return match sfid {
            Some(sfid) => operation(
                Write::Delete { sfid },
                changes[position].change_id,
                Vec::new(),
                Vec::new(),
            ),
            None => Plan::Ignore {
                change_ids: all_ids,
                token,
                reason: "the row never reached Salesforce: nothing to delete",
            },
        };
    }

    let current = current_values(changes);
    let sfid = match sfid {
        Some(sfid) if !has_insert => sfid,
        sfid => {
            let (write, provides, needs) = create_write(mapping, &current, sfid);
            return operation(write, changes[0].change_id, provides, needs);
        }
    };
    let mut columns: Vec<&str> = Vec::new();
    for change in changes {
        for name in change.values.iter().flat_map(|values| values.keys()) {
            if !columns.contains(&name.as_str()) {
                columns.push(name);
            }
        }
    }
    let fields = record_body(mapping, BodyKind::Update, columns.iter().copied(), &current);
    if fields.is_empty() {
        return Plan::Ignore {
            change_ids: all_ids,
            token,
            reason: "no writable field left to send",
        };
    }
    let sent = select(&current, &columns);
    // an update that gives the record an external id provides it to children referring to it
    let provides = provided_keys(mapping, &sent);
    let needs = parent_keys(mapping, &sent);
    operation(
        Write::Update { sfid, fields },
        changes[changes.len() - 1].change_id,
        provides,
        needs,
    )
}

/// The write for a record that is not (known to be) in Salesforce yet: an upsert when the body
/// carries the upsert field, a plain create otherwise, and an update when the row has an sfid after
/// all (the reader matched it after a lost response): never a second copy.
fn create_write(
    mapping: &WriteMapping,
    current: &Map<String, Value>,
    sfid: Option<String>,
) -> (Write, Vec<ParentKey>, Vec<ParentKey>) {
    let names: Vec<&str> = mapping.columns.iter().map(|c| c.column.as_str()).collect();
    let fields = record_body(mapping, BodyKind::Create, names.into_iter(), current);
    let needs = parent_keys(mapping, current);
    let provides = provided_keys(mapping, current);
    let upsert_key = mapping
        .upsert_column
        .as_ref()
        .and_then(|column| mapping.column(column))
        .and_then(|column| fields.get(&column.field))
        .and_then(scalar_text)
        .filter(|key| !key.is_empty());
    let write = match (upsert_key, sfid) {
        (Some(key), _) => Write::Upsert { key, fields },
        (None, Some(sfid)) => Write::Update {
            sfid,
            fields: record_body(
                mapping,
                BodyKind::Update,
                current.keys().map(String::as_str),
                current,
            )
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .collect(),
        },
        (None, None) => Write::Create { fields },
    };
    (write, provides, needs)
}

/// The record's current values: the row as the claim read it, or (if it vanished meanwhile) the
/// changes' values folded in order, latest winning.
fn current_values(changes: &[ClaimedRow]) -> Map<String, Value> {
    if let Some(record) = changes
        .iter()
        .rev()
        .find_map(|change| change.record.as_ref())
    {
        return record.clone();
    }
    let mut folded = Map::new();
    for values in changes.iter().filter_map(|change| change.values.as_ref()) {
        for (name, value) in values {
            folded.insert(name.clone(), value.clone());
        }
    }
    folded
}

fn select(source: &Map<String, Value>, columns: &[&str]) -> Map<String, Value> {
    columns
        .iter()
        .filter_map(|name| {
            source
                .get(*name)
                .map(|value| (name.to_string(), value.clone()))
        })
        .collect()
}

/// Parents referred to by external id through relationship columns with a value.
fn parent_keys(mapping: &WriteMapping, values: &Map<String, Value>) -> Vec<ParentKey> {
    let mut keys = Vec::new();
    for column in &mapping.columns {
        let Some(field) = column.relationship_key_field() else {
            continue;
        };
        if column.system || !(column.insertable || column.updatable) {
            continue;
        }
        let Some(value) = values.get(&column.column).and_then(scalar_text) else {
            continue;
        };
        for object in &column.reference_to {
            keys.push(ParentKey::new(object, field, &value));
        }
    }
    keys
}

/// The record's own external ids with a value.
fn provided_keys(mapping: &WriteMapping, values: &Map<String, Value>) -> Vec<ParentKey> {
    mapping
        .columns
        .iter()
        .filter(|column| column.is_own_external_id())
        .filter_map(|column| {
            let value = values.get(&column.column).and_then(scalar_text)?;
            Some(ParentKey::new(&mapping.object, &column.field, &value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::mapping::tests::{account, contact};
    use serde_json::json;

    fn row(
        id: i64,
        record: i64,
        action: &str,
        sfid: Option<&str>,
        values: Value,
        current: Value,
    ) -> ClaimedRow {
        ClaimedRow {
            change_id: id,
            mapping_id: 1,
            record_id: record,
            action: action.into(),
            sfid: sfid.map(str::to_string),
            values: values.as_object().cloned(),
            old: None,
            record: current.as_object().cloned(),
            attempts: 1,
            lease_token: "token".into(),
            created_at_epoch: 1000.0 + id as f64,
        }
    }

    fn send(plan: Plan) -> Operation {
        match plan {
            Plan::Send(operation) => operation,
            Plan::SendFirst { operation, .. } => {
                panic!("expected one write, got {operation:?} first")
            }
            Plan::Ignore { reason, .. } => panic!("expected a write, got ignore: {reason}"),
        }
    }

    #[test]
    fn insert_and_updates_become_one_upsert_of_the_current_row() {
        let mapping = Arc::new(account());
        let current = json!({"id": 5, "sfid": null, "name": "Acme 2", "annualrevenue": 10, "ext_id__c": "A-1", "_hc_lastop": "PENDING"});
        let changes = vec![
            row(
                1,
                5,
                "INSERT",
                None,
                json!({"name": "Acme", "ext_id__c": "A-1"}),
                current.clone(),
            ),
            row(
                2,
                5,
                "UPDATE",
                None,
                json!({"name": "Acme 2"}),
                current.clone(),
            ),
            row(3, 5, "UPDATE", None, json!({"annualrevenue": 10}), current),
        ];
        let operation = send(plan_record(&mapping, &changes));
        assert_eq!(operation.carrier, 1);
        assert_eq!(operation.merged, [2, 3]);
        assert_eq!(operation.oldest_created_at, 1001.0);
        match &operation.write {
            Write::Upsert { key, fields } => {
                assert_eq!(key, "A-1");
                assert_eq!(
                    Value::Object(fields.clone()),
                    json!({"Name": "Acme 2", "AnnualRevenue": 10, "Ext_Id__c": "A-1"})
                );
            }
            other => panic!("expected an upsert, got {other:?}"),
        }
        assert_eq!(
            operation.provides,
            [ParentKey::new("Account", "Ext_Id__c", "A-1")]
        );
    }

    #[test]
    fn updates_send_the_union_of_their_columns_with_current_values() {
        let mapping = Arc::new(account());
        let current = json!({"id": 5, "sfid": "001000000000001AAA", "name": "Newest", "annualrevenue": 7, "ext_id__c": "A-1"});
        let changes = vec![
            row(
                1,
                5,
                "UPDATE",
                Some("001000000000001AAA"),
                json!({"name": "Newer"}),
                current.clone(),
            ),
            row(
                2,
                5,
                "UPDATE",
                Some("001000000000001AAA"),
                json!({"annualrevenue": 7, "name": "Newest"}),
                current,
            ),
        ];
        let operation = send(plan_record(&mapping, &changes));
        assert_eq!(operation.carrier, 2);
        assert_eq!(operation.merged, [1]);
        assert_eq!(
            operation.write,
            Write::Update {
                sfid: "001000000000001AAA".into(),
                fields: json!({"Name": "Newest", "AnnualRevenue": 7})
                    .as_object()
                    .cloned()
                    .expect("object"),
            }
        );
    }

    #[test]
    fn insert_then_delete_sends_nothing_and_deletes_use_the_sfid() {
        let mapping = Arc::new(account());
        let changes = vec![
            row(1, 5, "INSERT", None, json!({"name": "Gone"}), Value::Null),
            row(2, 5, "DELETE", None, Value::Null, Value::Null),
        ];
        match plan_record(&mapping, &changes) {
            Plan::Ignore { change_ids, .. } => assert_eq!(change_ids, [1, 2]),
            other => panic!("nothing should be sent: {other:?}"),
        }
        let changes = vec![
            row(
                1,
                6,
                "UPDATE",
                Some("001000000000002AAA"),
                json!({"name": "x"}),
                Value::Null,
            ),
            row(
                2,
                6,
                "DELETE",
                Some("001000000000002AAA"),
                Value::Null,
                Value::Null,
            ),
        ];
        let operation = send(plan_record(&mapping, &changes));
        assert_eq!(
            operation.write,
            Write::Delete {
                sfid: "001000000000002AAA".into()
            }
        );
        assert_eq!((operation.carrier, operation.merged.clone()), (2, vec![1]));
        let changes = vec![row(3, 7, "DELETE", None, Value::Null, Value::Null)];
        assert!(matches!(
            plan_record(&mapping, &changes),
            Plan::Ignore { .. }
        ));
    }

    #[test]
    fn a_reclaimed_insert_followed_by_a_delete_is_resent_before_the_delete() {
        let mapping = Arc::new(account());
        let mut insert = row(
            1,
            5,
            "INSERT",
            None,
            json!({"name": "Maybe sent", "ext_id__c": "A-5"}),
            Value::Null,
        );
        // claimed before: the first claim's call may have created the record
        insert.attempts = 2;
        let update = row(
            2,
            5,
            "UPDATE",
            None,
            json!({"name": "Renamed"}),
            Value::Null,
        );
        let delete = row(3, 5, "DELETE", None, Value::Null, Value::Null);
        match plan_record(&mapping, &[insert.clone(), update, delete.clone()]) {
            Plan::SendFirst {
                operation,
                held_back,
            } => {
                assert!(
                    matches!(&operation.write, Write::Upsert { key, .. } if key == "A-5"),
                    "{operation:?}"
                );
                assert_eq!((operation.carrier, operation.merged.clone()), (1, vec![2]));
                assert_eq!(held_back, [3]);
            }
            other => panic!("expected the insert to be resent first: {other:?}"),
        }
        // without an upsert key nothing can find the record again: the pair is dropped as before
        let mut keyless = insert;
        keyless.values = json!({"name": "Maybe sent"}).as_object().cloned();
        assert!(matches!(
            plan_record(&mapping, &[keyless, delete]),
            Plan::Ignore { .. }
        ));
    }

    #[test]
    fn an_update_of_a_row_whose_insert_failed_is_sent_as_a_create() {
        let mapping = Arc::new(contact());
        let current =
            json!({"id": 9, "sfid": null, "lastname": "Fixed", "account__ext_id__c": "A-1"});
        let changes = vec![row(
            4,
            9,
            "UPDATE",
            None,
            json!({"lastname": "Fixed"}),
            current,
        )];
        let operation = send(plan_record(&mapping, &changes));
        match &operation.write {
            Write::Create { fields } => {
                assert_eq!(
                    Value::Object(fields.clone()),
                    json!({"LastName": "Fixed", "Account": {"Ext_Id__c": "A-1"}})
                )
            }
            other => panic!("expected a create, got {other:?}"),
        }
        assert_eq!(
            operation.needs,
            [ParentKey::new("Account", "Ext_Id__c", "a-1")]
        );
        assert!(operation.provides.is_empty());
    }

    #[test]
    fn an_update_giving_a_record_its_external_id_provides_it_and_others_do_not() {
        let mapping = Arc::new(account());
        let current =
            json!({"id": 5, "sfid": "001000000000001AAA", "name": "Acme", "ext_id__c": "ACME-1"});
        let sets_key = vec![row(
            1,
            5,
            "UPDATE",
            Some("001000000000001AAA"),
            json!({"ext_id__c": "ACME-1"}),
            current.clone(),
        )];
        let operation = send(plan_record(&mapping, &sets_key));
        assert!(matches!(operation.write, Write::Update { .. }));
        assert_eq!(
            operation.provides,
            [ParentKey::new("Account", "Ext_Id__c", "ACME-1")]
        );
        let renames = vec![row(
            2,
            5,
            "UPDATE",
            Some("001000000000001AAA"),
            json!({"name": "Acme"}),
            current,
        )];
        assert!(send(plan_record(&mapping, &renames)).provides.is_empty());
    }

    #[test]
    fn an_update_that_lost_all_its_fields_is_ignored() {
        let mapping = Arc::new(account());
        let changes = vec![row(
            1,
            5,
            "UPDATE",
            Some("001000000000001AAA"),
            json!({"sfid": "x"}),
            json!({"sfid": "x"}),
        )];
        assert!(matches!(
            plan_record(&mapping, &changes),
            Plan::Ignore { .. }
        ));
    }

    #[test]
    fn updates_and_deletes_of_another_objects_id_are_refused() {
        let mapping = Arc::new(account());
        let contact_id = "003000000000001AAA";
        let update = vec![row(
            1,
            5,
            "UPDATE",
            Some(contact_id),
            json!({"name": "Hijack"}),
            json!({"id": 5, "sfid": contact_id, "name": "Hijack"}),
        )];
        let delete = vec![row(
            2,
            6,
            "DELETE",
            Some(contact_id),
            Value::Null,
            Value::Null,
        )];
        for changes in [update, delete] {
            let operation = send(plan_record(&mapping, &changes));
            let error = operation.check_sent_id().expect_err("refused");
            assert_eq!(error.code, "WRONG_OBJECT_ID");
            assert_eq!(
                error.message,
                "sfid 003000000000001AAA is not an Account id (key prefix 001); the change was not sent"
            );
        }
        let own = vec![row(
            3,
            7,
            "UPDATE",
            Some("001000000000001AAA"),
            json!({"name": "Fine"}),
            json!({"id": 7, "sfid": "001000000000001AAA", "name": "Fine"}),
        )];
        assert!(send(plan_record(&mapping, &own)).check_sent_id().is_ok());
        let contact = Arc::new(crate::writer::mapping::tests::contact());
        let changes = vec![row(
            4,
            8,
            "DELETE",
            Some("001000000000001AAA"),
            Value::Null,
            Value::Null,
        )];
        let error = send(plan_record(&contact, &changes))
            .check_sent_id()
            .expect_err("an Account id is no Contact's");
        assert!(
            error
                .message
                .contains("is not a Contact id (key prefix 003)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn rows_are_grouped_per_record_in_change_order() {
        let rows = vec![
            row(3, 2, "UPDATE", None, json!({}), Value::Null),
            row(1, 1, "INSERT", None, json!({}), Value::Null),
            row(2, 2, "INSERT", None, json!({}), Value::Null),
        ];
        let groups = group_by_record(rows);
        let ids: Vec<Vec<i64>> = groups
            .iter()
            .map(|g| g.iter().map(|r| r.change_id).collect())
            .collect();
        assert_eq!(ids, [vec![2, 3], vec![1]]);
    }
}
