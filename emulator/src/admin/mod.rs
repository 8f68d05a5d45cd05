//! The emulator's own admin API (`/__emulator/...`, not Salesforce): reset, stats, faults, sessions, schema
//! drift, limits, seeding, CDC selection, undelete, purge, clock, writes as another user, refresh tokens.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use crate::app::SharedState;
use crate::faults::FaultSpec;
use crate::http::error::json_response;
use crate::store::value::{format_datetime, parse_datetime};
use crate::store::{seed, ApiKind, FieldSpec, ObjectSpec, RecordError, RecordId, WriteContext};

/// Admin errors: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    message: String,
}

fn admin_error(status: StatusCode, message: impl std::fmt::Display) -> AdminError {
    AdminError {
        status,
        message: message.to_string(),
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({"error": self.message}))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, AdminError> {
    serde_json::from_slice(body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

fn ok(body: Json) -> Response {
    json_response(StatusCode::OK, &body)
}

pub async fn reset(State(app): State<SharedState>) -> Response {
    app.org.write().reset();
    app.limits.reset_usage();
    app.stats.lock().clear();
    app.faults.clear();
    app.bulk.clear();
    app.query_locators.clear();
    app.cdc.gaps.lock().clear();
    ok(json!({"reset": true}))
}

pub async fn stats(State(app): State<SharedState>) -> Response {
    let org = app.org.read();
    let records: Map<String, Json> = org
        .objects()
        .map(|s| {
            let total = s.total_count();
            let live = s.live_count();
            (
                s.schema.name.to_string(),
                json!({"live": live, "deleted": total - live}),
            )
        })
        .collect();
    let (used, max) = app.limits.usage();
    ok(json!({
        "apiCalls": *app.stats.lock(),
        "apiUsage": {"used": used, "max": max},
        "records": records,
        "changeLog": {"lastSeq": org.change_log.last_seq(), "retained": org.change_log.len(),
                      "firstRetainedSeq": org.change_log.first_retained_seq()},
        "deleteLog": org.delete_log.len(),
        "now": format_datetime(org.clock.now_ms()),
    }))
}

pub async fn add_fault(
    State(app): State<SharedState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let spec: FaultSpec = parse(&body)?;
    let id = app.faults.add(spec);
    Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
}

pub async fn clear_faults(State(app): State<SharedState>) -> Response {
    app.faults.clear();
    json_response(StatusCode::OK, &json!({"cleared": true}))
}

pub async fn list_faults(State(app): State<SharedState>) -> Response {
    let faults: Vec<Json> = app
        .faults
        .list()
        .into_iter()
        .map(|(id, spec, remaining)| json!({"id": id, "fault": spec, "remaining": remaining}))
        .collect();
    ok(Json::Array(faults))
}

pub async fn expire_sessions(State(app): State<SharedState>) -> Response {
    app.sessions.lock().expire_all();
    ok(json!({"expired": true}))
}

pub async fn define_object(
    State(app): State<SharedState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let spec: ObjectSpec = parse(&body)?;
    let mut org = app.org.write();
    let index = org
        .define_object(spec)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, e))?;
    let schema = &org.object_at(index).schema;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"name": &*schema.name, "keyPrefix": schema.key_prefix}),
    ))
}

pub async fn add_field(
    State(app): State<SharedState>,
    Path(object): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let spec: FieldSpec = parse(&body)?;
    let name = spec.name.clone();
    app.org
        .write()
        .add_field(&object, spec)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, e))?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"object": object, "field": name}),
    ))
}

pub async fn remove_field(
    State(app): State<SharedState>,
    Path((object, field)): Path<(String, String)>,
) -> Response {
    match app.org.write().remove_field(&object, &field) {
        Ok(()) => json_response(StatusCode::OK, &json!({"object": object, "removed": field})),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e).into_response(),
    }
}

pub async fn put_limits(
    State(app): State<SharedState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let body: Map<String, Json> = parse(&body)?;
    app.limits
        .apply(&body)
        .map_err(|name| admin_error(StatusCode::BAD_REQUEST, format!("unknown limit '{name}'")))?;
    Ok(ok(app.limits.to_json(64.0)))
}

fn seed_context(app: &SharedState) -> WriteContext {
    WriteContext {
        user: app.org.read().users.admin,
        origin_client: None,
        api: None,
        api_version: None,
    }
}

pub async fn seed(State(app): State<SharedState>, body: Bytes) -> Result<Response, AdminError> {
    let request: seed::SeedRequest = parse(&body)?;
    let context = seed_context(&app);
    let started = std::time::Instant::now();
    let result = seed::seed(&mut app.org.write(), &request, context).map_err(|e| {
        admin_error(
            StatusCode::BAD_REQUEST,
            format!("{}: {}", e.code, e.message),
        )
    })?;
    Ok(ok(json!({
        "object": request.object,
        "created": result.created,
        "firstId": result.first_id.map(|id| id.to_string()),
        "lastId": result.last_id.map(|id| id.to_string()),
        "seconds": started.elapsed().as_secs_f64(),
    })))
}

pub async fn put_cdc(State(app): State<SharedState>, body: Bytes) -> Result<Response, AdminError> {
    #[derive(Deserialize)]
    struct Body {
        objects: Vec<String>,
    }
    let body: Body = parse(&body)?;
    let all = body.objects.iter().any(|o| o == "*");
    *app.cdc_objects.lock() = if all { None } else { Some(body.objects) };
    Ok(get_cdc_body(&app))
}

fn get_cdc_body(app: &SharedState) -> Response {
    let objects = app.cdc_objects.lock().clone();
    ok(json!({"objects": objects.unwrap_or_else(|| vec!["*".to_string()])}))
}

pub async fn get_cdc(State(app): State<SharedState>) -> Response {
    get_cdc_body(&app)
}

fn result_json(result: Result<RecordId, RecordError>) -> Json {
    match result {
        Ok(id) => json!({"id": id.as_str(), "success": true, "errors": []}),
        Err(e) => json!({"id": e.id.map(|i| i.to_string()), "success": false,
                         "errors": [crate::http::error::record_error_json(&e)]}),
    }
}

pub async fn undelete(State(app): State<SharedState>, body: Bytes) -> Result<Response, AdminError> {
    #[derive(Deserialize)]
    struct Body {
        ids: Vec<String>,
    }
    let body: Body = parse(&body)?;
    let context = WriteContext {
        api: Some(ApiKind::Soap),
        api_version: Some(format!("{}.0", crate::http::context::MAX_VERSION)),
        ..seed_context(&app)
    };
    let mut org = app.org.write();
    let mut transaction = org.transaction(context);
    let results: Vec<Json> = body
        .ids
        .iter()
        .map(|id| {
            let savepoint = transaction.savepoint();
            let result = transaction.undelete(id);
            if result.is_err() {
                transaction.rollback_to(savepoint);
            }
            result_json(result)
        })
        .collect();
    transaction.commit();
    Ok(ok(Json::Array(results)))
}

pub async fn purge(State(app): State<SharedState>) -> Response {
    let purged = app.org.write().purge_recycle_bin();
    ok(json!({"purged": purged}))
}

pub async fn clock(State(app): State<SharedState>, body: Bytes) -> Result<Response, AdminError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        #[serde(default)]
        advance_seconds: i64,
    }
    let body: Body = if body.is_empty() {
        Body { advance_seconds: 0 }
    } else {
        parse(&body)?
    };
    if body.advance_seconds < 0 {
        return Err(admin_error(
            StatusCode::BAD_REQUEST,
            "the org clock only moves forward",
        ));
    }
    let mut org = app.org.write();
    org.advance_clock(body.advance_seconds);
    Ok(ok(
        json!({"now": format_datetime(org.clock.now_ms()), "offsetSeconds": org.clock.offset_ms / 1000}),
    ))
}

/// `POST /__emulator/records`: writes as another user and client, counting no API call.
/// Body: `{"object", "records": [...], "operation": "create"|"update"|"upsert"|"delete", "externalIdField",
/// "user": <User id or username>, "client": "<Sforce-Call-Options client>", "api": "rest"|"soap"|"bulkapi"|"apex",
/// "systemModstamp": "<ISO 8601 datetime>", "silent": true|false}`.
///
/// Two keys bend how the writes are seen, for every record of the request:
/// - `systemModstamp` (create, update, upsert; refused on delete): each record is written with exactly that
///   SystemModstamp and LastModifiedDate (CreatedDate too when created), and no change event is published: a
///   "late commit", a transaction committing long after its stamp. getUpdated lists the record at that stamp,
///   as it reads by stamp. Any datetime format Salesforce accepts (`2026-12-03T10:00:00.000+0000`, `...Z`).
/// - `silent: true` (every operation): no change event, and neither getUpdated nor getDeleted hears of the
///   writes; the records themselves change as usual, SystemModstamp included unless `systemModstamp` is given.
///
/// The whole body is checked before anything is written: a bad one is a 400 and changes nothing.
pub async fn records(State(app): State<SharedState>, body: Bytes) -> Result<Response, AdminError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        object: String,
        records: Vec<Map<String, Json>>,
        #[serde(default)]
        operation: Option<String>,
        #[serde(default)]
        external_id_field: Option<String>,
        #[serde(default)]
        user: Option<String>,
        #[serde(default)]
        client: Option<String>,
        #[serde(default)]
        api: Option<ApiKind>,
        #[serde(default)]
        system_modstamp: Option<String>,
        #[serde(default)]
        silent: bool,
    }
    let body: Body = parse(&body)?;
    let operation = body
        .operation
        .as_deref()
        .unwrap_or("auto")
        .to_ascii_lowercase();
    if !matches!(
        operation.as_str(),
        "auto" | "create" | "update" | "upsert" | "delete"
    ) {
        return Err(admin_error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown operation '{}': use create, update, upsert or delete",
                body.operation.as_deref().unwrap_or_default()
            ),
        ));
    }
    let stamp = match &body.system_modstamp {
        None => None,
        // A deletion is stamped when it commits: a late one would be a deletion getDeleted reports in the past.
        Some(_) if operation == "delete" => return Err(admin_error(
            StatusCode::BAD_REQUEST,
            "systemModstamp cannot be given with operation delete (only create, update and upsert)",
        )),
        Some(text) => Some(parse_datetime(text.trim()).ok_or_else(|| {
            admin_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "systemModstamp '{text}' is not a valid datetime: use ISO 8601, for example \
                     2026-12-03T10:00:00.000+0000 or 2026-12-03T10:00:00Z"
                ),
            )
        })?),
    };
    let mut org = app.org.write();
    let object = org.object_index(&body.object).ok_or_else(|| {
        admin_error(
            StatusCode::NOT_FOUND,
            format!("unknown object {}", body.object),
        )
    })?;
    let user = match &body.user {
        None => org.users.other,
        Some(text) => resolve_user(&org, text)
            .ok_or_else(|| admin_error(StatusCode::BAD_REQUEST, format!("unknown user {text}")))?,
    };
    let context = WriteContext {
        user,
        origin_client: body.client.clone(),
        api: Some(body.api.unwrap_or(ApiKind::Rest)),
        api_version: Some(format!("{}.0", crate::http::context::MAX_VERSION)),
    };
    let mut transaction = org.transaction(context);
    if let Some(stamp) = stamp {
        // A late commit: its stamp is long past when it commits, and CDC never publishes it.
        transaction.commit_at(stamp);
        transaction.skip_change_log();
    }
    if body.silent {
        transaction.silent();
    }
    let mut results = Vec::new();
    for record in &body.records {
        let savepoint = transaction.savepoint();
        let id = record
            .get("Id")
            .or_else(|| record.get("id"))
            .and_then(Json::as_str)
            .map(str::to_string);
        let result = match (operation.as_str(), &id) {
            ("delete", Some(id)) => transaction.delete(Some(object), id),
            ("update" | "auto", Some(id)) => {
                let mut values = record.clone();
                values.remove("Id");
                values.remove("id");
                transaction.update(Some(object), id, &values)
            }
            ("upsert", _) => upsert_one(
                &mut transaction,
                object,
                body.external_id_field.as_deref(),
                record,
            ),
            ("create" | "auto", None) => transaction.create(object, record),
            _ => Err(RecordError::new(
                "MISSING_ARGUMENT",
                "update and delete need an Id",
                vec![],
            )),
        };
        if result.is_err() {
            transaction.rollback_to(savepoint);
        }
        results.push(result_json(result));
    }
    transaction.commit();
    Ok(ok(Json::Array(results)))
}

fn upsert_one(
    transaction: &mut crate::store::Transaction<'_>,
    object: usize,
    field: Option<&str>,
    record: &Map<String, Json>,
) -> Result<RecordId, RecordError> {
    let field = field.ok_or_else(|| {
        RecordError::new("MISSING_ARGUMENT", "upsert needs externalIdField", vec![])
    })?;
    let key_field = transaction.upsert_key_field(object, field)?;
    let field_def = &transaction.org().object_at(object).schema.fields[key_field];
    let key_json = record
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&field_def.name))
        .map(|(_, v)| v.clone())
        .unwrap_or(Json::Null);
    let key = crate::store::convert::convert_value(field_def, &key_json)?;
    transaction
        .upsert(object, key_field, &key, record, false)
        .map(|o| o.id)
        .map_err(|e| match e {
            crate::store::UpsertError::Record(error) => error,
            crate::store::UpsertError::MultipleMatches(_) => RecordError::new(
                "DUPLICATE_EXTERNAL_ID",
                "more than one record matches",
                vec![],
            ),
        })
}

fn resolve_user(org: &crate::store::Org, text: &str) -> Option<RecordId> {
    let users = org.object("User")?;
    if let Some(id) = RecordId::parse(text) {
        return users.get(&id).map(|r| r.id);
    }
    let username = users.schema.field_index("Username")?;
    users
        .find_by_key(username, &crate::store::Value::text(text))
        .first()
        .copied()
}

/// `POST /__emulator/refresh-tokens`: a fresh refresh token for the configured user (the password flow never
/// returns one).
pub async fn refresh_token(State(app): State<SharedState>) -> Response {
    let user = app.org.read().users.admin;
    let token = app.sessions.lock().issue_refresh_token(user);
    json_response(StatusCode::CREATED, &json!({"refresh_token": token}))
}

/// `GET /__emulator/changes?after=N&limit=M`: the retained change log (for tests and debugging).
pub async fn changes(
    State(app): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let after = params
        .get("after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000usize);
    let org = app.org.read();
    let events: Vec<Json> = org
        .change_log
        .events_after(after)
        .take(limit)
        .map(|e| {
            let values: Map<String, Json> = e
                .values
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        if value.is_null() {
                            Json::Null
                        } else {
                            json!(value.display_text())
                        },
                    )
                })
                .collect();
            json!({
                "seq": e.seq,
                "transactionKey": &*e.transaction_key,
                "sequenceNumber": e.sequence_in_transaction,
                "commitNumber": e.commit_number,
                "entityName": &*e.entity,
                "recordId": e.record_id.as_str(),
                "changeType": e.change_type.as_str(),
                "changedFields": e.changed_fields.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                "values": values,
                "commitTimestamp": e.commit_timestamp,
                "commitUser": e.commit_user.as_str(),
                "client": e.origin_client,
                "api": e.api.map(ApiKind::as_str),
            })
        })
        .collect();
    ok(json!({"lastSeq": org.change_log.last_seq(), "events": events}))
}
