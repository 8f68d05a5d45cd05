//! `POST /__emulator/records` with `systemModstamp` (a late commit: exactly that stamp, no change event) and
//! `silent` (no change event, no getUpdated/getDeleted trace), and the 400s that leave the org unchanged.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{widget, Api, Emulator, Resp};

/// Moves the org clock forward (0: just reads it) and returns the org's time.
async fn advance(emulator: &Emulator, seconds: i64) -> DateTime<Utc> {
    let response = emulator
        .admin(
            Method::POST,
            "/__emulator/clock",
            Some(json!({"advanceSeconds": seconds})),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    parse(response.json["now"].as_str().expect("now"))
}

fn parse(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .expect("REST datetime")
        .with_timezone(&Utc)
}

/// The REST API's datetime format, `2026-12-03T10:00:00.000+0000`.
fn rest(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

async fn write(emulator: &Emulator, body: Json) -> Resp {
    emulator
        .admin(Method::POST, "/__emulator/records", Some(body))
        .await
}

/// Writes one record and returns its id, asserting success.
async fn write_one(emulator: &Emulator, body: Json) -> String {
    let response = write(emulator, body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    assert_eq!(response.json[0]["success"], true, "{}", response.json);
    response.json[0]["id"].as_str().expect("id").to_string()
}

/// The change log's newest sequence number, and the events that name `id`.
async fn events_for(emulator: &Emulator, id: &str) -> (u64, Vec<Json>) {
    emulator.events_for(id).await
}

async fn query(api: &Api, soql: &str, all: bool) -> Json {
    api.query_json(soql, all).await
}

/// getUpdated (`updated`) or getDeleted (`deleted`) ids of Account over `[start, end)`.
async fn replicated(
    api: &Api,
    kind: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    let window = [
        ("start", start.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()),
        ("end", end.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()),
    ];
    let encoded = serde_urlencoded::to_string(window).expect("encodes");
    let response = api
        .get(&format!("/sobjects/Account/{kind}/?{encoded}"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let list = if kind == "updated" {
        &response.json["ids"]
    } else {
        &response.json["deletedRecords"]
    };
    list.as_array()
        .expect("list")
        .iter()
        .map(|value| {
            value
                .as_str()
                .or_else(|| value["id"].as_str())
                .expect("id")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn system_modstamp_writes_exactly_that_stamp_and_publishes_no_event() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let now = advance(&emulator, 0).await;
    let (seq_before, _) = events_for(&emulator, "").await;
    let stamp = now - Duration::hours(1);
    let id = write_one(
        &emulator,
        json!({"object": "Account", "systemModstamp": rest(stamp), "records": [{"Name": "Late"}]}),
    )
    .await;
    let found = query(
        &api,
        &format!("SELECT Id, SystemModstamp, CreatedDate, LastModifiedDate FROM Account WHERE Id = '{id}'"),
        false,
    )
    .await;
    let record = &found["records"][0];
    assert_eq!(record["Id"], id.as_str());
    for field in ["SystemModstamp", "CreatedDate", "LastModifiedDate"] {
        assert_eq!(record[field], rest(stamp).as_str(), "{field}");
    }
    let (seq_after, events) = events_for(&emulator, &id).await;
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(seq_after, seq_before, "nothing reached the change log");
    // getUpdated reads by stamp: the record shows an hour back, where the stamp puts it.
    let listed = replicated(
        &api,
        "updated",
        stamp - Duration::minutes(1),
        stamp + Duration::minutes(2),
    )
    .await;
    assert_eq!(listed, [id.as_str()]);

    // An update (the `Z` form here) gets exactly its stamp too, even one behind the record's own.
    // (whole seconds: the `Z` form below carries none of the milliseconds)
    let earlier = (stamp - Duration::minutes(30))
        .duration_trunc(Duration::seconds(1))
        .expect("truncates");
    let updated = write(
        &emulator,
        json!({"object": "Account", "operation": "update",
               "systemModstamp": earlier.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
               "records": [{"Id": id, "Phone": "555"}]}),
    )
    .await;
    assert_eq!(updated.json[0]["success"], true, "{}", updated.json);
    let found = query(
        &api,
        &format!("SELECT Phone, SystemModstamp, CreatedDate, LastModifiedDate FROM Account WHERE Id = '{id}'"),
        false,
    )
    .await;
    let record = &found["records"][0];
    assert_eq!(record["Phone"], "555");
    assert_eq!(record["SystemModstamp"], rest(earlier).as_str());
    assert_eq!(record["LastModifiedDate"], rest(earlier).as_str());
    assert_eq!(record["CreatedDate"], rest(stamp).as_str());
    assert!(events_for(&emulator, &id).await.1.is_empty());

    // Upsert takes it too, and combines with `silent`: exactly the stamp, and getUpdated never lists the
    // record it created.
    let upserted = write_one(
        &emulator,
        json!({"object": "Widget__c", "operation": "upsert", "externalIdField": "Ext_Id__c",
               "systemModstamp": rest(stamp), "silent": true, "records": [widget("late-1")]}),
    )
    .await;
    let found = query(
        &api,
        &format!("SELECT SystemModstamp FROM Widget__c WHERE Id = '{upserted}'"),
        false,
    )
    .await;
    assert_eq!(found["records"][0]["SystemModstamp"], rest(stamp).as_str());
    assert!(events_for(&emulator, &upserted).await.1.is_empty());
    let encoded = serde_urlencoded::to_string([
        ("start", (stamp - Duration::minutes(1)).to_rfc3339()),
        ("end", (stamp + Duration::minutes(2)).to_rfc3339()),
    ])
    .expect("encodes");
    let widgets = api
        .get(&format!("/sobjects/Widget__c/updated/?{encoded}"))
        .await;
    assert_eq!(widgets.status, StatusCode::OK, "{}", widgets.json);
    assert_eq!(widgets.json["ids"], json!([]));

    // A write without the key is published as usual (and stamped now).
    let normal = write_one(
        &emulator,
        json!({"object": "Account", "records": [{"Name": "On time"}]}),
    )
    .await;
    assert_eq!(events_for(&emulator, &normal).await.1.len(), 1);
}

#[tokio::test]
async fn silent_writes_reach_neither_cdc_nor_replication() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let kept = api.create("Account", json!({"Name": "Kept"})).await;
    let gone = api.create("Account", json!({"Name": "Gone"})).await;
    let (seq_before, _) = events_for(&emulator, "").await;
    let before = advance(&emulator, 300).await;
    let stamp_before = query(
        &api,
        &format!("SELECT SystemModstamp FROM Account WHERE Id = '{kept}'"),
        false,
    )
    .await["records"][0]["SystemModstamp"]
        .clone();

    let updated = write(
        &emulator,
        json!({"object": "Account", "silent": true, "records": [{"Id": kept, "Phone": "1"}]}),
    )
    .await;
    assert_eq!(updated.json[0]["success"], true, "{}", updated.json);
    let deleted = write(
        &emulator,
        json!({"object": "Account", "operation": "delete", "silent": true, "records": [{"Id": gone}]}),
    )
    .await;
    assert_eq!(deleted.json[0]["success"], true, "{}", deleted.json);
    let created = write_one(
        &emulator,
        json!({"object": "Account", "silent": true, "records": [{"Name": "Unseen"}]}),
    )
    .await;
    // The window's minute is covered once it is over.
    let after = advance(&emulator, 120).await;

    let (seq_after, _) = events_for(&emulator, "").await;
    assert_eq!(
        seq_after, seq_before,
        "no change event for any silent write"
    );
    let window_start = before - Duration::minutes(1);
    assert!(
        replicated(&api, "updated", window_start, after)
            .await
            .is_empty(),
        "getUpdated hears of no silent write"
    );
    assert!(
        replicated(&api, "deleted", window_start, after)
            .await
            .is_empty(),
        "getDeleted hears of no silent delete"
    );

    // The store has the writes: the new value and a moved SystemModstamp, the record gone from query.
    let record = query(
        &api,
        &format!("SELECT Phone, SystemModstamp FROM Account WHERE Id = '{kept}'"),
        false,
    )
    .await["records"][0]
        .clone();
    assert_eq!(record["Phone"], "1");
    assert_ne!(record["SystemModstamp"], stamp_before, "the stamp moved");
    assert!(parse(record["SystemModstamp"].as_str().expect("stamp")) >= before);
    let gone_query = query(
        &api,
        &format!("SELECT Id FROM Account WHERE Id = '{gone}'"),
        false,
    )
    .await;
    assert_eq!(gone_query["totalSize"], 0, "{gone_query}");
    let recycled = query(
        &api,
        &format!("SELECT IsDeleted FROM Account WHERE Id = '{gone}'"),
        true,
    )
    .await;
    assert_eq!(
        recycled["records"][0]["IsDeleted"], true,
        "in the recycle bin"
    );
    assert_eq!(
        api.get(&format!("/sobjects/Account/{created}"))
            .await
            .status,
        StatusCode::OK
    );

    // A later write that is not silent is traced as usual.
    let traced = write(
        &emulator,
        json!({"object": "Account", "records": [{"Id": kept, "Phone": "2"}]}),
    )
    .await;
    assert_eq!(traced.json[0]["success"], true, "{}", traced.json);
    let later = advance(&emulator, 120).await;
    assert_eq!(
        replicated(&api, "updated", after, later).await,
        [kept.as_str()]
    );
    assert_eq!(
        events_for(&emulator, &kept).await.1.len(),
        2,
        "its create and this update"
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_before_anything_is_written() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let id = api.create("Account", json!({"Name": "Standing"})).await;
    let (seq_before, _) = events_for(&emulator, "").await;
    let live = |stats: &Json| stats["records"]["Account"]["live"].clone();
    let stats_before = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;

    let bad_stamp = write(
        &emulator,
        json!({"object": "Account", "systemModstamp": "yesterday at noon",
               "records": [{"Name": "Never"}, {"Id": id, "Phone": "9"}]}),
    )
    .await;
    assert_eq!(bad_stamp.status, StatusCode::BAD_REQUEST);
    let message = bad_stamp.json["error"].as_str().expect("error");
    assert!(message.contains("'yesterday at noon'"), "{message}");

    let on_delete = write(
        &emulator,
        json!({"object": "Account", "operation": "delete", "systemModstamp": "2026-12-03T10:00:00.000+0000",
               "records": [{"Id": id}]}),
    )
    .await;
    assert_eq!(on_delete.status, StatusCode::BAD_REQUEST);
    let message = on_delete.json["error"].as_str().expect("error");
    assert!(
        message.contains("systemModstamp") && message.contains("delete"),
        "{message}"
    );

    let bad_silent = write(
        &emulator,
        json!({"object": "Account", "silent": "yes", "records": [{"Name": "Never"}]}),
    )
    .await;
    assert_eq!(bad_silent.status, StatusCode::BAD_REQUEST);
    let bad_operation = write(
        &emulator,
        json!({"object": "Account", "operation": "merge", "records": [{"Id": id}]}),
    )
    .await;
    assert_eq!(bad_operation.status, StatusCode::BAD_REQUEST);
    assert!(bad_operation.json["error"]
        .as_str()
        .expect("error")
        .contains("'merge'"));

    let stats_after = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(live(&stats_after), live(&stats_before));
    assert_eq!(events_for(&emulator, "").await.0, seq_before);
    let record = api.get(&format!("/sobjects/Account/{id}")).await;
    assert_eq!(record.status, StatusCode::OK, "not deleted");
    assert_eq!(record.json["Phone"], Json::Null, "not updated");
}
