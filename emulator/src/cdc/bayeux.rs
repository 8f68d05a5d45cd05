//! Bayeux messages as Salesforce's Streaming API speaks them (Streaming API Developer Guide: CometD and Bayeux): reading request messages, the replay
//! extension, and every reply shape, successful or not, with the documented error texts.

use serde_json::{json, Map, Value as Json};

pub const HANDSHAKE: &str = "/meta/handshake";
pub const CONNECT: &str = "/meta/connect";
pub const SUBSCRIBE: &str = "/meta/subscribe";
pub const UNSUBSCRIBE: &str = "/meta/unsubscribe";
pub const DISCONNECT: &str = "/meta/disconnect";
pub const LONG_POLLING: &str = "long-polling";

pub const AUTH_INVALID: &str = "401::Authentication invalid";
pub const AUTH_MISSING: &str = "401::Request requires authentication";
pub const HANDSHAKE_DENIED: &str = "403::Handshake denied";
pub const UNKNOWN_CLIENT: &str = "403::Unknown client";

/// The oldest API version with durable replay on `/cometd/{version}`.
pub const MIN_STREAMING_VERSION: u32 = 37;

/// One request message; fields are read leniently so one odd field never fails a whole request.
#[derive(Clone, Debug)]
pub struct Message(Map<String, Json>);

impl Message {
    fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Json::as_str)
    }

    pub fn channel(&self) -> &str {
        self.text("channel").unwrap_or_default()
    }

    pub fn client_id(&self) -> Option<&str> {
        self.text("clientId")
    }

    /// The message `id`, echoed as sent (string or number).
    pub fn id(&self) -> Option<&Json> {
        self.0.get("id")
    }

    pub fn subscription(&self) -> Option<&str> {
        self.text("subscription")
    }

    pub fn connection_type(&self) -> Option<&str> {
        self.text("connectionType")
    }

    pub fn supported_connection_types(&self) -> Option<Vec<&str>> {
        self.0
            .get("supportedConnectionTypes")
            .and_then(Json::as_array)
            .map(|types| types.iter().filter_map(Json::as_str).collect())
    }

    /// The replay extension's entry for `channel` (`ext.replay[channel]`), if any.
    pub fn replay_for(&self, channel: &str) -> Option<&Json> {
        self.0.get("ext")?.get("replay")?.get(channel)
    }
}

/// A request body: a JSON array of messages (a single object is accepted too).
pub fn parse_messages(body: &[u8]) -> Result<Vec<Message>, serde_json::Error> {
    let json: Json = serde_json::from_slice(body)?;
    let items = match json {
        Json::Array(items) => items,
        other => vec![other],
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            Json::Object(map) => Message(map),
            _ => Message(Map::new()),
        })
        .collect())
}

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFrom {
    /// `-1`: only events published from now on.
    NewEvents,
    /// `-2`: every retained event.
    AllRetained,
    /// Events after this replay id.
    After(u64),
}

/// Reads a replay value (a number, or a numeric string as some clients send); `Err` holds the text to quote in
/// the invalid-replay-id error.
pub fn parse_replay(value: Option<&Json>) -> Result<ReplayFrom, String> {
    let Some(value) = value else {
        return Ok(ReplayFrom::NewEvents);
    };
    let text = match value {
        Json::String(text) => text.trim().to_string(),
        Json::Number(number) => number.to_string(),
        other => return Err(other.to_string()),
    };
    match text.parse::<i64>() {
        Ok(-1) => Ok(ReplayFrom::NewEvents),
        Ok(-2) => Ok(ReplayFrom::AllRetained),
        Ok(id) if id > 0 => Ok(ReplayFrom::After(id as u64)),
        _ => Err(text),
    }
}

/// `400::The replayId {X} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to
/// replay only new events.` (two spaces after "invalid.", as the server sends it).
pub fn invalid_replay_error(replay: &str) -> String {
    format!(
        "400::The replayId {replay} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
    )
}

/// `400::The channel you requested to subscribe to does not exist {channel}`.
pub fn unknown_channel_error(channel: &str) -> String {
    format!("400::The channel you requested to subscribe to does not exist {channel}")
}

pub fn missing_cookie_error(client_id: &str, cookie: &str) -> String {
    format!("400::Client {client_id} has established a session, but no {cookie} cookie present")
}

pub fn unsupported_version_error() -> String {
    format!(
        "400::Unsupported API version. Only API versions '{MIN_STREAMING_VERSION}.0' and later are supported. URI format: '/cometd/{}.0'",
        crate::http::context::MAX_VERSION
    )
}

pub fn missing_version_error() -> String {
    format!(
        "400::API version in the URI is mandatory. URI format: '/cometd/{}.0'",
        crate::http::context::MAX_VERSION
    )
}

fn with_id(mut reply: Map<String, Json>, message: &Message) -> Json {
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    Json::Object(reply)
}

fn object(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

/// The documented successful handshake.
pub fn handshake_ok(message: &Message, client_id: &str) -> Json {
    let mut reply = object(json!({
        "ext": {"replay": true, "payload.format": true},
        "minimumVersion": "1.0",
        "clientId": client_id,
        "supportedConnectionTypes": [LONG_POLLING],
        "channel": HANDSHAKE,
    }));
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    reply.insert("version".into(), json!("1.0"));
    reply.insert("successful".into(), json!(true));
    reply.insert("reestablish".into(), json!(false));
    Json::Object(reply)
}

/// `403::Handshake denied` with the reason nested in `ext.sfdc.failureReason`.
pub fn handshake_denied(message: &Message, reason: &str) -> Json {
    let mut reply = object(json!({
        "ext": {"sfdc": {"failureReason": reason}},
        "advice": {"reconnect": "none"},
        "channel": HANDSHAKE,
    }));
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    reply.insert("error".into(), json!(HANDSHAKE_DENIED));
    reply.insert("successful".into(), json!(false));
    Json::Object(reply)
}

/// A failed handshake for another reason (bad connection types, bad version).
pub fn handshake_failed(message: &Message, error: &str) -> Json {
    let mut reply = object(json!({"advice": {"reconnect": "none"}, "channel": HANDSHAKE}));
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    reply.insert("error".into(), json!(error));
    reply.insert("successful".into(), json!(false));
    Json::Object(reply)
}

/// A successful connect with the long-poll advice.
pub fn connect_ok(message: &Message, client_id: &str, timeout_ms: u64) -> Json {
    let mut reply = object(json!({"clientId": client_id, "channel": CONNECT}));
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    reply.insert("successful".into(), json!(true));
    reply.insert(
        "advice".into(),
        json!({"interval": 0, "timeout": timeout_ms, "reconnect": "retry"}),
    );
    Json::Object(reply)
}

/// `403::Unknown client`: the client must handshake again and re-subscribe.
pub fn unknown_client(message: &Message) -> Json {
    let mut reply = object(json!({
        "advice": {"interval": 0, "reconnect": "handshake"},
        "channel": message.channel(),
    }));
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    if let Some(subscription) = message.subscription() {
        reply.insert("subscription".into(), json!(subscription));
    }
    reply.insert("error".into(), json!(UNKNOWN_CLIENT));
    reply.insert("successful".into(), json!(false));
    Json::Object(reply)
}

/// An authentication failure after the handshake (`401::...`, `advice.reconnect: none`).
pub fn auth_failed(message: &Message, error: &str) -> Json {
    let mut reply = Map::new();
    if let Some(client_id) = message.client_id() {
        reply.insert("clientId".into(), json!(client_id));
    }
    reply.insert("advice".into(), json!({"reconnect": "none", "interval": 0}));
    reply.insert("channel".into(), json!(message.channel()));
    if let Some(id) = message.id() {
        reply.insert("id".into(), id.clone());
    }
    if let Some(subscription) = message.subscription() {
        reply.insert("subscription".into(), json!(subscription));
    }
    reply.insert("error".into(), json!(error));
    reply.insert("successful".into(), json!(false));
    Json::Object(reply)
}

/// A successful subscribe or unsubscribe.
pub fn subscription_ok(message: &Message, client_id: &str, subscription: &str) -> Json {
    let reply = object(json!({
        "clientId": client_id,
        "channel": message.channel(),
    }));
    let mut reply = object(with_id(reply, message));
    reply.insert("subscription".into(), json!(subscription));
    reply.insert("successful".into(), json!(true));
    Json::Object(reply)
}

/// Any other failed reply: `{"clientId"?, "channel", "id"?, "subscription"?, "error", "successful": false}`.
pub fn failed(message: &Message, error: &str) -> Json {
    let mut reply = Map::new();
    if let Some(client_id) = message.client_id() {
        reply.insert("clientId".into(), json!(client_id));
    }
    reply.insert("channel".into(), json!(message.channel()));
    let mut reply = object(with_id(reply, message));
    if let Some(subscription) = message.subscription() {
        reply.insert("subscription".into(), json!(subscription));
    }
    reply.insert("error".into(), json!(error));
    reply.insert("successful".into(), json!(false));
    Json::Object(reply)
}

/// A successful disconnect.
pub fn disconnect_ok(message: &Message, client_id: &str) -> Json {
    let reply = object(json!({"clientId": client_id, "channel": DISCONNECT}));
    let mut reply = object(with_id(reply, message));
    reply.insert("successful".into(), json!(true));
    Json::Object(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(value: Json) -> Message {
        parse_messages(value.to_string().as_bytes())
            .expect("parses")
            .remove(0)
    }

    #[test]
    fn replay_values_numbers_and_strings() {
        assert_eq!(parse_replay(None), Ok(ReplayFrom::NewEvents));
        assert_eq!(parse_replay(Some(&json!(-1))), Ok(ReplayFrom::NewEvents));
        assert_eq!(
            parse_replay(Some(&json!("-2"))),
            Ok(ReplayFrom::AllRetained)
        );
        assert_eq!(parse_replay(Some(&json!(12))), Ok(ReplayFrom::After(12)));
        assert_eq!(parse_replay(Some(&json!("12"))), Ok(ReplayFrom::After(12)));
        assert_eq!(parse_replay(Some(&json!(-3))), Err("-3".into()));
        assert_eq!(parse_replay(Some(&json!("abc"))), Err("abc".into()));
        assert_eq!(parse_replay(Some(&json!(0))), Err("0".into()));
        assert_eq!(
            invalid_replay_error("5"),
            "400::The replayId 5 you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
        );
    }

    #[test]
    fn documented_reply_shapes() {
        let handshake = message(json!({"channel": HANDSHAKE, "id": "1", "version": "1.0"}));
        assert_eq!(
            handshake_ok(&handshake, "41kdiuvgig2tfxdh9weakuiwyh").to_string(),
            json!({"ext":{"replay":true,"payload.format":true},"minimumVersion":"1.0","clientId":"41kdiuvgig2tfxdh9weakuiwyh",
                   "supportedConnectionTypes":["long-polling"],"channel":"/meta/handshake","id":"1","version":"1.0",
                   "successful":true,"reestablish":false}).to_string()
        );
        assert_eq!(
            handshake_denied(&message(json!({"channel": HANDSHAKE})), AUTH_INVALID),
            json!({"ext":{"sfdc":{"failureReason":"401::Authentication invalid"}},"advice":{"reconnect":"none"},
                   "channel":"/meta/handshake","error":"403::Handshake denied","successful":false})
        );
        let connect = message(json!({"channel": CONNECT, "clientId": "c1", "id": 7}));
        assert_eq!(
            auth_failed(&connect, AUTH_INVALID).to_string(),
            json!({"clientId":"c1","advice":{"reconnect":"none","interval":0},"channel":"/meta/connect","id":7,
                   "error":"401::Authentication invalid","successful":false}).to_string()
        );
        assert_eq!(
            unknown_client(&message(
                json!({"channel": CONNECT, "clientId": "c1", "id": "83"})
            )),
            json!({"advice":{"interval":0,"reconnect":"handshake"},"channel":"/meta/connect","id":"83",
                   "error":"403::Unknown client","successful":false})
        );
        assert_eq!(
            connect_ok(
                &message(json!({"channel": CONNECT, "clientId": "c1", "id": "2"})),
                "c1",
                110_000
            )
            .to_string(),
            json!({"clientId":"c1","channel":"/meta/connect","id":"2","successful":true,
                   "advice":{"interval":0,"timeout":110000,"reconnect":"retry"}})
            .to_string()
        );
        let subscribe = message(json!({"channel": SUBSCRIBE, "clientId": "c1", "id": "15",
                                        "subscription": "/data/AccountChangeEvent",
                                        "ext": {"replay": {"/data/AccountChangeEvent": -2}}}));
        assert_eq!(
            subscription_ok(&subscribe, "c1", "/data/AccountChangeEvent").to_string(),
            json!({"clientId":"c1","channel":"/meta/subscribe","id":"15","subscription":"/data/AccountChangeEvent",
                   "successful":true}).to_string()
        );
        assert_eq!(
            subscribe.replay_for("/data/AccountChangeEvent"),
            Some(&json!(-2))
        );
    }
}
