//! getUpdated / getDeleted (REST API Developer Guide: sObject Get Updated and Get Deleted): windows truncated to the minute, how far back each reaches, the
//! 600,000-id limit, hard deletes from the delete log, `latestDateCovered` and `earliestDateAvailable`.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{Api, Emulator, Resp};
use crate::support::call;

/// Moves the org clock forward and returns the org's time.
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

fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(1)).expect("truncates")
}

async fn window(api: &Api, object: &str, kind: &str, start: &str, end: &str) -> Resp {
    let encoded = serde_urlencoded::to_string([("start", start), ("end", end)]).expect("encodes");
    call(
        api,
        Method::GET,
        &format!("/sobjects/{object}/{kind}/?{encoded}"),
        None,
    )
    .await
}

fn sorted_ids(values: &Json) -> Vec<String> {
    let mut ids: Vec<String> = values
        .as_array()
        .expect("array")
        .iter()
        .map(|value| {
            value
                .as_str()
                .or_else(|| value["id"].as_str())
                .expect("id")
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn get_updated_follows_system_modstamp() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let before = advance(&emulator, 0).await;
    let a = api.create("Account", json!({"Name": "A"})).await;
    let b = api.create("Account", json!({"Name": "B"})).await;
    let c = api.create("Account", json!({"Name": "C"})).await;
    api.delete(&format!("/sobjects/Account/{c}")).await;
    // Changes of the current minute are covered once it is over.
    let now = advance(&emulator, 120).await;
    // The seconds of start are ignored: 59 s past the minute of the writes still covers them.
    let start = minute(before) + Duration::seconds(59);
    let response = window(
        &api,
        "Account",
        "updated",
        &iso(start),
        &iso(now + Duration::minutes(10)),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(sorted_ids(&response.json["ids"]), expected);
    let covered = response.json["latestDateCovered"]
        .as_str()
        .expect("covered");
    assert_eq!(
        parse(covered),
        minute(now),
        "the current minute, not the future end"
    );

    // The next call starts at latestDateCovered: only what changed since.
    let updated = api
        .patch(&format!("/sobjects/Account/{b}"), json!({"Name": "B2"}))
        .await;
    assert_eq!(updated.status, StatusCode::NO_CONTENT);
    let later = advance(&emulator, 60).await;
    let response = window(&api, "account", "updated", covered, &iso(later)).await;
    assert_eq!(sorted_ids(&response.json["ids"]), vec![b.clone()]);
    assert_eq!(
        parse(
            response.json["latestDateCovered"]
                .as_str()
                .expect("covered")
        ),
        minute(later)
    );

    // An end in the past bounds the window: latestDateCovered is the end, truncated.
    let response = window(
        &api,
        "Account",
        "updated",
        &iso(before - Duration::minutes(30)),
        &iso(before - Duration::minutes(2) + Duration::seconds(30)),
    )
    .await;
    assert_eq!(response.json["ids"], json!([]));
    assert_eq!(
        parse(
            response.json["latestDateCovered"]
                .as_str()
                .expect("covered")
        ),
        minute(before - Duration::minutes(2) + Duration::seconds(30))
    );
}

#[tokio::test]
async fn get_deleted_includes_hard_deletes_and_drops_undeletes() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let before = advance(&emulator, 0).await;
    let ids: Vec<String> = futures_ids(&api, 4).await;
    for id in &ids[..3] {
        let response = api.delete(&format!("/sobjects/Account/{id}")).await;
        assert_eq!(response.status, StatusCode::NO_CONTENT);
    }
    let undeleted = emulator
        .admin(
            Method::POST,
            "/__emulator/undelete",
            Some(json!({"ids": [ids[2]]})),
        )
        .await;
    assert_eq!(undeleted.status, StatusCode::OK, "{}", undeleted.json);
    let purged = emulator
        .admin(Method::POST, "/__emulator/purge", None)
        .await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.json);
    let now = advance(&emulator, 120).await;
    let response = window(
        &api,
        "Account",
        "deleted",
        &iso(before - Duration::minutes(1)),
        &iso(now),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let mut expected = vec![ids[0].clone(), ids[1].clone()];
    expected.sort();
    assert_eq!(sorted_ids(&response.json["deletedRecords"]), expected);
    for entry in response.json["deletedRecords"].as_array().expect("entries") {
        let deleted_at = parse(entry["deletedDate"].as_str().expect("date"));
        assert!(deleted_at >= before && deleted_at <= now, "{entry}");
    }
    // The purged records are gone from queryAll but still in the delete log.
    let all = call(
        &api,
        Method::GET,
        "/queryAll?q=SELECT+COUNT()+FROM+Account+WHERE+IsDeleted+=+true",
        None,
    )
    .await;
    assert_eq!(all.json["totalSize"], json!(0));
    let earliest = parse(
        response.json["earliestDateAvailable"]
            .as_str()
            .expect("earliest"),
    );
    assert_eq!(earliest, minute(now - Duration::days(15)));
    // Sixteen days later the entries have aged out of the log.
    let much_later = advance(&emulator, 16 * 24 * 3600).await;
    let response = window(
        &api,
        "Account",
        "deleted",
        &iso(much_later - Duration::days(14)),
        &iso(much_later),
    )
    .await;
    assert_eq!(response.json["deletedRecords"], json!([]));
    let earliest = parse(
        response.json["earliestDateAvailable"]
            .as_str()
            .expect("earliest"),
    );
    assert!(earliest > now, "{earliest} after the deletions");
}

async fn futures_ids(api: &Api, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(
            api.create("Account", json!({"Name": format!("D{n}")}))
                .await,
        );
    }
    ids
}

#[tokio::test]
async fn windows_and_parameters_are_checked() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let now = advance(&emulator, 0).await;
    let cases = [
        (
            "updated",
            now - Duration::days(31),
            now,
            "INVALID_REPLICATION_DATE",
        ),
        (
            "deleted",
            now - Duration::days(16),
            now,
            "INVALID_REPLICATION_DATE",
        ),
        (
            "updated",
            now,
            now - Duration::hours(1),
            "INVALID_REPLICATION_DATE",
        ),
    ];
    for (kind, start, end, code) in cases {
        let response = window(&api, "Account", kind, &iso(start), &iso(end)).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{kind}");
        assert_eq!(response.error_code(), code, "{}", response.json);
    }
    for (kind, days) in [("updated", 29), ("deleted", 14)] {
        let response = window(
            &api,
            "Account",
            kind,
            &iso(now - Duration::days(days)),
            &iso(now),
        )
        .await;
        assert_eq!(response.status, StatusCode::OK, "{kind} {}", response.json);
    }
    // An unencoded '+' of the offset arrives as a space and is still understood.
    let raw = format!(
        "/sobjects/Account/updated/?start={}&end={}",
        iso(now - Duration::hours(1)),
        iso(now)
    );
    let response = call(&api, Method::GET, &raw, None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let missing = call(&api, Method::GET, "/sobjects/Account/updated/", None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error_code(), "MISSING_ARGUMENT");
    let bad = window(&api, "Account", "deleted", "yesterday", &iso(now)).await;
    assert_eq!(bad.error_code(), "INVALID_REPLICATION_DATE");
    let unknown = window(&api, "Nope__c", "updated", &iso(now), &iso(now)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// 600,000 ids are answered; one more is `EXCEEDED_ID_LIMIT`.
#[tokio::test]
async fn get_updated_refuses_more_than_600000_ids() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let before = advance(&emulator, 0).await;
    let seeded = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Contact", "count": 600_000})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{}", seeded.json);
    let now = advance(&emulator, 120).await;
    let start = iso(before - Duration::minutes(1));
    let response = window(&api, "Contact", "updated", &start, &iso(now)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json["ids"].as_array().map(Vec::len), Some(600_000));
    api.create("Contact", json!({"LastName": "One more"})).await;
    let now = advance(&emulator, 120).await;
    let response = window(&api, "Contact", "updated", &start, &iso(now)).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.error_code(),
        "EXCEEDED_ID_LIMIT",
        "{}",
        response.json
    );
}
