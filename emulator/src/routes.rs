//! Every route of the emulator in one place; later parts (SOQL, getUpdated/getDeleted, composite, Bulk 2.0,
//! CometD) add theirs here.

use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;

use crate::admin;
use crate::app::SharedState;
use crate::auth::{identity, oauth};
use crate::http::error::ApiError;
use crate::http::middleware::{front, stats};
use crate::rest::{collections, describe, records, versions};

const DATA: &str = "/services/data/{version}";

fn data(path: &str) -> String {
    format!("{DATA}{path}")
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "HTTP Method '{}' not allowed. Allowed are HEAD,GET,POST,PATCH,DELETE",
            request.method()
        ),
    )
    .into_response()
}

/// The router with its middleware, ready to serve (see [`normalize_path`] for trailing slashes).
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/services/oauth2/token", post(oauth::token))
        .route(
            "/services/oauth2/userinfo",
            get(identity::userinfo).post(identity::userinfo),
        )
        .route("/id/{org}/{user}", get(identity::identity))
        .route("/services/data", get(versions::list))
        .route(DATA, get(versions::resources))
        .route(&data("/limits"), get(versions::limits))
        .route(&data("/sobjects"), get(describe::global))
        .route(
            &data("/sobjects/{object}"),
            get(describe::basic_info).post(records::create),
        )
        .route(
            &data("/sobjects/{object}/describe"),
            get(describe::describe),
        )
        .route(
            &data("/sobjects/{object}/{id}"),
            get(records::read)
                .patch(records::update)
                .delete(records::delete)
                .post(records::post_on_record),
        )
        .route(
            &data("/sobjects/{object}/{field}/{value}"),
            patch(records::upsert)
                .get(records::read_by_key)
                .delete(records::delete_by_key)
                .post(records::post_upsert),
        )
        .route(
            &data("/composite/sobjects"),
            post(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(
            &data("/composite/sobjects/{object}"),
            get(collections::retrieve).post(collections::retrieve_post),
        )
        .route(
            &data("/composite/sobjects/{object}/{field}"),
            patch(collections::upsert),
        )
        .route("/__emulator/reset", post(admin::reset))
        .route("/__emulator/stats", get(admin::stats))
        .route(
            "/__emulator/faults",
            post(admin::add_fault)
                .delete(admin::clear_faults)
                .get(admin::list_faults),
        )
        .route("/__emulator/expire-sessions", post(admin::expire_sessions))
        .route("/__emulator/objects", post(admin::define_object))
        .route(
            "/__emulator/objects/{object}/fields",
            post(admin::add_field),
        )
        .route(
            "/__emulator/objects/{object}/fields/{field}",
            delete(admin::remove_field),
        )
        .route("/__emulator/limits", axum::routing::put(admin::put_limits))
        .route("/__emulator/seed", post(admin::seed))
        .route(
            "/__emulator/cdc",
            axum::routing::put(admin::put_cdc).get(admin::get_cdc),
        )
        .route("/__emulator/undelete", post(admin::undelete))
        .route("/__emulator/purge", post(admin::purge))
        .route("/__emulator/clock", post(admin::clock))
        .route("/__emulator/records", post(admin::records))
        .route("/__emulator/refresh-tokens", post(admin::refresh_token))
        .route("/__emulator/changes", get(admin::changes))
        .merge(crate::bulk::routes())
        .merge(crate::query::routes())
        .merge(crate::replication::routes())
        .merge(crate::composite::routes())
        .merge(crate::cdc::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn_with_state(state.clone(), stats))
        .layer(from_fn_with_state(state.clone(), front))
        .with_state(state)
}

/// Salesforce accepts `/sobjects/` and `/sobjects` alike, and a doubled slash (`https://host//services/data`, what
/// clients build from an instance URL that ends in `/`) like a single one: drop one trailing slash and collapse
/// repeated slashes before routing.
pub fn normalize_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let needs_trim = path.len() > 1 && path.ends_with('/');
    if !needs_trim && !path.contains("//") {
        return request;
    }
    let mut collapsed = String::with_capacity(path.len());
    for character in path.chars() {
        if character == '/' && collapsed.ends_with('/') {
            continue;
        }
        collapsed.push(character);
    }
    let trimmed = if collapsed.len() > 1 {
        collapsed.trim_end_matches('/')
    } else {
        collapsed.as_str()
    };
    let rebuilt = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_string(),
    };
    if let Ok(uri) = rebuilt.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(uri: &str) -> String {
        let request = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("request");
        normalize_path(request).uri().to_string()
    }

    #[test]
    fn trailing_and_doubled_slashes() {
        assert_eq!(
            normalized("/services/data/v62.0/sobjects/"),
            "/services/data/v62.0/sobjects"
        );
        assert_eq!(normalized("//services/data/v50.0"), "/services/data/v50.0");
        assert_eq!(
            normalized("/services//data/?x=a//b"),
            "/services/data?x=a//b"
        );
        assert_eq!(normalized("/"), "/");
        assert_eq!(normalized("/id/00D/005"), "/id/00D/005");
    }
}
