//! A mapping's change-event feed as the follow loop uses it: the CDC subscription while there is
//! one, when an unavailable or failed subscription is tried again, and the note `state_detail` shows
//! while change events are not available. It decides what an ended subscription means; the worker
//! does the reading that follows from it.

use tokio::time::Instant;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::events::EventBatch;
use super::stream::{StreamItem, StreamSession};
use crate::salesforce::cometd::{ReplayFrom, StreamingError};

/// An object whose change events cannot be subscribed to is tried again this often.
const CDC_RETRY: std::time::Duration = std::time::Duration::from_secs(600);
/// After a streaming failure, the subscription is restarted after this (polling meanwhile).
const STREAM_RESTART: std::time::Duration = std::time::Duration::from_secs(30);

/// What the worker does after a subscription ended.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterEnd {
    /// Keep polling; the feed restarts itself at [`ChangeFeed::resubscribe_at`] if it should.
    Poll,
    /// The stored replay id is no longer valid: read everything since the high-water mark, store
    /// "new events only" (-1) as the position, and subscribe to new events at once.
    CatchUpFromNewEvents,
    /// Change events are not available for the object: show the note, poll.
    ShowNote,
}

#[derive(Default)]
pub struct ChangeFeed {
    session: Option<StreamSession>,
    /// No subscription before this (CDC unavailable or failing).
    blocked_until: Option<Instant>,
    /// Why the mapping is polled although it asks for CDC.
    note: Option<String>,
}

impl ChangeFeed {
    /// Subscribes when the mapping streams and no failure holds the subscription back; returns
    /// whether it did.
    pub fn open(&mut self, context: &ReaderContext, mapping: &Mapping) -> bool {
        self.session = None;
        if !mapping.streaming
            || self
                .blocked_until
                .is_some_and(|until| until > Instant::now())
        {
            return false;
        }
        self.subscribe(context, mapping, stored_position(mapping));
        true
    }

    /// Subscribes again from the stored position once [`Self::resubscribe_at`] has come.
    pub fn resubscribe(&mut self, context: &ReaderContext, mapping: &Mapping) {
        self.blocked_until = None;
        self.subscribe(context, mapping, stored_position(mapping));
    }

    /// Subscribes from `from`, replacing any subscription.
    pub fn subscribe(&mut self, context: &ReaderContext, mapping: &Mapping, from: ReplayFrom) {
        tracing::info!(mapping = %mapping.label(), ?from, "subscribing to change events");
        self.session = Some(StreamSession::start(
            &context.salesforce,
            &mapping.object_name,
            from,
        ));
    }

    /// Ends the subscription (the follow loop returns).
    pub fn close(&mut self) {
        self.session = None;
    }

    pub fn is_streaming(&self) -> bool {
        self.session.is_some()
    }

    /// When to subscribe again: a streaming mapping without a subscription, held back until then.
    pub fn resubscribe_at(&self, mapping: &Mapping) -> Option<Instant> {
        match (
            mapping.streaming,
            self.session.is_some(),
            self.blocked_until,
        ) {
            (true, false, Some(until)) => Some(until),
            _ => None,
        }
    }

    /// The next item of the subscription; never, without one. An ended subscription is closed.
    pub async fn next(&mut self) -> StreamItem {
        let Some(session) = self.session.as_mut() else {
            return std::future::pending().await;
        };
        let item = session.next().await;
        if matches!(item, StreamItem::Ended(_)) {
            self.session = None;
        }
        item
    }

    /// Adds the events already received (up to `limit` records) to `batch`.
    pub fn drain_ready(&mut self, batch: &mut EventBatch, limit: usize, own_client: Option<&str>) {
        if let Some(session) = self.session.as_mut() {
            session.drain_ready(batch, limit, own_client);
        }
    }

    /// Decides what an ended subscription means.
    pub fn ended(&mut self, mapping: &Mapping, result: Result<(), StreamingError>) -> AfterEnd {
        self.session = None;
        match result {
            Ok(()) => AfterEnd::Poll,
            Err(StreamingError::InvalidReplayId { message, .. }) => {
                tracing::warn!(mapping = %mapping.label(), %message, "the stored replay id is no longer valid; polling from the high-water mark and subscribing to new events");
                AfterEnd::CatchUpFromNewEvents
            }
            Err(StreamingError::SubscribeFailed { channel, message }) => {
                let note = format!(
                    "Change Data Capture is not available for {} (subscribing to {channel} failed: {message}); \
                     polling every {}s instead",
                    mapping.object_name, mapping.poll_seconds
                );
                tracing::warn!(mapping = %mapping.label(), "{note}");
                self.note = Some(note);
                self.blocked_until = Some(Instant::now() + CDC_RETRY);
                AfterEnd::ShowNote
            }
            Err(error) => {
                tracing::warn!(mapping = %mapping.label(), error = %crate::error_chain(&error), "the change-event subscription failed; polling until it is restarted");
                self.blocked_until = Some(Instant::now() + STREAM_RESTART);
                AfterEnd::Poll
            }
        }
    }

    /// The note for `state_detail`, if change events are unavailable.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Clears the note (events arrive again, or the mapping no longer streams); returns whether
    /// there was one.
    pub fn clear_note(&mut self) -> bool {
        self.note.take().is_some()
    }
}

/// Where a new subscription starts: after the stored replay id, or with new events only.
fn stored_position(mapping: &Mapping) -> ReplayFrom {
    match mapping.replay_id {
        Some(id) if id >= 0 => ReplayFrom::After(id),
        _ => ReplayFrom::NewEvents,
    }
}
