//! The sidecar's configuration: an optional TOML file overridden by environment variables, validated
//! once at start-up so a bad value stops the process with a message naming the key (exit code 2).

mod error;
pub mod secret;
pub mod sources;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub use error::{ConfigError, JwtKeyError};
pub use secret::Secret;
use sources::{KeySpec, Sources};

use crate::db::DatabaseSettings;
use crate::tls::CaBundle;

pub const DEFAULT_SCHEMA: &str = "salesforce";
pub const DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";
pub const DEFAULT_API_VERSION: &str = "62.0";
/// sObject Collections upserts need API 46.0; older versions are refused rather than half-working.
pub const MINIMUM_API_VERSION: u32 = 46;
/// sObject Collections accept at most 200 records per call.
pub const MAX_WRITE_BATCH: u64 = 200;

/// Everything the sidecar needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseSettings,
    pub schema: String,
    pub salesforce: SalesforceSettings,
    pub http_listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    pub tuning: Tuning,
    /// Webhook alerts; None when `SFSYNC_ALERT_WEBHOOK_URL` is not set.
    pub alerts: Option<AlertSettings>,
    /// The web dashboard on `http_listen`; `None` (the default) serves no page at all.
    pub dashboard: Option<DashboardSettings>,
}

/// Where alerts go and when queue lag is worth one.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// Never printed: the URL often is the credential (a Slack incoming webhook's path is its token).
    pub webhook_url: Secret<Url>,
    /// An alert when a mapping's oldest queued change is older than this.
    pub lag_threshold: Duration,
}

pub const DEFAULT_ALERT_LAG_SECONDS: u64 = 900;

/// The shortest dashboard token accepted: a guessable token would open the dashboard to anyone
/// who can reach the port.
pub const MIN_DASHBOARD_TOKEN_LENGTH: usize = 16;

/// How the dashboard is reached and what it may do.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// Opening `/?token=<token>` (or the login form) starts a dashboard session.
    pub token: Secret<String>,
    /// A login role in `sfsync_admin` for the dashboard's actions; without it the dashboard is
    /// read-only (the sidecar's own `sfsync_agent` connection never performs an admin action).
    pub admin_database: Option<DatabaseSettings>,
}

/// How to reach and log in to the Salesforce org.
#[derive(Debug, Clone)]
pub struct SalesforceSettings {
    pub login_url: Url,
    pub auth: AuthSettings,
    pub api_version: ApiVersion,
    pub ca_bundle: Option<CaBundle>,
}

/// The OAuth flow and its credentials.
#[derive(Debug, Clone)]
pub enum AuthSettings {
    ClientCredentials {
        client_id: String,
        client_secret: Secret<String>,
    },
    Jwt {
        client_id: String,
        username: String,
        signing_key: JwtSigningKey,
        audience: String,
    },
    RefreshToken {
        client_id: String,
        client_secret: Option<Secret<String>>,
        refresh_token: Secret<String>,
    },
    Password {
        client_id: String,
        client_secret: Secret<String>,
        username: String,
        password: Secret<String>,
    },
}

impl AuthSettings {
    pub fn flow_name(&self) -> &'static str {
        match self {
            AuthSettings::ClientCredentials { .. } => "client_credentials",
            AuthSettings::Jwt { .. } => "jwt",
            AuthSettings::RefreshToken { .. } => "refresh_token",
            AuthSettings::Password { .. } => "password",
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            AuthSettings::ClientCredentials { client_id, .. }
            | AuthSettings::Jwt { client_id, .. }
            | AuthSettings::RefreshToken { client_id, .. }
            | AuthSettings::Password { client_id, .. } => client_id,
        }
    }
}

/// An RSA private key for the JWT bearer flow, parsed at start-up so a bad file is a configuration error.
#[derive(Clone)]
pub struct JwtSigningKey {
    pub path: PathBuf,
    pub key: Arc<jsonwebtoken::EncodingKey>,
}

impl std::fmt::Debug for JwtSigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "JwtSigningKey({})", self.path.display())
    }
}

/// A REST API version such as `62.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion(String);

impl ApiVersion {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses `NN.0`; anything else (including a leading `v`) is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (major, minor) = text
            .split_once('.')
            .ok_or_else(|| "expected a version such as 62.0".to_string())?;
        let major_number: u32 = major
            .parse()
            .map_err(|_| "expected a version such as 62.0".to_string())?;
        if minor.is_empty() || !minor.chars().all(|c| c.is_ascii_digit()) {
            return Err("expected a version such as 62.0".to_string());
        }
        if major_number < MINIMUM_API_VERSION {
            return Err(format!(
                "sfsync needs API version {MINIMUM_API_VERSION}.0 or later"
            ));
        }
        Ok(Self(text.to_string()))
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The part of the daily API allowance that sfsync never spends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApiReserve {
    /// A percentage of the org's daily maximum.
    Percent(f64),
    /// A fixed number of calls.
    Calls(u64),
}

impl ApiReserve {
    /// How many calls stay untouched when the daily maximum is `max`.
    pub fn calls_out_of(&self, max: u64) -> u64 {
        match *self {
            ApiReserve::Percent(percent) => ((max as f64) * percent / 100.0).ceil() as u64,
            ApiReserve::Calls(calls) => calls.min(max),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent.trim().parse().map_err(|_| {
                "expected a percentage such as 10% or a number of calls".to_string()
            })?;
            if !(0.0..=100.0).contains(&value) {
                return Err("a percentage must be between 0% and 100%".to_string());
            }
            return Ok(ApiReserve::Percent(value));
        }
        text.parse::<u64>()
            .map(ApiReserve::Calls)
            .map_err(|_| "expected a percentage such as 10% or a number of calls".to_string())
    }
}

/// Knobs for the writer and reader, with the defaults documented in `sfsync.example.toml`.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub api_reserve: ApiReserve,
    pub write_batch: usize,
    pub write_concurrency: usize,
    pub bulk_threshold: u64,
    pub poll_interval: Duration,
    pub archive_retention_days: u32,
    /// Reader: initial loads, reloads and back-fills of at least this many records use a Bulk API
    /// 2.0 query job.
    pub load_bulk_threshold: u64,
    /// Reader: how far behind the high-water mark each poll starts (late-committing transactions).
    pub reread_window: Duration,
    /// Reader: how often a streaming mapping is still polled, as a safety net.
    pub safety_poll_interval: Duration,
    /// Reader: how often each mapped object is described again to detect schema drift.
    pub describe_interval: Duration,
    /// How long a claimed change stays leased to this sidecar without a renewal.
    pub write_lease: Duration,
    /// While the org's API allowance (or our reserve) is spent: how often one call probes it.
    pub limit_probe_interval: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            api_reserve: ApiReserve::Percent(10.0),
            write_batch: 200,
            write_concurrency: 4,
            bulk_threshold: 10_000,
            poll_interval: Duration::from_millis(50),
            archive_retention_days: 31,
            load_bulk_threshold: 10_000,
            reread_window: Duration::from_secs(60),
            safety_poll_interval: Duration::from_secs(300),
            describe_interval: Duration::from_secs(600),
            write_lease: Duration::from_secs(60),
            limit_probe_interval: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// Loads the file (if given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, &|name| std::env::var(name).ok())
    }

    /// Loads with an explicit environment lookup (tests use this to avoid touching the process environment).
    pub fn load_with(
        file: Option<&Path>,
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let sources = Sources::load(file, environment)?;
        Validator { sources: &sources }.validate()
    }
}

struct Validator<'a> {
    sources: &'a Sources,
}

impl Validator<'_> {
    fn validate(&self) -> Result<Config, ConfigError> {
        let database_url = self.required(
            sources::DATABASE_URL,
            "set it to a postgres:// URL of the database where sfsync is installed",
        )?;
        let database =
            DatabaseSettings::parse(&database_url).map_err(|source| ConfigError::DatabaseUrl {
                key: self.sources.label(sources::DATABASE_URL).to_string(),
                source,
            })?;
        let schema = self.schema()?;
        let login_url = self.login_url()?;
        let api_version = match self.optional(sources::API_VERSION) {
            Some(text) => ApiVersion::parse(&text)
                .map_err(|reason| self.invalid(sources::API_VERSION, &text, reason))?,
            None => ApiVersion(DEFAULT_API_VERSION.to_string()),
        };
        let ca_bundle =
            match self.optional(sources::CA_FILE) {
                Some(path) => Some(CaBundle::read(Path::new(&path)).map_err(|source| {
                    ConfigError::CaFile {
                        key: self.sources.label(sources::CA_FILE).to_string(),
                        source,
                    }
                })?),
                None => None,
            };
        let auth = self.auth(&login_url)?;
        let http_listen = match self.optional(sources::HTTP_LISTEN) {
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                self.invalid(
                    sources::HTTP_LISTEN,
                    &text,
                    "expected an address such as 127.0.0.1:9187 or [::]:9187",
                )
            })?),
            None => None,
        };
        let log_format = match self.optional(sources::LOG_FORMAT) {
            Some(text) => Some(LogFormat::parse(&text).ok_or_else(|| {
                self.invalid(sources::LOG_FORMAT, &text, "expected `text` or `json`")
            })?),
            None => None,
        };
        Ok(Config {
            database,
            schema,
            salesforce: SalesforceSettings {
                login_url,
                auth,
                api_version,
                ca_bundle,
            },
            http_listen,
            log_format,
            tuning: self.tuning()?,
            alerts: self.alerts()?,
            dashboard: self.dashboard(http_listen.is_some())?,
        })
    }

    fn alerts(&self) -> Result<Option<AlertSettings>, ConfigError> {
        let lag_threshold = Duration::from_secs(self.number(
            sources::ALERT_LAG_SECONDS,
            DEFAULT_ALERT_LAG_SECONDS,
            1,
            604_800,
        )?);
        let Some(text) = self.optional(sources::ALERT_WEBHOOK_URL) else {
            return Ok(None);
        };
        // the reasons below never quote the URL (nor the parser's message, which may): it is secret
        let refuse = |reason: &str| self.invalid(sources::ALERT_WEBHOOK_URL, &text, reason);
        let url = Url::parse(text.trim())
            .map_err(|_| refuse("not a URL; expected e.g. https://hooks.example.com/..."))?;
        match url.scheme() {
            "https" => {}
            // the alert (and the token in the URL) travels in clear: only to this machine
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(refuse(
                    "plain http is only allowed for a loopback address; use https",
                ))
            }
            _ => return Err(refuse("expected an https:// URL")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("the URL has no host"));
        }
        Ok(Some(AlertSettings {
            webhook_url: Secret::new(url),
            lag_threshold,
        }))
    }

    /// The dashboard is off unless a token is given (inline or in a file); it is served on
    /// `SFSYNC_HTTP_LISTEN`, so a token without a listen address is a mistake worth stopping for.
    fn dashboard(&self, listening: bool) -> Result<Option<DashboardSettings>, ConfigError> {
        let token = match (
            self.optional(sources::DASHBOARD_TOKEN),
            self.optional(sources::DASHBOARD_TOKEN_FILE),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    setting: self
                        .sources
                        .label(sources::DASHBOARD_TOKEN_FILE)
                        .to_string(),
                    reason: format!(
                        "set either {} or {}, not both",
                        sources::DASHBOARD_TOKEN.env,
                        sources::DASHBOARD_TOKEN_FILE.env
                    ),
                })
            }
            (Some(token), None) => token,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|error| {
                    self.invalid(
                        sources::DASHBOARD_TOKEN_FILE,
                        &path,
                        format!("cannot read the file: {error}"),
                    )
                })?
                .trim()
                .to_string(),
            (None, None) => {
                if self.optional(sources::DASHBOARD_DATABASE_URL).is_some() {
                    return Err(ConfigError::Needs {
                        setting: self
                            .sources
                            .label(sources::DASHBOARD_DATABASE_URL)
                            .to_string(),
                        needed: format!(
                            "{} or {}",
                            sources::DASHBOARD_TOKEN.env,
                            sources::DASHBOARD_TOKEN_FILE.env
                        ),
                    });
                }
                return Ok(None);
            }
        };
        let token_key = if self.optional(sources::DASHBOARD_TOKEN).is_some() {
            sources::DASHBOARD_TOKEN
        } else {
            sources::DASHBOARD_TOKEN_FILE
        };
        if token.chars().count() < MIN_DASHBOARD_TOKEN_LENGTH
            || token.chars().any(char::is_whitespace)
        {
            return Err(ConfigError::Invalid {
                setting: self.sources.label(token_key).to_string(),
                reason: format!(
                    "the dashboard token must be at least {MIN_DASHBOARD_TOKEN_LENGTH} characters without spaces (e.g. `openssl rand -hex 32`)"
                ),
            });
        }
        if !listening {
            return Err(ConfigError::Needs {
                setting: self.sources.label(token_key).to_string(),
                needed: sources::HTTP_LISTEN.env.to_string(),
            });
        }
        let admin_database = match self.optional(sources::DASHBOARD_DATABASE_URL) {
            Some(url) => Some(DatabaseSettings::parse(&url).map_err(|source| {
                ConfigError::DatabaseUrl {
                    key: self
                        .sources
                        .label(sources::DASHBOARD_DATABASE_URL)
                        .to_string(),
                    source,
                }
            })?),
            None => None,
        };
        Ok(Some(DashboardSettings {
            token: Secret::new(token),
            admin_database,
        }))
    }

    fn optional(&self, spec: KeySpec) -> Option<String> {
        self.sources.get(spec).map(|value| value.value.clone())
    }

    fn required(&self, spec: KeySpec, hint: &str) -> Result<String, ConfigError> {
        self.optional(spec).ok_or_else(|| ConfigError::Missing {
            key: self.sources.missing_name(spec),
            hint: hint.to_string(),
        })
    }

    fn invalid(&self, spec: KeySpec, value: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            setting: self.sources.assignment(spec, value),
            reason: reason.into(),
        }
    }

    fn schema(&self) -> Result<String, ConfigError> {
        let Some(schema) = self.optional(sources::SCHEMA) else {
            return Ok(DEFAULT_SCHEMA.to_string());
        };
        if schema.len() > 63 {
            return Err(self.invalid(
                sources::SCHEMA,
                &schema,
                "Postgres identifiers are at most 63 bytes",
            ));
        }
        if schema.contains('\0') {
            return Err(self.invalid(sources::SCHEMA, &schema, "contains a NUL byte"));
        }
        Ok(schema)
    }

    fn login_url(&self) -> Result<Url, ConfigError> {
        let text = self
            .optional(sources::LOGIN_URL)
            .unwrap_or_else(|| DEFAULT_LOGIN_URL.to_string());
        let url = Url::parse(&text).map_err(|error| {
            self.invalid(
                sources::LOGIN_URL,
                &text,
                format!("not a URL ({error}); expected e.g. https://mydomain.my.salesforce.com"),
            )
        })?;
        match url.scheme() {
            "https" => {}
            // Credentials travel in clear over http: only tolerated on this machine (an emulator).
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(self.invalid(
                    sources::LOGIN_URL,
                    &text,
                    "plain http is only allowed for a loopback address; use https",
                ))
            }
            _ => return Err(self.invalid(sources::LOGIN_URL, &text, "expected an https:// URL")),
        }
        if url.host_str().is_none() {
            return Err(self.invalid(sources::LOGIN_URL, &text, "the URL has no host"));
        }
        Ok(url)
    }

    fn auth(&self, login_url: &Url) -> Result<AuthSettings, ConfigError> {
        let flow = self.required(
            sources::AUTH,
            "choose client_credentials, jwt, refresh_token or password",
        )?;
        let needs = |spec: KeySpec| -> Result<String, ConfigError> {
            self.optional(spec).ok_or_else(|| ConfigError::Needs {
                setting: self.sources.assignment(sources::AUTH, &flow),
                needed: self.sources.missing_name(spec),
            })
        };
        match flow.as_str() {
            "client_credentials" => Ok(AuthSettings::ClientCredentials {
                client_id: needs(sources::CLIENT_ID)?,
                client_secret: Secret::new(needs(sources::CLIENT_SECRET)?),
            }),
            "jwt" => {
                let client_id = needs(sources::CLIENT_ID)?;
                let username = needs(sources::USERNAME)?;
                let key_path = PathBuf::from(needs(sources::JWT_KEY_FILE)?);
                let signing_key = self.jwt_signing_key(&key_path)?;
                let audience = match self.optional(sources::JWT_AUDIENCE) {
                    Some(audience) => audience,
                    None => login_url.as_str().trim_end_matches('/').to_string(),
                };
                Ok(AuthSettings::Jwt {
                    client_id,
                    username,
                    signing_key,
                    audience,
                })
            }
            "refresh_token" => Ok(AuthSettings::RefreshToken {
                client_id: needs(sources::CLIENT_ID)?,
                client_secret: self.optional(sources::CLIENT_SECRET).map(Secret::new),
                refresh_token: Secret::new(needs(sources::REFRESH_TOKEN)?),
            }),
            "password" => Ok(AuthSettings::Password {
                client_id: needs(sources::CLIENT_ID)?,
                client_secret: Secret::new(needs(sources::CLIENT_SECRET)?),
                username: needs(sources::USERNAME)?,
                password: Secret::new(needs(sources::PASSWORD)?),
            }),
            other => Err(self.invalid(
                sources::AUTH,
                other,
                "expected client_credentials, jwt, refresh_token or password",
            )),
        }
    }

    fn jwt_signing_key(&self, path: &Path) -> Result<JwtSigningKey, ConfigError> {
        let key_error = |source| ConfigError::JwtKey {
            key: self.sources.label(sources::JWT_KEY_FILE).to_string(),
            path: path.to_path_buf(),
            source,
        };
        let pem = std::fs::read(path).map_err(|error| key_error(JwtKeyError::Read(error)))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem)
            .map_err(|error| key_error(JwtKeyError::Parse(error)))?;
        Ok(JwtSigningKey {
            path: path.to_path_buf(),
            key: Arc::new(key),
        })
    }

    fn number(&self, spec: KeySpec, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let Some(text) = self.optional(spec) else {
            return Ok(default);
        };
        let range = format!("expected a whole number from {min} to {max}");
        let value: u64 = text
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| self.invalid(spec, &text, range.clone()))?;
        if value < min || value > max {
            return Err(self.invalid(spec, &text, range));
        }
        Ok(value)
    }

    fn tuning(&self) -> Result<Tuning, ConfigError> {
        let defaults = Tuning::default();
        let api_reserve = match self.optional(sources::API_RESERVE) {
            Some(text) => ApiReserve::parse(text.trim())
                .map_err(|reason| self.invalid(sources::API_RESERVE, &text, reason))?,
            None => defaults.api_reserve,
        };
        Ok(Tuning {
            api_reserve,
            write_batch: self.number(
                sources::WRITE_BATCH,
                defaults.write_batch as u64,
                1,
                MAX_WRITE_BATCH,
            )? as usize,
            write_concurrency: self.number(
                sources::WRITE_CONCURRENCY,
                defaults.write_concurrency as u64,
                1,
                64,
            )? as usize,
            bulk_threshold: self.number(
                sources::BULK_THRESHOLD,
                defaults.bulk_threshold,
                1,
                u64::MAX,
            )?,
            poll_interval: Duration::from_millis(self.number(
                sources::POLL_MS,
                defaults.poll_interval.as_millis() as u64,
                1,
                60_000,
            )?),
            archive_retention_days: self.number(
                sources::ARCHIVE_RETENTION_DAYS,
                u64::from(defaults.archive_retention_days),
                1,
                36_500,
            )? as u32,
            load_bulk_threshold: self.number(
                sources::LOAD_BULK_THRESHOLD,
                defaults.load_bulk_threshold,
                1,
                u64::MAX,
            )?,
            reread_window: Duration::from_secs(self.number(
                sources::REREAD_SECONDS,
                defaults.reread_window.as_secs(),
                0,
                3_600,
            )?),
            safety_poll_interval: Duration::from_secs(self.number(
                sources::SAFETY_POLL_SECONDS,
                defaults.safety_poll_interval.as_secs(),
                1,
                86_400,
            )?),
            describe_interval: Duration::from_secs(self.number(
                sources::DESCRIBE_SECONDS,
                defaults.describe_interval.as_secs(),
                10,
                86_400,
            )?),
            write_lease: Duration::from_secs(self.number(
                sources::WRITE_LEASE_SECONDS,
                defaults.write_lease.as_secs(),
                5,
                3_600,
            )?),
            limit_probe_interval: Duration::from_secs(self.number(
                sources::LIMIT_PROBE_SECONDS,
                defaults.limit_probe_interval.as_secs(),
                1,
                3_600,
            )?),
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
