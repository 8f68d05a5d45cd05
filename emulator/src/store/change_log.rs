//! The org-level change log: every committed record change, in commit order, with increasing non-contiguous
//! sequence numbers. CDC (replay ids) and getUpdated/getDeleted read it.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ids::RecordId;
use super::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Undelete,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Create => "CREATE",
            ChangeType::Update => "UPDATE",
            ChangeType::Delete => "DELETE",
            ChangeType::Undelete => "UNDELETE",
        }
    }
}

/// Which API made a change (the `<api>` of CDC's `changeOrigin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    Rest,
    Bulkapi,
    Soap,
    Apex,
}

impl ApiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKind::Rest => "rest",
            ApiKind::Bulkapi => "bulkapi",
            ApiKind::Soap => "soap",
            ApiKind::Apex => "apex",
        }
    }
}

/// One committed change of one record.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    /// Org-wide, strictly increasing, not contiguous (usable as a CDC replay id).
    pub seq: u64,
    /// Shared by every change of one transaction (CDC `transactionKey`).
    pub transaction_key: Arc<str>,
    /// 1-based position inside the transaction (CDC `sequenceNumber`).
    pub sequence_in_transaction: u32,
    /// The transaction's commit number (CDC `commitNumber`).
    pub commit_number: u64,
    pub entity: Arc<str>,
    pub record_id: RecordId,
    pub change_type: ChangeType,
    /// UPDATE: fields whose value changed (plus LastModifiedDate, and LastModifiedById when it changed), in
    /// field order. Empty for CREATE, DELETE and UNDELETE (as CDC's `changedFields`).
    pub changed_fields: Vec<Arc<str>>,
    /// Values after the change: UPDATE: the changed fields; CREATE/UNDELETE: every non-null stored field
    /// (system fields included: CDC drops IsDeleted/SystemModstamp itself); DELETE: none. Address compounds are
    /// never included, their components are.
    pub values: Vec<(Arc<str>, Value)>,
    /// Commit time, org clock, ms since the epoch.
    pub commit_timestamp: i64,
    pub commit_user: RecordId,
    /// `client=` value of the caller's `Sforce-Call-Options` header.
    pub origin_client: Option<String>,
    /// `None` for changes that did not come through an API (seeding).
    pub api: Option<ApiKind>,
    /// The writer's API version (`62.0`), the `<ver>` of CDC's `changeOrigin`.
    pub api_version: Option<Arc<str>>,
}

/// The log itself. Events older than the retention or beyond the size cap are dropped from the front.
#[derive(Debug)]
pub struct ChangeLog {
    events: VecDeque<Arc<ChangeEvent>>,
    last_seq: u64,
    last_commit_number: u64,
    pub max_events: usize,
    pub retention_ms: i64,
    notify: tokio::sync::watch::Sender<u64>,
}

/// CDC keeps events for 72 hours.
pub const DEFAULT_RETENTION_MS: i64 = 72 * 3600 * 1000;
pub const DEFAULT_MAX_EVENTS: usize = 2_000_000;

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog::new(0, 0)
    }
}

impl ChangeLog {
    pub fn new(last_seq: u64, last_commit_number: u64) -> ChangeLog {
        let (notify, _) = tokio::sync::watch::channel(last_seq);
        ChangeLog {
            events: VecDeque::new(),
            last_seq,
            last_commit_number,
            max_events: DEFAULT_MAX_EVENTS,
            retention_ms: DEFAULT_RETENTION_MS,
            notify,
        }
    }

    /// The sequence number of the newest event ever appended (0 when none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn last_commit_number(&self) -> u64 {
        self.last_commit_number
    }

    /// The oldest retained sequence number, if any event is retained.
    pub fn first_retained_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// A receiver whose value is the newest sequence number; `changed().await` wakes on every commit.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Retained events with `seq > after`, oldest first.
    pub fn events_after(&self, after: u64) -> impl Iterator<Item = &Arc<ChangeEvent>> {
        let start = self.events.partition_point(|e| e.seq <= after);
        self.events.range(start..)
    }

    /// Every retained event, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ChangeEvent>> {
        self.events.iter()
    }

    /// Allocates the next commit number (one per transaction).
    pub(crate) fn next_commit_number(&mut self) -> u64 {
        self.last_commit_number += 1 + (self.last_commit_number % 3);
        self.last_commit_number
    }

    /// Hands out the next sequence number: strictly increasing with gaps, as Salesforce replay ids are.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.last_seq += 1
            + (self
                .last_seq
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                >> 62);
        self.last_seq
    }

    /// Appends one transaction's events atomically and wakes the waiters.
    pub(crate) fn append(&mut self, events: Vec<ChangeEvent>, now_ms: i64) {
        if events.is_empty() {
            return;
        }
        self.events.extend(events.into_iter().map(Arc::new));
        let oldest_allowed = now_ms - self.retention_ms;
        while self.events.front().is_some_and(|e| {
            e.commit_timestamp < oldest_allowed || self.events.len() > self.max_events
        }) {
            self.events.pop_front();
        }
        self.notify.send_replace(self.last_seq);
    }

    /// Restores events from a state file (sequence numbers kept).
    pub(crate) fn restore(&mut self, events: Vec<ChangeEvent>) {
        self.events = events.into_iter().map(Arc::new).collect();
        self.notify.send_replace(self.last_seq);
    }

    /// Drops retained events (reset); sequence numbers keep increasing.
    pub(crate) fn clear(&mut self) {
        self.events.clear();
    }
}
