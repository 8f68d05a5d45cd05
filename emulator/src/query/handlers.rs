//! `GET /query?q=`, `GET /queryAll?q=` and `GET /query/{locator}-{offset}` (REST API Developer Guide: Query and QueryAll).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;

use super::pages::{batch_size, first_page, next_page};
use crate::app::SharedState;
use crate::http::context::ApiContext;
use crate::http::error::{ApiError, JSON_CONTENT_TYPE};

/// Longest request target (path and query string) the REST API accepts.
pub const MAX_URI_BYTES: usize = 16_384;

/// A JSON response from already serialized bytes.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// 414 for a request target longer than 16,384 bytes (REST API Developer Guide: status codes and error responses).
pub fn check_uri_length(uri: &Uri) -> Result<(), ApiError> {
    let length = uri.path().len() + uri.query().map_or(0, |query| query.len() + 1);
    if length > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!(
                "The request URI is {length} bytes long; at most {MAX_URI_BYTES} are accepted. Send long queries \
                 through Bulk API 2.0."
            ),
        ));
    }
    Ok(())
}

fn run(
    app: &SharedState,
    api: &ApiContext,
    uri: &Uri,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    include_deleted: bool,
) -> Result<Response, ApiError> {
    check_uri_length(uri)?;
    let text = params.get("q").map(String::as_str).unwrap_or_default();
    let size = batch_size(
        headers
            .get("Sforce-Query-Options")
            .and_then(|value| value.to_str().ok()),
    );
    let org = app.org.read();
    if params
        .get("columns")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    {
        let body = super::columns::describe_columns(&org, text)?;
        return Ok(crate::http::error::json_response(StatusCode::OK, &body));
    }
    let body = first_page(app, &org, &api.version, text, include_deleted, size)?;
    drop(org);
    Ok(json_bytes(StatusCode::OK, body))
}

/// `GET /query?q=SELECT ...`.
pub async fn query(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    run(&app, &api, &uri, &headers, &params, false)
}

/// `GET /queryAll?q=SELECT ...`: deleted records (in the recycle bin) too.
pub async fn query_all(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if api.version_number < 29.0 {
        return Err(ApiError::not_found());
    }
    run(&app, &api, &uri, &headers, &params, true)
}

/// `GET /query/{locator}-{offset}` (also under `/queryAll/`): the next page of an open cursor.
pub async fn more(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, locator)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let org = app.org.read();
    let body = next_page(&app, &org, &api.version, &locator)?;
    drop(org);
    Ok(json_bytes(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::super::pages::batch_size;

    #[test]
    fn batch_sizes_are_clamped() {
        assert_eq!(batch_size(None), 2000);
        assert_eq!(batch_size(Some("batchSize=1000")), 1000);
        assert_eq!(batch_size(Some("batchSize=10")), 200);
        assert_eq!(batch_size(Some("foo=1, batchSize = 5000")), 2000);
        assert_eq!(batch_size(Some("batchSize=abc")), 2000);
    }
}
