//! `POST /services/oauth2/token`: password, refresh token, client credentials and JWT bearer flows (Salesforce Help: OAuth endpoints and flows).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value as Json};
use sha2::Sha256;

use crate::app::SharedState;
use crate::auth::sessions::RefreshRefusal;
use crate::http::error::json_response;
use crate::store::RecordId;

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long after its `exp` an assertion is still accepted: Salesforce documents `exp` as valid "within
/// 3 minutes", the clock skew it allows between the client and the org. It sets no upper bound: an `exp` far in
/// the future (even one written in milliseconds instead of seconds, as some clients send) is accepted.
const JWT_EXPIRY_SKEW_SECONDS: i64 = 180;

/// An OAuth error: `{"error","error_description"}`, HTTP 400, `Cache-Control: no-store`.
#[derive(Debug)]
struct OAuthError {
    error: &'static str,
    description: &'static str,
}

fn oauth_error(error: &'static str, description: &'static str) -> OAuthError {
    OAuthError { error, description }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl OAuthError {
    fn into_response(self) -> Response {
        no_store(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": self.error, "error_description": self.description}),
        ))
    }
}

/// `base64(HMAC-SHA256(client_secret, id + issued_at))`.
pub fn signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Client id and secret from the form, or from `Authorization: Basic`.
fn client_credentials(
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> (Option<String>, Option<String>) {
    let mut id = form.get("client_id").cloned();
    let mut secret = form.get("client_secret").cloned();
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        if let Some((basic_id, basic_secret)) = basic.split_once(':') {
            id.get_or_insert_with(|| basic_id.to_string());
            secret.get_or_insert_with(|| basic_secret.to_string());
        }
    }
    (id, secret)
}

fn check_client(
    app: &SharedState,
    id: Option<&str>,
    secret: Option<&str>,
    secret_required: bool,
) -> Result<(), OAuthError> {
    if id != Some(app.config.client_id.as_str()) {
        return Err(oauth_error(
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    match secret {
        Some(secret) if secret == app.config.client_secret => Ok(()),
        None if !secret_required => Ok(()),
        _ => Err(oauth_error("invalid_client", "invalid client credentials")),
    }
}

/// The token endpoint.
pub async fn token(State(app): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let result = match form.get("grant_type").map(String::as_str) {
        Some("password") => password_flow(&app, &form, &headers),
        Some("refresh_token") => refresh_flow(&app, &form, &headers),
        Some("client_credentials") => client_credentials_flow(&app, &form, &headers),
        Some(JWT_GRANT) => jwt_flow(&app, &form),
        _ => Err(oauth_error(
            "unsupported_grant_type",
            "grant type not supported",
        )),
    };
    match result {
        Ok(body) => no_store(json_response(StatusCode::OK, &Json::Object(body))),
        Err(error) => error.into_response(),
    }
}

fn admin_user(app: &SharedState) -> RecordId {
    app.org.read().users.admin
}

/// Builds the common response fields; `signed` adds `issued_at` and `signature`.
fn token_response(
    app: &SharedState,
    user: RecordId,
    access_token: String,
    scope: Option<&str>,
    signed: bool,
) -> Map<String, Json> {
    let id = app.identity_url(user.as_str());
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    if let Some(scope) = scope {
        body.insert("scope".into(), json!(scope));
    }
    body.insert("instance_url".into(), json!(app.base_url));
    body.insert("id".into(), json!(id));
    body.insert("token_type".into(), json!("Bearer"));
    if signed {
        let issued_at = chrono::Utc::now().timestamp_millis().to_string();
        body.insert(
            "signature".into(),
            json!(signature(&app.config.client_secret, &id, &issued_at)),
        );
        body.insert("issued_at".into(), json!(issued_at));
    }
    body
}

fn password_flow(
    app: &SharedState,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Map<String, Json>, OAuthError> {
    let (id, secret) = client_credentials(form, headers);
    check_client(app, id.as_deref(), secret.as_deref(), true)?;
    let username_ok = form
        .get("username")
        .is_some_and(|u| u.eq_ignore_ascii_case(&app.config.username));
    // The password may carry the user's security token appended, as in a real org.
    let password_ok = form
        .get("password")
        .is_some_and(|p| p.starts_with(&app.config.password));
    if !username_ok || !password_ok {
        return Err(oauth_error("invalid_grant", "authentication failure"));
    }
    let user = admin_user(app);
    let access_token = app.sessions.lock().issue_access_token(user, None);
    Ok(token_response(app, user, access_token, None, true))
}

fn refresh_flow(
    app: &SharedState,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Map<String, Json>, OAuthError> {
    let (id, secret) = client_credentials(form, headers);
    check_client(app, id.as_deref(), secret.as_deref(), false)?;
    let refresh_token = form
        .get("refresh_token")
        .ok_or_else(|| oauth_error("invalid_grant", "expired access/refresh token"))?;
    let rotate = app.config.refresh_token_rotation;
    let mut sessions = app.sessions.lock();
    let (user, family, replacement) =
        sessions
            .use_refresh_token(refresh_token, rotate)
            .map_err(|refusal| match refusal {
                RefreshRefusal::Unknown | RefreshRefusal::Reused => {
                    oauth_error("invalid_grant", "expired access/refresh token")
                }
            })?;
    let access_token = sessions.issue_access_token(user, Some(family));
    drop(sessions);
    let mut body = token_response(app, user, access_token, Some("id api refresh_token"), true);
    if let Some(replacement) = replacement {
        body.insert("refresh_token".into(), json!(replacement));
    }
    Ok(body)
}

fn client_credentials_flow(
    app: &SharedState,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Map<String, Json>, OAuthError> {
    let (id, secret) = client_credentials(form, headers);
    check_client(app, id.as_deref(), secret.as_deref(), true)?;
    let user = admin_user(app);
    let access_token = app.sessions.lock().issue_access_token(user, None);
    Ok(token_response(app, user, access_token, Some("api"), true))
}

fn jwt_flow(
    app: &SharedState,
    form: &HashMap<String, String>,
) -> Result<Map<String, Json>, OAuthError> {
    let verifier = app
        .jwt
        .as_ref()
        .ok_or_else(|| oauth_error("invalid_grant", "invalid assertion"))?;
    let assertion = form
        .get("assertion")
        .ok_or_else(|| oauth_error("invalid_grant", "invalid assertion"))?;
    let claims = verifier
        .verify(assertion)
        .map_err(|_| oauth_error("invalid_grant", "invalid assertion"))?;
    if claims.iss.as_deref() != Some(app.config.client_id.as_str()) {
        return Err(oauth_error(
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    let accepted = [
        app.base_url.as_str(),
        "https://login.salesforce.com",
        "https://test.salesforce.com",
    ];
    if !claims
        .audiences()
        .iter()
        .any(|aud| accepted.contains(&aud.trim_end_matches('/')))
    {
        return Err(oauth_error("invalid_grant", "audience is invalid"));
    }
    let now = chrono::Utc::now().timestamp() as f64;
    match claims.exp {
        Some(exp) if exp + (JWT_EXPIRY_SKEW_SECONDS as f64) < now => {
            return Err(oauth_error("invalid_grant", "expired authorization code"))
        }
        Some(_) => {}
        None => return Err(oauth_error("invalid_grant", "invalid assertion")),
    }
    if !claims
        .subject()
        .is_some_and(|s| s.eq_ignore_ascii_case(&app.config.username))
    {
        return Err(oauth_error(
            "invalid_grant",
            "user hasn't approved this consumer",
        ));
    }
    let user = admin_user(app);
    let access_token = app.sessions.lock().issue_access_token(user, None);
    Ok(token_response(
        app,
        user,
        access_token,
        Some("web openid api id"),
        false,
    ))
}
