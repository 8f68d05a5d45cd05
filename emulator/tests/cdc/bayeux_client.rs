//! A minimal Bayeux long-polling client for the tests, written from Streaming API Developer Guide: CometD and Bayeux: JSON arrays over POST, the handshake
//! cookie sent back, the replay extension on subscribe.

use std::time::Duration;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value as Json};

pub const COMETD_VERSION: &str = "62.0";

pub struct Comet {
    http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    /// `name=value` pairs from `Set-Cookie`, sent back on every request.
    pub cookies: Vec<(String, String)>,
    pub client_id: Option<String>,
    next_id: u64,
}

impl Comet {
    pub fn new(base: &str, token: Option<&str>) -> Comet {
        Comet {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(150))
                .build()
                .expect("client"),
            url: format!("{base}/cometd/{COMETD_VERSION}"),
            token: token.map(str::to_string),
            cookies: Vec::new(),
            client_id: None,
            next_id: 0,
        }
    }

    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Posts a message array; returns the status and the reply array.
    pub async fn send(&mut self, messages: Json) -> (StatusCode, Vec<Json>) {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(messages.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header(COOKIE, header);
        }
        let response = request.send().await.expect("CometD request sent");
        let status = response.status();
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("cookie text");
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != name);
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
        let body: Json = response.json().await.expect("JSON array");
        let replies = body.as_array().cloned().expect("reply is an array");
        (status, replies)
    }

    /// Handshakes; keeps the client id when it worked. Returns the handshake reply.
    pub async fn handshake(&mut self) -> Json {
        let id = self.next_id();
        let (_, replies) = self
            .send(
                json!([{"channel": "/meta/handshake", "version": "1.0", "id": id,
                           "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}}]),
            )
            .await;
        let reply = replies.into_iter().next().expect("one reply");
        if reply["successful"] == true {
            self.client_id = reply["clientId"].as_str().map(str::to_string);
        }
        reply
    }

    /// Subscribes with a replay value (`None`: no replay extension).
    pub async fn subscribe(&mut self, channel: &str, replay: Option<Json>) -> Json {
        let id = self.next_id();
        let mut message = json!({"channel": "/meta/subscribe", "clientId": self.client_id, "id": id,
                                 "subscription": channel});
        if let Some(replay) = replay {
            message["ext"] = json!({"replay": {channel: replay}});
        }
        let (_, replies) = self.send(json!([message])).await;
        replies.into_iter().next().expect("one reply")
    }

    /// Handshake then subscribe, asserting both worked.
    pub async fn start(&mut self, channel: &str, replay: Json) {
        let handshake = self.handshake().await;
        assert_eq!(handshake["successful"], true, "{handshake}");
        let subscribe = self.subscribe(channel, Some(replay)).await;
        assert_eq!(subscribe["successful"], true, "{subscribe}");
    }

    /// One connect: the events and the `/meta/connect` reply.
    pub async fn connect(&mut self) -> (Vec<Json>, Json) {
        let id = self.next_id();
        let (_, replies) = self
            .send(
                json!([{"channel": "/meta/connect", "clientId": self.client_id, "id": id,
                           "connectionType": "long-polling"}]),
            )
            .await;
        split(replies)
    }

    /// Connects until `count` events arrived (or `limit` passes); panics on a failed connect.
    pub async fn events(&mut self, count: usize, limit: Duration) -> Vec<Json> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut events = Vec::new();
        while events.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {count} events arrived: {events:#?}",
                events.len()
            );
            let (batch, reply) = tokio::time::timeout(left, self.connect())
                .await
                .unwrap_or_else(|_| panic!("only {} of {count} events arrived", events.len()));
            assert_eq!(reply["successful"], true, "{reply}");
            events.extend(batch);
        }
        events
    }

    pub async fn disconnect(&mut self) -> Json {
        let id = self.next_id();
        let (_, replies) = self
            .send(json!([{"channel": "/meta/disconnect", "clientId": self.client_id, "id": id}]))
            .await;
        replies.into_iter().next().expect("one reply")
    }
}

/// Separates data messages from the `/meta/connect` reply.
pub fn split(replies: Vec<Json>) -> (Vec<Json>, Json) {
    let mut events = Vec::new();
    let mut meta = Json::Null;
    for reply in replies {
        if reply["channel"] == "/meta/connect" {
            meta = reply;
        } else {
            events.push(reply);
        }
    }
    (events, meta)
}

pub fn header(event: &Json) -> &Json {
    &event["data"]["payload"]["ChangeEventHeader"]
}

pub fn replay_id(event: &Json) -> u64 {
    event["data"]["event"]["replayId"]
        .as_u64()
        .expect("numeric replayId")
}

pub fn change_type(event: &Json) -> &str {
    header(event)["changeType"].as_str().unwrap_or_default()
}

pub fn record_ids(event: &Json) -> Vec<String> {
    header(event)["recordIds"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
