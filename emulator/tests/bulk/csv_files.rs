//! CSV edge cases of ingest uploads: every delimiter and line ending, quoting, embedded delimiters and newlines,
//! `#N/A` versus empty values, and malformed files that fail the whole job.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;
use crate::support::*;

const DELIMITERS: [(&str, char); 6] = [
    ("COMMA", ','),
    ("BACKQUOTE", '`'),
    ("CARET", '^'),
    ("PIPE", '|'),
    ("SEMICOLON", ';'),
    ("TAB", '\t'),
];

/// Quotes a CSV value.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

#[tokio::test]
async fn every_delimiter_and_line_ending() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    for (delimiter_name, delimiter) in DELIMITERS {
        for (ending_name, ending) in [("LF", "\n"), ("CRLF", "\r\n")] {
            let tricky_name = format!("Acme{delimiter} \"Quoted\"{delimiter} Inc.");
            let description = format!("first line{ending}second{delimiter}line");
            let d = delimiter.to_string();
            let csv = [
                ["Name", "Description", "NumberOfEmployees"].join(&d),
                [quoted(&tricky_name), quoted(&description), "12".into()].join(&d),
                ["Plain".to_string(), String::new(), String::new()].join(&d),
            ]
            .join(ending)
                + ending;
            let (job, info) = run_ingest(
                &api,
                json!({"object": "Account", "operation": "insert",
                       "columnDelimiter": delimiter_name, "lineEnding": ending_name}),
                &csv,
            )
            .await;
            assert_eq!(
                info["state"], "JobComplete",
                "{delimiter_name}/{ending_name}: {info}"
            );
            assert_eq!(info["columnDelimiter"], delimiter_name);
            assert_eq!(info["lineEnding"], ending_name);
            assert_eq!(
                info["numberRecordsFailed"], 0,
                "{delimiter_name}/{ending_name}"
            );
            let response = get_text(
                &api,
                VERSION,
                &format!("/jobs/ingest/{job}/successfulResults"),
            )
            .await;
            assert!(
                response
                    .text
                    .starts_with(&format!("\"sf__Id\"{d}\"sf__Created\"{d}\"Name\"")),
                "{delimiter_name}: {}",
                response.text
            );
            assert!(response.text.ends_with(ending), "{ending_name} results");
            let rows = parse_csv(&response.text, delimiter as u8);
            assert_eq!(rows.len(), 3, "{delimiter_name}/{ending_name}: {rows:?}");
            let id = by_column(&rows, 1, "sf__Id");
            assert_eq!(by_column(&rows, 1, "Name"), tricky_name);
            let record = api.get(&format!("/sobjects/Account/{id}")).await.json;
            assert_eq!(record["Name"], tricky_name.as_str());
            assert_eq!(record["Description"], description.as_str());
            assert_eq!(record["NumberOfEmployees"], 12);
            let plain = api
                .get(&format!(
                    "/sobjects/Account/{}",
                    by_column(&rows, 2, "sf__Id")
                ))
                .await
                .json;
            assert_eq!(plain["Description"], Json::Null);
        }
    }
}

#[tokio::test]
async fn na_sets_null_and_empty_keeps_the_default() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let (job, info) = run_ingest(
        &api,
        json!({"object": "Widget__c", "operation": "insert"}),
        "Name,Ext_Id__c,Status__c,Color__c,Active__c\nEmpty,N-1,Open,,\nNull,N-2,Open,#N/A,#N/A\n",
    )
    .await;
    assert_eq!(info["numberRecordsFailed"], 0, "{info}");
    let rows = result_rows(&api, &job, "successfulResults").await;
    let empty = api
        .get(&format!(
            "/sobjects/Widget__c/{}",
            by_column(&rows, 1, "sf__Id")
        ))
        .await
        .json;
    assert_eq!(
        empty["Color__c"], "Green",
        "an empty value leaves the default"
    );
    assert_eq!(empty["Active__c"], false);
    let null = api
        .get(&format!(
            "/sobjects/Widget__c/{}",
            by_column(&rows, 2, "sf__Id")
        ))
        .await
        .json;
    assert_eq!(null["Color__c"], Json::Null, "#N/A is null");
    assert_eq!(
        by_column(&rows, 2, "Color__c"),
        "#N/A",
        "results echo the upload"
    );
}

async fn failed_job(api: &Api, spec: Json, csv: &[u8]) -> (String, Json) {
    let created = create_ingest(api, spec).await;
    let id = created["id"].as_str().expect("id").to_string();
    let response = send_text(
        api,
        VERSION,
        Method::PUT,
        &format!("/jobs/ingest/{id}/batches"),
        "text/csv",
        csv.to_vec(),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED);
    close(api, &id).await;
    let info = wait_for(api, "ingest", &id).await;
    assert_eq!(info["state"], "Failed", "{info}");
    assert_eq!(info["numberRecordsProcessed"], 0);
    (id, info)
}

#[tokio::test]
async fn malformed_files_fail_the_job() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let insert = json!({"object": "Account", "operation": "insert"});
    let cases: [(&[u8], &str); 7] = [
        (
            b"Name,Phone\nA,1\nB,2,3\n",
            "InvalidBatch : Row 3 has 3 values but the header row has 2 columns",
        ),
        (
            b"Name,Bogus__c\nA,1\n",
            "InvalidBatch : Field name not found : Bogus__c",
        ),
        (
            b"Name,,Phone\nA,,1\n",
            "InvalidBatch : Column 2 of the header row has no field name",
        ),
        (
            b"Name,name\nA,B\n",
            "InvalidBatch : Duplicate field name in the header row: name",
        ),
        (
            b"",
            "InvalidBatch : The uploaded data is empty: a header row is required",
        ),
        (
            b"Name\nAcme \xff\n",
            "InvalidBatch : The uploaded data is not valid UTF-8 (at byte 10)",
        ),
        // An LF job sent CRLF data: the `\r` stays in the last column name.
        (
            b"Name,Phone\r\nA,1\r\n",
            "InvalidBatch : Field name not found : Phone\r",
        ),
    ];
    for (csv, message) in cases {
        let (id, info) = failed_job(&api, insert.clone(), csv).await;
        assert_eq!(info["errorMessage"], message);
        let unprocessed = get_text(
            &api,
            VERSION,
            &format!("/jobs/ingest/{id}/unprocessedrecords"),
        )
        .await;
        assert_eq!(unprocessed.status, StatusCode::OK);
    }
    let (id, _) = failed_job(&api, insert.clone(), b"Name,Bogus__c\nA,1\nB,2\n").await;
    let unprocessed = result_rows(&api, &id, "unprocessedrecords").await;
    assert_eq!(unprocessed, [["Name", "Bogus__c"], ["A", "1"], ["B", "2"]]);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(
        stats["records"]["Account"]["live"], 0,
        "nothing was written"
    );
}
