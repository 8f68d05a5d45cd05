//! One CDC subscription of a mapping: a `StreamingClient` on its own task, delivering events over a
//! channel, stoppable at any time.

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::events::EventBatch;
use crate::salesforce::cometd::{
    ReplayFrom, StreamEvent, StreamingClient, StreamingError, StreamingOptions, Subscription,
};
use crate::salesforce::SalesforceClient;
use crate::shutdown::Shutdown;

/// Events are buffered up to this many while a batch is being applied.
const CHANNEL_CAPACITY: usize = 4_096;

/// The change-event channel of an object: `/data/AccountChangeEvent`, `/data/Foo__ChangeEvent`.
pub fn channel_for(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(custom) => format!("/data/{custom}__ChangeEvent"),
        None => format!("/data/{object}ChangeEvent"),
    }
}

/// What the subscription produced.
pub enum StreamItem {
    Event(Box<StreamEvent>),
    /// A subscription succeeded (the first, or again after a lost session): events from here on
    /// arrive; what happened before must be polled.
    Subscribed,
    /// The client stopped: `Ok` only when it was asked to.
    Ended(Result<(), StreamingError>),
}

/// A running subscription.
pub struct StreamSession {
    events: mpsc::Receiver<StreamEvent>,
    subscriptions: watch::Receiver<u64>,
    task: Option<JoinHandle<Result<(), StreamingError>>>,
    stop: Shutdown,
}

impl StreamSession {
    /// Subscribes to `object`'s change events from `from`.
    pub fn start(salesforce: &SalesforceClient, object: &str, from: ReplayFrom) -> Self {
        let (sender, events) = mpsc::channel(CHANNEL_CAPACITY);
        let stop = Shutdown::new();
        let signal = stop.signal();
        let mut client = StreamingClient::new(
            salesforce.clone(),
            vec![Subscription {
                channel: channel_for(object),
                replay_from: from,
            }],
            StreamingOptions::default(),
        );
        let subscriptions = client.subscriptions();
        let task = tokio::spawn(async move { client.run(sender, signal).await }.in_current_span());
        Self {
            events,
            subscriptions,
            task: Some(task),
            stop,
        }
    }

    /// The next event, a (re)subscription, or how the client ended.
    pub async fn next(&mut self) -> StreamItem {
        tokio::select! {
            biased;
            event = self.events.recv() => match event {
                Some(event) => StreamItem::Event(Box::new(event)),
                None => StreamItem::Ended(self.join().await),
            },
            Ok(()) = self.subscriptions.changed() => StreamItem::Subscribed,
        }
    }

    /// Adds the events already waiting (up to `limit` of them) to `batch`, without waiting.
    pub fn drain_ready(&mut self, batch: &mut EventBatch, limit: usize, own_client: Option<&str>) {
        while batch.events < limit {
            match self.events.try_recv() {
                Ok(event) => batch.add(&event, own_client),
                Err(_) => break,
            }
        }
    }

    async fn join(&mut self) -> Result<(), StreamingError> {
        match self.task.take() {
            None => Ok(()),
            Some(task) => match task.await {
                Ok(result) => result,
                Err(join_error) => Err(StreamingError::TooManyFailures {
                    attempts: 0,
                    last: format!("the streaming task ended abnormally: {join_error}"),
                }),
            },
        }
    }
}

impl Drop for StreamSession {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_follow_the_documented_names() {
        assert_eq!(channel_for("Account"), "/data/AccountChangeEvent");
        assert_eq!(channel_for("Invoice__c"), "/data/Invoice__ChangeEvent");
    }
}
