//! One login against `{login_url}/services/oauth2/token`: the oauth2 crate for client credentials,
//! refresh token and password; a hand-built form post for the JWT bearer grant (which oauth2 lacks).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
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

use super::error::AuthError;
use super::jwt;
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

/// Performs logins with the configured flow. Keeps the latest refresh token (rotation).
pub struct Authenticator {
    settings: AuthSettings,
    token_url: Url,
    http: reqwest::Client,
    rotated_refresh_token: Mutex<Option<Secret<String>>>,
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
        }
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
                let current = self.current_refresh_token(refresh_token);
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
            self.remember_refresh_token(Secret::new(new_token.secret().clone()));
        }
        Ok(response)
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

    fn current_refresh_token(&self, configured: &Secret<String>) -> Secret<String> {
        let rotated = self
            .rotated_refresh_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rotated.clone().unwrap_or_else(|| configured.clone())
    }

    fn remember_refresh_token(&self, token: Secret<String>) {
        *self
            .rotated_refresh_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
    }

    fn map_oauth_result(
        &self,
        result: Result<
            SalesforceTokenResponse,
            RequestTokenError<TransportError, BasicErrorResponse>,
        >,
    ) -> Result<SalesforceTokenResponse, AuthError> {
        let url = self.token_url.to_string();
        result.map_err(|error| match error {
            RequestTokenError::ServerResponse(body) => AuthError::Rejected {
                error: body.error().to_string(),
                description: body.error_description().cloned(),
            },
            RequestTokenError::Request(TransportError::Connection(source)) => {
                AuthError::Transport { url, source }
            }
            RequestTokenError::Request(TransportError::ServerError { status }) => {
                AuthError::ServerError { url, status }
            }
            RequestTokenError::Request(TransportError::Http(source)) => {
                AuthError::UnexpectedResponse {
                    url,
                    detail: source.to_string(),
                }
            }
            RequestTokenError::Parse(source, body) => AuthError::UnexpectedResponse {
                url,
                detail: format!("{source}: {}", snippet(&body)),
            },
            RequestTokenError::Other(detail) => AuthError::UnexpectedResponse { url, detail },
        })
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
        if status.is_server_error() {
            return Err(AuthError::ServerError {
                url,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return match serde_json::from_slice::<TokenErrorBody>(&body) {
                Ok(error) => Err(AuthError::Rejected {
                    error: error.error,
                    description: error.error_description,
                }),
                Err(_) => Err(AuthError::UnexpectedResponse {
                    url,
                    detail: format!("HTTP {status}: {}", snippet(&body)),
                }),
            };
        }
        serde_json::from_slice(&body).map_err(|error| AuthError::UnexpectedResponse {
            url,
            detail: format!("{error}: {}", snippet(&body)),
        })
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut shortened: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        shortened.push('…');
    }
    shortened
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
