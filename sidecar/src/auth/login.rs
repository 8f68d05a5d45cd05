//! One login against `{login_url}/services/oauth2/token`: the oauth2 crate for client credentials,
//! refresh token and password; a hand-built form post for the JWT bearer grant (which oauth2 lacks).
//! With the refresh-token flow a rotated refresh token is read from and saved to the
//! [`RefreshTokenStore`] given at construction (see `store.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    RefreshToken, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername,
    StandardRevocableToken, TokenUrl,
};
use thiserror::Error;
use url::Url;

use super::error::{unparsable_body, AuthError};
use super::jwt;
use super::session::Identity;
use super::store::{sha256_hex, RefreshTokenStore};
use super::token_response::{SalesforceTokenResponse, TokenErrorBody};
use crate::config::{AuthSettings, Secret};

const TOKEN_PATH: &str = "/services/oauth2/token";
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

type UnconfiguredOAuthClient = oauth2::Client<
    BasicErrorResponse,
    SalesforceTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

type SalesforceOAuthClient = oauth2::Client<
    BasicErrorResponse,
    SalesforceTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Performs logins with the configured flow. Keeps the latest refresh token (rotation): in the
/// store when there is one, else in memory.
pub struct Authenticator {
    settings: AuthSettings,
    token_url: Url,
    http: reqwest::Client,
    /// Without a store: the newest refresh token this process received.
    rotated_refresh_token: Mutex<Option<Secret<String>>>,
    /// With a store: a refresh token received whose save failed (and the org of its login). It is
    /// the only live token, so the next login saves it first and presents it.
    unsaved_refresh_token: Mutex<Option<(String, Secret<String>)>>,
    store: Option<Arc<dyn RefreshTokenStore>>,
}

impl Authenticator {
    pub fn new(settings: AuthSettings, login_url: &Url, http: reqwest::Client) -> Self {
        let base = login_url.as_str().trim_end_matches('/');
        let token_url =
            Url::parse(&format!("{base}{TOKEN_PATH}")).unwrap_or_else(|_| login_url.clone());
        Self {
            settings,
            token_url,
            http,
            rotated_refresh_token: Mutex::new(None),
            unsaved_refresh_token: Mutex::new(None),
            store: None,
        }
    }

    /// Reads and saves rotated refresh tokens in `store` (without one they live in memory only and
    /// a restart presents the configured token again).
    pub fn with_token_store(mut self, store: Arc<dyn RefreshTokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// Logs in once and returns Salesforce's token response.
    pub async fn login(&self) -> Result<SalesforceTokenResponse, AuthError> {
        let response = match &self.settings {
            AuthSettings::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let client = self.oauth_client(client_id, Some(client_secret));
                let result = client
                    .exchange_client_credentials()
                    .request_async(&self.token_transport())
                    .await;
                self.map_oauth_result(result)?
            }
            AuthSettings::Password {
                client_id,
                client_secret,
                username,
                password,
            } => {
                let client = self.oauth_client(client_id, Some(client_secret));
                let username = ResourceOwnerUsername::new(username.clone());
                let password = ResourceOwnerPassword::new(password.expose().clone());
                let result = client
                    .exchange_password(&username, &password)
                    .request_async(&self.token_transport())
                    .await;
                self.map_oauth_result(result)?
            }
            AuthSettings::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let client = self.oauth_client(client_id, client_secret.as_ref());
                let current = self.current_refresh_token(refresh_token).await?;
                let current = RefreshToken::new(current.expose().clone());
                let result = client
                    .exchange_refresh_token(&current)
                    .request_async(&self.token_transport())
                    .await;
                self.map_oauth_result(result)?
            }
            AuthSettings::Jwt {
                client_id,
                username,
                signing_key,
                audience,
            } => {
                let assertion = jwt::sign_assertion(
                    client_id,
                    username,
                    audience,
                    &signing_key.key,
                    SystemTime::now(),
                )
                .map_err(AuthError::JwtSigning)?;
                self.post_jwt_bearer(&assertion).await?
            }
        };
        if let Some(new_token) = &response.refresh_token {
            // With rotation on, the old refresh token is now dead: only the new one may be used.
            let new_token = Secret::new(new_token.secret().clone());
            self.keep_refresh_token(&response, new_token).await?;
        }
        Ok(response)
    }

    /// Keeps a rotated refresh token: saved in the store before the login that returned it is
    /// used (a crash after its first use would lose the only live token), or in memory without a
    /// store. A failed save fails the login; the token is held back as unsaved, and the next login
    /// saves it before anything else.
    async fn keep_refresh_token(
        &self,
        response: &SalesforceTokenResponse,
        token: Secret<String>,
    ) -> Result<(), AuthError> {
        let (Some(store), AuthSettings::RefreshToken { refresh_token, .. }) =
            (&self.store, &self.settings)
        else {
            *lock(&self.rotated_refresh_token) = Some(token);
            return Ok(());
        };
        let identity = Identity::from_url(&response.id).ok_or(AuthError::InvalidTokenField {
            field: "id",
            reason: "expected an identity URL ending in /id/<org id>/<user id>",
        })?;
        *lock(&self.unsaved_refresh_token) = Some((identity.org_id.clone(), token.clone()));
        let configured = sha256_hex(refresh_token.expose());
        save(store.as_ref(), &identity.org_id, &configured, &token).await?;
        *lock(&self.unsaved_refresh_token) = None;
        tracing::info!("saved the rotated refresh token in the database");
        Ok(())
    }

    fn oauth_client(
        &self,
        client_id: &str,
        client_secret: Option<&Secret<String>>,
    ) -> SalesforceOAuthClient {
        let client: SalesforceOAuthClient =
            UnconfiguredOAuthClient::new(ClientId::new(client_id.to_string()))
                .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
                // Salesforce documents the credentials in the form body for every flow.
                .set_auth_type(AuthType::RequestBody);
        match client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().clone())),
            None => client,
        }
    }

    fn token_transport(&self) -> TokenTransport {
        TokenTransport {
            http: self.http.clone(),
        }
    }

    /// The refresh token to present. With a store: a token received but not saved yet (saved now
    /// first), else the token saved for the configured one (after a restart, or after another
    /// process of this schema such as `check` rotated it: the database is where the newest token
    /// is, not this process), else the configured one. A store that cannot be read fails the login
    /// rather than fall back: presenting a retired token makes Salesforce revoke its successors.
    /// Without a store: the newest token this process received, else the configured one.
    async fn current_refresh_token(
        &self,
        configured: &Secret<String>,
    ) -> Result<Secret<String>, AuthError> {
        let Some(store) = &self.store else {
            let rotated = lock(&self.rotated_refresh_token).clone();
            return Ok(rotated.unwrap_or_else(|| configured.clone()));
        };
        let configured_sha256 = sha256_hex(configured.expose());
        let unsaved = lock(&self.unsaved_refresh_token).clone();
        if let Some((org_id, token)) = unsaved {
            save(store.as_ref(), &org_id, &configured_sha256, &token).await?;
            *lock(&self.unsaved_refresh_token) = None;
            tracing::info!("saved the rotated refresh token in the database (after a failed save)");
            return Ok(token);
        }
        let saved =
            store
                .load(&configured_sha256)
                .await
                .map_err(|source| AuthError::TokenStore {
                    action: "read",
                    source,
                })?;
        match saved {
            Some(saved) => {
                tracing::debug!("using the refresh token saved after the last rotation");
                Ok(saved)
            }
            None => Ok(configured.clone()),
        }
    }

    fn map_oauth_result(
        &self,
        result: Result<
            SalesforceTokenResponse,
            RequestTokenError<TransportError, BasicErrorResponse>,
        >,
    ) -> Result<SalesforceTokenResponse, AuthError> {
        result.map_err(|error| oauth_error(self.token_url.to_string(), error))
    }

    async fn post_jwt_bearer(&self, assertion: &str) -> Result<SalesforceTokenResponse, AuthError> {
        let url = self.token_url.to_string();
        let response = self
            .http
            .post(self.token_url.clone())
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", jwt::GRANT_TYPE), ("assertion", assertion)])
            .send()
            .await
            .map_err(|source| AuthError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| AuthError::Transport {
                url: url.clone(),
                source,
            })?;
        jwt_bearer_response(url, status, &body)
    }
}

/// Saves a rotated token, a failure becoming the login's error (transient: the login is retried).
async fn save(
    store: &dyn RefreshTokenStore,
    org_id: &str,
    configured_sha256: &str,
    token: &Secret<String>,
) -> Result<(), AuthError> {
    store
        .save(org_id, configured_sha256, token)
        .await
        .map_err(|source| AuthError::TokenStore {
            action: "save",
            source,
        })
}

/// A poisoned lock still holds a valid token: a panic elsewhere must not lock the sidecar out.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What oauth2's error for a token request means for us.
fn oauth_error(
    url: String,
    error: RequestTokenError<TransportError, BasicErrorResponse>,
) -> AuthError {
    match error {
        RequestTokenError::ServerResponse(body) => AuthError::rejected(
            &url,
            body.error().as_ref(),
            body.error_description().map(String::as_str),
        ),
        RequestTokenError::Request(TransportError::Connection(source)) => {
            AuthError::Transport { url, source }
        }
        RequestTokenError::Request(TransportError::ServerError { status }) => {
            AuthError::ServerError { url, status }
        }
        RequestTokenError::Request(TransportError::Http(source)) => AuthError::UnexpectedResponse {
            url,
            detail: source.to_string(),
        },
        // The body holds the tokens when it is a success that failed to parse: never quoted.
        RequestTokenError::Parse(source, _body) => AuthError::UnexpectedResponse {
            url,
            detail: unparsable_body(source.inner(), Some(&source.path().to_string())),
        },
        // oauth2's own words (an unexpected Content-Type, an empty body), never the body's
        RequestTokenError::Other(detail) => AuthError::UnexpectedResponse { url, detail },
    }
}

/// The JWT bearer flow's answer: the token response, Salesforce's OAuth error, or a description of
/// what came instead (never its text: a body that fails to parse may still hold the tokens).
fn jwt_bearer_response(
    url: String,
    status: reqwest::StatusCode,
    body: &[u8],
) -> Result<SalesforceTokenResponse, AuthError> {
    if status.is_server_error() {
        return Err(AuthError::ServerError {
            url,
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return match serde_json::from_slice::<TokenErrorBody>(body) {
            Ok(error) => Err(AuthError::rejected(
                &url,
                &error.error,
                error.error_description.as_deref(),
            )),
            Err(_) => Err(AuthError::UnexpectedResponse {
                url,
                detail: format!(
                    "HTTP {status} without an OAuth error body (the body is not shown: it may hold tokens)"
                ),
            }),
        };
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body)).map_err(
        |error| AuthError::UnexpectedResponse {
            url,
            detail: unparsable_body(error.inner(), Some(&error.path().to_string())),
        },
    )
}

/// Why a token request did not produce a response oauth2 could interpret.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("connection failed")]
    Connection(#[source] reqwest::Error),
    /// 5xx: oauth2 would try to parse the HTML error page; keeping the status makes it retryable.
    #[error("server error HTTP {status}")]
    ServerError { status: u16 },
    #[error("cannot build the request")]
    Http(#[source] oauth2::http::Error),
}

/// The HTTP client handed to oauth2: reqwest, but 5xx answers become a transport error.
struct TokenTransport {
    http: reqwest::Client,
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenTransport {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request: reqwest::Request =
                request.try_into().map_err(TransportError::Connection)?;
            let mut request = request;
            *request.timeout_mut() = Some(TOKEN_REQUEST_TIMEOUT);
            let response = self
                .http
                .execute(request)
                .await
                .map_err(TransportError::Connection)?;
            let status = response.status();
            if status.is_server_error() {
                return Err(TransportError::ServerError {
                    status: status.as_u16(),
                });
            }
            let mut builder = oauth2::http::Response::builder().status(status);
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(TransportError::Connection)?;
            builder.body(body.to_vec()).map_err(TransportError::Http)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://login.example.com/services/oauth2/token";
    const ACCESS_TOKEN: &str = "00D000000000001!ARleakedAccessTokenSecret";
    const REFRESH_TOKEN: &str = "5AepLeakedRefreshTokenSecret";

    /// Bodies a token endpoint might answer with that do not parse as Salesforce's token response,
    /// each carrying the tokens (and a number serde would quote).
    fn unparsable_bodies() -> Vec<String> {
        vec![
            // cut off right after the secrets (the usual case: a proxy or a crash mid-answer)
            format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","refresh_token":"{REFRESH_TOKEN}","instance_url":"https://x"#
            ),
            // well-formed but incomplete
            format!(r#"{{"access_token":"{ACCESS_TOKEN}","refresh_token":"{REFRESH_TOKEN}"}}"#),
            // a secret where another type is expected: serde's message would quote it
            format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","instance_url":"https://x","id":"https://x/id/00D/005","refresh_token":{{"{REFRESH_TOKEN}":1}}}}"#
            ),
            format!(r#"{{"{ACCESS_TOKEN}": ["{REFRESH_TOKEN}"]}}"#),
            format!(r#"["{ACCESS_TOKEN}", "{REFRESH_TOKEN}"]"#),
            format!(r#"{{"access_token":12345678901234567890,"id":"{REFRESH_TOKEN}"}}"#),
        ]
    }

    /// The error as every output shows it: Display, Debug and the source chain.
    fn shown(error: &AuthError) -> String {
        format!("{error} | {error:?} | {}", crate::error_chain(error))
    }

    fn assert_nothing_leaks(text: &str) {
        for secret in [
            ACCESS_TOKEN,
            REFRESH_TOKEN,
            "eakedAccess",
            "eakedRefresh",
            "12345678901234567890",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("it is not shown because it may hold tokens"),
            "{text}"
        );
    }

    #[test]
    fn no_part_of_an_unparsable_token_response_reaches_the_oauth_flows_errors() {
        for body in unparsable_bodies() {
            let parse_error = serde_path_to_error::deserialize::<_, SalesforceTokenResponse>(
                &mut serde_json::Deserializer::from_str(&body),
            )
            .expect_err("the body must not parse");
            let error = oauth_error(
                URL.to_string(),
                RequestTokenError::Parse(parse_error, body.clone().into_bytes()),
            );
            assert!(
                matches!(error, AuthError::UnexpectedResponse { .. }),
                "{error}"
            );
            assert_nothing_leaks(&shown(&error));
            // an error status: oauth2 reads the body as an OAuth error, which some of these fit
            if let Ok(body) = serde_json::from_str::<BasicErrorResponse>(&body) {
                let text = shown(&oauth_error(
                    URL.to_string(),
                    RequestTokenError::ServerResponse(body),
                ));
                assert!(!text.contains("eaked"), "{text}");
            }
        }
    }

    #[test]
    fn no_part_of_an_unparsable_token_response_reaches_the_jwt_flows_errors() {
        for body in unparsable_bodies() {
            let error =
                jwt_bearer_response(URL.to_string(), reqwest::StatusCode::OK, body.as_bytes())
                    .expect_err("the body must not parse");
            assert_nothing_leaks(&shown(&error));
            let error = jwt_bearer_response(
                URL.to_string(),
                reqwest::StatusCode::BAD_REQUEST,
                body.as_bytes(),
            )
            .expect_err("an error status");
            let text = shown(&error);
            assert!(!text.contains("eaked"), "{text}");
            assert!(text.contains("is not shown"), "{text}");
        }
    }

    #[test]
    fn what_is_wrong_is_still_said() {
        let describe = |body: &str| {
            shown(
                &jwt_bearer_response(URL.to_string(), reqwest::StatusCode::OK, body.as_bytes())
                    .expect_err("must not parse"),
            )
        };
        let bodies = unparsable_bodies();
        assert!(
            describe(&bodies[0]).contains("is not valid JSON (it ends early, at line 1 column"),
            "{}",
            describe(&bodies[0])
        );
        assert!(
            describe(&bodies[1]).contains("has no `instance_url`"),
            "{}",
            describe(&bodies[1])
        );
        assert!(
            describe(&bodies[2]).contains("wrong type for `refresh_token`"),
            "{}",
            describe(&bodies[2])
        );
        // Salesforce's own error body is still shown word for word
        let refused = jwt_bearer_response(
            URL.to_string(),
            reqwest::StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"audience is invalid"}"#,
        )
        .expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "Salesforce refused the login: audience is invalid (invalid_grant)"
        );
    }
}
