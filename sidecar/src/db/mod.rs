//! Postgres connections: parses `DATABASE_URL` (honouring `sslmode` with rustls) and opens
//! tokio-postgres connections on demand.

pub mod catalog;
pub mod credential;
mod listen;
pub mod monitoring;
pub mod pool;
pub mod queue;
pub mod session;
mod tls;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use listen::{WakeFilter, Wakeups};
pub use pool::{ClientPool, PooledClient};
pub use session::SessionBinding;
pub use tls::CertificatePolicy;

use crate::tls::{CaBundle, CaFileError};

const APPLICATION_NAME: &str = "sfsync-sidecar";
/// An unreachable host should fail `check` quickly rather than hang on the OS default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `DATABASE_URL` could not be understood.
#[derive(Debug, Error)]
pub enum DatabaseUrlError {
    #[error("sslmode={0} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    SslMode(String),
    #[error("not a valid connection string")]
    Parse(#[source] tokio_postgres::Error),
}

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot connect to database {target}")]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot set up TLS for the database connection")]
    Tls(#[source] rustls::Error),
    #[error("cannot use sslrootcert")]
    RootCert(#[source] CaFileError),
    #[error("database query failed: {what}")]
    Query {
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "extension sfsync is not installed in database {database}: run CREATE EXTENSION sfsync"
    )]
    ExtensionMissing { database: String },
    #[error("the database refused this sidecar for schema {schema}: {reason}")]
    SessionRefused { schema: String, reason: String },
    /// The installed extension is a version this sidecar was not built for: its SQL API (the queue
    /// protocol, the catalog tables) may differ, so the sidecar refuses rather than guess.
    #[error("extension sfsync {installed} is installed in database {database}, but sfsync-sidecar {sidecar} runs only against sfsync {supported}: {remedy}")]
    UnsupportedExtensionVersion {
        database: String,
        installed: String,
        sidecar: &'static str,
        supported: String,
        remedy: String,
    },
    #[error("not connected to database {target}")]
    NotConnected { target: String },
    #[error("cannot decode {what} returned by the database")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A state or access word the contract does not know: the extension is newer than this sidecar.
    #[error("cannot read {what} returned by the database")]
    UnknownWord {
        what: &'static str,
        #[source]
        source: sfsync_protocol::UnknownWord,
    },
}

impl DbError {
    /// A deadlock or serialization failure: the statement did nothing and may simply run again.
    pub fn is_retryable_conflict(&self) -> bool {
        use tokio_postgres::error::SqlState;
        let source = match self {
            DbError::Query { source, .. } | DbError::Connect { source, .. } => source,
            _ => return false,
        };
        source.code().is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
    }

    /// The connection is gone (server restart, network): reconnecting may help.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            DbError::Connect { .. } | DbError::NotConnected { .. } => true,
            DbError::Query { source, .. } => source.is_closed() || source.code().is_none(),
            _ => false,
        }
    }
}

/// A parsed `DATABASE_URL`: the tokio-postgres configuration plus what to do about TLS.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub config: tokio_postgres::Config,
    pub certificates: CertificatePolicy,
    /// Whether the string named an `sslmode` at all: without one libpq's default `prefer` applies,
    /// which encrypts only when the server offers TLS and verifies no certificate (`check` warns).
    pub ssl_mode_given: bool,
}

impl DatabaseSettings {
    /// Accepts `postgres://` / `postgresql://` URLs and libpq `key=value` strings. tokio-postgres only
    /// knows `sslmode` disable/prefer/require, so for URLs the TLS parameters are read here first.
    pub fn parse(text: &str) -> Result<Self, DatabaseUrlError> {
        let (remaining, ssl_mode, root_cert) = split_tls_parameters(text);
        let ssl_mode_given = ssl_mode.is_some() || names_ssl_mode(&remaining);
        let mut config =
            tokio_postgres::Config::from_str(&remaining).map_err(DatabaseUrlError::Parse)?;
        let ssl_mode = ssl_mode.unwrap_or_else(|| match config.get_ssl_mode() {
            SslMode::Disable => "disable".to_string(),
            SslMode::Require => "require".to_string(),
            _ => "prefer".to_string(),
        });
        let (mode, certificates) = match (ssl_mode.as_str(), root_cert) {
            ("disable", _) => (SslMode::Disable, CertificatePolicy::NoTls),
            ("allow" | "prefer", _) => (SslMode::Prefer, CertificatePolicy::EncryptOnly),
            ("require", None) => (SslMode::Require, CertificatePolicy::EncryptOnly),
            ("require" | "verify-ca" | "verify-full", root_cert) => {
                (SslMode::Require, CertificatePolicy::Verify { root_cert })
            }
            (other, _) => return Err(DatabaseUrlError::SslMode(other.to_string())),
        };
        config.ssl_mode(mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        Ok(Self {
            config,
            certificates,
            ssl_mode_given,
        })
    }

    /// The database name as Postgres will see it (libpq defaults it to the user name).
    pub fn database_name(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    /// `name at host:port` for messages; never includes the password.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(index, host)| {
                let port = self
                    .config
                    .get_ports()
                    .get(index)
                    .or(self.config.get_ports().first())
                    .copied()
                    .unwrap_or(5432);
                match host {
                    tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                    tokio_postgres::config::Host::Unix(path) => {
                        format!("{}/.s.PGSQL.{port}", path.display())
                    }
                }
            })
            .collect();
        let hosts = if hosts.is_empty() {
            "localhost:5432".to_string()
        } else {
            hosts.join(",")
        };
        format!("{} at {hosts}", self.database_name())
    }
}

/// Whether a libpq `key=value` string sets `sslmode` (`sslmode=require`, `sslmode = require`); URLs
/// have had theirs taken out by [`split_tls_parameters`].
fn names_ssl_mode(text: &str) -> bool {
    let is_url = text.starts_with("postgres://") || text.starts_with("postgresql://");
    !is_url
        && text
            .split_whitespace()
            .any(|word| word == "sslmode" || word.starts_with("sslmode="))
}

/// Removes `sslmode` and `sslrootcert` from a URL's query string and returns them separately.
fn split_tls_parameters(text: &str) -> (String, Option<String>, Option<PathBuf>) {
    let is_url = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let Some((base, query)) = text.split_once('?').filter(|_| is_url) else {
        return (text.to_string(), None, None);
    };
    let mut ssl_mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_decode(value);
        match name {
            "sslmode" => ssl_mode = Some(decoded),
            "sslrootcert" => root_cert = Some(PathBuf::from(decoded)),
            _ => kept.push(pair),
        }
    }
    let remaining = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (remaining, ssl_mode, root_cert)
}

fn percent_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, decoded)| decoded.into_owned())
        .unwrap_or_default()
}

/// Opens connections to the configured database; cheap to clone. The TLS set-up (which reads the
/// system's trusted roots) is done once, here, not on every connection. With a session binding every
/// new connection is bound to the sidecar's schema before it is handed out.
#[derive(Clone)]
pub struct Database {
    settings: DatabaseSettings,
    connector: Option<MakeRustlsConnect>,
    session: Option<Arc<SessionBinding>>,
}

impl Database {
    pub fn new(
        settings: DatabaseSettings,
        extra_roots: Option<&CaBundle>,
    ) -> Result<Self, DbError> {
        let connector = tls::make_connector(&settings.certificates, extra_roots)?;
        Ok(Self {
            settings,
            connector,
            session: None,
        })
    }

    /// The same database, with every new connection's session bound to `binding`.
    pub fn with_session(&self, binding: SessionBinding) -> Self {
        Self {
            session: Some(Arc::new(binding)),
            ..self.clone()
        }
    }

    pub fn settings(&self) -> &DatabaseSettings {
        &self.settings
    }

    /// Opens a new connection (bound to the session binding, if any); its I/O runs on a spawned
    /// task that ends when the client is dropped.
    pub async fn connect(&self) -> Result<Client, DbError> {
        let client = self.connect_unbound().await?;
        if let Some(binding) = &self.session {
            session::open_session(&client, binding, false).await?;
        }
        Ok(client)
    }

    /// Opens a new connection without binding its session (checks, rebinding, LISTEN).
    pub async fn connect_unbound(&self) -> Result<Client, DbError> {
        let connect_error = |source| DbError::Connect {
            target: self.settings.describe(),
            source,
        };
        match &self.connector {
            None => {
                let (client, connection) = self
                    .settings
                    .config
                    .connect(NoTls)
                    .await
                    .map_err(connect_error)?;
                spawn_connection(connection);
                Ok(client)
            }
            Some(connector) => {
                let (client, connection) = self
                    .settings
                    .config
                    .connect(connector.clone())
                    .await
                    .map_err(connect_error)?;
                spawn_connection(connection);
                Ok(client)
            }
        }
    }
}

fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(error = %crate::error_chain(&error), "database connection closed with an error");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_from_the_url_and_removed() {
        let settings = DatabaseSettings::parse(
            "postgres://u:p@db.example.com:6543/app?sslmode=verify-full&connect_timeout=3",
        )
        .expect("valid url");
        assert_eq!(
            settings.certificates,
            CertificatePolicy::Verify { root_cert: None }
        );
        assert_eq!(settings.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            settings.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(settings.describe(), "app at db.example.com:6543");
    }

    #[test]
    fn require_without_root_cert_encrypts_only_like_libpq() {
        let settings =
            DatabaseSettings::parse("postgresql://localhost/app?sslmode=require").expect("valid");
        assert_eq!(settings.certificates, CertificatePolicy::EncryptOnly);
        let settings = DatabaseSettings::parse(
            "postgresql://localhost/app?sslmode=require&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .expect("valid");
        assert_eq!(
            settings.certificates,
            CertificatePolicy::Verify {
                root_cert: Some(PathBuf::from("/tmp/ca.pem"))
            }
        );
    }

    #[test]
    fn default_is_prefer_and_disable_turns_tls_off() {
        let settings = DatabaseSettings::parse("postgres://localhost/app").expect("valid");
        assert_eq!(settings.certificates, CertificatePolicy::EncryptOnly);
        let settings =
            DatabaseSettings::parse("host=localhost dbname=app sslmode=disable").expect("valid");
        assert_eq!(settings.certificates, CertificatePolicy::NoTls);
        assert_eq!(settings.database_name(), "app");
    }

    #[test]
    fn whether_sslmode_was_given_is_kept() {
        for (text, given) in [
            ("postgres://localhost/app", false),
            ("postgres://localhost/app?connect_timeout=3", false),
            ("postgres://localhost/app?sslmode=disable", true),
            (
                "postgresql://localhost/app?connect_timeout=3&sslmode=verify-full",
                true,
            ),
            ("host=localhost dbname=app", false),
            ("host=localhost dbname=app sslmode=require", true),
            ("host=localhost sslmode = require dbname=app", true),
        ] {
            let settings = DatabaseSettings::parse(text).expect(text);
            assert_eq!(settings.ssl_mode_given, given, "{text}");
        }
    }

    #[test]
    fn the_password_never_shows_in_descriptions() {
        for text in [
            "postgres://sidecar:Sup3rSecretPw@db.example.com:5433/app?sslmode=require",
            "postgres://sidecar:Sup3r%40SecretPw@db.example.com/app",
            "host=db.example.com user=sidecar password=Sup3rSecretPw dbname=app",
        ] {
            let settings = DatabaseSettings::parse(text).expect(text);
            let shown = format!("{} {settings:?}", settings.describe());
            assert!(!shown.contains("Sup3r"), "{shown}");
        }
    }

    #[test]
    fn unknown_sslmode_is_refused() {
        let error = DatabaseSettings::parse("postgres://localhost/app?sslmode=sometimes")
            .expect_err("must fail");
        assert!(error.to_string().contains("sslmode=sometimes"), "{error}");
    }
}
