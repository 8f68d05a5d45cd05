//! `POST /cometd/{version}`: Bayeux long polling. Messages of one request are handled in order; a connect
//! returns at once with pending events, else waits (without holding any lock) until a commit, a gap event, a new
//! subscription or the long-poll time-out.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::bayeux::{self, Message, ReplayFrom};
use super::channels::{self, Selection};
use super::clients::{new_browser_id, Client, Subscription, BROWSER_COOKIE};
use super::stream::{ReadLimits, StreamView};
use crate::app::SharedState;
use crate::http::context::MAX_VERSION;
use crate::http::error::json_response;
use crate::store::RecordId;

/// One connect delivers at most this many events per subscription; the rest come with the next connect.
pub const MAX_EVENTS_PER_CONNECT: usize = 1000;
const READ_LIMITS: ReadLimits = ReadLimits {
    max_messages: MAX_EVENTS_PER_CONNECT,
    max_scanned: 200_000,
};
/// A waiting connect re-checks its session this often ("Streaming API regularly validates the OAuth token").
const SESSION_CHECK: Duration = Duration::from_secs(1);

pub async fn cometd(
    State(app): State<SharedState>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(app, Some(version), headers, body).await
}

/// `/cometd/{version}/connect` and the like: some clients append the message type to the URL.
pub async fn cometd_suffixed(
    State(app): State<SharedState>,
    Path((version, _suffix)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(app, Some(version), headers, body).await
}

/// `/cometd` without a version.
pub async fn cometd_unversioned(
    State(app): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(app, None, headers, body).await
}

/// What the HTTP request carries besides its messages.
struct RequestSession {
    token: Option<String>,
    browser: Option<String>,
}

enum Auth {
    Missing,
    Invalid,
    Valid(RecordId),
}

impl RequestSession {
    fn from_headers(headers: &HeaderMap) -> RequestSession {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("OAuth "))
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let browser = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == BROWSER_COOKIE)
            .map(|(_, value)| value.to_string());
        RequestSession { token, browser }
    }

    fn authenticate(&self, app: &SharedState) -> Auth {
        match &self.token {
            None => Auth::Missing,
            Some(token) => match app.sessions.lock().authenticate(token) {
                Some(user) => Auth::Valid(user),
                None => Auth::Invalid,
            },
        }
    }
}

/// `62.0` → served when at least 37.0 and at most the newest REST version.
fn supported_version(version: &str) -> bool {
    version
        .split_once('.')
        .filter(|(_, minor)| *minor == "0")
        .and_then(|(major, _)| major.parse::<u32>().ok())
        .is_some_and(|major| (bayeux::MIN_STREAMING_VERSION..=MAX_VERSION).contains(&major))
}

async fn handle(
    app: SharedState,
    version: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let messages = match bayeux::parse_messages(&body) {
        Ok(messages) => messages,
        Err(error) => {
            let reply =
                json!({"successful": false, "error": format!("400::Malformed JSON: {error}")});
            return respond(&app, StatusCode::BAD_REQUEST, vec![reply], None);
        }
    };
    let version_error = match version.as_deref() {
        None => Some(bayeux::missing_version_error()),
        Some(version) if !supported_version(version) => Some(bayeux::unsupported_version_error()),
        Some(_) => None,
    };
    if let Some(error) = version_error {
        let replies = messages.iter().map(|m| bayeux::failed(m, &error)).collect();
        return respond(&app, StatusCode::BAD_REQUEST, replies, None);
    }
    let session = RequestSession::from_headers(&headers);
    let mut replies = Vec::with_capacity(messages.len());
    let mut cookie = None;
    for message in &messages {
        match message.channel() {
            bayeux::HANDSHAKE => {
                let (reply, browser) = handshake(&app, &session, message);
                replies.push(reply);
                cookie = browser.or(cookie);
            }
            bayeux::CONNECT => replies.extend(connect(&app, &session, message).await),
            bayeux::SUBSCRIBE => replies.push(subscribe(&app, &session, message)),
            bayeux::UNSUBSCRIBE => replies.push(unsubscribe(&app, &session, message)),
            bayeux::DISCONNECT => replies.push(disconnect(&app, &session, message)),
            channel if channel.starts_with("/meta/") => {
                replies.push(bayeux::failed(message, "400::Unknown meta channel"))
            }
            _ => replies.push(bayeux::failed(message, "403::Publish denied")),
        }
    }
    respond(&app, StatusCode::OK, replies, cookie)
}

fn respond(
    app: &SharedState,
    status: StatusCode,
    replies: Vec<Json>,
    browser: Option<String>,
) -> Response {
    let mut response = json_response(status, &Json::Array(replies));
    if let Some(browser) = browser {
        let secure = if app.base_url.starts_with("https") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{BROWSER_COOKIE}={browser}; Path=/; HttpOnly{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Returns the reply and, on success, the browser cookie to set.
fn handshake(
    app: &SharedState,
    session: &RequestSession,
    message: &Message,
) -> (Json, Option<String>) {
    let user = match session.authenticate(app) {
        Auth::Missing => {
            return (
                bayeux::handshake_denied(message, bayeux::AUTH_MISSING),
                None,
            )
        }
        Auth::Invalid => {
            return (
                bayeux::handshake_denied(message, bayeux::AUTH_INVALID),
                None,
            )
        }
        Auth::Valid(user) => user,
    };
    if let Some(types) = message.supported_connection_types() {
        if !types.contains(&bayeux::LONG_POLLING) {
            let error = format!("400::Invalid connection type {}", types.join(","));
            return (bayeux::handshake_failed(message, &error), None);
        }
    }
    // A browser that already has a cookie keeps it (one browser, several clients).
    let browser = session.browser.clone().unwrap_or_else(new_browser_id);
    let client = app.cdc.clients.create(browser.clone(), user);
    (bayeux::handshake_ok(message, &client.id), Some(browser))
}

/// The session checks every non-handshake message goes through: token, known client, its cookie.
fn attach(
    app: &SharedState,
    session: &RequestSession,
    message: &Message,
) -> Result<Arc<Client>, Json> {
    match session.authenticate(app) {
        Auth::Missing => return Err(bayeux::auth_failed(message, bayeux::AUTH_MISSING)),
        Auth::Invalid => return Err(bayeux::auth_failed(message, bayeux::AUTH_INVALID)),
        Auth::Valid(_) => {}
    }
    let client = message
        .client_id()
        .and_then(|id| app.cdc.clients.find(id))
        .ok_or_else(|| bayeux::unknown_client(message))?;
    match &session.browser {
        None => Err(bayeux::failed(
            message,
            &bayeux::missing_cookie_error(&client.id, BROWSER_COOKIE),
        )),
        // Another browser's cookie: as if the request reached a server that never saw this client.
        Some(browser) if *browser != client.browser => Err(bayeux::unknown_client(message)),
        Some(_) => Ok(client),
    }
}

fn subscribe(app: &SharedState, session: &RequestSession, message: &Message) -> Json {
    let client = match attach(app, session, message) {
        Ok(client) => client,
        Err(reply) => return reply,
    };
    let Some(channel) = message.subscription() else {
        return bayeux::failed(message, "400::Channel name not specified");
    };
    if !channel.starts_with('/') {
        return bayeux::failed(
            message,
            "400::Channel subscriptions must start with a leading '/'",
        );
    }
    let selection = Selection::current(app);
    let org = app.org.read();
    let gaps = app.cdc.gaps.lock();
    let Some(target) = channels::resolve(channel, &org, &selection) else {
        return bayeux::failed(message, &bayeux::unknown_channel_error(channel));
    };
    let view = StreamView::new(&org, &gaps, &selection, org.change_log.retention_ms);
    let cursor = match bayeux::parse_replay(message.replay_for(channel)) {
        Err(text) => return bayeux::failed(message, &bayeux::invalid_replay_error(&text)),
        Ok(ReplayFrom::NewEvents) => view.tip(),
        Ok(ReplayFrom::AllRetained) => 0,
        Ok(ReplayFrom::After(id)) if view.is_retained(id) => id,
        Ok(ReplayFrom::After(id)) => {
            return bayeux::failed(message, &bayeux::invalid_replay_error(&id.to_string()))
        }
    };
    {
        let mut state = client.state.lock();
        state.subscriptions.retain(|s| s.channel != channel);
        state.subscriptions.push(Subscription {
            channel: channel.to_string(),
            target,
            cursor,
        });
    }
    drop(gaps);
    drop(org);
    // A connect already waiting picks up the new subscription's events.
    client.wake.notify_waiters();
    bayeux::subscription_ok(message, &client.id, channel)
}

fn unsubscribe(app: &SharedState, session: &RequestSession, message: &Message) -> Json {
    let client = match attach(app, session, message) {
        Ok(client) => client,
        Err(reply) => return reply,
    };
    let Some(channel) = message.subscription() else {
        return bayeux::failed(message, "400::Channel name not specified");
    };
    client
        .state
        .lock()
        .subscriptions
        .retain(|s| s.channel != channel);
    bayeux::subscription_ok(message, &client.id, channel)
}

fn disconnect(app: &SharedState, session: &RequestSession, message: &Message) -> Json {
    match attach(app, session, message) {
        Ok(client) => {
            app.cdc.clients.remove(&client.id);
            bayeux::disconnect_ok(message, &client.id)
        }
        Err(reply) => reply,
    }
}

/// Reads every subscription of `client` forward; returns the messages in replay-id order and whether a read
/// limit left more to read. Events are collected under the org lock and rendered after it is released.
fn read_events(app: &SharedState, client: &Client) -> (Vec<Json>, bool) {
    let selection = Selection::current(app);
    let mut pending = Vec::new();
    let mut more = false;
    {
        let org = app.org.read();
        let gaps = app.cdc.gaps.lock();
        let mut view = StreamView::new(&org, &gaps, &selection, org.change_log.retention_ms);
        let mut state = client.state.lock();
        for subscription in state.subscriptions.iter_mut() {
            let batch = view.read(&subscription.target, subscription.cursor, READ_LIMITS);
            subscription.cursor = batch.cursor;
            more |= !batch.exhausted;
            let channel: Arc<str> = Arc::from(subscription.channel.as_str());
            pending.extend(batch.items.into_iter().map(|item| (channel.clone(), item)));
        }
    }
    // Several subscriptions: deliver in commit order across channels.
    pending.sort_by_key(|(_, item)| item.replay_id());
    let messages = pending
        .iter()
        .map(|(channel, item)| item.render(channel))
        .collect();
    (messages, more)
}

/// Waits for the next value of a watch; never returns if its sender is gone.
async fn next_change(receiver: &mut watch::Receiver<u64>) {
    if receiver.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn connect(app: &SharedState, session: &RequestSession, message: &Message) -> Vec<Json> {
    let client = match attach(app, session, message) {
        Ok(client) => client,
        Err(reply) => return vec![reply],
    };
    if let Some(kind) = message.connection_type() {
        if kind != bayeux::LONG_POLLING {
            let error = format!("400::Invalid connection type {kind}");
            return vec![bayeux::failed(message, &error)];
        }
    }
    let timeout_ms = u64::try_from(app.cdc.long_poll.as_millis()).unwrap_or(u64::MAX);
    let ok = || bayeux::connect_ok(message, &client.id, timeout_ms);
    let guard = client.begin_connect();
    let deadline = Instant::now() + app.cdc.long_poll;
    let mut commits = app.org.read().change_log.subscribe();
    let mut gap_events = app.cdc.gaps.lock().subscribe();
    let mut shutdown = app.cdc.shutdown_signal();
    loop {
        // Arm every wake-up before looking, so a commit between the look and the wait is never missed.
        let woken = client.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        commits.borrow_and_update();
        gap_events.borrow_and_update();
        if client.is_gone() {
            return vec![bayeux::unknown_client(message)];
        }
        if guard.superseded() || *shutdown.borrow_and_update() {
            return vec![ok()];
        }
        let (mut events, more) = read_events(app, &client);
        if !events.is_empty() || guard.first || Instant::now() >= deadline {
            events.push(ok());
            return events;
        }
        if more {
            tokio::task::yield_now().await;
            continue;
        }
        let check_at = deadline.min(Instant::now() + SESSION_CHECK);
        tokio::select! {
            _ = next_change(&mut commits) => {}
            _ = next_change(&mut gap_events) => {}
            _ = &mut woken => {}
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep_until(check_at) => {
                if !matches!(session.authenticate(app), Auth::Valid(_)) {
                    return vec![bayeux::auth_failed(message, bayeux::AUTH_INVALID)];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_37() {
        assert!(supported_version("37.0"));
        assert!(supported_version("62.0"));
        assert!(!supported_version("36.0"));
        assert!(!supported_version("62.5"));
        assert!(!supported_version("v62.0"));
        assert!(!supported_version("99.0"));
    }

    #[test]
    fn reads_token_and_browser_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("OAuth abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; BAYEUX_BROWSER=xyz"),
        );
        let session = RequestSession::from_headers(&headers);
        assert_eq!(session.token.as_deref(), Some("abc"));
        assert_eq!(session.browser.as_deref(), Some("xyz"));
        let empty = RequestSession::from_headers(&HeaderMap::new());
        assert!(empty.token.is_none() && empty.browser.is_none());
    }
}
