//! SOQL over REST (paging, queryAll, COUNT()) and the replication API against the emulator.

mod support;

use chrono::{Duration as ChronoDuration, Utc};
use futures::TryStreamExt;
use reqwest::Method;
use serde_json::json;
use sfsync_sidecar::salesforce::{NewRecord, Record, SalesforceClient};
use sfsync_tests::Emulator;
use support::{self as emulator, Clients};

async fn seed_parts(emulator: &Emulator, count: usize) {
    let (status, body) = emulator
        .request(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Part__c", "count": count, "fields": {"Status__c": "New"}})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
}

async fn create_part(client: &SalesforceClient, fields: serde_json::Value) -> String {
    let Ok(results) = client
        .create_records(
            &[NewRecord {
                object: "Part__c".into(),
                fields: match fields {
                    serde_json::Value::Object(map) => map,
                    _ => Record::new(),
                },
            }],
            false,
        )
        .await
    else {
        panic!("create call failed");
    };
    assert!(results[0].success, "{results:?}");
    results[0].id.clone().expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_pages_follow_next_records_url() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    seed_parts(&emulator, 450).await;

    let mut pages = client.query("SELECT Id, Name FROM Part__c ORDER BY Name", Some(200));
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        assert_eq!(page.total_size, 450);
        assert_eq!(page.done, page.next_records_url.is_none());
        sizes.push(page.records.len());
        for record in &page.records {
            assert_eq!(record["attributes"]["type"], "Part__c");
            names.push(record["Name"].as_str().expect("name").to_string());
        }
    }
    assert_eq!(sizes, [200, 200, 50]);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 450, "no record twice, none lost");
    assert_eq!(names, sorted, "ORDER BY is kept across pages");

    // The stream form yields the same pages; batch sizes are clamped to 200..2000.
    let streamed: Vec<_> = client
        .query("SELECT Id FROM Part__c", Some(5))
        .into_stream()
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(
        streamed
            .iter()
            .map(|page| page.records.len())
            .sum::<usize>(),
        450
    );
    assert_eq!(streamed[0].records.len(), 200);

    let error = client
        .query_records("SELECT Nope__c FROM Part__c")
        .await
        .expect_err("unknown field");
    assert_eq!(error.error_codes(), ["INVALID_FIELD"], "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_all_and_count_see_deleted_records() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    let kept = create_part(
        &client,
        json!({"Name": "Kept", "Status__c": "New", "Price__c": 12345678901234.57}),
    )
    .await;
    let gone = create_part(&client, json!({"Name": "Gone", "Status__c": "New"})).await;
    let deleted = client
        .delete_records(std::slice::from_ref(&gone), false)
        .await
        .expect("delete");
    assert!(deleted[0].success);

    assert_eq!(
        client.count("Part__c", None, false).await.expect("count"),
        1
    );
    assert_eq!(client.count("Part__c", None, true).await.expect("count"), 2);
    assert_eq!(
        client
            .count("Part__c", Some("Name = 'Kept'"), false)
            .await
            .expect("count"),
        1
    );

    let mut all = client.query_all(
        "SELECT Id, IsDeleted, Price__c FROM Part__c WHERE IsDeleted = true",
        None,
    );
    let page = all.next_page().await.expect("page").expect("one page");
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0]["Id"], gone.as_str());
    assert!(all.next_page().await.expect("end").is_none());

    let live = client
        .query_records(&format!(
            "SELECT Id, Price__c FROM Part__c WHERE Id = '{kept}'"
        ))
        .await
        .expect("query");
    assert_eq!(live[0]["Price__c"].to_string(), "12345678901234.57");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_updated_and_get_deleted() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    let start = Utc::now() - ChronoDuration::minutes(5);
    let changed = create_part(&client, json!({"Name": "Changed", "Status__c": "New"})).await;
    let removed = create_part(&client, json!({"Name": "Removed", "Status__c": "New"})).await;
    client
        .delete_records(std::slice::from_ref(&removed), false)
        .await
        .expect("delete");
    // Both calls cover whole minutes up to the current one: move the org clock past it.
    let (status, body) = emulator
        .request(
            Method::POST,
            "/__emulator/clock",
            Some(json!({"advanceSeconds": 120})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let end = Utc::now() + ChronoDuration::minutes(10);

    let updated = client
        .get_updated("Part__c", start, end)
        .await
        .expect("getUpdated");
    assert!(updated.ids.contains(&changed), "{updated:?}");
    assert!(updated.latest_date_covered > start);

    let deleted = client
        .get_deleted("Part__c", start, end)
        .await
        .expect("getDeleted");
    let ids: Vec<&str> = deleted
        .deleted_records
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, [removed.as_str()]);
    assert!(deleted.deleted_records[0].deleted_date >= start);
    assert!(deleted.earliest_date_available.is_some());
}
