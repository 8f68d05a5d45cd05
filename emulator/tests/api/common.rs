//! The emulator's own test helpers: the emulator started with the fixture objects (spawned by the
//! shared harness, `sfsync-tests`), plain-HTTP clients for its REST, OAuth and admin APIs, and
//! logins.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

pub const VERSION: &str = "62.0";
pub const CLIENT_ID: &str = "sfsync-emulator";
pub const CLIENT_SECRET: &str = "emulator-secret";
pub const USERNAME: &str = "admin@sfsync.emulator";
pub const PASSWORD: &str = "emulator-password";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sfsync-emulator-test-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running emulator process, killed on drop.
pub struct Emulator {
    child: Option<Child>,
    pub base: String,
}

impl Emulator {
    /// Starts with the fixture custom objects plus `extra` arguments.
    pub fn start(extra: &[&str]) -> Emulator {
        let objects = fixtures().join("objects");
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--objects",
            objects.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        Emulator::start_raw(&args)
    }

    /// Starts the binary with exactly `args`, through the workspace's one emulator spawner (the
    /// harness in `sfsync-tests`, which waits for the `listening on` line and drains stdout).
    pub fn start_raw(args: &[&str]) -> Emulator {
        let (child, base) =
            sfsync_tests::emulator::spawn(Path::new(env!("CARGO_BIN_EXE_sfsync-emulator")), args);
        Emulator {
            child: Some(child),
            base,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        for _ in 0..300 {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("emulator did not exit after SIGTERM");
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    /// Logs in with the password flow.
    pub async fn login(&self) -> Api {
        Api::login(self.http(), &self.base).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Json>) -> Resp {
        send(
            &self.http(),
            method,
            &format!("{}{path}", self.base),
            None,
            body,
        )
        .await
    }

    /// The change events (`/__emulator/changes`) that name record `id`, and the log's `lastSeq`.
    pub async fn events_for(&self, id: &str) -> (u64, Vec<Json>) {
        let changes = self
            .admin(Method::GET, "/__emulator/changes", None)
            .await
            .json;
        let events = changes["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| event["recordId"] == id)
            .cloned()
            .collect();
        (changes["lastSeq"].as_u64().expect("lastSeq"), events)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A response with its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Json,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `errorCode` of a REST error array.
    pub fn error_code(&self) -> &str {
        self.json[0]["errorCode"].as_str().unwrap_or_default()
    }
}

pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Json>,
) -> Resp {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        Json::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    Resp {
        status,
        headers,
        json,
    }
}

pub async fn token_request(client: &reqwest::Client, base: &str, form: &[(&str, &str)]) -> Resp {
    let response = client
        .post(format!("{base}/services/oauth2/token"))
        .form(form)
        .send()
        .await
        .expect("token request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let json = response.json().await.expect("token JSON");
    Resp {
        status,
        headers,
        json,
    }
}

/// A logged-in REST client.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// The token response of a successful username-password login as the configured user.
pub async fn password_login(http: &reqwest::Client, base: &str) -> Json {
    let response = token_request(
        http,
        base,
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", USERNAME),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
    response.json
}

impl Api {
    pub async fn login(http: reqwest::Client, base: &str) -> Api {
        let response = password_login(&http, base).await;
        let token = response["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        Api {
            http,
            base: base.to_string(),
            token,
        }
    }

    /// `path` is relative to `/services/data/v62.0`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Json>) -> Resp {
        self.call_version(VERSION, method, path, body).await
    }

    pub async fn call_version(
        &self,
        version: &str,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> Resp {
        let url = format!("{}/services/data/v{version}{path}", self.base);
        send(&self.http, method, &url, Some(&self.token), body).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    /// `GET /query` (or `/queryAll` with `all`) of `soql`, which must answer 200; the body.
    pub async fn query_json(&self, soql: &str, all: bool) -> Json {
        let encoded = serde_urlencoded::to_string([("q", soql)]).expect("encodes");
        let resource = if all { "queryAll" } else { "query" };
        let response = self.get(&format!("/{resource}?{encoded}")).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.json);
        response.json
    }

    pub async fn post(&self, path: &str, body: Json) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Json) -> Resp {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a record and returns its id, asserting success.
    pub async fn create(&self, object: &str, body: Json) -> String {
        let response = self.post(&format!("/sobjects/{object}"), body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.json);
        response.json["id"].as_str().expect("id").to_string()
    }
}

/// A valid Widget__c body with the given external id.
pub fn widget(ext: &str) -> Json {
    json!({"Name": format!("Widget {ext}"), "Ext_Id__c": ext, "Status__c": "Open"})
}

/// `2015-10-19T13:51:35.000+0000`
pub fn is_rest_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 28
        && text.ends_with("+0000")
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z").is_ok()
}
