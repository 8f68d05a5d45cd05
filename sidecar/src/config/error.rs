//! Configuration errors: each message names the key at fault and, for file values, the file.

use std::path::PathBuf;

use thiserror::Error;

use crate::db::DatabaseUrlError;
use crate::tls::CaFileError;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration file {} is not valid TOML", path.display())]
    ParseFile {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("unknown key `{key}` in {} (known keys: {known})", path.display())]
    UnknownFileKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("`{key}` in {} must be a string or a number", path.display())]
    FileValueType { path: PathBuf, key: String },
    #[error("{key} is not set: {hint}")]
    Missing { key: String, hint: String },
    /// `setting` reads `SFSYNC_X=value`, or `` `x` = value in FILE `` for file values.
    #[error("{setting} is invalid: {reason}")]
    Invalid { setting: String, reason: String },
    #[error("{setting} needs {needed}")]
    Needs { setting: String, needed: String },
    #[error("{key}: cannot use the JWT signing key {}", path.display())]
    JwtKey {
        key: String,
        path: PathBuf,
        #[source]
        source: JwtKeyError,
    },
    #[error("{key}: cannot use the CA file")]
    CaFile {
        key: String,
        #[source]
        source: CaFileError,
    },
    #[error("{key} is invalid")]
    DatabaseUrl {
        key: String,
        #[source]
        source: DatabaseUrlError,
    },
}

/// Why a JWT signing key file was refused.
#[derive(Debug, Error)]
pub enum JwtKeyError {
    #[error("cannot read the file")]
    Read(#[source] std::io::Error),
    #[error("not an RSA private key in PEM format (PKCS#1 or PKCS#8)")]
    Parse(#[source] jsonwebtoken::errors::Error),
}
