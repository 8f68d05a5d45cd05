//! Trusted certificates: the extra CA file (`SFSYNC_CA_FILE`) shared by the Salesforce and Postgres clients.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CaFileError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a PEM certificate file", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no certificate", path.display())]
    Empty { path: PathBuf },
}

/// Extra trusted certificates read from a PEM file, kept both as PEM (for reqwest) and DER (for rustls).
#[derive(Clone)]
pub struct CaBundle {
    pub path: PathBuf,
    pub pem: Vec<u8>,
    pub certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl CaBundle {
    pub fn read(path: &Path) -> Result<Self, CaFileError> {
        let pem = std::fs::read(path).map_err(|source| CaFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CaFileError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if certificates.is_empty() {
            return Err(CaFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            pem,
            certificates,
        })
    }
}

/// The system's trusted roots plus the extra CA bundle, for rustls clients (the Postgres connection).
pub fn root_store(extra: Option<&CaBundle>) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "some system certificates could not be loaded");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(bundle) = extra {
        roots.add_parsable_certificates(bundle.certificates.iter().cloned());
    }
    roots
}
