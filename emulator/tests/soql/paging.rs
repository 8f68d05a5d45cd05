//! `nextRecordsUrl` paging: batch sizes, consistency while records change between pages, queryAll vs query,
//! locator expiry and errors, the URI length limit.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{Api, Emulator};
use crate::support::{all_pages, get_absolute, query, query_all, query_batched};

async fn seed(emulator: &Emulator, object: &str, count: usize) {
    let response = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": object, "count": count})),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
}

fn page_sizes(pages: &[Json]) -> Vec<usize> {
    pages
        .iter()
        .map(|page| page["records"].as_array().map_or(0, Vec::len))
        .collect()
}

#[tokio::test]
async fn batch_sizes_are_honoured_and_clamped() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    seed(&emulator, "Account", 2500).await;
    let text = "SELECT Id FROM Account";
    for (asked, expected) in [
        (Some(500), vec![500, 500, 500, 500, 500]),
        (Some(50), vec![200; 12].into_iter().chain([100]).collect()),
        (Some(5000), vec![2000, 500]),
        (None, vec![2000, 500]),
    ] {
        let first = match asked {
            Some(size) => query_batched(&api, "query", text, size).await,
            None => query(&api, text).await,
        };
        let pages = all_pages(&api, first).await;
        assert_eq!(page_sizes(&pages), expected, "batchSize {asked:?}");
        let mut ids = HashSet::new();
        for page in &pages {
            assert_eq!(page["totalSize"], json!(2500));
            for record in page["records"].as_array().expect("records") {
                assert!(ids.insert(record["Id"].as_str().expect("id").to_string()));
            }
        }
        assert_eq!(ids.len(), 2500);
        let last = pages.last().expect("pages");
        assert_eq!(last["done"], json!(true));
        assert!(last.get("nextRecordsUrl").is_none());
        for page in &pages[..pages.len() - 1] {
            assert_eq!(page["done"], json!(false));
        }
    }
}

async fn set_name(api: &Api, id: &str, name: &str) {
    let response = api
        .patch(&format!("/sobjects/Account/{id}"), json!({"Name": name}))
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.json);
}

/// Records created, updated and deleted between pages: every record of the snapshot that still exists is
/// returned exactly once, in the original order, with its values as of the page fetch.
#[tokio::test]
async fn pages_stay_consistent_while_records_change() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    seed(&emulator, "Account", 1000).await;
    let text = "SELECT Id, Name FROM Account ORDER BY Name";
    let snapshot: Vec<String> = all_pages(&api, query(&api, text).await)
        .await
        .iter()
        .flat_map(|page| page["records"].as_array().cloned().unwrap_or_default())
        .map(|record| record["Id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(snapshot.len(), 1000);

    let mut page = query_batched(&api, "query", text, 200).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.json);
    let mut seen: Vec<Json> = Vec::new();
    let mut round = 0;
    loop {
        seen.extend(page.json["records"].as_array().cloned().unwrap_or_default());
        let Some(next) = page.json["nextRecordsUrl"].as_str().map(str::to_string) else {
            break;
        };
        // Between pages: rename a record not yet seen to sort first (it must not move), delete an unseen
        // one (it must vanish), delete a seen one, and create new records (they must not appear).
        let position: usize = next
            .rsplit_once('-')
            .and_then(|(_, offset)| offset.parse().ok())
            .expect("offset in the locator");
        set_name(
            &api,
            &snapshot[position + 10],
            &format!("AAA renamed {round}"),
        )
        .await;
        let gone = api
            .delete(&format!("/sobjects/Account/{}", snapshot[position + 20]))
            .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
        let seen_gone = api
            .delete(&format!("/sobjects/Account/{}", snapshot[position - 1]))
            .await;
        assert_eq!(seen_gone.status, StatusCode::NO_CONTENT);
        api.create("Account", json!({"Name": format!("AAA new {round}")}))
            .await;
        page = get_absolute(&api, &next, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json);
        assert_eq!(page.json["totalSize"], json!(1000));
        round += 1;
    }
    assert_eq!(round, 4);
    let seen_ids: Vec<String> = seen
        .iter()
        .map(|record| record["Id"].as_str().expect("id").to_string())
        .collect();
    let deleted_unseen: HashSet<&String> = (0..4)
        .map(|round| &snapshot[200 * (round + 1) + 20])
        .collect();
    let expected: Vec<String> = snapshot
        .iter()
        .filter(|id| !deleted_unseen.contains(id))
        .cloned()
        .collect();
    assert_eq!(seen_ids, expected, "snapshot order, no skips, no repeats");
    for round in 0..4 {
        let renamed = &snapshot[200 * (round + 1) + 10];
        let record = seen
            .iter()
            .find(|record| record["Id"] == json!(renamed))
            .expect("renamed record returned");
        assert_eq!(record["Name"], json!(format!("AAA renamed {round}")));
    }
    assert!(seen.iter().all(|record| !record["Name"]
        .as_str()
        .unwrap_or_default()
        .starts_with("AAA new")));
}

#[tokio::test]
async fn query_all_returns_deleted_records_and_query_does_not() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    seed(&emulator, "Account", 450).await;
    let ids: Vec<String> = all_pages(&api, query(&api, "SELECT Id FROM Account").await)
        .await
        .iter()
        .flat_map(|page| page["records"].as_array().cloned().unwrap_or_default())
        .map(|record| record["Id"].as_str().expect("id").to_string())
        .collect();
    for id in &ids[..5] {
        let response = api.delete(&format!("/sobjects/Account/{id}")).await;
        assert_eq!(response.status, StatusCode::NO_CONTENT);
    }
    let count = |response: &crate::common::Resp| response.json["totalSize"].clone();
    assert_eq!(
        count(&query(&api, "SELECT COUNT() FROM Account").await),
        json!(445)
    );
    assert_eq!(
        count(&query_all(&api, "SELECT COUNT() FROM Account").await),
        json!(450)
    );
    assert_eq!(
        count(&query(&api, "SELECT COUNT() FROM Account WHERE IsDeleted = true").await),
        json!(0)
    );
    let deleted = query_all(
        &api,
        "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true",
    )
    .await;
    let mut deleted_ids: Vec<&str> = deleted.json["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| {
            assert_eq!(record["IsDeleted"], json!(true));
            record["Id"].as_str().expect("id")
        })
        .collect();
    deleted_ids.sort_unstable();
    let mut expected: Vec<&str> = ids[..5].iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(deleted_ids, expected);

    // queryAll pages continue through /query/ and keep returning deleted rows.
    let first = query_batched(&api, "queryAll", "SELECT Id, IsDeleted FROM Account", 200).await;
    let next = first.json["nextRecordsUrl"]
        .as_str()
        .expect("next")
        .to_string();
    assert!(next.contains("/query/"), "{next}");
    let pages = all_pages(&api, first).await;
    let deleted_rows = pages
        .iter()
        .flat_map(|page| page["records"].as_array().cloned().unwrap_or_default())
        .filter(|record| record["IsDeleted"] == json!(true))
        .count();
    assert_eq!(deleted_rows, 5);
    // A record deleted after a query (not queryAll) ran is left out of its later pages.
    let first = query_batched(&api, "query", "SELECT Id FROM Account ORDER BY Id", 200).await;
    let last_id = ids.iter().max().expect("ids").clone();
    api.delete(&format!("/sobjects/Account/{last_id}")).await;
    let rows: Vec<Json> = all_pages(&api, first)
        .await
        .iter()
        .flat_map(|page| page["records"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(rows.len(), 444);
    assert!(rows.iter().all(|record| record["Id"] != json!(last_id)));
}

#[tokio::test]
async fn locators_expire_and_bad_locators_are_refused() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    seed(&emulator, "Account", 700).await;
    let first = query_batched(&api, "query", "SELECT Id FROM Account", 200).await;
    let next = first.json["nextRecordsUrl"]
        .as_str()
        .expect("next")
        .to_string();
    let advance = |seconds: i64| {
        let emulator = &emulator;
        async move {
            let response = emulator
                .admin(
                    Method::POST,
                    "/__emulator/clock",
                    Some(json!({"advanceSeconds": seconds})),
                )
                .await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.json);
        }
    };
    // Ten idle minutes are fine, and each use restarts the idle time.
    advance(600).await;
    let second = get_absolute(&api, &next, None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.json);
    let third_url = second.json["nextRecordsUrl"]
        .as_str()
        .expect("next")
        .to_string();
    advance(600).await;
    let third = get_absolute(&api, &third_url, None).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.json);
    // Pages can be fetched again while the cursor is open.
    let again = get_absolute(&api, &third_url, None).await;
    assert_eq!(again.json, third.json);
    let fourth_url = third.json["nextRecordsUrl"]
        .as_str()
        .expect("next")
        .to_string();
    advance(16 * 60).await;
    let expired = get_absolute(&api, &fourth_url, None).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        expired.json,
        json!([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}])
    );
    let (prefix, _) = fourth_url.rsplit_once('/').expect("path");
    for bad in [
        format!("{prefix}/01gR8E0000000ZZZZZ-200"),
        format!("{prefix}/nonsense"),
        format!("{prefix}/01gR8E00000000001AAA-x"),
    ] {
        let response = get_absolute(&api, &bad, None).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(response.error_code(), "INVALID_QUERY_LOCATOR", "{bad}");
    }
    // An offset past the end of an open cursor is refused too.
    let fresh = query_batched(&api, "query", "SELECT Id FROM Account", 200).await;
    let fresh_next = fresh.json["nextRecordsUrl"]
        .as_str()
        .expect("next")
        .to_string();
    let (locator, _) = fresh_next.rsplit_once('-').expect("offset");
    let past = get_absolute(&api, &format!("{locator}-700"), None).await;
    assert_eq!(past.error_code(), "INVALID_QUERY_LOCATOR");
    // A jump to another offset of an open cursor works.
    let jump = get_absolute(&api, &format!("{locator}-650"), None).await;
    assert_eq!(jump.json["records"].as_array().map(Vec::len), Some(50));
    assert_eq!(jump.json["done"], json!(true));
}

#[tokio::test]
async fn pages_survive_schema_drift() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    for n in 0..300 {
        api.create("Widget__c", crate::common::widget(&format!("W-{n:03}")))
            .await;
    }
    let first = query_batched(
        &api,
        "query",
        "SELECT Name, Ext_Id__c FROM Widget__c ORDER BY Ext_Id__c",
        200,
    )
    .await;
    let next = first.json["nextRecordsUrl"]
        .as_str()
        .expect("next")
        .to_string();
    let added = emulator
        .admin(
            Method::POST,
            "/__emulator/objects/Widget__c/fields",
            Some(json!({"name": "Added__c", "type": "string"})),
        )
        .await;
    assert!(added.status.is_success(), "{}", added.json);
    let removed = emulator
        .admin(
            Method::DELETE,
            "/__emulator/objects/Widget__c/fields/Legacy_Key__c",
            None,
        )
        .await;
    assert!(removed.status.is_success(), "{}", removed.json);
    let second = get_absolute(&api, &next, None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.json);
    let records = second.json["records"].as_array().expect("records");
    assert_eq!(records.len(), 100);
    assert_eq!(records[0]["Ext_Id__c"], json!("W-200"));
    assert_eq!(records[0]["Name"], json!("Widget W-200"));
    // The new field is queryable at once.
    let with_new = query(&api, "SELECT Added__c FROM Widget__c LIMIT 1").await;
    assert_eq!(with_new.status, StatusCode::OK, "{}", with_new.json);
}

#[tokio::test]
async fn uris_over_16384_bytes_are_refused() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let names: Vec<String> = (0..2000).map(|n| format!("'Name {n:05}'")).collect();
    let text = format!("SELECT Id FROM Account WHERE Name IN ({})", names.join(","));
    let response = query(&api, &text).await;
    assert_eq!(
        response.status,
        StatusCode::URI_TOO_LONG,
        "{}",
        response.json
    );
    let short = format!(
        "SELECT Id FROM Account WHERE Name IN ({})",
        names[..100].join(",")
    );
    let response = query(&api, &short).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
}
