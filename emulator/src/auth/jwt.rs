//! JWT bearer assertions: RS256 signatures verified against the `--jwt-cert` certificate or public key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use serde_json::Value as Json;
use thiserror::Error;
use x509_parser::prelude::FromDer;

#[derive(Debug, Error)]
pub enum JwtSetupError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate or public key")]
    NotPem { path: String },
    #[error("{path}: the certificate cannot be parsed")]
    BadCertificate { path: String },
}

/// Why an assertion was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed assertion")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("bad signature")]
    Signature,
}

/// The claims Salesforce reads.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub prn: Option<String>,
    pub aud: Option<Json>,
    /// A NumericDate: seconds since the epoch, possibly with a fraction.
    pub exp: Option<f64>,
}

impl Claims {
    /// `prn` wins over `sub` when both are present.
    pub fn subject(&self) -> Option<&str> {
        self.prn.as_deref().or(self.sub.as_deref())
    }

    /// Audiences, whether given as one string or a list.
    pub fn audiences(&self) -> Vec<&str> {
        match &self.aud {
            Some(Json::String(one)) => vec![one.as_str()],
            Some(Json::Array(many)) => many.iter().filter_map(Json::as_str).collect(),
            _ => vec![],
        }
    }
}

/// Verifies RS256 assertions with one RSA public key.
#[derive(Clone, Debug)]
pub struct JwtVerifier {
    /// PKCS#1 `RSAPublicKey` DER.
    public_key: Vec<u8>,
}

impl JwtVerifier {
    /// Reads a PEM `CERTIFICATE` (as uploaded to a connected app) or a PEM `PUBLIC KEY`.
    pub fn from_pem_file(path: &std::path::Path) -> Result<JwtVerifier, JwtSetupError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| JwtSetupError::Read {
            path: shown.clone(),
            source,
        })?;
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(&bytes).map_err(|_| JwtSetupError::NotPem {
                path: shown.clone(),
            })?;
        let public_key = if pem.label == "PUBLIC KEY" {
            let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&pem.contents)
                .map_err(|_| JwtSetupError::BadCertificate {
                    path: shown.clone(),
                })?;
            spki.subject_public_key.data.to_vec()
        } else {
            let certificate = pem
                .parse_x509()
                .map_err(|_| JwtSetupError::BadCertificate {
                    path: shown.clone(),
                })?;
            certificate.public_key().subject_public_key.data.to_vec()
        };
        Ok(JwtVerifier { public_key })
    }

    /// Checks the signature and returns the claims (time, audience and issuer are the caller's business).
    pub fn verify(&self, assertion: &str) -> Result<Claims, JwtError> {
        let mut parts = assertion.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Json = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(JwtError::Malformed)?;
        if header.get("alg").and_then(Json::as_str) != Some("RS256") {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed)?;
        let signed = &assertion[..assertion.rfind('.').ok_or(JwtError::Malformed)?];
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| JwtError::Signature)?;
        let claims = URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&claims).map_err(|_| JwtError::Malformed)
    }
}
