//! Single-record REST: create, read, update, delete, upsert / read / delete by external id (REST API Developer Guide: sObject Rows, REST API Developer Guide: sObject Rows by External ID).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value as Json};

use super::object_index;
use crate::app::SharedState;
use crate::http::body::parse_object;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};
use crate::store::convert::convert_key_text;
use crate::store::render::{record_json, record_url, resolve_field_list};
use crate::store::{Org, RecordError, RecordId, Transaction, UpsertError};

type Params = Query<HashMap<String, String>>;

fn created_response(
    api: &ApiContext,
    object: &str,
    id: RecordId,
    created_flag: Option<bool>,
) -> Response {
    let mut body = json!({"id": id.as_str(), "success": true, "errors": []});
    if let Some(created) = created_flag {
        body["created"] = json!(created);
    }
    let mut response = json_response(StatusCode::CREATED, &body);
    if let Ok(location) = HeaderValue::from_str(&record_url(&api.version, object, id.as_str())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /sobjects/{Name}`.
pub async fn create(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = create_in(&mut transaction, &api, &object, &body)?;
    transaction.commit();
    Ok(response)
}

/// Creates a record inside `transaction` (a direct call's own, or a composite request's).
pub(crate) fn create_in(
    transaction: &mut Transaction<'_>,
    api: &ApiContext,
    object: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let body = parse_object(body)?;
    let index = object_index(transaction.org(), object)?;
    let name = transaction.org().object_at(index).schema.name.clone();
    let id = transaction.create(index, &body)?;
    Ok(created_response(api, &name, id, None))
}

/// Resolves the id of a single-record URL: not an id at all → `NOT_FOUND`; another object's id → `MALFORMED_ID`.
fn url_id(org: &Org, object: usize, id_text: &str) -> Result<RecordId, ApiError> {
    if RecordId::parse(id_text).is_none() {
        return Err(ApiError::not_found());
    }
    let (_, id) = crate::store::transaction::locate(org, Some(object), id_text)?;
    Ok(id)
}

fn render_one(
    org: &Org,
    api: &ApiContext,
    object: usize,
    id: RecordId,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let store = org.object_at(object);
    let record = crate::store::transaction::live_record(org, object, &id)?;
    let record = crate::formula::with_calculated(org, object, record);
    let fields = match params.get("fields") {
        Some(list) => Some(resolve_field_list(&store.schema, list).map_err(|bad| {
            ApiError::bad_request("INVALID_FIELD", format!("No such column '{bad}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", store.schema.name))
        })?),
        None => None,
    };
    Ok(json_response(
        StatusCode::OK,
        &record_json(&store.schema, &record, &api.version, fields.as_deref()),
    ))
}

/// `GET /sobjects/{Name}/{id}[?fields=]`.
pub async fn read(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, id)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let org = app.org.read();
    read_in(&org, &api, &object, &id, &params)
}

/// Reads one record by id from `org` (as a composite request's transaction sees it, or as committed).
pub(crate) fn read_in(
    org: &Org,
    api: &ApiContext,
    object: &str,
    id: &str,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let index = object_index(org, object)?;
    let id = url_id(org, index, id)?;
    render_one(org, api, index, id, params)
}

fn update_record(
    app: &SharedState,
    api: &ApiContext,
    object: &str,
    id: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = update_in(&mut transaction, object, id, body)?;
    transaction.commit();
    Ok(response)
}

/// Updates a record inside `transaction`.
pub(crate) fn update_in(
    transaction: &mut Transaction<'_>,
    object: &str,
    id: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let body = parse_object(body)?;
    let index = object_index(transaction.org(), object)?;
    url_id(transaction.org(), index, id)?;
    transaction.update(Some(index), id, &body)?;
    Ok(no_content())
}

/// `PATCH /sobjects/{Name}/{id}`.
pub async fn update(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_record(&app, &api, &object, &id, &body)
}

/// `POST /sobjects/{Name}/{id}?_HttpMethod=PATCH` (update), or `POST /sobjects/{Name}/Id` (create, API ≥ 37.0).
pub async fn post_on_record(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((version, object, id)): Path<(String, String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    if params
        .get("_HttpMethod")
        .is_some_and(|m| m.eq_ignore_ascii_case("PATCH"))
    {
        return update_record(&app, &api, &object, &id, &body);
    }
    if id == "Id" && api.version_number >= 37.0 {
        return create(State(app), Extension(api), Path((version, object)), body).await;
    }
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "HTTP Method 'POST' not allowed. Allowed are HEAD,GET,PATCH,DELETE",
    ))
}

/// `DELETE /sobjects/{Name}/{id}`.
pub async fn delete(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = delete_in(&mut transaction, &object, &id)?;
    transaction.commit();
    Ok(response)
}

/// Deletes a record inside `transaction`.
pub(crate) fn delete_in(
    transaction: &mut Transaction<'_>,
    object: &str,
    id: &str,
) -> Result<Response, ApiError> {
    let index = object_index(transaction.org(), object)?;
    url_id(transaction.org(), index, id)?;
    transaction.delete(Some(index), id)?;
    Ok(no_content())
}

fn multiple_choices(api: &ApiContext, object: &str, ids: &[RecordId]) -> Response {
    let urls: Vec<Json> = ids
        .iter()
        .map(|id| json!(record_url(&api.version, object, id.as_str())))
        .collect();
    json_response(StatusCode::MULTIPLE_CHOICES, &Json::Array(urls))
}

/// 404 for an upsert key that is neither an external id nor `Id`.
pub(crate) fn key_field_error(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Provided external ID field does not exist or is not accessible: {field}"),
    )
}

fn upsert_record(
    app: &SharedState,
    api: &ApiContext,
    object: &str,
    field: &str,
    value: &str,
    params: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = upsert_in(&mut transaction, api, object, field, value, params, body)?;
    // A 300 (several matches) wrote nothing; committing it is a no-op.
    transaction.commit();
    Ok(response)
}

/// Upserts by external id inside `transaction`.
pub(crate) fn upsert_in(
    transaction: &mut Transaction<'_>,
    api: &ApiContext,
    object: &str,
    field: &str,
    value: &str,
    params: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let body = parse_object(body)?;
    let org = transaction.org();
    let index = object_index(org, object)?;
    let name = org.object_at(index).schema.name.clone();
    let key_field = crate::store::transaction::upsert_key_field(org, index, field)
        .map_err(|_| key_field_error(field))?;
    let key = convert_key_text(&org.object_at(index).schema.fields[key_field], value)?;
    // The key may also be in the body, but only with the same value.
    let key_name = org.object_at(index).schema.fields[key_field].name.clone();
    if let Some((_, given)) = body.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key_name)) {
        let given_text = given
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| given.to_string());
        if !given_text.eq_ignore_ascii_case(value) {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                format!("The {key_name} field should not be specified in the sobject data."),
            ));
        }
    }
    let update_only = params.get("updateOnly").is_some_and(|v| v == "true");
    let outcome = match transaction.upsert(index, key_field, &key, &body, update_only) {
        Ok(outcome) => outcome,
        Err(UpsertError::MultipleMatches(ids)) => return Ok(multiple_choices(api, &name, &ids)),
        Err(UpsertError::Record(error)) => return Err(error.into()),
    };
    let since_46 = api.version_number >= 46.0;
    if outcome.created {
        return Ok(created_response(
            api,
            &name,
            outcome.id,
            since_46.then_some(true),
        ));
    }
    if since_46 {
        Ok(json_response(
            StatusCode::OK,
            &json!({"id": outcome.id.as_str(), "success": true, "errors": [], "created": false}),
        ))
    } else {
        Ok(no_content())
    }
}

/// `PATCH /sobjects/{Name}/{Field}/{value}`.
pub async fn upsert(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    upsert_record(&app, &api, &object, &field, &value, &params, &body)
}

/// `POST /sobjects/{Name}/{Field}/{value}?_HttpMethod=PATCH`.
pub async fn post_upsert(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    if params
        .get("_HttpMethod")
        .is_some_and(|m| m.eq_ignore_ascii_case("PATCH"))
    {
        return upsert_record(&app, &api, &object, &field, &value, &params, &body);
    }
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "HTTP Method 'POST' not allowed. Allowed are HEAD,GET,PATCH,DELETE",
    ))
}

/// Live records matching an external id (or `Id`) key.
fn match_key(org: &Org, index: usize, field: &str, value: &str) -> Result<Vec<RecordId>, ApiError> {
    let key_field = crate::store::transaction::upsert_key_field(org, index, field)
        .map_err(|_| key_field_error(field))?;
    let store = org.object_at(index);
    if key_field == store.schema.system.id {
        let id = url_id(org, index, value)?;
        crate::store::transaction::live_record(org, index, &id)?;
        return Ok(vec![id]);
    }
    let key = convert_key_text(&store.schema.fields[key_field], value).map_err(ApiError::from)?;
    Ok(store.find_by_key(key_field, &key))
}

/// `GET /sobjects/{Name}/{Field}/{value}`.
pub async fn read_by_key(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let org = app.org.read();
    read_by_key_in(&org, &api, &object, &field, &value, &params)
}

/// Reads one record by external id from `org`.
pub(crate) fn read_by_key_in(
    org: &Org,
    api: &ApiContext,
    object: &str,
    field: &str,
    value: &str,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let index = object_index(org, object)?;
    match match_key(org, index, field, value)?.as_slice() {
        [] => Err(RecordError::not_found().into()),
        [id] => render_one(org, api, index, *id, params),
        ids => Ok(multiple_choices(
            api,
            &org.object_at(index).schema.name,
            ids,
        )),
    }
}

/// `DELETE /sobjects/{Name}/{Field}/{value}`.
pub async fn delete_by_key(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let mut org = app.org.write();
    let mut transaction = org.transaction(api.write_context());
    let response = delete_by_key_in(&mut transaction, &api, &object, &field, &value)?;
    transaction.commit();
    Ok(response)
}

/// Deletes the record matching an external id inside `transaction`.
pub(crate) fn delete_by_key_in(
    transaction: &mut Transaction<'_>,
    api: &ApiContext,
    object: &str,
    field: &str,
    value: &str,
) -> Result<Response, ApiError> {
    let index = object_index(transaction.org(), object)?;
    let ids = match_key(transaction.org(), index, field, value)?;
    match ids.as_slice() {
        [] => Err(RecordError::not_found().into()),
        [id] => {
            transaction.delete(Some(index), id.as_str())?;
            Ok(no_content())
        }
        ids => {
            let name = transaction.org().object_at(index).schema.name.clone();
            Ok(multiple_choices(api, &name, ids))
        }
    }
}
