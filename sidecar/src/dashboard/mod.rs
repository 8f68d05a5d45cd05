//! The web dashboard, served beside `/metrics` and `/healthz` on `SFSYNC_HTTP_LISTEN` when a
//! dashboard token is configured: an overview of the schema's mappings with charts of the last
//! hour, a page per mapping, the failed changes, and a mapping editor. Pages read through the
//! sidecar's own connection; actions (plain HTML form POSTs with a CSRF token) go through the SQL
//! API over the separate admin connection, or are refused when there is none.

mod admin;
mod auth;
mod charts;
mod editor;
mod errors;
mod history;
mod html;
mod mapping_page;
mod overview;
mod queries;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use prometheus::Registry;
use tokio_postgres::Client;

use crate::config::DashboardSettings;
use crate::db::{Database, DbError};
use crate::salesforce::SalesforceClient;
use crate::shutdown::ShutdownSignal;
use crate::tls::CaBundle;

pub use admin::AdminError;
use auth::{Session, Sessions};
use history::History;
use html::{escape, page_response, Page};

/// What the pages read from once the sidecar's session is open.
struct Backend {
    database: Database,
    salesforce: SalesforceClient,
}

/// Shared by every request.
struct DashboardState {
    sessions: Sessions,
    schema: String,
    history: History,
    /// Set when the sidecar's schema session is open; until then pages say the sidecar is starting.
    backend: OnceLock<Backend>,
    admin: Option<admin::Admin>,
}

/// The dashboard: its router, the history sampler, and the late-bound connections.
#[derive(Clone)]
pub struct Dashboard {
    state: Arc<DashboardState>,
}

impl Dashboard {
    pub fn new(
        settings: &DashboardSettings,
        schema: &str,
        extra_roots: Option<&CaBundle>,
    ) -> Result<Self, DbError> {
        let admin = match &settings.admin_database {
            Some(database) => Some(admin::Admin::new(
                database.clone(),
                extra_roots,
                schema.to_string(),
            )?),
            None => None,
        };
        Ok(Self {
            state: Arc::new(DashboardState {
                sessions: Sessions::new(&settings.token),
                schema: schema.to_string(),
                history: History::default(),
                backend: OnceLock::new(),
                admin,
            }),
        })
    }

    /// Whether actions are possible (an admin connection is configured).
    pub fn has_admin(&self) -> bool {
        self.state.admin.is_some()
    }

    /// Hands the dashboard the sidecar's bound database and Salesforce client.
    pub fn attach(&self, database: Database, salesforce: SalesforceClient) {
        let _ = self.state.backend.set(Backend {
            database,
            salesforce,
        });
    }

    /// Samples the registry into the last hour's history until shutdown.
    pub fn sample_history(
        &self,
        registry: Registry,
        shutdown: ShutdownSignal,
    ) -> impl Future<Output = ()> + Send + 'static {
        let state = self.state.clone();
        async move { state.history.sample(registry, shutdown).await }
    }

    /// The pages and actions, with the security headers on every answer.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(overview_page))
            .route("/login", post(login))
            .route("/static/dashboard.css", get(stylesheet))
            .route("/errors", get(errors_page))
            .route("/errors/retry", post(errors_retry))
            .route("/errors/ignore", post(errors_ignore))
            .route("/new", get(editor_page).post(editor_create))
            .route("/mappings/{schema}/{object}", get(mapping_page))
            .route("/mappings/{schema}/{object}/{action}", post(mapping_action))
            .layer(axum::middleware::map_response(
                |response: Response| async move { html::add_security_headers(response) },
            ))
            .with_state(self.state.clone())
    }
}

type AppState = State<Arc<DashboardState>>;

/// The answer given instead of the page (a login form, a refusal, "starting"), boxed: it is large
/// and only the unusual path carries it.
type Instead = Box<Response>;

/// A logged-in request: the session id and the session.
struct Visitor {
    id: String,
    session: Session,
}

impl DashboardState {
    /// The visitor, or the answer to give instead: a redirect setting the cookie when the URL
    /// carries the right token, 401 with the token form otherwise.
    fn visitor(&self, headers: &HeaderMap, uri: &Uri) -> Result<Visitor, Instead> {
        if let Some(token) = uri
            .query()
            .and_then(|query| form_value(query.as_bytes(), "token"))
        {
            return Err(Box::new(self.login_with(&token)));
        }
        match self.sessions.find(headers) {
            Some((id, session)) => Ok(Visitor { id, session }),
            None => Err(Box::new(login_page(StatusCode::UNAUTHORIZED, None))),
        }
    }

    /// As [`DashboardState::visitor`] for a POST: the form must carry the session's CSRF token.
    fn poster(&self, headers: &HeaderMap, form: &Form) -> Result<Visitor, Instead> {
        let Some((id, session)) = self.sessions.find(headers) else {
            return Err(Box::new(login_page(StatusCode::UNAUTHORIZED, None)));
        };
        if !auth::csrf_matches(&session, form.get("csrf")) {
            return Err(Box::new(message_page(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form carried no valid CSRF token (it did not come from this dashboard session). Open the page again and retry.",
            )));
        }
        Ok(Visitor { id, session })
    }

    fn login_with(&self, token: &str) -> Response {
        if !self.sessions.token_matches(token) {
            return login_page(StatusCode::UNAUTHORIZED, Some("That token is not valid."));
        }
        let id = self.sessions.start();
        // the Location never carries the token: the address bar and history forget it
        (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, auth::session_cookie_header(&id)),
                (header::LOCATION, "/".to_string()),
            ],
        )
            .into_response()
    }

    fn backend(&self) -> Result<&Backend, Instead> {
        self.backend.get().ok_or_else(|| {
            Box::new(message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Starting",
                "The sidecar is still starting (waiting for the database and Salesforce); this page works once it runs.",
            ))
        })
    }

    /// A connection of the sidecar's own role, bound to its schema.
    async fn reader(&self) -> Result<Client, Instead> {
        let backend = self.backend()?;
        backend.database.connect().await.map_err(|error| {
            Box::new(message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                &crate::error_chain(&error),
            ))
        })
    }

    fn admin(&self) -> Result<&admin::Admin, AdminError> {
        self.admin.as_ref().ok_or(AdminError::ReadOnly)
    }

    /// The page frame for a visitor, with the notice the last action left.
    fn notice(&self, visitor: &Visitor) -> Option<String> {
        self.sessions.take_notice(&visitor.id)
    }

    /// The banner saying actions are off, on every page that has buttons.
    /// A mapping address names its schema; this sidecar answers only for its own.
    fn serves(&self, schema: &str) -> Result<(), Instead> {
        if schema == self.schema {
            Ok(())
        } else {
            Err(Box::new(message_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "This sidecar serves another schema.",
            )))
        }
    }

    fn read_only_banner(&self) -> &'static str {
        if self.admin.is_some() {
            ""
        } else {
            r#"<p class="readonly" id="read-only">Read-only: no admin connection is configured (SFSYNC_DASHBOARD_DATABASE_URL), so this dashboard shows but cannot change anything.</p>"#
        }
    }
}

/// A submitted `application/x-www-form-urlencoded` body (repeated names kept, in order).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A value with surrounding spaces removed; empty counts as absent.
    fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

fn form_value(query: &[u8], name: &str) -> Option<String> {
    Form::parse(query).text(name)
}

fn login_page(status: StatusCode, problem: Option<&str>) -> Response {
    let mut body = String::from("<h1>Sign in</h1>");
    if let Some(problem) = problem {
        body.push_str(&format!(r#"<p class="error">{}</p>"#, escape(problem)));
    }
    body.push_str(
        r#"<p>This dashboard needs its token (SFSYNC_DASHBOARD_TOKEN).</p>
<form method="post" action="/login" id="login"><label>Token <input type="password" name="token" autocomplete="current-password" required></label> <button type="submit">Sign in</button></form>"#,
    );
    let page = Page {
        navigation: false,
        ..Page::new("Sign in")
    };
    page_response(status, page.render(&body))
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        r#"<h1>{}</h1><p class="error">{}</p><p><a href="/">Back to the overview</a></p>"#,
        escape(title),
        escape(message)
    );
    page_response(status, Page::new(title).render(&body))
}

/// After an action: back to `location` (Post/Redirect/Get), with the outcome as the next notice.
fn redirect_with_notice(
    state: &DashboardState,
    visitor: &Visitor,
    location: &str,
    notice: String,
) -> Response {
    state.sessions.set_notice(&visitor.id, notice);
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn admin_outcome<T>(result: Result<T, AdminError>, done: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => done(value),
        Err(error) => {
            tracing::warn!(error = %crate::error_chain(&error), "dashboard action failed");
            format!("Failed: {}", crate::error_chain(&error))
        }
    }
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        html::STYLESHEET,
    )
        .into_response()
}

async fn login(State(state): AppState, body: Bytes) -> Response {
    let form = Form::parse(&body);
    match form.text("token") {
        Some(token) => state.login_with(&token),
        None => login_page(StatusCode::UNAUTHORIZED, Some("Enter the token.")),
    }
}

async fn overview_page(State(state): AppState, headers: HeaderMap, uri: Uri) -> Response {
    let visitor = match state.visitor(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    overview::render(&state, &visitor).await
}

async fn mapping_page(
    State(state): AppState,
    Path((schema, object)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let visitor = match state.visitor(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    if let Err(response) = state.serves(&schema) {
        return *response;
    }
    mapping_page::render(&state, &visitor, &object).await
}

async fn mapping_action(
    State(state): AppState,
    Path((schema, object, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let visitor = match state.poster(&headers, &form) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    if let Err(response) = state.serves(&schema) {
        return *response;
    }
    mapping_page::act(&state, &visitor, &object, &action, &form).await
}

async fn errors_page(
    State(state): AppState,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let visitor = match state.visitor(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let filters = Form::parse(query.unwrap_or_default().as_bytes());
    errors::render(&state, &visitor, &filters).await
}

async fn errors_retry(State(state): AppState, headers: HeaderMap, body: Bytes) -> Response {
    errors_act(state, headers, body, errors::Action::Retry).await
}

async fn errors_ignore(State(state): AppState, headers: HeaderMap, body: Bytes) -> Response {
    errors_act(state, headers, body, errors::Action::Ignore).await
}

async fn errors_act(
    state: Arc<DashboardState>,
    headers: HeaderMap,
    body: Bytes,
    action: errors::Action,
) -> Response {
    let form = Form::parse(&body);
    let visitor = match state.poster(&headers, &form) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    errors::act(&state, &visitor, &form, action).await
}

#[derive(serde::Deserialize)]
struct EditorQuery {
    object: Option<String>,
}

async fn editor_page(
    State(state): AppState,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<EditorQuery>,
) -> Response {
    let visitor = match state.visitor(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let object = query
        .object
        .map(|object| object.trim().to_string())
        .filter(|object| !object.is_empty());
    editor::render(&state, &visitor, object.as_deref(), None).await
}

async fn editor_create(State(state): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let visitor = match state.poster(&headers, &form) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    editor::create(&state, &visitor, &form).await
}
