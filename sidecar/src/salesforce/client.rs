//! The Salesforce API client core: one place that authenticates, attaches headers, tracks the API
//! budget, re-authenticates once on 401 and turns error bodies into typed errors. The API areas
//! (`rest`, `query`, `collections`, `bulk`, `cometd`, ...) build on [`SalesforceClient::execute`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::budget::{usage_from_headers, ApiBudget, ApiUsage};
use super::error::{parse_rest_errors, SalesforceError};
use crate::auth::{AccessToken, AuthError, Authenticator, RefreshTokenStore, Session};
use crate::config::{ApiReserve, ApiVersion, Config, SalesforceSettings};
use crate::http::{build_client, HttpClientError};
use crate::metrics::SalesforceMetrics;

pub const CALL_OPTIONS_HEADER: &str = "Sforce-Call-Options";
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_BUDGET_PROBE_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_CALL_CLIENT: &str = "sfsync";

#[derive(Debug, Error)]
pub enum ClientBuildError {
    #[error(transparent)]
    Http(#[from] HttpClientError),
    #[error(
        "invalid Sforce-Call-Options client name {0:?}: use letters, digits, '-', '_' and '.'"
    )]
    CallClient(String),
}

/// Knobs that are not user configuration.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub api_reserve: ApiReserve,
    /// See [`ApiBudget`]: how often one call may probe whether the allowance reopened.
    pub budget_probe_interval: Duration,
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            api_reserve: ApiReserve::Percent(10.0),
            budget_probe_interval: DEFAULT_BUDGET_PROBE_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

struct Inner {
    http: reqwest::Client,
    session: Session,
    api_version: ApiVersion,
    budget: ApiBudget,
    metrics: SalesforceMetrics,
    request_timeout: Duration,
}

/// Whether a request changes data: writes carry `Sforce-Call-Options: client=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Write,
}

/// One HTTP request to the org, described so it can be rebuilt for the retry after a re-login.
pub struct Call<'a> {
    pub operation: &'static str,
    pub method: Method,
    /// Path from the instance root, e.g. `/services/data/v62.0/limits`.
    pub path: String,
    pub kind: CallKind,
    /// Whether the call counts against the daily allowance (versions and streaming do not).
    pub budgeted: bool,
    pub timeout: Option<Duration>,
    pub accept: &'static str,
    pub customize: Box<dyn Fn(RequestBuilder) -> RequestBuilder + Send + Sync + 'a>,
}

impl<'a> Call<'a> {
    pub fn new(operation: &'static str, method: Method, path: String, kind: CallKind) -> Self {
        Self {
            operation,
            method,
            path,
            kind,
            budgeted: true,
            timeout: None,
            accept: "application/json",
            customize: Box::new(|builder| builder),
        }
    }

    pub fn customize(
        mut self,
        customize: impl Fn(RequestBuilder) -> RequestBuilder + Send + Sync + 'a,
    ) -> Self {
        self.customize = Box::new(customize);
        self
    }

    pub fn unbudgeted(mut self) -> Self {
        self.budgeted = false;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn accept(mut self, media_type: &'static str) -> Self {
        self.accept = media_type;
        self
    }
}

/// A Salesforce org connection shared by all tasks (cheap to clone).
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
    call_client: Arc<str>,
}

impl SalesforceClient {
    /// `token_store` keeps rotated refresh tokens across restarts (the commands pass the
    /// database's); without one they live in memory only.
    pub fn new(
        settings: &SalesforceSettings,
        options: ClientOptions,
        metrics: SalesforceMetrics,
        token_store: Option<Arc<dyn RefreshTokenStore>>,
    ) -> Result<Self, ClientBuildError> {
        let http = build_client(settings.ca_bundle.as_ref())?;
        let mut authenticator =
            Authenticator::new(settings.auth.clone(), &settings.login_url, http.clone());
        if let Some(store) = token_store {
            authenticator = authenticator.with_token_store(store);
        }
        let budget = ApiBudget::new(
            options.api_reserve,
            options.budget_probe_interval,
            metrics.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                session: Session::new(authenticator),
                api_version: settings.api_version.clone(),
                budget,
                metrics,
                request_timeout: options.request_timeout,
            }),
            call_client: Arc::from(DEFAULT_CALL_CLIENT),
        })
    }

    pub fn from_config(
        config: &Config,
        metrics: SalesforceMetrics,
        token_store: Arc<dyn RefreshTokenStore>,
    ) -> Result<Self, ClientBuildError> {
        Self::new(
            &config.salesforce,
            ClientOptions {
                api_reserve: config.tuning.api_reserve,
                budget_probe_interval: config.tuning.limit_probe_interval,
                ..ClientOptions::default()
            },
            metrics,
            Some(token_store),
        )
    }

    /// A handle whose writes carry `Sforce-Call-Options: client=<name>` (the writer passes
    /// `sfsync-<instance>` so the reader can recognise its own changes in CDC events).
    pub fn with_call_client(&self, name: &str) -> Result<Self, ClientBuildError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(ClientBuildError::CallClient(name.to_string()));
        }
        Ok(Self {
            inner: self.inner.clone(),
            call_client: Arc::from(name),
        })
    }

    pub fn call_client(&self) -> &str {
        &self.call_client
    }

    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    pub fn budget(&self) -> &ApiBudget {
        &self.inner.budget
    }

    pub fn api_version(&self) -> &ApiVersion {
        &self.inner.api_version
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn metrics(&self) -> &SalesforceMetrics {
        &self.inner.metrics
    }

    /// Logs in now if there is no token yet, and returns it.
    pub async fn login(&self) -> Result<Arc<AccessToken>, AuthError> {
        self.inner.session.token().await
    }

    /// The latest API usage Salesforce reported.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        self.inner.budget.usage()
    }

    /// `/services/data/vXX.X/<rest>`.
    pub fn data_path(&self, rest: &str) -> String {
        format!(
            "/services/data/v{}/{}",
            self.inner.api_version,
            rest.trim_start_matches('/')
        )
    }

    /// Sends `call`; on 401 logs in again once (shared with concurrent callers) and resends.
    /// Non-2xx answers become typed errors.
    pub async fn execute(&self, call: Call<'_>) -> Result<Response, SalesforceError> {
        if call.budgeted {
            self.inner
                .budget
                .admit()
                .map_err(|refusal| SalesforceError::BudgetExhausted {
                    operation: call.operation,
                    used: refusal.used,
                    max: refusal.max,
                    reserve: refusal.reserve,
                    retry_after: refusal.retry_after,
                })?;
        }
        let mut token = self.inner.session.token().await?;
        let mut renewed = false;
        loop {
            let response = self.send_once(&call, &token).await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                let body = response.bytes().await.unwrap_or_default();
                let errors = parse_rest_errors(&body).unwrap_or_default();
                if renewed {
                    return Err(SalesforceError::SessionRejected {
                        operation: call.operation,
                        errors,
                    });
                }
                tracing::info!(
                    operation = call.operation,
                    "session rejected by Salesforce; logging in again"
                );
                token = self.inner.session.renew(&token).await?;
                renewed = true;
                continue;
            }
            if status.is_success() {
                return Ok(response);
            }
            return Err(self.error_from_response(call.operation, response).await);
        }
    }

    /// [`execute`](Self::execute), then decode the JSON body.
    pub async fn execute_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, SalesforceError> {
        let operation = call.operation;
        let response = self.execute(call).await?;
        read_json(operation, response).await
    }

    async fn send_once(
        &self,
        call: &Call<'_>,
        token: &AccessToken,
    ) -> Result<Response, SalesforceError> {
        let mut builder = self
            .inner
            .http
            .request(call.method.clone(), token.url(&call.path))
            .bearer_auth(token.secret.expose())
            .timeout(call.timeout.unwrap_or(self.inner.request_timeout))
            .header(reqwest::header::ACCEPT, call.accept);
        if call.kind == CallKind::Write {
            builder = builder.header(CALL_OPTIONS_HEADER, format!("client={}", self.call_client));
        }
        let builder = (call.customize)(builder);
        let started = Instant::now();
        let result = builder.send().await;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Err(source) => {
                self.inner
                    .metrics
                    .record_request(call.operation, "transport_error", seconds);
                Err(SalesforceError::Transport {
                    operation: call.operation,
                    source,
                })
            }
            Ok(response) => {
                let outcome = match response.status().as_u16() {
                    200..=299 => "2xx",
                    300..=399 => "3xx",
                    400..=499 => "4xx",
                    _ => "5xx",
                };
                self.inner
                    .metrics
                    .record_request(call.operation, outcome, seconds);
                if let Some(usage) = usage_from_headers(response.headers()) {
                    self.inner.budget.record(usage);
                }
                Ok(response)
            }
        }
    }

    async fn error_from_response(
        &self,
        operation: &'static str,
        response: Response,
    ) -> SalesforceError {
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(source) => return SalesforceError::Transport { operation, source },
        };
        let Some(errors) = parse_rest_errors(&body) else {
            return SalesforceError::UnexpectedStatus {
                operation,
                status,
                body: snippet(&body),
            };
        };
        if let Some(limit) = errors
            .iter()
            .find(|error| error.error_code == "REQUEST_LIMIT_EXCEEDED")
        {
            // Concurrency-limit errors share the code; the daily one is the one worth waiting out.
            self.inner.budget.record_limit_exceeded();
            return SalesforceError::RequestLimitExceeded {
                operation,
                message: limit.message.clone(),
                retry_after: self.inner.budget.probe_interval(),
            };
        }
        SalesforceError::Api {
            operation,
            status,
            errors,
        }
    }
}

/// Decodes a JSON response body.
pub async fn read_json<T: DeserializeOwned>(
    operation: &'static str,
    response: Response,
) -> Result<T, SalesforceError> {
    let body = response
        .bytes()
        .await
        .map_err(|source| SalesforceError::Transport { operation, source })?;
    serde_json::from_slice(&body).map_err(|source| SalesforceError::Decode {
        operation,
        snippet: snippet(&body),
        source,
    })
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut shortened: String = text.chars().take(500).collect();
    if text.chars().count() > 500 {
        shortened.push('…');
    }
    shortened
}

/// Checks that `name` is an API name (object, field) so it can be put in a URL path as is.
pub fn api_name<'n>(operation: &'static str, name: &'n str) -> Result<&'n str, SalesforceError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(SalesforceError::InvalidArgument {
            operation,
            reason: format!("{name:?} is not a valid API name"),
        })
    }
}

/// Percent-encodes one path segment (an id or an external id value).
pub fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
