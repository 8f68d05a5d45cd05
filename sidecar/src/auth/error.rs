//! Login errors: Salesforce's own `{"error","error_description"}` answers are kept word for word.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuthError {
    /// The token endpoint answered with an OAuth error, e.g. `invalid_grant` / `authentication failure`.
    #[error("Salesforce refused the login: {} ({error})", description.as_deref().unwrap_or("no description"))]
    Rejected {
        error: String,
        description: Option<String>,
    },
    #[error("cannot reach the Salesforce token endpoint {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Salesforce token endpoint {url} answered HTTP {status}")]
    ServerError { url: String, status: u16 },
    #[error("unexpected answer from the Salesforce token endpoint {url}: {detail}")]
    UnexpectedResponse { url: String, detail: String },
    #[error("cannot sign the JWT bearer assertion")]
    JwtSigning(#[source] jsonwebtoken::errors::Error),
    #[error("the token response has an invalid {field}: {value}")]
    InvalidTokenField { field: &'static str, value: String },
    /// Another task's login attempt failed while this one waited for it.
    #[error("login failed: {reason}")]
    ConcurrentLoginFailed { reason: String, transient: bool },
}

impl AuthError {
    /// Worth retrying later: the endpoint was unreachable or failing, not refusing the credentials.
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Transport { .. } => true,
            AuthError::ServerError { status, .. } => *status >= 500,
            AuthError::ConcurrentLoginFailed { transient, .. } => *transient,
            AuthError::Rejected { error, .. } => error == "rate_limit_exceeded",
            _ => false,
        }
    }
}
