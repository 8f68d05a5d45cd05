//! Admin faults for CDC (not Salesforce): `POST /__emulator/cdc/gap` publishes a gap or overflow event, and
//! `POST /__emulator/cometd/drop-clients` forgets every CometD client.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::channels::object_channel;
use super::gaps::{random_transaction_key, GapEvent, GapType};
use crate::app::SharedState;
use crate::http::error::json_response;
use crate::store::RecordId;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GapRequest {
    object: String,
    #[serde(rename = "type")]
    gap_type: String,
    #[serde(default)]
    record_ids: Vec<String>,
}

fn admin_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json_response(status, &json!({"error": message.to_string()}))
}

/// `{"object": "Account", "type": "GAP_UPDATE", "recordIds": ["001..."]}` → `{"replayId", "channel", "changeType"}`.
pub async fn gap(State(app): State<SharedState>, body: Bytes) -> Response {
    let request: GapRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return admin_error(StatusCode::BAD_REQUEST, format!("bad JSON body: {error}"))
        }
    };
    let Some(gap_type) = GapType::parse(&request.gap_type) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown gap type '{}' (GAP_CREATE, GAP_UPDATE, GAP_DELETE, GAP_UNDELETE or GAP_OVERFLOW)",
                request.gap_type
            ),
        );
    };
    let mut org = app.org.write();
    let Some(store) = org.object(&request.object) else {
        return admin_error(
            StatusCode::NOT_FOUND,
            format!("unknown object {}", request.object),
        );
    };
    let entity = store.schema.name.clone();
    let prefix = store.schema.key_prefix.clone();
    let mut record_ids = Vec::with_capacity(request.record_ids.len());
    for text in &request.record_ids {
        match RecordId::parse(text) {
            Some(id) if id.key_prefix() == prefix => record_ids.push(id.to_string()),
            _ => {
                return admin_error(
                    StatusCode::BAD_REQUEST,
                    format!("'{text}' is not an id of {entity}"),
                )
            }
        }
    }
    if record_ids.is_empty() && gap_type != GapType::Overflow {
        return admin_error(
            StatusCode::BAD_REQUEST,
            format!("{} needs recordIds", gap_type.as_str()),
        );
    }
    let seq = org.change_log.next_seq();
    let commit_number = org.change_log.next_commit_number();
    let commit_timestamp = org.clock.next_stamp();
    let cutoff = org
        .clock
        .now_ms()
        .saturating_sub(org.change_log.retention_ms);
    let event = GapEvent {
        seq,
        entity: entity.clone(),
        gap_type,
        record_ids,
        transaction_key: random_transaction_key(),
        commit_number,
        commit_timestamp,
        commit_user: org.users.admin,
    };
    // Published under the org lock so its replay id cannot fall behind a later commit's.
    app.cdc.gaps.lock().push(event, cutoff);
    drop(org);
    json_response(
        StatusCode::OK,
        &json!({"replayId": seq, "channel": object_channel(&entity), "changeType": gap_type.as_str()}),
    )
}

/// Every client becomes unknown: waiting connects answer `403::Unknown client` now, later ones too.
pub async fn drop_clients(State(app): State<SharedState>) -> Response {
    let dropped = app.cdc.clients.drop_all();
    json_response(StatusCode::OK, &json!({"dropped": dropped}))
}
