//! The sidecar's integration tests' own pieces on top of the shared harness (`sfsync-tests`): the
//! emulator started with this crate's test credentials, JWT certificate and objects, and the
//! sidecar's `SalesforceClient` built against it. Processes (emulator, Postgres) come from the
//! harness; this crate links the sidecar, the harness does not.
#![allow(dead_code)]

use std::path::PathBuf;

use sfsync_sidecar::config::{ApiVersion, AuthSettings, JwtSigningKey, SalesforceSettings, Secret};
use sfsync_sidecar::metrics::SalesforceMetrics;
use sfsync_sidecar::salesforce::{ClientOptions, SalesforceClient};
use sfsync_sidecar::tls::CaBundle;
use sfsync_tests::Emulator;

pub const CLIENT_ID: &str = "sidecar-test-app";
pub const CLIENT_SECRET: &str = "sidecar-test-secret";
pub const USERNAME: &str = "integration@sidecar.test";
pub const PASSWORD: &str = "correct-horse";

/// A file under `sidecar/tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The harness's emulator with this crate's credentials, the JWT certificate and the test objects,
/// plus `extra`.
pub fn start(extra: &[&str]) -> Emulator {
    let jwt_cert = fixture("jwt-test-cert.pem");
    let objects = fixture("objects");
    let mut args = vec![
        "--jwt-cert",
        jwt_cert.to_str().expect("a UTF-8 path"),
        "--objects",
        objects.to_str().expect("a UTF-8 path"),
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--username",
        USERNAME,
        "--password",
        PASSWORD,
    ];
    args.extend_from_slice(extra);
    Emulator::start(&args)
}

/// The sidecar's Salesforce client against a harness emulator: its URL, its CA file.
pub trait Clients {
    fn settings(&self, auth: AuthSettings) -> SalesforceSettings;
    fn client_with(&self, auth: AuthSettings, options: ClientOptions) -> SalesforceClient;
    /// The client-credentials flow with default options.
    fn client(&self) -> SalesforceClient;
}

impl Clients for Emulator {
    fn settings(&self, auth: AuthSettings) -> SalesforceSettings {
        SalesforceSettings {
            login_url: url::Url::parse(&self.url).expect("base url"),
            auth,
            api_version: ApiVersion::parse(sfsync_tests::emulator::API_VERSION).expect("version"),
            ca_bundle: Some(CaBundle::read(&self.ca_file).expect("certificate")),
        }
    }

    fn client_with(&self, auth: AuthSettings, options: ClientOptions) -> SalesforceClient {
        SalesforceClient::new(
            &self.settings(auth),
            options,
            SalesforceMetrics::unregistered().expect("metrics"),
            None,
        )
        .expect("client")
    }

    fn client(&self) -> SalesforceClient {
        self.client_with(client_credentials(), ClientOptions::default())
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
    let pem = std::fs::read(fixture("jwt-test-key.pem")).expect("test key");
    AuthSettings::Jwt {
        client_id: CLIENT_ID.to_string(),
        username: username.to_string(),
        signing_key: JwtSigningKey {
            path: fixture("jwt-test-key.pem"),
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
