//! The Salesforce emulator as a real process over HTTPS, with clients for its REST and admin APIs.

use crate::binaries::binary;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const CLIENT_ID: &str = "sfsync-emulator";
pub const CLIENT_SECRET: &str = "emulator-secret";
pub const USERNAME: &str = "admin@sfsync.emulator";
pub const PASSWORD: &str = "emulator-password";
pub const API_VERSION: &str = "62.0";

/// A running emulator; killed when dropped.
pub struct Emulator {
    child: Child,
    pub url: String,
    pub ca_file: PathBuf,
    dir: PathBuf,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<String>>,
    /// The defaults, or what `extra` set.
    credentials: Credentials,
}

/// The connected app's id and secret and the user's name and password an emulator accepts.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
}

/// Spawns an emulator binary with `args` and waits (up to 60 s) for its `listening on` line;
/// returns the child and the URL it printed. Its stdout is drained afterwards so the process never
/// blocks on (or dies of) a full or closed pipe. The one spawner every test crate uses: the
/// emulator's own tests call it with their own arguments (plain HTTP, a given port...).
pub fn spawn(program: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", program.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = sender.send(line);
        }
        for _ in lines {}
    });
    let Ok(line) = receiver.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{} printed no `listening on` line within 60 s",
            program.display()
        );
    };
    let Some(url) = line.trim().strip_prefix("sfsync-emulator listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unexpected emulator output: {line:?}");
    };
    (child, url.to_string())
}

impl Emulator {
    /// Starts `sfsync-emulator --tls` on a free port with extra arguments (`--client-id`,
    /// `--client-secret`, `--username` and `--password` among them replace the default
    /// credentials the helpers below log in with).
    pub fn start(extra: &[&str]) -> Emulator {
        let root =
            PathBuf::from(std::env::var("SFSYNC_TMP").unwrap_or_else(|_| "/var/tmp/sfsync".into()));
        let dir = root.join(format!(
            "emulator-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("emulator dir");
        let ca_file = dir.join("ca.pem");
        let ca_arg = ca_file.to_str().expect("a UTF-8 path");
        let mut args = vec!["--listen", "127.0.0.1:0", "--tls", "--cert-out", ca_arg];
        args.extend_from_slice(extra);
        let (child, url) = spawn(&binary("sfsync-emulator"), &args);
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_file).expect("ca.pem"))
            .expect("CA PEM");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("reqwest client");
        let option = |name: &str, default: &str| {
            extra
                .iter()
                .position(|arg| *arg == name)
                .and_then(|index| extra.get(index + 1))
                .map_or_else(|| default.to_string(), |value| value.to_string())
        };
        Emulator {
            child,
            url,
            ca_file,
            dir,
            http,
            token: tokio::sync::Mutex::new(None),
            credentials: Credentials {
                client_id: option("--client-id", CLIENT_ID),
                client_secret: option("--client-secret", CLIENT_SECRET),
                username: option("--username", USERNAME),
                password: option("--password", PASSWORD),
            },
        }
    }

    /// The connected app and user this emulator was started with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An HTTP client that trusts this emulator's CA (and nothing else), for requests the helpers
    /// below do not make.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Environment for a sidecar talking to this emulator (password flow, this CA).
    pub fn sidecar_env(&self) -> Vec<(String, String)> {
        vec![
            ("SFSYNC_LOGIN_URL".into(), self.url.clone()),
            ("SFSYNC_AUTH".into(), "password".into()),
            (
                "SFSYNC_CLIENT_ID".into(),
                self.credentials.client_id.clone(),
            ),
            (
                "SFSYNC_CLIENT_SECRET".into(),
                self.credentials.client_secret.clone(),
            ),
            ("SFSYNC_USERNAME".into(), self.credentials.username.clone()),
            ("SFSYNC_PASSWORD".into(), self.credentials.password.clone()),
            ("SFSYNC_CA_FILE".into(), self.ca_file.display().to_string()),
            ("SFSYNC_API_VERSION".into(), API_VERSION.into()),
        ]
    }

    async fn token(&self) -> String {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref() {
            return t.clone();
        }
        let response: Value = self
            .http
            .post(format!("{}/services/oauth2/token", self.url))
            .form(&[
                ("grant_type", "password"),
                ("client_id", self.credentials.client_id.as_str()),
                ("client_secret", self.credentials.client_secret.as_str()),
                ("username", self.credentials.username.as_str()),
                ("password", self.credentials.password.as_str()),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        let t = response["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        *token = Some(t.clone());
        t
    }

    /// A REST call on `/services/data/vXX.X/<path>` as the admin user; returns (status, JSON or Null).
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        for attempt in 0..2 {
            let token = self.token().await;
            let mut request = self
                .http
                .request(
                    method.clone(),
                    format!(
                        "{}/services/data/v{API_VERSION}/{}",
                        self.url,
                        path.trim_start_matches('/')
                    ),
                )
                .bearer_auth(&token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.expect("REST request");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            if status == 401 && attempt == 0 {
                *self.token.lock().await = None; // sessions may have been expired on purpose
                continue;
            }
            return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        unreachable!()
    }

    /// A GET on `/services/data/vXX.X/<path>` as the admin user, returning the status, the headers
    /// and the raw body (for CSV results).
    pub async fn get_raw(&self, path: &str) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
        let token = self.token().await;
        let response = self
            .http
            .get(format!(
                "{}/services/data/v{API_VERSION}/{}",
                self.url,
                path.trim_start_matches('/')
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("REST request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.bytes().await.expect("response body"),
        )
    }

    /// All records of a SOQL query (follows nextRecordsUrl). Panics on an error response.
    pub async fn query(&self, soql: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let (status, mut page) = self
            .rest(
                reqwest::Method::GET,
                &format!("queryAll/?q={}", urlencode(soql)),
                None,
            )
            .await;
        assert_eq!(status, 200, "query {soql}: {page}");
        loop {
            records.extend(page["records"].as_array().cloned().unwrap_or_default());
            let Some(next) = page["nextRecordsUrl"].as_str().map(str::to_string) else {
                break;
            };
            let path = next
                .split_once(&format!("/v{API_VERSION}/"))
                .map(|(_, p)| p.to_string())
                .unwrap_or(next);
            let (status, next_page) = self.rest(reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200, "{next_page}");
            page = next_page;
        }
        records
    }

    /// An admin API call (`/__emulator/...`); panics unless it succeeds. A body that is not JSON
    /// comes back as `Null`.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/__emulator/{}", path.trim_start_matches('/'));
        let (status, text) = self.send(method, &path, body).await;
        assert!(
            (200..300).contains(&status),
            "admin {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A request on `path` (from the root: `/__emulator/changes`) without a token, whatever its
    /// status: the status and the body as JSON, or as a JSON string when it is not JSON.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.send(method, path, body).await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("emulator request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Adds a unique external id text field to an object of the emulator.
    pub async fn add_external_id(&self, object: &str, field: &str) {
        self.admin(
            reqwest::Method::POST,
            &format!("objects/{object}/fields"),
            Some(json!({"name": field, "type": "string", "length": 40, "externalId": true, "unique": true})),
        )
        .await;
    }

    /// Creates records as another API client; their ids (panics on a failed record).
    pub async fn create_as_other(&self, object: &str, records: Value) -> Vec<String> {
        result_ids(&self.write_as_other(object, records).await)
    }

    /// Writes records as another API client (so they are not the sidecar's own writes).
    pub async fn write_as_other(&self, object: &str, records: Value) -> Value {
        self.admin(
            reqwest::Method::POST,
            "records",
            Some(json!({"object": object, "records": records})),
        )
        .await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The ids of an admin write's results (a list, or `{"results": [...]}`); panics on a failed record.
pub fn result_ids(results: &Value) -> Vec<String> {
    let list = results
        .as_array()
        .or_else(|| results["results"].as_array())
        .unwrap_or_else(|| panic!("unexpected write response {results}"));
    list.iter()
        .map(|result| {
            assert_eq!(result["success"], true, "write failed: {result}");
            result["id"].as_str().expect("id").to_string()
        })
        .collect()
}
