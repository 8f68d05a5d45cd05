//! Reads the event stream of one subscription: change-log entries and gap events merged in replay-id (commit)
//! order, identical adjacent changes of one transaction grouped into one event, filtered by channel, CDC selection
//! and retention (on the org clock).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value as Json;

use super::channels::{ChannelTarget, Selection};
use super::gaps::{GapEvent, GapLog};
use super::render::{self, EntityLayout};
use crate::store::{ChangeEvent, Org};

/// At most this many records share one grouped event.
pub const MAX_GROUPED_RECORDS: usize = 10_000;

/// How much one read may return and look at.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    pub max_messages: usize,
    /// Bounds the time the org lock is held when a subscription filters out most events.
    pub max_scanned: usize,
}

/// One event to deliver, rendered after the org lock is released (rendering is the costly part of a read).
#[derive(Debug)]
pub enum StreamItem {
    /// One change, or identical changes to several records of one transaction.
    Change {
        group: Vec<Arc<ChangeEvent>>,
        layout: Arc<EntityLayout>,
    },
    Gap {
        event: Arc<GapEvent>,
        layout: Arc<EntityLayout>,
    },
}

impl StreamItem {
    pub fn replay_id(&self) -> u64 {
        match self {
            StreamItem::Change { group, .. } => group.last().map_or(0, |e| e.seq),
            StreamItem::Gap { event, .. } => event.seq,
        }
    }

    /// The CometD message for this event on `channel`.
    pub fn render(&self, channel: &str) -> Json {
        match self {
            StreamItem::Change { group, layout } => {
                let members: Vec<&ChangeEvent> = group.iter().map(|e| &**e).collect();
                render::change_message(channel, &members, layout)
            }
            StreamItem::Gap { event, layout } => render::gap_message(channel, event, layout),
        }
    }
}

/// What one read produced.
#[derive(Debug, Default)]
pub struct Batch {
    /// In replay-id order.
    pub items: Vec<StreamItem>,
    /// Where the next read starts (the last sequence number looked at).
    pub cursor: u64,
    /// False when a limit stopped the read before the end of the stream.
    pub exhausted: bool,
}

/// A consistent view of the stream while the org's read lock is held.
pub struct StreamView<'a> {
    org: &'a Org,
    gaps: &'a GapLog,
    selection: &'a Selection,
    /// Events committed before this instant (org clock, ms) are past retention.
    cutoff_ms: i64,
    layouts: HashMap<Arc<str>, Arc<EntityLayout>>,
}

impl<'a> StreamView<'a> {
    pub fn new(
        org: &'a Org,
        gaps: &'a GapLog,
        selection: &'a Selection,
        retention_ms: i64,
    ) -> StreamView<'a> {
        StreamView {
            org,
            gaps,
            selection,
            cutoff_ms: org.clock.now_ms().saturating_sub(retention_ms),
            layouts: HashMap::new(),
        }
    }

    /// The newest sequence number handed out (the position `-1` subscribes at).
    pub fn tip(&self) -> u64 {
        self.org.change_log.last_seq()
    }

    /// Whether `seq` is the replay id of an event still within retention.
    pub fn is_retained(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        let change = self
            .org
            .change_log
            .events_after(seq - 1)
            .next()
            .filter(|e| e.seq == seq)
            .map(|e| e.commit_timestamp);
        let gap = || self.gaps.get(seq).map(|g| g.commit_timestamp);
        change
            .or_else(gap)
            .is_some_and(|committed| committed >= self.cutoff_ms)
    }

    fn layout(&mut self, entity: &Arc<str>) -> Arc<EntityLayout> {
        if let Some(layout) = self.layouts.get(entity) {
            return layout.clone();
        }
        let layout = Arc::new(match self.org.object(entity) {
            Some(store) => EntityLayout::of(&store.schema),
            None => EntityLayout::unknown(entity),
        });
        self.layouts.insert(entity.clone(), layout.clone());
        layout
    }

    /// Reads the events after `after` that belong on the channel of `target`.
    pub fn read(&mut self, target: &ChannelTarget, after: u64, limits: ReadLimits) -> Batch {
        let org = self.org;
        let gap_log = self.gaps;
        let mut changes = org.change_log.events_after(after).peekable();
        let mut gaps = gap_log.events_after(after).peekable();
        let mut batch = Batch {
            cursor: after,
            ..Batch::default()
        };
        let mut scanned = 0;
        loop {
            if batch.items.len() >= limits.max_messages || scanned >= limits.max_scanned {
                return batch;
            }
            let next_change = changes.peek().map(|e| e.seq);
            let next_gap = gaps.peek().map(|g| g.seq);
            match (next_change, next_gap) {
                (None, None) => {
                    batch.exhausted = true;
                    return batch;
                }
                (Some(change), gap) if gap.is_none_or(|gap| change < gap) => {
                    let Some(first) = changes.next() else {
                        continue;
                    };
                    let mut group: Vec<Arc<ChangeEvent>> = vec![first.clone()];
                    let mut records = HashSet::from([first.record_id]);
                    while let Some(next) = changes.peek() {
                        if group.len() >= MAX_GROUPED_RECORDS
                            || !same_change(first, next)
                            || !records.insert(next.record_id)
                        {
                            break;
                        }
                        group.push((*next).clone());
                        changes.next();
                    }
                    scanned += group.len();
                    batch.cursor = group[group.len() - 1].seq;
                    if first.commit_timestamp >= self.cutoff_ms
                        && target.accepts(&first.entity, self.selection)
                    {
                        let layout = self.layout(&first.entity);
                        batch.items.push(StreamItem::Change { group, layout });
                    }
                }
                _ => {
                    let Some(gap) = gaps.next() else {
                        continue;
                    };
                    scanned += 1;
                    batch.cursor = gap.seq;
                    if gap.commit_timestamp >= self.cutoff_ms
                        && target.accepts(&gap.entity, self.selection)
                    {
                        let layout = self.layout(&gap.entity);
                        batch.items.push(StreamItem::Gap {
                            event: gap.clone(),
                            layout,
                        });
                    }
                }
            }
        }
    }
}

/// Two changes Salesforce would publish as one event: same transaction, object, kind, fields and values.
fn same_change(first: &ChangeEvent, next: &ChangeEvent) -> bool {
    first.transaction_key == next.transaction_key
        && first.entity == next.entity
        && first.change_type == next.change_type
        && first.changed_fields == next.changed_fields
        && first.values == next.values
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cdc::gaps::{random_transaction_key, GapEvent, GapType};
    use crate::store::{ApiKind, WriteContext};

    const LIMITS: ReadLimits = ReadLimits {
        max_messages: 1000,
        max_scanned: 100_000,
    };

    fn body(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn rendered(batch: &Batch) -> Vec<(u64, serde_json::Value)> {
        batch
            .items
            .iter()
            .map(|item| (item.replay_id(), item.render("/data/ChangeEvents")))
            .collect()
    }

    fn write(org: &mut Org, build: impl FnOnce(&mut crate::store::Transaction<'_>)) {
        let context = WriteContext {
            user: org.users.admin,
            origin_client: Some("t".into()),
            api: Some(ApiKind::Rest),
            api_version: Some("62.0".into()),
        };
        let mut transaction = org.transaction(context);
        build(&mut transaction);
        transaction.commit();
    }

    #[test]
    fn groups_identical_changes_and_merges_gaps_in_order() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        let mut ids = Vec::new();
        write(&mut org, |t| {
            for name in ["A", "B", "C"] {
                ids.push(
                    t.create(account, &body(json!({"Name": name})))
                        .expect("create"),
                );
            }
        });
        let created_tip = org.change_log.last_seq();
        write(&mut org, |t| {
            for id in &ids {
                t.update(Some(account), id.as_str(), &body(json!({"Phone": "555"})))
                    .expect("update");
            }
            t.update(Some(account), ids[1].as_str(), &body(json!({"Fax": "556"})))
                .expect("update");
        });
        let mut gaps = GapLog::default();
        let seq = org.change_log.next_seq();
        gaps.push(
            GapEvent {
                seq,
                entity: "Account".into(),
                gap_type: GapType::Update,
                record_ids: vec![ids[1].to_string()],
                transaction_key: random_transaction_key(),
                commit_number: 1,
                commit_timestamp: org.clock.now_ms(),
                commit_user: org.users.admin,
            },
            0,
        );
        write(&mut org, |t| {
            for id in &ids {
                t.delete(None, id.as_str()).expect("delete");
            }
        });
        let selection = Selection::All;
        let mut view = StreamView::new(&org, &gaps, &selection, 3_600_000);
        let target = ChannelTarget::Object("Account".into());
        let batch = view.read(&target, 0, LIMITS);
        assert!(batch.exhausted);
        let messages = rendered(&batch);
        let kinds: Vec<(String, usize)> = messages
            .iter()
            .map(|(_, m)| {
                let header = &m["data"]["payload"]["ChangeEventHeader"];
                (
                    header["changeType"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    header["recordIds"].as_array().map_or(0, Vec::len),
                )
            })
            .collect();
        let expected = [
            ("CREATE", 1),
            ("CREATE", 1),
            ("CREATE", 1),
            ("UPDATE", 3),
            ("UPDATE", 1),
            ("GAP_UPDATE", 1),
            ("DELETE", 3),
        ];
        assert_eq!(
            kinds,
            expected.map(|(k, n)| (k.to_string(), n)).to_vec(),
            "{messages:#?}"
        );
        let replay_ids: Vec<u64> = messages.iter().map(|(seq, _)| *seq).collect();
        assert!(replay_ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(batch.cursor, org.change_log.last_seq());
        assert!(view.is_retained(created_tip));
        assert!(view.is_retained(seq));
        assert!(!view.is_retained(0));
        assert!(!view.is_retained(org.change_log.last_seq() + 1));

        let after_creates = view.read(&target, created_tip, LIMITS);
        assert_eq!(after_creates.items.len(), 4);
        let contacts = ChannelTarget::Object("Contact".into());
        let none = view.read(&contacts, 0, LIMITS);
        assert!(none.items.is_empty() && none.cursor == batch.cursor);
        let limited = view.read(
            &ChannelTarget::AllSelected,
            0,
            ReadLimits {
                max_messages: 2,
                max_scanned: 100,
            },
        );
        assert_eq!(limited.items.len(), 2);
        assert!(!limited.exhausted);
        assert_eq!(limited.cursor, limited.items[1].replay_id());
    }

    #[test]
    fn retention_hides_old_events() {
        let mut org = Org::new("admin@x").expect("org");
        let account = org.object_index("Account").expect("Account");
        write(&mut org, |t| {
            t.create(account, &body(json!({"Name": "Old"})))
                .expect("create");
        });
        let old = org.change_log.last_seq();
        org.clock.offset_ms += 2 * 3_600_000;
        let gaps = GapLog::default();
        let selection = Selection::All;
        let mut view = StreamView::new(&org, &gaps, &selection, 3_600_000);
        assert!(!view.is_retained(old));
        let batch = view.read(&ChannelTarget::AllSelected, 0, LIMITS);
        assert!(batch.items.is_empty());
        assert_eq!(batch.cursor, old);
    }
}
