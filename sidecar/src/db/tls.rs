//! TLS for the Postgres connection with rustls, following libpq's `sslmode` semantics.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{root_store, CaBundle};

/// What to do about certificates, derived from `sslmode` (and `sslrootcert`) in the database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificatePolicy {
    /// `sslmode=disable`: no TLS at all.
    NoTls,
    /// `prefer`/`require` without `sslrootcert`: encrypt but do not verify, exactly as libpq does.
    EncryptOnly,
    /// `verify-ca`/`verify-full`, or `require` with `sslrootcert` (libpq treats that as `verify-ca`):
    /// verify the chain and the host name against the system roots, `SFSYNC_CA_FILE` and `sslrootcert`.
    Verify {
        root_cert: Option<std::path::PathBuf>,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls connector for `policy`; `None` for `NoTls`.
pub fn make_connector(
    policy: &CertificatePolicy,
    extra_roots: Option<&CaBundle>,
) -> Result<Option<MakeRustlsConnect>, super::DbError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(super::DbError::Tls)?;
    let config = match policy {
        CertificatePolicy::NoTls => return Ok(None),
        CertificatePolicy::EncryptOnly => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                provider: provider(),
            }))
            .with_no_client_auth(),
        CertificatePolicy::Verify { root_cert } => {
            let mut roots = root_store(extra_roots);
            if let Some(path) = root_cert {
                let bundle = CaBundle::read(path).map_err(super::DbError::RootCert)?;
                roots.add_parsable_certificates(bundle.certificates);
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// libpq's `sslmode=require` encrypts without checking who is on the other side; this reproduces it.
/// Signatures are still checked so the handshake itself stays sound.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
