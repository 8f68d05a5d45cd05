//! Starts `sfsync-emulator` over HTTPS on a free port and talks to its admin API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use sfsync_sidecar::config::{ApiVersion, AuthSettings, JwtSigningKey, SalesforceSettings, Secret};
use sfsync_sidecar::metrics::SalesforceMetrics;
use sfsync_sidecar::salesforce::{ClientOptions, SalesforceClient};
use sfsync_sidecar::tls::CaBundle;
use tempfile::TempDir;

pub const CLIENT_ID: &str = "sidecar-test-app";
pub const CLIENT_SECRET: &str = "sidecar-test-secret";
pub const USERNAME: &str = "integration@sidecar.test";
pub const PASSWORD: &str = "correct-horse";

/// Finds the emulator binary, or explains how to build it.
pub fn emulator_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SFSYNC_EMULATOR_BIN") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the sidecar crate sits in the workspace")
        .to_path_buf();
    let mut candidates = Vec::new();
    // The test executable lives in <target>/<profile>/deps: prefer the same target and profile.
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
    {
        candidates.push(profile_dir.join("sfsync-emulator"));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(workspace.join(target).join("release/sfsync-emulator"));
    }
    candidates.push(workspace.join("target/release/sfsync-emulator"));
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "sfsync-emulator binary not found (looked at {candidates:?}). Build it first with \
         `cargo build --release -p sfsync-emulator` (same CARGO_TARGET_DIR as the tests), or set \
         SFSYNC_EMULATOR_BIN to its path."
    );
}

/// A running emulator; killed when dropped.
pub struct Emulator {
    child: Child,
    pub base_url: String,
    pub cert_path: PathBuf,
    _dir: TempDir,
    admin: reqwest::Client,
}

impl Emulator {
    /// Starts it with the test credentials, the JWT certificate and the test objects, plus `extra`.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert_path = dir.path().join("cert.pem");
        let jwt_cert = super::fixture("jwt-test-cert.pem");
        let objects = super::fixture("objects");
        let mut child = Command::new(emulator_binary())
            .args(["--listen", "127.0.0.1:0", "--tls", "--cert-out"])
            .arg(&cert_path)
            .arg("--jwt-cert")
            .arg(&jwt_cert)
            .arg("--objects")
            .arg(&objects)
            .args([
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
                "--username",
                USERNAME,
                "--password",
                PASSWORD,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sfsync-emulator");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix("sfsync-emulator listening on ") {
                        let _ = sender.send(url.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let base_url = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("sfsync-emulator did not print its `listening on` line within 60s");
            }
        };
        let bundle = CaBundle::read(&cert_path).expect("emulator certificate");
        let admin = sfsync_sidecar::http::build_client(Some(&bundle)).expect("admin client");
        Self {
            child,
            base_url,
            cert_path,
            _dir: dir,
            admin,
        }
    }

    pub fn settings(&self, auth: AuthSettings) -> SalesforceSettings {
        SalesforceSettings {
            login_url: url::Url::parse(&self.base_url).expect("base url"),
            auth,
            api_version: ApiVersion::parse("62.0").expect("version"),
            ca_bundle: Some(CaBundle::read(&self.cert_path).expect("certificate")),
        }
    }

    pub fn client_with(&self, auth: AuthSettings, options: ClientOptions) -> SalesforceClient {
        SalesforceClient::new(
            &self.settings(auth),
            options,
            SalesforceMetrics::unregistered().expect("metrics"),
            None,
        )
        .expect("client")
    }

    pub fn client(&self) -> SalesforceClient {
        self.client_with(client_credentials(), ClientOptions::default())
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .admin
            .request(method, format!("{}{path}", self.base_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("admin body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client_credentials() -> AuthSettings {
    AuthSettings::ClientCredentials {
        client_id: CLIENT_ID.to_string(),
        client_secret: Secret::new(CLIENT_SECRET.to_string()),
    }
}

pub fn password(password: &str) -> AuthSettings {
    AuthSettings::Password {
        client_id: CLIENT_ID.to_string(),
        client_secret: Secret::new(CLIENT_SECRET.to_string()),
        username: USERNAME.to_string(),
        password: Secret::new(password.to_string()),
    }
}

pub fn jwt(username: &str, audience: &str) -> AuthSettings {
    let pem = std::fs::read(super::fixture("jwt-test-key.pem")).expect("test key");
    AuthSettings::Jwt {
        client_id: CLIENT_ID.to_string(),
        username: username.to_string(),
        signing_key: JwtSigningKey {
            path: super::fixture("jwt-test-key.pem"),
            key: std::sync::Arc::new(
                jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("RSA key"),
            ),
        },
        audience: audience.to_string(),
    }
}

pub fn refresh_token(token: &str) -> AuthSettings {
    AuthSettings::RefreshToken {
        client_id: CLIENT_ID.to_string(),
        client_secret: Some(Secret::new(CLIENT_SECRET.to_string())),
        refresh_token: Secret::new(token.to_string()),
    }
}
