//! Who a token belongs to: the identity URL (`GET /id/{orgId}/{userId}`, the `id` of every token response) and
//! the OpenID Connect UserInfo endpoint (`GET|POST /services/oauth2/userinfo`). Both are read from the org's User
//! record; neither is under `/services/data`, so neither spends an API request.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};

use crate::app::SharedState;
use crate::http::context::MAX_VERSION;
use crate::http::error::json_response;
use crate::store::value::format_datetime;
use crate::store::{Org, RecordId, Value};

/// An identity-service refusal: Salesforce answers these with a plain-text error name and the status below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdentityError {
    /// No token in the `Authorization` header or the `oauth_token` parameter.
    MissingToken,
    /// A token that is unknown, expired or revoked.
    BadToken,
    /// An identity URL of another org.
    WrongOrg,
    /// A user id that is malformed or names no user of the org.
    BadId,
    /// The user is inactive.
    Inactive,
    /// `version` is neither a served API version nor `latest`.
    InvalidVersion,
    /// `format` (or `Accept`) asks for XML or form encoding, which the emulator does not produce.
    UnsupportedFormat,
}

impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            IdentityError::MissingToken => (StatusCode::FORBIDDEN, "Missing_OAuth_Token"),
            IdentityError::BadToken => (StatusCode::FORBIDDEN, "Bad_OAuth_Token"),
            IdentityError::WrongOrg => (StatusCode::FORBIDDEN, "Wrong_Org"),
            IdentityError::BadId => (StatusCode::NOT_FOUND, "Bad_Id"),
            IdentityError::Inactive => (StatusCode::NOT_FOUND, "Inactive"),
            IdentityError::InvalidVersion => (StatusCode::NOT_ACCEPTABLE, "Invalid_Version"),
            IdentityError::UnsupportedFormat => (
                StatusCode::NOT_ACCEPTABLE,
                "Unsupported_Format: the emulator answers identity requests in JSON only",
            ),
        };
        let mut response = (status, text).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
        response
    }
}

/// The access token of an identity request: `Authorization: Bearer|OAuth`, else the `oauth_token` (or
/// `access_token`) parameter of the query string or of a form body.
fn presented_token(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    form: &HashMap<String, String>,
) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(|token| token.trim().to_string());
    from_header.or_else(|| {
        ["oauth_token", "access_token"]
            .iter()
            .find_map(|key| params.get(*key).or_else(|| form.get(*key)).cloned())
    })
}

fn authenticate(
    app: &SharedState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    form: &HashMap<String, String>,
) -> Result<RecordId, IdentityError> {
    let token = presented_token(headers, params, form)
        .filter(|token| !token.is_empty())
        .ok_or(IdentityError::MissingToken)?;
    app.sessions
        .lock()
        .authenticate(&token)
        .ok_or(IdentityError::BadToken)
}

/// JSON unless `format` or `Accept` asks for something else (the `format` parameter wins, as documented).
fn check_format(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(), IdentityError> {
    if let Some(format) = params.get("format") {
        return match format.to_ascii_lowercase().as_str() {
            "json" => Ok(()),
            _ => Err(IdentityError::UnsupportedFormat),
        };
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    // A list is read left to right: the first type the service knows decides.
    for kind in accept
        .split(',')
        .map(|part| part.split(';').next().unwrap_or("").trim())
    {
        match kind {
            "application/json" | "*/*" | "application/*" => return Ok(()),
            "application/xml" | "application/x-www-form-urlencoded" => {
                return Err(IdentityError::UnsupportedFormat)
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `{version}` placeholder of the returned API URLs: kept literally without `version`, the newest served
/// version for `latest`, else the given served version.
fn url_version(params: &HashMap<String, String>) -> Result<String, IdentityError> {
    match params.get("version").map(String::as_str) {
        None => Ok("{version}".to_string()),
        Some("latest") => Ok(format!("{MAX_VERSION}.0")),
        Some(text) => {
            let number = text.strip_prefix('v').unwrap_or(text);
            crate::http::context::parse_version(&format!("v{number}"))
                .map(|(version, _)| version)
                .ok_or(IdentityError::InvalidVersion)
        }
    }
}

/// The facts both endpoints report about one user.
struct UserFacts {
    id: RecordId,
    username: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: String,
    nickname: String,
    time_zone: String,
    language: String,
    locale: String,
    active: bool,
    user_type: String,
    mobile_phone: Option<String>,
    last_modified_ms: Option<i64>,
}

fn user_facts(org: &Org, user: RecordId) -> Result<UserFacts, IdentityError> {
    let store = org.object("User").ok_or(IdentityError::BadId)?;
    let record = store
        .get(&user)
        .filter(|record| !record.is_deleted())
        .ok_or(IdentityError::BadId)?;
    let value = |name: &str| -> Option<&Value> {
        store
            .schema
            .field_index(name)
            .map(|index| record.get(index))
    };
    let text = |name: &str| value(name).and_then(Value::as_text).map(str::to_string);
    let username = text("Username").unwrap_or_default();
    let first_name = text("FirstName");
    let last_name = text("LastName");
    let display_name = text("Name").unwrap_or_else(|| {
        [first_name.as_deref(), last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let nickname = text("CommunityNickname")
        .or_else(|| text("Alias"))
        .unwrap_or_else(|| username.split('@').next().unwrap_or_default().to_string());
    Ok(UserFacts {
        id: user,
        email: text("Email"),
        first_name,
        last_name,
        display_name,
        nickname,
        time_zone: text("TimeZoneSidKey").unwrap_or_else(|| "GMT".into()),
        language: text("LanguageLocaleKey").unwrap_or_else(|| "en_US".into()),
        locale: text("LocaleSidKey").unwrap_or_else(|| "en_US".into()),
        active: value("IsActive").and_then(Value::as_bool).unwrap_or(true),
        user_type: text("UserType").unwrap_or_else(|| "Standard".into()),
        mobile_phone: text("MobilePhone"),
        last_modified_ms: value("LastModifiedDate").and_then(Value::as_datetime_ms),
        username,
    })
}

/// The standard offset from UTC of the time zones users can have, in milliseconds (`utcOffset`).
fn utc_offset_ms(time_zone: &str) -> i64 {
    let hours = match time_zone {
        "America/Los_Angeles" => -8,
        "America/New_York" => -5,
        "Europe/Paris" => 1,
        "Asia/Tokyo" => 9,
        _ => 0,
    };
    hours * 3_600_000
}

/// The API endpoints of the org, with `version` in place of the API version.
fn endpoint_urls(base: &str, org_id: &RecordId, user: &RecordId, version: &str) -> Json {
    let org = org_id.as_str();
    let data = format!("{base}/services/data/v{version}");
    json!({
        "enterprise": format!("{base}/services/Soap/c/{version}/{org}"),
        "metadata": format!("{base}/services/Soap/m/{version}/{org}"),
        "partner": format!("{base}/services/Soap/u/{version}/{org}"),
        "rest": format!("{data}/"),
        "sobjects": format!("{data}/sobjects/"),
        "search": format!("{data}/search/"),
        "query": format!("{data}/query/"),
        "recent": format!("{data}/recent/"),
        "tooling_soap": format!("{base}/services/Soap/T/{version}/{org}"),
        "tooling_rest": format!("{data}/tooling/"),
        "profile": format!("{base}/{}", user.as_str()),
        "feeds": format!("{data}/chatter/feeds"),
        "groups": format!("{data}/chatter/groups"),
        "users": format!("{data}/chatter/users"),
        "feed_items": format!("{data}/chatter/feed-items"),
        "feed_elements": format!("{data}/chatter/feed-elements"),
        "custom_domain": base,
    })
}

fn photos(base: &str) -> Json {
    json!({
        "picture": format!("{base}/profilephoto/005/F"),
        "thumbnail": format!("{base}/profilephoto/005/T"),
    })
}

/// `GET /id/{orgId}/{userId}` (also with a trailing slash): the documented identity response.
pub async fn identity(
    State(app): State<SharedState>,
    Path((org_text, user_text)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match identity_body(&app, &org_text, &user_text, &params, &headers) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

fn identity_body(
    app: &SharedState,
    org_text: &str,
    user_text: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Json, IdentityError> {
    let caller = authenticate(app, headers, params, &HashMap::new())?;
    check_format(headers, params)?;
    let version = url_version(params)?;
    let org = app.org.read();
    if RecordId::parse(org_text) != Some(org.org_id) {
        return Err(IdentityError::WrongOrg);
    }
    let user = RecordId::parse(user_text)
        .filter(|id| id.key_prefix() == "005")
        .ok_or(IdentityError::BadId)?;
    let facts = user_facts(&org, user)?;
    if !facts.active {
        return Err(IdentityError::Inactive);
    }
    let base = &app.base_url;
    let org_id = org.org_id;
    drop(org);
    Ok(json!({
        "id": app.identity_url(facts.id.as_str()),
        "asserted_user": caller == facts.id,
        "user_id": facts.id.as_str(),
        "organization_id": org_id.as_str(),
        "username": facts.username,
        "nick_name": facts.nickname,
        "display_name": facts.display_name,
        "email": facts.email,
        "email_verified": true,
        "first_name": facts.first_name,
        "last_name": facts.last_name,
        "timezone": facts.time_zone,
        "photos": photos(base),
        "addr_street": null,
        "addr_city": null,
        "addr_state": null,
        "addr_country": null,
        "addr_zip": null,
        "mobile_phone": facts.mobile_phone,
        "mobile_phone_verified": false,
        "is_lightning_login_user": false,
        "status": {"created_date": null, "body": null},
        "urls": endpoint_urls(base, &org_id, &facts.id, &version),
        "active": facts.active,
        "user_type": facts.user_type.to_ascii_uppercase(),
        "language": facts.language,
        "locale": facts.locale,
        "utcOffset": utc_offset_ms(&facts.time_zone),
        "last_modified_date": facts.last_modified_ms.map(format_datetime),
        "is_app_installed": true,
    }))
}

/// `GET` or `POST /services/oauth2/userinfo`: the OpenID Connect UserInfo claims of the token's user.
pub async fn userinfo(
    State(app): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match userinfo_body(&app, &params, &form, &headers) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

fn userinfo_body(
    app: &SharedState,
    params: &HashMap<String, String>,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Json, IdentityError> {
    let user = authenticate(app, headers, params, form)?;
    check_format(headers, params)?;
    let version = url_version(params)?;
    let org = app.org.read();
    let facts = user_facts(&org, user)?;
    let org_id = org.org_id;
    drop(org);
    let base = &app.base_url;
    let mut claims = Map::new();
    let mut claim = |key: &str, value: Json| {
        claims.insert(key.to_string(), value);
    };
    claim("sub", json!(app.identity_url(user.as_str())));
    claim("user_id", json!(user.as_str()));
    claim("organization_id", json!(org_id.as_str()));
    claim("preferred_username", json!(facts.username));
    claim("nickname", json!(facts.nickname));
    claim("name", json!(facts.display_name));
    claim("email", json!(facts.email));
    claim("email_verified", json!(true));
    claim("given_name", json!(facts.first_name));
    claim("family_name", json!(facts.last_name));
    claim("zoneinfo", json!(facts.time_zone));
    claim("photos", photos(base));
    claim("profile", json!(format!("{base}/{}", user.as_str())));
    claim("picture", json!(format!("{base}/profilephoto/005/F")));
    claim("address", json!({}));
    claim("is_salesforce_integration_user", json!(false));
    claim("urls", endpoint_urls(base, &org_id, &user, &version));
    claim("active", json!(facts.active));
    claim("user_type", json!(facts.user_type.to_ascii_uppercase()));
    claim("language", json!(facts.language));
    claim("locale", json!(facts.locale));
    claim("utcOffset", json!(utc_offset_ms(&facts.time_zone)));
    claim(
        "updated_at",
        json!(facts
            .last_modified_ms
            .map(crate::store::value::format_datetime_z)),
    );
    claim("is_app_installed", json!(true));
    Ok(Json::Object(claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_parameter_wins_over_accept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/xml"));
        let mut params = HashMap::new();
        assert_eq!(
            check_format(&headers, &params),
            Err(IdentityError::UnsupportedFormat)
        );
        params.insert("format".into(), "json".into());
        assert_eq!(check_format(&headers, &params), Ok(()));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html, application/json;q=0.9"),
        );
        assert_eq!(check_format(&headers, &HashMap::new()), Ok(()));
    }

    #[test]
    fn versions_in_urls() {
        let mut params = HashMap::new();
        assert_eq!(url_version(&params), Ok("{version}".into()));
        params.insert("version".into(), "latest".into());
        assert_eq!(url_version(&params), Ok(format!("{MAX_VERSION}.0")));
        params.insert("version".into(), "58.0".into());
        assert_eq!(url_version(&params), Ok("58.0".into()));
        params.insert("version".into(), "7".into());
        assert_eq!(url_version(&params), Err(IdentityError::InvalidVersion));
    }
}
