//! Where configuration values come from: the optional TOML file, overridden by environment variables.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::error::ConfigError;

/// One configuration key: its environment variable and its name in the TOML file.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub env: &'static str,
    pub file: &'static str,
    /// Secret values are shown as `***` in every message.
    pub secret: bool,
}

const fn key(env: &'static str, file: &'static str) -> KeySpec {
    KeySpec {
        env,
        file,
        secret: false,
    }
}

const fn secret(env: &'static str, file: &'static str) -> KeySpec {
    KeySpec {
        env,
        file,
        secret: true,
    }
}

pub const DATABASE_URL: KeySpec = secret("DATABASE_URL", "database_url");
pub const SCHEMA: KeySpec = key("SFSYNC_SCHEMA", "schema");
pub const LOGIN_URL: KeySpec = key("SFSYNC_LOGIN_URL", "login_url");
pub const AUTH: KeySpec = key("SFSYNC_AUTH", "auth");
pub const CLIENT_ID: KeySpec = key("SFSYNC_CLIENT_ID", "client_id");
pub const CLIENT_SECRET: KeySpec = secret("SFSYNC_CLIENT_SECRET", "client_secret");
pub const USERNAME: KeySpec = key("SFSYNC_USERNAME", "username");
pub const PASSWORD: KeySpec = secret("SFSYNC_PASSWORD", "password");
pub const JWT_KEY_FILE: KeySpec = key("SFSYNC_JWT_KEY_FILE", "jwt_key_file");
pub const JWT_AUDIENCE: KeySpec = key("SFSYNC_JWT_AUDIENCE", "jwt_audience");
pub const REFRESH_TOKEN: KeySpec = secret("SFSYNC_REFRESH_TOKEN", "refresh_token");
pub const API_VERSION: KeySpec = key("SFSYNC_API_VERSION", "api_version");
pub const CA_FILE: KeySpec = key("SFSYNC_CA_FILE", "ca_file");
pub const HTTP_LISTEN: KeySpec = key("SFSYNC_HTTP_LISTEN", "http_listen");
pub const LOG_FORMAT: KeySpec = key("SFSYNC_LOG_FORMAT", "log_format");
pub const API_RESERVE: KeySpec = key("SFSYNC_API_RESERVE", "api_reserve");
pub const WRITE_BATCH: KeySpec = key("SFSYNC_WRITE_BATCH", "write_batch");
pub const WRITE_CONCURRENCY: KeySpec = key("SFSYNC_WRITE_CONCURRENCY", "write_concurrency");
pub const BULK_THRESHOLD: KeySpec = key("SFSYNC_BULK_THRESHOLD", "bulk_threshold");
pub const POLL_MS: KeySpec = key("SFSYNC_POLL_MS", "poll_ms");
pub const ARCHIVE_RETENTION_DAYS: KeySpec =
    key("SFSYNC_ARCHIVE_RETENTION_DAYS", "archive_retention_days");
pub const LOAD_BULK_THRESHOLD: KeySpec = key("SFSYNC_LOAD_BULK_THRESHOLD", "load_bulk_threshold");
pub const REREAD_SECONDS: KeySpec = key("SFSYNC_REREAD_SECONDS", "reread_seconds");
pub const SAFETY_POLL_SECONDS: KeySpec = key("SFSYNC_SAFETY_POLL_SECONDS", "safety_poll_seconds");
pub const DESCRIBE_SECONDS: KeySpec = key("SFSYNC_DESCRIBE_SECONDS", "describe_seconds");
pub const WRITE_LEASE_SECONDS: KeySpec = key("SFSYNC_WRITE_LEASE_SECONDS", "write_lease_seconds");
pub const LIMIT_PROBE_SECONDS: KeySpec = key("SFSYNC_LIMIT_PROBE_SECONDS", "limit_probe_seconds");
/// A secret: webhook URLs (Slack's, for one) carry their token in the path.
pub const ALERT_WEBHOOK_URL: KeySpec = secret("SFSYNC_ALERT_WEBHOOK_URL", "alert_webhook_url");
pub const ALERT_LAG_SECONDS: KeySpec = key("SFSYNC_ALERT_LAG_SECONDS", "alert_lag_seconds");
pub const DASHBOARD_TOKEN: KeySpec = secret("SFSYNC_DASHBOARD_TOKEN", "dashboard_token");
pub const DASHBOARD_TOKEN_FILE: KeySpec =
    key("SFSYNC_DASHBOARD_TOKEN_FILE", "dashboard_token_file");
pub const DASHBOARD_DATABASE_URL: KeySpec =
    secret("SFSYNC_DASHBOARD_DATABASE_URL", "dashboard_database_url");

/// Every key the sidecar understands; anything else in the file is a typo and refused.
pub const ALL_KEYS: &[KeySpec] = &[
    DATABASE_URL,
    SCHEMA,
    LOGIN_URL,
    AUTH,
    CLIENT_ID,
    CLIENT_SECRET,
    USERNAME,
    PASSWORD,
    JWT_KEY_FILE,
    JWT_AUDIENCE,
    REFRESH_TOKEN,
    API_VERSION,
    CA_FILE,
    HTTP_LISTEN,
    LOG_FORMAT,
    API_RESERVE,
    WRITE_BATCH,
    WRITE_CONCURRENCY,
    BULK_THRESHOLD,
    POLL_MS,
    ARCHIVE_RETENTION_DAYS,
    LOAD_BULK_THRESHOLD,
    REREAD_SECONDS,
    SAFETY_POLL_SECONDS,
    DESCRIBE_SECONDS,
    WRITE_LEASE_SECONDS,
    LIMIT_PROBE_SECONDS,
    ALERT_WEBHOOK_URL,
    ALERT_LAG_SECONDS,
    DASHBOARD_TOKEN,
    DASHBOARD_TOKEN_FILE,
    DASHBOARD_DATABASE_URL,
];

/// Where a value was found, so error messages can point at the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    File(PathBuf),
}

/// A raw value and where it came from.
#[derive(Debug, Clone)]
pub struct SourcedValue {
    pub value: String,
    pub origin: Origin,
}

/// How a key is named in messages: the variable, plus the file key when the value came from the file.
pub struct KeyLabel<'a> {
    spec: KeySpec,
    origin: Option<&'a Origin>,
}

impl fmt::Display for KeyLabel<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            Some(Origin::File(path)) => write!(
                formatter,
                "{} (`{}` in {})",
                self.spec.env,
                self.spec.file,
                path.display()
            ),
            _ => formatter.write_str(self.spec.env),
        }
    }
}

/// All raw values after the environment has overridden the file.
#[derive(Debug, Default)]
pub struct Sources {
    values: HashMap<&'static str, SourcedValue>,
}

impl Sources {
    /// Reads the file (if any), then lets every non-empty environment variable override it.
    pub fn load(
        file: Option<&Path>,
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Sources::default();
        if let Some(path) = file {
            sources.read_file(path)?;
        }
        for spec in ALL_KEYS {
            if let Some(value) = environment(spec.env).filter(|value| !value.is_empty()) {
                sources.values.insert(
                    spec.env,
                    SourcedValue {
                        value,
                        origin: Origin::Environment,
                    },
                );
            }
        }
        Ok(sources)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table = text.parse().map_err(|source| ConfigError::ParseFile {
            path: path.to_path_buf(),
            source,
        })?;
        for (name, value) in table {
            let Some(spec) = ALL_KEYS.iter().find(|spec| spec.file == name) else {
                return Err(ConfigError::UnknownFileKey {
                    path: path.to_path_buf(),
                    key: name,
                    known: ALL_KEYS
                        .iter()
                        .map(|spec| spec.file)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Float(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                _ => {
                    return Err(ConfigError::FileValueType {
                        path: path.to_path_buf(),
                        key: name,
                    })
                }
            };
            self.values.insert(
                spec.env,
                SourcedValue {
                    value,
                    origin: Origin::File(path.to_path_buf()),
                },
            );
        }
        Ok(())
    }

    pub fn get(&self, spec: KeySpec) -> Option<&SourcedValue> {
        self.values.get(spec.env)
    }

    /// `KEY=value` (environment) or `` `key` = value in FILE `` (file), secrets shown as `***`.
    pub fn assignment(&self, spec: KeySpec, value: &str) -> String {
        let shown = if spec.secret { "***" } else { value };
        match self.get(spec).map(|sourced| &sourced.origin) {
            Some(Origin::File(path)) => {
                format!("`{}` = {shown:?} in {}", spec.file, path.display())
            }
            _ => format!("{}={shown}", spec.env),
        }
    }

    /// How to name a missing key: the variable, plus the file key when a file is in use.
    pub fn missing_name(&self, spec: KeySpec) -> String {
        let file_in_use = self
            .values
            .values()
            .any(|value| matches!(value.origin, Origin::File(_)));
        if file_in_use {
            format!("{} (or `{}` in the file)", spec.env, spec.file)
        } else {
            spec.env.to_string()
        }
    }

    /// The label to use for `spec` in messages.
    pub fn label(&self, spec: KeySpec) -> KeyLabel<'_> {
        KeyLabel {
            spec,
            origin: self.get(spec).map(|value| &value.origin),
        }
    }
}
