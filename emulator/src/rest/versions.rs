//! `GET /services/data/` (versions list), `GET /services/data/vXX.X/` (resources) and `GET .../limits/`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value as Json};

use crate::app::SharedState;
use crate::http::context::{version_label, ApiContext, MAX_VERSION, MIN_VERSION};
use crate::http::error::json_response;

/// Every served version, oldest first. Needs no token and costs no API call.
pub async fn list() -> Response {
    let versions: Vec<Json> = (MIN_VERSION..=MAX_VERSION)
        .map(|major| json!({"label": version_label(major), "url": format!("/services/data/v{major}.0"), "version": format!("{major}.0")}))
        .collect();
    json_response(StatusCode::OK, &Json::Array(versions))
}

/// The resources available in one version; `identity` is the caller's identity URL, as in a real org.
pub async fn resources(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
) -> Response {
    let base = api.base();
    let mut body = Map::new();
    for name in [
        "sobjects",
        "query",
        "queryAll",
        "limits",
        "composite",
        "jobs",
        "search",
        "recent",
        "tooling",
    ] {
        body.insert(name.into(), json!(format!("{base}/{name}")));
    }
    body.insert(
        "identity".into(),
        json!(app.identity_url(api.user.as_str())),
    );
    json_response(StatusCode::OK, &Json::Object(body))
}

/// `GET /limits`.
pub async fn limits(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
) -> Response {
    json_response(StatusCode::OK, &app.limits.to_json(api.version_number))
}
