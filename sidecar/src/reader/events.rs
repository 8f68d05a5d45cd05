//! Applying Change Data Capture events. Events say which records changed; the records are read back
//! by id (with the mapped fields and the filter, through `queryAll`) and merged, so what lands is
//! always Salesforce's current state: `SystemModstamp` (which events omit), formula and trigger
//! changes, and our own writes echoed back, which the merge recognises and leaves alone. DELETE
//! events remove rows without a call; gap events re-read; an overflow (or a wildcard id) asks for a
//! poll.

use std::collections::{BTreeSet, HashMap, HashSet};

use tokio_postgres::Client;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::error::ReaderError;
use super::protocol;
use super::soql::Selection;
use crate::salesforce::cometd::{ChangeType, StreamEvent};

/// Ids per read-back query (keeps the SOQL well under URL limits).
const READ_BACK_CHUNK: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    ReadBack,
    Delete,
}

/// Events collected since the last apply, reduced to one action per record (the last event wins).
#[derive(Debug, Default)]
pub struct EventBatch {
    order: Vec<String>,
    actions: HashMap<String, Action>,
    /// Records whose last event was our own write (its `changeOrigin` names our client).
    echoes: HashSet<String>,
    /// A `GAP_OVERFLOW` or a wildcard id: too much changed to name; poll instead.
    pub overflow: bool,
    pub max_replay_id: Option<i64>,
    pub events: usize,
}

/// What applying a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventReport {
    pub read_back: usize,
    pub changed: i64,
    pub deleted: i64,
    /// Echoes of our own writes whose completion the writer has not recorded yet: read them back
    /// a little later, so the read-back lands after it (and settles the row as SYNCED).
    pub deferred: Vec<String>,
}

impl EventBatch {
    pub fn records(&self) -> usize {
        self.order.len()
    }

    /// A batch that reads `ids` back (deferred echoes of our own writes).
    pub fn read_back(ids: impl IntoIterator<Item = String>) -> Self {
        let mut batch = Self::default();
        for id in ids {
            batch.events += 1;
            if batch.actions.insert(id.clone(), Action::ReadBack).is_none() {
                batch.echoes.insert(id.clone());
                batch.order.push(id);
            }
        }
        batch
    }

    /// Adds one event; `own_client` is our `Sforce-Call-Options` client name.
    pub fn add(&mut self, event: &StreamEvent, own_client: Option<&str>) {
        self.events += 1;
        self.max_replay_id = Some(
            self.max_replay_id
                .map_or(event.replay_id, |max| max.max(event.replay_id)),
        );
        let Some(header) = &event.header else {
            // Not a change event (nothing to read back): only the replay id matters.
            return;
        };
        let action = match header.change_type {
            ChangeType::GapOverflow => {
                self.overflow = true;
                return;
            }
            ChangeType::Delete => Action::Delete,
            // Everything else, gap events included, is answered by reading the record back.
            _ => Action::ReadBack,
        };
        let echo = own_client.is_some() && header.origin_client() == own_client;
        for id in &header.record_ids {
            if id.contains('*') {
                self.overflow = true;
                continue;
            }
            if self.actions.insert(id.clone(), action).is_none() {
                self.order.push(id.clone());
            }
            if echo {
                self.echoes.insert(id.clone());
            } else {
                self.echoes.remove(id);
            }
        }
    }

    fn ids(&self, wanted: Action) -> Vec<String> {
        self.order
            .iter()
            .filter(|id| self.actions.get(*id) == Some(&wanted))
            .cloned()
            .collect()
    }
}

/// Salesforce ids compare on their first 15 characters (18-character ids add a case checksum).
fn id_key(id: &str) -> &str {
    id.get(..15).unwrap_or(id)
}

/// Applies `batch` (not its overflow, which the caller turns into a poll, nor its replay id).
/// Unless `force`, echoes of our own writes that are still in flight are deferred (see
/// [`EventReport::deferred`]).
pub async fn apply(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    skipped: &BTreeSet<String>,
    batch: &EventBatch,
    force: bool,
) -> Result<EventReport, ReaderError> {
    let selection = Selection::new(
        &mapping.object_name,
        mapping.plan()?,
        skipped,
        mapping.filter.as_deref(),
    );
    let mut report = EventReport::default();
    let mut read_back = batch.ids(Action::ReadBack);
    if !force {
        let echoes: Vec<String> = read_back
            .iter()
            .filter(|id| batch.echoes.contains(*id))
            .cloned()
            .collect();
        report.deferred = in_flight(client, mapping.id, &echoes).await?;
        read_back.retain(|id| !report.deferred.contains(id));
    }
    for chunk in read_back.chunks(READ_BACK_CHUNK) {
        let read_started = protocol::ReadStarted::now(client).await?;
        let records = context
            .salesforce
            .query_all(&selection.by_ids(chunk), None)
            .next_page()
            .await?
            .map(|page| page.records)
            .unwrap_or_default();
        let returned: HashSet<String> = records
            .iter()
            .filter_map(|record| record.get("Id").and_then(|id| id.as_str()))
            .map(|id| id_key(id).to_string())
            .collect();
        report.read_back += records.len();
        if !records.is_empty() {
            let json = serde_json::to_string(&records).map_err(|source| ReaderError::Decode {
                what: "read-back records".to_string(),
                source,
            })?;
            report.changed += protocol::apply_records(client, mapping.id, &json, &read_started)
                .await?
                .changed();
        }
        let missing: Vec<String> = chunk
            .iter()
            .filter(|id| !returned.contains(id_key(id)))
            .cloned()
            .collect();
        report.deleted += remove_missing(context, client, mapping, &selection, &missing).await?;
    }
    let deletes = batch.ids(Action::Delete);
    report.deleted += protocol::delete_records(client, mapping.id, &deletes, false).await?;
    let object = mapping.object_name.as_str();
    context
        .metrics
        .records_read
        .with_label_values(&[object, "stream"])
        .inc_by(report.read_back as u64);
    context
        .metrics
        .rows_deleted
        .with_label_values(&[object])
        .inc_by(report.deleted.max(0) as u64);
    Ok(report)
}

/// Which of `echoes` the writer may still be completing: records with a claimed (in-flight)
/// change, or all of them while an insert without an sfid is in flight (a create's echo names an id
/// the queue does not know yet).
async fn in_flight(
    client: &Client,
    mapping: i64,
    echoes: &[String],
) -> Result<Vec<String>, ReaderError> {
    if echoes.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT sfid FROM sfsync._in_flight($1, $2) AS sfid",
            &[&mapping, &echoes],
        )
        .await
        .map_err(ReaderError::query("looking for in-flight writes"))?;
    let busy: HashSet<Option<String>> = rows.iter().map(|row| row.get(0)).collect();
    if busy.contains(&None) {
        return Ok(echoes.to_vec());
    }
    Ok(echoes
        .iter()
        .filter(|id| busy.contains(&Some((*id).clone())))
        .cloned()
        .collect())
}

/// Records an event named that the read-back did not return: purged (gone for good: delete, or mark
/// with `keep_deleted`), or, with a filter, no longer matching it (remove the row for good).
async fn remove_missing(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    selection: &Selection,
    missing: &[String],
) -> Result<i64, ReaderError> {
    if missing.is_empty() {
        return Ok(0);
    }
    if selection.filter.is_none() {
        return protocol::delete_records(client, mapping.id, missing, false).await;
    }
    let existing: HashSet<String> = context
        .salesforce
        .query_all(&selection.existing_ids(missing), None)
        .next_page()
        .await?
        .map(|page| page.records)
        .unwrap_or_default()
        .iter()
        .filter_map(|record| record.get("Id").and_then(|id| id.as_str()))
        .map(|id| id_key(id).to_string())
        .collect();
    let (left_filter, purged): (Vec<String>, Vec<String>) = missing
        .iter()
        .cloned()
        .partition(|id| existing.contains(id_key(id)));
    Ok(
        protocol::delete_records(client, mapping.id, &left_filter, true).await?
            + protocol::delete_records(client, mapping.id, &purged, false).await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::cometd::ChangeEventHeader;
    use serde_json::{Map, Value};

    fn event(replay_id: i64, change_type: ChangeType, ids: &[&str]) -> StreamEvent {
        StreamEvent {
            channel: "/data/AccountChangeEvent".into(),
            replay_id,
            payload: Map::new(),
            header: Some(ChangeEventHeader {
                entity_name: "Account".into(),
                record_ids: ids.iter().map(|id| id.to_string()).collect(),
                change_type,
                changed_fields: vec![],
                nulled_fields: vec![],
                diff_fields: vec![],
                change_origin: None,
                transaction_key: None,
                sequence_number: None,
                commit_timestamp: None,
                commit_number: None,
                commit_user: None,
            }),
            data: Value::Null,
        }
    }

    impl EventBatch {
        fn add_test(&mut self, event: &StreamEvent) {
            self.add(event, Some("sfsync-me"));
        }
    }

    #[test]
    fn echoes_of_our_own_writes_are_recognised() {
        let mut batch = EventBatch::default();
        let mut ours = event(1, ChangeType::Update, &["001A", "001B"]);
        if let Some(header) = ours.header.as_mut() {
            header.change_origin = Some("com/salesforce/api/rest/62.0;client=sfsync-me".into());
        }
        batch.add_test(&ours);
        batch.add_test(&event(2, ChangeType::Update, &["001B"]));
        assert!(batch.echoes.contains("001A"));
        assert!(
            !batch.echoes.contains("001B"),
            "a later foreign change is no echo"
        );
        let deferred = EventBatch::read_back(["001C".to_string()]);
        assert_eq!(deferred.ids(Action::ReadBack), ["001C"]);
        assert!(deferred.echoes.contains("001C"));
    }

    #[test]
    fn the_last_event_of_a_record_decides() {
        let mut batch = EventBatch::default();
        batch.add_test(&event(5, ChangeType::Create, &["001A", "001B"]));
        batch.add_test(&event(7, ChangeType::Delete, &["001A"]));
        batch.add_test(&event(6, ChangeType::Delete, &["001C"]));
        batch.add_test(&event(9, ChangeType::Undelete, &["001C"]));
        batch.add_test(&event(10, ChangeType::GapDelete, &["001D"]));
        assert_eq!(batch.ids(Action::ReadBack), ["001B", "001C", "001D"]);
        assert_eq!(batch.ids(Action::Delete), ["001A"]);
        assert_eq!(batch.max_replay_id, Some(10));
        assert_eq!(batch.events, 5);
        assert!(!batch.overflow);
    }

    #[test]
    fn overflow_and_wildcards_ask_for_a_poll() {
        let mut batch = EventBatch::default();
        batch.add_test(&event(1, ChangeType::GapOverflow, &["001*"]));
        assert!(batch.overflow);
        let mut batch = EventBatch::default();
        batch.add_test(&event(2, ChangeType::Update, &["001*"]));
        assert!(batch.overflow);
        assert_eq!(batch.records(), 0);
    }

    #[test]
    fn ids_compare_on_fifteen_characters() {
        assert_eq!(id_key("001000000000001AAA"), "001000000000001");
        assert_eq!(id_key("001000000000001"), "001000000000001");
        assert_eq!(id_key("short"), "short");
    }
}
