//! The access token shared by every task. A rejected token is replaced by exactly one new login
//! (single-flight): concurrent callers that saw the same rejected token wait for that login.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use url::Url;

use super::error::AuthError;
use super::login::Authenticator;
use super::token_response::SalesforceTokenResponse;
use crate::config::Secret;

/// The org and user a token belongs to, read from the identity URL `.../id/<orgId>/<userId>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub url: String,
    pub org_id: String,
    pub user_id: String,
}

impl Identity {
    pub fn from_url(url: &str) -> Option<Self> {
        let mut segments = url.trim_end_matches('/').rsplit('/');
        let user_id = segments.next()?.to_string();
        let org_id = segments.next()?.to_string();
        if segments.next()? != "id" || user_id.is_empty() || org_id.is_empty() {
            return None;
        }
        Some(Self {
            url: url.to_string(),
            org_id,
            user_id,
        })
    }
}

/// A usable access token and what came with it.
#[derive(Debug)]
pub struct AccessToken {
    pub secret: Secret<String>,
    /// The API base URL (`instance_url`), without a trailing slash.
    pub instance_url: Url,
    pub identity: Identity,
    pub issued_at: Option<String>,
    pub obtained_at: Instant,
    /// Increases with every login; tells a stale token from a fresh one.
    pub generation: u64,
}

impl AccessToken {
    fn from_response(
        response: SalesforceTokenResponse,
        generation: u64,
    ) -> Result<Self, AuthError> {
        let instance_url = instance_url(&response.instance_url)?;
        let identity = Identity::from_url(&response.id).ok_or(AuthError::InvalidTokenField {
            field: "id",
            reason: "expected an identity URL ending in /id/<org id>/<user id>",
        })?;
        Ok(Self {
            secret: Secret::new(response.access_token.secret().clone()),
            instance_url,
            identity,
            issued_at: response.issued_at,
            obtained_at: Instant::now(),
            generation,
        })
    }

    /// `instance_url` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.instance_url.as_str().trim_end_matches('/'),
            path
        )
    }
}

/// The `instance_url` of a token response, which every API call (and its bearer token) goes to:
/// only `https`. Salesforce always answers with https; the emulator in tests and demos runs with
/// `--tls` and a CA of its own, so there is no exception for loopback either: an `http` instance
/// means a misconfigured proxy or a forged response, and the token would cross it in clear text.
pub fn instance_url(text: &str) -> Result<Url, AuthError> {
    let url = Url::parse(text.trim_end_matches('/')).map_err(|_| AuthError::InvalidTokenField {
        field: "instance_url",
        reason: "not a URL",
    })?;
    if url.scheme() != "https" {
        // scheme, host and port only: whatever else the URL holds is not ours to print
        let origin = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
            (Some(host), None) => format!("{}://{host}", url.scheme()),
            (None, _) => format!("{}:", url.scheme()),
        };
        return Err(AuthError::InsecureInstanceUrl { origin });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AuthError::InvalidTokenField {
            field: "instance_url",
            reason: "the URL has no host",
        });
    }
    Ok(url)
}

struct LoginFailure {
    reason: String,
    transient: bool,
}

#[derive(Default)]
struct State {
    current: Option<Arc<AccessToken>>,
    generation: u64,
    /// The last failed login, so callers queued behind it fail fast instead of retrying in a burst.
    last_failure: Option<LoginFailure>,
    attempts: u64,
}

/// Holds the current token; cheap to share behind an `Arc`.
pub struct Session {
    authenticator: Authenticator,
    state: Mutex<State>,
    login_lock: tokio::sync::Mutex<()>,
}

impl Session {
    pub fn new(authenticator: Authenticator) -> Self {
        Self {
            authenticator,
            state: Mutex::new(State::default()),
            login_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The current token, logging in first if there is none.
    pub async fn token(&self) -> Result<Arc<AccessToken>, AuthError> {
        if let Some(token) = self.lock_state().current.clone() {
            return Ok(token);
        }
        self.login_unless_replaced(None).await
    }

    /// Called after Salesforce rejected `rejected` (401): logs in again unless another task already
    /// replaced that token, in which case its replacement is returned.
    pub async fn renew(&self, rejected: &AccessToken) -> Result<Arc<AccessToken>, AuthError> {
        self.login_unless_replaced(Some(rejected.generation)).await
    }

    /// Forgets the current token; the next call logs in.
    pub fn invalidate(&self) {
        self.lock_state().current = None;
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn login_unless_replaced(
        &self,
        rejected_generation: Option<u64>,
    ) -> Result<Arc<AccessToken>, AuthError> {
        let attempts_before = self.lock_state().attempts;
        let _login = self.login_lock.lock().await;
        {
            let state = self.lock_state();
            if let Some(current) = &state.current {
                let still_rejected = rejected_generation == Some(current.generation);
                if !still_rejected {
                    return Ok(current.clone());
                }
            }
            if state.attempts != attempts_before {
                if let Some(failure) = &state.last_failure {
                    return Err(AuthError::ConcurrentLoginFailed {
                        reason: failure.reason.clone(),
                        transient: failure.transient,
                    });
                }
            }
        }
        let result = self.authenticator.login().await;
        let mut state = self.lock_state();
        state.attempts += 1;
        match result.and_then(|response| AccessToken::from_response(response, state.generation + 1))
        {
            Ok(token) => {
                let token = Arc::new(token);
                state.generation = token.generation;
                state.current = Some(token.clone());
                state.last_failure = None;
                tracing::info!(
                    org_id = %token.identity.org_id,
                    user_id = %token.identity.user_id,
                    instance_url = %token.instance_url,
                    generation = token.generation,
                    "logged in to Salesforce"
                );
                Ok(token)
            }
            Err(error) => {
                state.current = None;
                state.last_failure = Some(LoginFailure {
                    reason: crate::error_chain(&error),
                    transient: error.is_transient(),
                });
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{instance_url, AuthError, Identity};

    #[test]
    fn instance_urls_must_be_https() {
        let url = instance_url("https://yourInstance.salesforce.com/").expect("https is fine");
        assert_eq!(url.as_str(), "https://yourinstance.salesforce.com/");
        assert!(instance_url("https://127.0.0.1:8443").is_ok());
        for insecure in [
            "http://yourInstance.salesforce.com",
            "http://127.0.0.1:8443",
            "http://localhost:8443/",
            "http://[::1]:8443",
            "ws://yourInstance.salesforce.com",
        ] {
            let error = instance_url(insecure).expect_err(insecure);
            assert!(
                matches!(error, AuthError::InsecureInstanceUrl { .. }),
                "{insecure}: {error}"
            );
            assert!(error.to_string().contains("not https"), "{error}");
        }
        let error = instance_url("http://user:hunter2@evil.example.com:80/path?token=x")
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "the token response names instance_url http://evil.example.com, which is not https: sfsync sends its access token only over https"
        );
        assert!(matches!(
            instance_url("yourInstance.salesforce.com"),
            Err(AuthError::InvalidTokenField { .. })
        ));
        assert!(matches!(
            instance_url("instance_url"),
            Err(AuthError::InvalidTokenField { .. })
        ));
    }

    #[test]
    fn identity_url_splits_into_org_and_user() {
        let identity =
            Identity::from_url("https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P")
                .expect("valid");
        assert_eq!(identity.org_id, "00Dx0000000BV7z");
        assert_eq!(identity.user_id, "005x00000012Q9P");
        assert!(Identity::from_url("https://login.salesforce.com/").is_none());
    }
}
