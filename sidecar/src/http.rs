//! Building reqwest clients for Salesforce: rustls, certificates always verified against the system
//! roots plus `SFSYNC_CA_FILE`.

use std::time::Duration;

use thiserror::Error;

use crate::tls::CaBundle;

const USER_AGENT: &str = concat!("sfsync-sidecar/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Error)]
pub enum HttpClientError {
    #[error("cannot use a certificate from {}", path.display())]
    Certificate {
        path: std::path::PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// A reqwest client trusting the system roots and the extra bundle. It never follows redirects: the
/// token endpoint must not (a redirect would carry the credentials elsewhere) and the API never needs to.
pub fn build_client(extra_roots: Option<&CaBundle>) -> Result<reqwest::Client, HttpClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(true)
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(bundle) = extra_roots {
        for certificate in &bundle.certificates {
            let certificate =
                reqwest::Certificate::from_der(certificate.as_ref()).map_err(|source| {
                    HttpClientError::Certificate {
                        path: bundle.path.clone(),
                        source,
                    }
                })?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(HttpClientError::Build)
}
