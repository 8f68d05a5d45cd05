//! Query jobs end to end (Bulk API 2.0 Developer Guide: query jobs): paging with `Sforce-Locator` / `Sforce-NumberOfRecords`, header rows, column
//! order, queryAll, refused SOQL, API-version checks, limits, and a million-record volume run.

use std::collections::HashSet;
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;
use crate::support::*;

/// Creates a query job, waits for it, and returns its id and final info.
async fn run_query(api: &Api, body: Json) -> (String, Json) {
    let created = api.post("/jobs/query", body).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.json);
    assert_eq!(created.json["state"], "UploadComplete");
    let id = created.json["id"].as_str().expect("id").to_string();
    let info = wait_for(api, "query", &id).await;
    (id, info)
}

async fn page(api: &Api, job: &str, query: &str) -> TextResp {
    let response = get_text(api, VERSION, &format!("/jobs/query/{job}/results{query}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("content-type"), Some("text/csv"));
    response
}

#[tokio::test]
async fn pages_carry_locators_counts_and_a_header_each() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let acme = api
        .create("Account", json!({"Name": "Acme, \"Inc\""}))
        .await;
    for n in 0..25 {
        let mut body =
            json!({"LastName": format!("Person {n:02}"), "Email": format!("p{n}@example.com")});
        if n % 2 == 0 {
            body["AccountId"] = json!(acme);
        }
        api.create("Contact", body).await;
    }
    let (job, info) = run_query(
        &api,
        json!({"operation": "query", "query": "SELECT LastName, Id, Account.Name, CreatedDate, Email FROM Contact ORDER BY LastName DESC"}),
    )
    .await;
    assert_eq!(info["state"], "JobComplete", "{info}");
    assert_eq!(info["jobType"], "V2Query");
    assert_eq!(info["operation"], "query");
    assert_eq!(info["object"], "Contact");
    assert_eq!(info["numberRecordsProcessed"], 25);
    assert_eq!(info["lineEnding"], "LF");
    assert_eq!(info["columnDelimiter"], "COMMA");
    assert!(job.starts_with("750"));

    let first = page(&api, &job, "?maxRecords=10").await;
    assert_eq!(first.header("sforce-numberofrecords"), Some("10"));
    assert_eq!(first.header("sforce-locator"), Some("MTA"), "base64 of 10");
    assert!(first.header("sforce-limit-info").is_some());
    let rows = parse_csv(&first.text, b',');
    assert_eq!(
        rows[0],
        ["LastName", "Id", "Account.Name", "CreatedDate", "Email"]
    );
    assert!(first
        .text
        .starts_with("\"LastName\",\"Id\",\"Account.Name\",\"CreatedDate\",\"Email\"\n"));
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[1][0], "Person 24");
    assert_eq!(rows[1][2], "Acme, \"Inc\"");
    assert_eq!(rows[2][2], "", "no parent: empty");
    assert!(
        first.text.contains(",\"\","),
        "null values are quoted empty strings"
    );
    let created = &rows[1][3];
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
            && created.len() == 24,
        "Bulk CSV datetimes look like 2024-01-31T10:00:00.000Z: {created}"
    );

    let second = page(&api, &job, "?locator=MTA&maxRecords=10").await;
    assert_eq!(second.header("sforce-numberofrecords"), Some("10"));
    let next = second
        .header("sforce-locator")
        .expect("locator")
        .to_string();
    let third = page(&api, &job, &format!("?locator={next}&maxRecords=10")).await;
    assert_eq!(third.header("sforce-numberofrecords"), Some("5"));
    assert_eq!(third.header("sforce-locator"), Some("null"));
    let mut names = Vec::new();
    for response in [&first, &second, &third] {
        let rows = parse_csv(&response.text, b',');
        assert_eq!(rows[0][0], "LastName", "every page has the header");
        names.extend(rows[1..].iter().map(|row| row[0].clone()));
    }
    let expected: Vec<String> = (0..25).rev().map(|n| format!("Person {n:02}")).collect();
    assert_eq!(names, expected);

    let whole = page(&api, &job, "").await;
    assert_eq!(whole.header("sforce-numberofrecords"), Some("25"));
    assert_eq!(whole.header("sforce-locator"), Some("null"));
    let past_end = page(&api, &job, "?locator=MTAw").await;
    assert_eq!(past_end.header("sforce-numberofrecords"), Some("0"));
    assert_eq!(parse_csv(&past_end.text, b',').len(), 1, "header only");
}

#[tokio::test]
async fn query_all_includes_the_recycle_bin() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let kept = api.create("Account", json!({"Name": "Kept"})).await;
    let gone = api.create("Account", json!({"Name": "Gone"})).await;
    api.delete(&format!("/sobjects/Account/{gone}")).await;
    let soql = "SELECT Id, Name, IsDeleted FROM Account";
    let (job, _) = run_query(&api, json!({"operation": "query", "query": soql})).await;
    let rows = parse_csv(&page(&api, &job, "").await.text, b',');
    assert_eq!(
        rows[1..],
        [vec![kept.clone(), "Kept".into(), "false".into()]]
    );
    let (job, info) = run_query(&api, json!({"operation": "queryAll", "query": soql})).await;
    assert_eq!(info["operation"], "queryAll");
    let rows = parse_csv(&page(&api, &job, "").await.text, b',');
    assert_eq!(
        rows[1..],
        [
            vec![kept, "Kept".into(), "false".into()],
            vec![gone, "Gone".into(), "true".into()]
        ]
    );
}

#[tokio::test]
async fn results_use_the_job_dialect() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    api.create(
        "Account",
        json!({"Name": "Pipe|Name", "Description": "two\nlines"}),
    )
    .await;
    let (job, info) = run_query(
        &api,
        json!({"query": "SELECT Name, Description, NumberOfEmployees FROM Account", "columnDelimiter": "PIPE", "lineEnding": "CRLF"}),
    )
    .await;
    assert_eq!(info["columnDelimiter"], "PIPE");
    let text = page(&api, &job, "").await.text;
    assert_eq!(
        text,
        "\"Name\"|\"Description\"|\"NumberOfEmployees\"\r\n\"Pipe|Name\"|\"two\nlines\"|\"\"\r\n"
    );
}

#[tokio::test]
async fn refused_queries_and_protocol_errors() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let bad = api
        .post(
            "/jobs/query",
            json!({"operation": "query", "query": "SELECT Nope__c FROM Account"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "INVALID_FIELD");
    assert!(bad.json[0]["message"]
        .as_str()
        .expect("message")
        .contains("Nope__c"));
    let malformed = api
        .post("/jobs/query", json!({"query": "SELEKT Id FROM Account"}))
        .await;
    assert_eq!(malformed.error_code(), "MALFORMED_QUERY");
    let unknown = api
        .post("/jobs/query", json!({"query": "SELECT Id FROM Nope__c"}))
        .await;
    assert_eq!(unknown.error_code(), "INVALID_TYPE");
    for (soql, message) in [
        (
            "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
            "Aggregate Relationships not supported in Bulk V2 Query with CSV content type",
        ),
        (
            "SELECT Name FROM Account GROUP BY Name",
            "GROUP BY is not supported in Bulk V2 Query",
        ),
        (
            "SELECT Id FROM Account LIMIT 5 OFFSET 5",
            "OFFSET is not supported in Bulk V2 Query",
        ),
        (
            "SELECT TYPEOF Owner WHEN User THEN Name END FROM Account",
            "TYPEOF is not supported in Bulk V2 Query",
        ),
        (
            "SELECT COUNT() FROM Account",
            "Aggregate queries are not supported in Bulk V2 Query",
        ),
        (
            "SELECT Id, BillingAddress FROM Account",
            "Selecting compound data not supported in Bulk Query",
        ),
        (
            "SELECT Id, Account.ShippingAddress FROM Contact",
            "Selecting compound data not supported in Bulk Query",
        ),
        (
            "SELECT FIELDS(ALL) FROM Account LIMIT 200",
            "Selecting compound data not supported in Bulk Query",
        ),
    ] {
        let response = api.post("/jobs/query", json!({"query": soql})).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{soql}");
        assert_eq!(
            response.json,
            json!([{"message": message, "errorCode": "API_ERROR"}]),
            "{soql}"
        );
    }
    let ordered = api
        .post(
            "/jobs/query",
            json!({"query": "SELECT Id, BillingCity FROM Account ORDER BY Name LIMIT 3"}),
        )
        .await;
    assert_eq!(
        ordered.status,
        StatusCode::OK,
        "ORDER BY and LIMIT are accepted: {:?}",
        ordered.json
    );

    let old = api
        .call_version(
            "46.0",
            Method::POST,
            "/jobs/query",
            Some(json!({"query": "SELECT Id FROM Account"})),
        )
        .await;
    assert_eq!(
        old.status,
        StatusCode::NOT_FOUND,
        "query jobs start at 47.0"
    );

    let (job, _) = run_query(&api, json!({"query": "SELECT Id FROM Account"})).await;
    let other_version = get_text(&api, "58.0", &format!("/jobs/query/{job}/results")).await;
    assert_eq!(
        other_version.status,
        StatusCode::CONFLICT,
        "{}",
        other_version.text
    );
    let bad_locator = get_text(
        &api,
        VERSION,
        &format!("/jobs/query/{job}/results?locator=%21%21"),
    )
    .await;
    assert_eq!(bad_locator.status, StatusCode::BAD_REQUEST);
    let bad_max = get_text(
        &api,
        VERSION,
        &format!("/jobs/query/{job}/results?maxRecords=0"),
    )
    .await;
    assert_eq!(bad_max.status, StatusCode::BAD_REQUEST);
    let abort_done = api
        .patch(&format!("/jobs/query/{job}"), json!({"state": "Aborted"}))
        .await;
    assert_eq!(abort_done.status, StatusCode::BAD_REQUEST);
    let listed = api.get("/jobs/query").await;
    let ids: Vec<&str> = listed.json["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&job.as_str()), "{:?}", listed.json);
    assert_eq!(listed.json["records"][0]["jobType"], "V2Query");
    assert_eq!(listed.json["done"], true);
    assert_eq!(
        api.delete(&format!("/jobs/query/{job}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("/jobs/query/{job}")).await.status,
        StatusCode::NOT_FOUND
    );
    let results_gone = get_text(&api, VERSION, &format!("/jobs/query/{job}/results")).await;
    assert_eq!(results_gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn query_jobs_and_result_storage_are_counted() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let seeded = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Account", "count": 20000})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{:?}", seeded.json);
    let limits = api.get("/limits").await.json;
    let jobs_before = limits["DailyBulkV2QueryJobs"]["Remaining"]
        .as_u64()
        .expect("jobs");
    let storage_before = limits["DailyBulkV2QueryFileStorageMB"]["Remaining"]
        .as_u64()
        .expect("storage");
    let (job, _) = run_query(
        &api,
        json!({"query": "SELECT Id, Name, Description, CreatedDate, SystemModstamp FROM Account"}),
    )
    .await;
    let whole = page(&api, &job, "").await;
    assert!(whole.text.len() > 1024 * 1024, "{} bytes", whole.text.len());
    page(&api, &job, "").await;
    let limits = api.get("/limits").await.json;
    assert_eq!(limits["DailyBulkV2QueryJobs"]["Remaining"], jobs_before - 1);
    let spent = storage_before
        - limits["DailyBulkV2QueryFileStorageMB"]["Remaining"]
            .as_u64()
            .expect("storage");
    let expected = (whole.text.len() as u64).div_ceil(1024 * 1024);
    assert_eq!(spent, expected, "each row counted once");

    let lowered = emulator
        .admin(
            Method::PUT,
            "/__emulator/limits",
            Some(json!({"DailyBulkV2QueryJobs": {"Remaining": 0}})),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK);
    let refused = api
        .post("/jobs/query", json!({"query": "SELECT Id FROM Account"}))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "EXCEEDEDQUOTA");
}

/// Records of the volume test: a million in release builds (as `make test` runs), fewer in debug builds.
const VOLUME: usize = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};

/// Pages a query job over a million seeded records; prints the time it took (never asserted).
#[tokio::test]
async fn a_million_records_page_through() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let started = Instant::now();
    let seeded = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Contact", "count": VOLUME, "fields": {"LeadSource": "Web"}})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{:?}", seeded.json);
    let seeded_in = started.elapsed();
    let started = Instant::now();
    let (job, info) = run_query(
        &api,
        json!({"query": "SELECT Id, LastName, Email, LeadSource, SystemModstamp FROM Contact"}),
    )
    .await;
    assert_eq!(info["numberRecordsProcessed"], VOLUME);
    let page_size = VOLUME / 4;
    let mut locator: Option<String> = None;
    let mut ids = HashSet::with_capacity(VOLUME);
    let mut pages = 0;
    let mut bytes = 0;
    loop {
        let query = match &locator {
            Some(locator) => format!("?locator={locator}&maxRecords={page_size}"),
            None => format!("?maxRecords={page_size}"),
        };
        let response = page(&api, &job, &query).await;
        pages += 1;
        bytes += response.text.len();
        let mut lines = response.text.lines();
        assert_eq!(
            lines.next(),
            Some("\"Id\",\"LastName\",\"Email\",\"LeadSource\",\"SystemModstamp\"")
        );
        let mut count = 0;
        for line in lines {
            let id = &line[1..19];
            assert!(ids.insert(id.to_string()), "duplicate {id}");
            assert!(line.contains("\"Web\""), "{line}");
            count += 1;
        }
        assert_eq!(
            response.header("sforce-numberofrecords"),
            Some(count.to_string().as_str())
        );
        match response.header("sforce-locator") {
            Some("null") => break,
            Some(next) => locator = Some(next.to_string()),
            None => panic!("no Sforce-Locator header"),
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(ids.len(), VOLUME);
    let elapsed = started.elapsed();
    println!(
        "seeded {VOLUME} contacts in {:.1} s; query job + {pages} pages ({:.0} MB) in {:.1} s = {:.0} records/s",
        seeded_in.as_secs_f64(),
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        VOLUME as f64 / elapsed.as_secs_f64()
    );
}
