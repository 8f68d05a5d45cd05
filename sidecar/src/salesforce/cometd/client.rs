//! The Bayeux long-polling loop: handshake (keeping cookies), subscribe with the replay extension,
//! connect while honouring `advice`; re-handshake and re-subscribe from the last replay id on
//! `403::Unknown client`; log in again on `401`; report an invalid replay id as a typed error.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use thiserror::Error;
use tokio::sync::{mpsc, watch};

use super::cookies::CookieJar;
use super::messages::{parse_messages, Advice, BayeuxMessage, StreamEvent};
use crate::salesforce::client::{Call, CallKind, SalesforceClient};
use crate::salesforce::error::SalesforceError;
use crate::salesforce::Backoff;
use crate::shutdown::ShutdownSignal;

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// `-1`: only events published from now on.
    NewEvents,
    /// `-2`: every stored event (72 hours for CDC).
    AllStored,
    /// Events after this replay id.
    After(i64),
}

impl ReplayFrom {
    fn value(self) -> i64 {
        match self {
            ReplayFrom::NewEvents => -1,
            ReplayFrom::AllStored => -2,
            ReplayFrom::After(id) => id,
        }
    }
}

/// A channel (`/data/AccountChangeEvent`, `/data/ChangeEvents`, ...) and where to start on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub channel: String,
    pub replay_from: ReplayFrom,
}

#[derive(Debug, Error)]
pub enum StreamingError {
    /// The stored replay id is unknown or expired: fall back to polling, then resubscribe.
    #[error("replay id {replay_id} is not valid for {channel}: {message}")]
    InvalidReplayId {
        channel: String,
        replay_id: i64,
        message: String,
    },
    #[error("subscribing to {channel} failed: {message}")]
    SubscribeFailed { channel: String, message: String },
    #[error("the CometD handshake failed: {message}")]
    HandshakeFailed { message: String },
    #[error("the server asked not to reconnect: {message}")]
    ReconnectRefused { message: String },
    #[error("CometD response without the expected {channel} reply")]
    MissingReply { channel: &'static str },
    #[error("cannot decode a CometD response")]
    Decode(#[source] serde_json::Error),
    #[error("CometD request failed")]
    Salesforce(#[from] SalesforceError),
    #[error("gave up after {attempts} consecutive failures; last: {last}")]
    TooManyFailures { attempts: u32, last: String },
}

#[derive(Debug, Clone)]
pub struct StreamingOptions {
    /// Added to the server's advised long-poll time-out for the HTTP time-out.
    pub timeout_margin: Duration,
    /// Waits between attempts after transient failures.
    pub backoff: Backoff,
    /// Consecutive failed attempts (handshakes, connects) before giving up.
    pub max_consecutive_failures: u32,
}

impl Default for StreamingOptions {
    fn default() -> Self {
        Self {
            timeout_margin: Duration::from_secs(30),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(60)),
            max_consecutive_failures: 20,
        }
    }
}

/// Salesforce's default long-poll time-out (`advice.timeout`).
const DEFAULT_POLL_TIMEOUT_MS: u64 = 110_000;

/// What to do after a failed exchange.
enum Recovery {
    /// Re-handshake and re-subscribe from the last replay ids.
    Rehandshake,
    /// Log in again, then re-handshake.
    Reauthenticate,
    Fatal(StreamingError),
}

/// One streaming session; [`run`](Self::run) drives it until shutdown or a fatal error.
pub struct StreamingClient {
    salesforce: SalesforceClient,
    path: String,
    subscriptions: Vec<Subscription>,
    /// The last replay id delivered per channel; resubscriptions start after it.
    replay_ids: HashMap<String, i64>,
    options: StreamingOptions,
    cookies: CookieJar,
    client_id: Option<String>,
    advice: Advice,
    message_id: u64,
    /// Counts successful subscriptions (the first and every one after a re-handshake).
    subscribed: Option<watch::Sender<u64>>,
}

impl StreamingClient {
    pub fn new(
        salesforce: SalesforceClient,
        subscriptions: Vec<Subscription>,
        options: StreamingOptions,
    ) -> Self {
        let path = format!("/cometd/{}", salesforce.api_version());
        Self {
            salesforce,
            path,
            subscriptions,
            replay_ids: HashMap::new(),
            options,
            cookies: CookieJar::default(),
            client_id: None,
            advice: Advice::default(),
            message_id: 0,
            subscribed: None,
        }
    }

    /// A receiver whose value counts successful subscriptions. Events published between a lost
    /// session and its re-subscription are not replayed when no event had arrived yet (the
    /// subscription starts at `-1` again): a caller can read what it missed when this changes.
    pub fn subscriptions(&mut self) -> watch::Receiver<u64> {
        let sender = self.subscribed.get_or_insert_with(|| watch::channel(0).0);
        sender.subscribe()
    }

    /// The last replay id delivered per channel.
    pub fn replay_ids(&self) -> &HashMap<String, i64> {
        &self.replay_ids
    }

    /// Delivers events into `events` until `shutdown` fires or the receiver is dropped (`Ok`), or
    /// until a fatal error (`Err`: e.g. [`StreamingError::InvalidReplayId`]).
    pub async fn run(
        &mut self,
        events: mpsc::Sender<StreamEvent>,
        mut shutdown: ShutdownSignal,
    ) -> Result<(), StreamingError> {
        let mut failures: u32 = 0;
        loop {
            if shutdown.is_triggered() || events.is_closed() {
                return Ok(());
            }
            let outcome = tokio::select! {
                outcome = self.session(&events, &mut failures) => outcome,
                _ = shutdown.triggered() => return Ok(()),
            };
            let recovery = match outcome {
                Ok(()) => return Ok(()),
                Err(recovery) => recovery,
            };
            match recovery {
                Recovery::Fatal(error) => return Err(error),
                Recovery::Rehandshake => {}
                Recovery::Reauthenticate => {
                    let token = self
                        .salesforce
                        .session()
                        .token()
                        .await
                        .map_err(SalesforceError::from)?;
                    self.salesforce
                        .session()
                        .renew(&token)
                        .await
                        .map_err(SalesforceError::from)?;
                }
            }
            failures += 1;
            if failures >= self.options.max_consecutive_failures {
                return Err(StreamingError::TooManyFailures {
                    attempts: failures,
                    last: "the streaming session kept failing".to_string(),
                });
            }
            let delay = if failures <= 1 {
                Duration::ZERO
            } else {
                self.options.backoff.delay(failures - 2)
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.triggered() => return Ok(()),
            }
        }
    }

    /// Handshake, subscribe, then connect until something goes wrong. `Ok` means the receiver is gone.
    async fn session(
        &mut self,
        events: &mpsc::Sender<StreamEvent>,
        failures: &mut u32,
    ) -> Result<(), Recovery> {
        self.handshake().await?;
        for subscription in self.subscriptions.clone() {
            self.subscribe(&subscription).await?;
        }
        loop {
            let interval = self.advice.interval.unwrap_or(0);
            if interval > 0 {
                tokio::time::sleep(Duration::from_millis(interval)).await;
            }
            let messages = self.connect().await?;
            *failures = 0;
            for message in &messages {
                if message.is_meta() {
                    continue;
                }
                match StreamEvent::from_message(message) {
                    Some(Ok(event)) => {
                        self.replay_ids
                            .insert(event.channel.clone(), event.replay_id);
                        if events.send(event).await.is_err() {
                            return Ok(());
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(channel = %message.channel, %error, "skipping an event with an unreadable ChangeEventHeader");
                    }
                    None => {
                        tracing::debug!(channel = %message.channel, "ignoring a message without a replay id");
                    }
                }
            }
            // The events that came with the reply are delivered first; then follow the advice.
            match self.advice.reconnect.as_deref() {
                Some("handshake") => return Err(Recovery::Rehandshake),
                Some("none") => {
                    return Err(Recovery::Fatal(StreamingError::ReconnectRefused {
                        message: "advice reconnect=none".to_string(),
                    }))
                }
                _ => {}
            }
        }
    }

    fn next_id(&mut self) -> String {
        self.message_id += 1;
        self.message_id.to_string()
    }

    async fn handshake(&mut self) -> Result<(), Recovery> {
        self.cookies.clear();
        self.client_id = None;
        let id = self.next_id();
        let request = json!([{
            "channel": "/meta/handshake",
            "id": id,
            "version": "1.0",
            "minimumVersion": "1.0",
            "supportedConnectionTypes": ["long-polling"],
            "ext": { "replay": true },
        }]);
        let messages = self
            .exchange("cometd_handshake", request, Duration::from_secs(60))
            .await?;
        let reply = find_reply(&messages, "/meta/handshake")?;
        if let Some(advice) = &reply.advice {
            self.advice = advice.clone();
        }
        if reply.successful != Some(true) {
            let text = reply.error_text();
            if text.contains("401::") {
                return Err(Recovery::Reauthenticate);
            }
            if reply.advice.as_ref().and_then(|a| a.reconnect.as_deref()) == Some("none") {
                return Err(Recovery::Fatal(StreamingError::HandshakeFailed {
                    message: text,
                }));
            }
            tracing::warn!(error = %text, "CometD handshake refused; retrying");
            return Err(Recovery::Rehandshake);
        }
        match reply.client_id.clone() {
            Some(client_id) => {
                self.client_id = Some(client_id);
                Ok(())
            }
            None => Err(Recovery::Fatal(StreamingError::HandshakeFailed {
                message: "no clientId in the handshake reply".to_string(),
            })),
        }
    }

    async fn subscribe(&mut self, subscription: &Subscription) -> Result<(), Recovery> {
        let replay_id = self
            .replay_ids
            .get(&subscription.channel)
            .copied()
            .unwrap_or_else(|| subscription.replay_from.value());
        let id = self.next_id();
        let mut replay = serde_json::Map::new();
        replay.insert(subscription.channel.clone(), Value::from(replay_id));
        let request = json!([{
            "channel": "/meta/subscribe",
            "id": id,
            "clientId": self.client_id,
            "subscription": subscription.channel,
            "ext": { "replay": replay },
        }]);
        let messages = self
            .exchange("cometd_subscribe", request, Duration::from_secs(60))
            .await?;
        let reply = find_reply(&messages, "/meta/subscribe")?;
        if reply.successful == Some(true) {
            tracing::info!(channel = %subscription.channel, replay_id, "subscribed");
            if let Some(subscribed) = &self.subscribed {
                subscribed.send_modify(|count| *count += 1);
            }
            return Ok(());
        }
        let text = reply.error_text();
        if mentions_replay_id(&text) {
            return Err(Recovery::Fatal(StreamingError::InvalidReplayId {
                channel: subscription.channel.clone(),
                replay_id,
                message: text,
            }));
        }
        match classify(&text) {
            Some(recovery) => Err(recovery),
            None => Err(Recovery::Fatal(StreamingError::SubscribeFailed {
                channel: subscription.channel.clone(),
                message: text,
            })),
        }
    }

    async fn connect(&mut self) -> Result<Vec<BayeuxMessage>, Recovery> {
        let id = self.next_id();
        let request = json!([{
            "channel": "/meta/connect",
            "id": id,
            "clientId": self.client_id,
            "connectionType": "long-polling",
        }]);
        let poll = Duration::from_millis(self.advice.timeout.unwrap_or(DEFAULT_POLL_TIMEOUT_MS));
        let messages = self
            .exchange(
                "cometd_connect",
                request,
                poll + self.options.timeout_margin,
            )
            .await?;
        let reply = find_reply(&messages, "/meta/connect")?;
        if let Some(advice) = &reply.advice {
            self.advice = advice.clone();
        }
        if reply.successful == Some(true) {
            return Ok(messages);
        }
        let text = reply.error_text();
        if mentions_replay_id(&text) {
            return Err(Recovery::Fatal(StreamingError::InvalidReplayId {
                channel: String::from("(connect)"),
                replay_id: 0,
                message: text,
            }));
        }
        if let Some(recovery) = classify(&text) {
            return Err(recovery);
        }
        match self.advice.reconnect.as_deref() {
            Some("none") => Err(Recovery::Fatal(StreamingError::ReconnectRefused {
                message: text,
            })),
            _ => Err(Recovery::Rehandshake),
        }
    }

    /// Posts one Bayeux request. Transport failures and 5xx are recoverable by re-handshaking.
    async fn exchange(
        &mut self,
        operation: &'static str,
        request: Value,
        timeout: Duration,
    ) -> Result<Vec<BayeuxMessage>, Recovery> {
        let cookie = self.cookies.header();
        let body = bytes::Bytes::from(request.to_string());
        let call = Call::new(operation, Method::POST, self.path.clone(), CallKind::Read)
            .unbudgeted()
            .timeout(timeout)
            .customize(move |builder| {
                let builder = builder
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                match &cookie {
                    Some(cookie) => builder.header(reqwest::header::COOKIE, cookie.as_str()),
                    None => builder,
                }
            });
        let response = match self.salesforce.execute(call).await {
            Ok(response) => response,
            Err(error) if error.is_transient() => {
                tracing::warn!(error = %crate::error_chain(&error), "CometD request failed; re-handshaking");
                return Err(Recovery::Rehandshake);
            }
            Err(error) => return Err(Recovery::Fatal(error.into())),
        };
        self.cookies.absorb(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(source) => {
                tracing::warn!(error = %source, "CometD response cut off; re-handshaking");
                return Err(Recovery::Rehandshake);
            }
        };
        parse_messages(&body).map_err(|error| Recovery::Fatal(StreamingError::Decode(error)))
    }
}

fn find_reply<'m>(
    messages: &'m [BayeuxMessage],
    channel: &'static str,
) -> Result<&'m BayeuxMessage, Recovery> {
    messages
        .iter()
        .find(|message| message.channel == channel)
        .ok_or(Recovery::Fatal(StreamingError::MissingReply { channel }))
}

/// `403::Unknown client` → re-handshake; `401::...` → log in again.
fn classify(error: &str) -> Option<Recovery> {
    if error.contains("401::") {
        Some(Recovery::Reauthenticate)
    } else if error.contains("403::Unknown client") || error.contains("403::unknown client") {
        Some(Recovery::Rehandshake)
    } else {
        None
    }
}

fn mentions_replay_id(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("replayid") || lower.contains("replay id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_values_follow_the_reference() {
        assert_eq!(ReplayFrom::NewEvents.value(), -1);
        assert_eq!(ReplayFrom::AllStored.value(), -2);
        assert_eq!(ReplayFrom::After(42).value(), 42);
    }

    #[test]
    fn documented_errors_are_classified() {
        assert!(matches!(
            classify("403::Unknown client"),
            Some(Recovery::Rehandshake)
        ));
        assert!(matches!(
            classify("401::Authentication invalid"),
            Some(Recovery::Reauthenticate)
        ));
        assert!(matches!(
            classify("403::Handshake denied (401::Authentication invalid)"),
            Some(Recovery::Reauthenticate)
        ));
        assert!(classify("400::bad request").is_none());
        assert!(mentions_replay_id(
            "400::The replayId {X} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
        ));
    }
}
