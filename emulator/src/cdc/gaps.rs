//! Gap and overflow events (`GAP_CREATE` ... `GAP_OVERFLOW`), injected through `POST /__emulator/cdc/gap`. They
//! take replay ids from the change log's sequence, so they interleave with change events in commit order.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::store::RecordId;

/// The record id an overflow event always carries (the "empty" id).
pub const EMPTY_RECORD_ID: &str = "000000000000000AAA";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapType {
    Create,
    Update,
    Delete,
    Undelete,
    /// Too many changes in one transaction: the subscriber must resync the object.
    Overflow,
}

impl GapType {
    pub fn parse(text: &str) -> Option<GapType> {
        Some(match text {
            "GAP_CREATE" => GapType::Create,
            "GAP_UPDATE" => GapType::Update,
            "GAP_DELETE" => GapType::Delete,
            "GAP_UNDELETE" => GapType::Undelete,
            "GAP_OVERFLOW" => GapType::Overflow,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GapType::Create => "GAP_CREATE",
            GapType::Update => "GAP_UPDATE",
            GapType::Delete => "GAP_DELETE",
            GapType::Undelete => "GAP_UNDELETE",
            GapType::Overflow => "GAP_OVERFLOW",
        }
    }
}

/// One gap event: a header without field values.
#[derive(Clone, Debug)]
pub struct GapEvent {
    pub seq: u64,
    pub entity: Arc<str>,
    pub gap_type: GapType,
    pub record_ids: Vec<String>,
    pub transaction_key: String,
    pub commit_number: u64,
    pub commit_timestamp: i64,
    pub commit_user: RecordId,
}

/// Retained gap events, oldest first, plus a watch that wakes waiting connects.
#[derive(Debug)]
pub struct GapLog {
    events: VecDeque<Arc<GapEvent>>,
    notify: tokio::sync::watch::Sender<u64>,
}

impl Default for GapLog {
    fn default() -> Self {
        let (notify, _) = tokio::sync::watch::channel(0);
        GapLog {
            events: VecDeque::new(),
            notify,
        }
    }
}

impl GapLog {
    /// Appends an event (its seq must exceed every earlier one), drops events committed before `cutoff_ms`, and
    /// wakes the waiters.
    pub fn push(&mut self, event: GapEvent, cutoff_ms: i64) {
        let seq = event.seq;
        self.events.push_back(Arc::new(event));
        while self
            .events
            .front()
            .is_some_and(|e| e.commit_timestamp < cutoff_ms)
        {
            self.events.pop_front();
        }
        self.notify.send_replace(seq);
    }

    /// Retained events with `seq > after`, oldest first.
    pub fn events_after(&self, after: u64) -> impl Iterator<Item = &Arc<GapEvent>> {
        let start = self.events.partition_point(|e| e.seq <= after);
        self.events.range(start..)
    }

    /// The retained event with exactly this seq.
    pub fn get(&self, seq: u64) -> Option<&Arc<GapEvent>> {
        self.events_after(seq.saturating_sub(1))
            .next()
            .filter(|e| e.seq == seq)
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn clear(&mut self) {
        self.events.clear();
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// A UUID-shaped transaction key for a gap event (gap events come from outside any API transaction).
pub fn random_transaction_key() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(seq: u64, at: i64) -> GapEvent {
        GapEvent {
            seq,
            entity: "Account".into(),
            gap_type: GapType::Update,
            record_ids: vec![],
            transaction_key: random_transaction_key(),
            commit_number: 1,
            commit_timestamp: at,
            commit_user: RecordId::generate("005", 1),
        }
    }

    #[test]
    fn keeps_order_expires_and_finds_by_seq() {
        let mut log = GapLog::default();
        let mut waiter = log.subscribe();
        log.push(gap(3, 100), 0);
        log.push(gap(9, 200), 0);
        assert!(waiter.has_changed().expect("alive"));
        assert_eq!(*waiter.borrow_and_update(), 9);
        assert_eq!(log.events_after(3).map(|e| e.seq).collect::<Vec<_>>(), [9]);
        assert!(log.get(3).is_some() && log.get(4).is_none());
        log.push(gap(12, 300), 150);
        assert_eq!(
            log.events_after(0).map(|e| e.seq).collect::<Vec<_>>(),
            [9, 12]
        );
        assert_eq!(GapType::parse("GAP_OVERFLOW"), Some(GapType::Overflow));
        assert_eq!(GapType::parse("GAP_NOPE"), None);
        let key = random_transaction_key();
        assert_eq!(key.len(), 36);
        assert_eq!(key.matches('-').count(), 4);
    }
}
