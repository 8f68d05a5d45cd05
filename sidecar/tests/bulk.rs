//! Bulk API 2.0 ingest and query jobs against the emulator.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use sfsync_sidecar::salesforce::bulk::{
    IngestJobRequest, IngestOperation, JobState, PollOptions, QueryJobRequest, QueryOperation,
};
use sfsync_sidecar::salesforce::Backoff;
use support::{self as emulator, Clients};

fn fast_poll() -> PollOptions {
    PollOptions {
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        timeout: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_insert_and_upsert_report_every_row() {
    let emulator = emulator::start(&[]);
    let client = emulator
        .client()
        .with_call_client("sfsync-bulk-test")
        .expect("name");

    let csv = "Part_Number__c,Name,Status__c,Price__c\n\
               B-1,Bolt,New,1.50\n\
               B-2,Nut,,2.25\n\
               B-3,\"Washer, large\",New,12345678901234.57\n";
    let mut insert = IngestJobRequest::new("Part__c", IngestOperation::Insert);
    insert.external_id_field_name = None;
    let outcome = client
        .bulk_ingest_run(&insert, Bytes::from(csv), fast_poll())
        .await
        .expect("insert job");
    assert_eq!(outcome.job.state, JobState::JobComplete);
    assert_eq!(outcome.job.number_records_processed, Some(3));
    assert_eq!(outcome.job.number_records_failed, Some(1));
    assert_eq!(outcome.successful.len(), 2);
    assert!(outcome
        .successful
        .iter()
        .all(|row| row.created && row.id.len() == 18));
    assert_eq!(
        outcome.successful_columns,
        ["Part_Number__c", "Name", "Status__c", "Price__c"]
    );
    let washer = outcome
        .successful
        .iter()
        .find(|row| row.values[0] == "B-3")
        .expect("B-3 succeeded");
    assert_eq!(washer.values[1], "Washer, large");
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].values[0], "B-2");
    assert_eq!(
        outcome.failed[0].error.status_code,
        "REQUIRED_FIELD_MISSING"
    );
    assert!(
        outcome.failed[0]
            .error
            .fields
            .iter()
            .any(|f| f == "Status__c"),
        "{:?}",
        outcome.failed[0]
    );
    assert!(outcome.unprocessed.rows.is_empty());

    let mut upsert = IngestJobRequest::new("Part__c", IngestOperation::Upsert);
    upsert.external_id_field_name = Some("Part_Number__c".into());
    let outcome = client
        .bulk_ingest_run(
            &upsert,
            Bytes::from("Part_Number__c,Name,Status__c\nB-1,Bolt v2,Used\nB-4,Gear,New\n"),
            fast_poll(),
        )
        .await
        .expect("upsert job");
    let mut created: Vec<(String, bool)> = outcome
        .successful
        .iter()
        .map(|row| (row.values[0].clone(), row.created))
        .collect();
    created.sort();
    assert_eq!(
        created,
        [("B-1".to_string(), false), ("B-4".to_string(), true)]
    );
    assert!(outcome.failed.is_empty());

    // Bulk writes carry Sforce-Call-Options too.
    let (_, changes) = emulator
        .request(Method::GET, "/__emulator/changes", None)
        .await;
    assert!(
        changes["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|event| event["client"] == "sfsync-bulk-test"),
        "{changes}"
    );

    // An upsert job without its external id field is refused before any call.
    let error = client
        .bulk_ingest_create(&IngestJobRequest::new("Part__c", IngestOperation::Upsert))
        .await
        .expect_err("needs externalIdFieldName");
    assert!(error.to_string().contains("externalIdFieldName"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_job_results_are_paged_by_locator() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    let (status, body) = emulator
        .request(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Part__c", "count": 2500, "fields": {"Status__c": "New"}})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");

    let job = client
        .bulk_query_create(&QueryJobRequest::new(
            "SELECT Id, Name FROM Part__c",
            QueryOperation::Query,
        ))
        .await
        .expect("create");
    let job = client
        .bulk_query_wait(&job.id, fast_poll())
        .await
        .expect("complete");
    let mut results = client.bulk_query_results(&job, Some(1000));
    let mut counts = Vec::new();
    let mut ids = std::collections::HashSet::new();
    while let Some(page) = results.next_page().await.expect("page") {
        let announced = page.number_of_records;
        let table = page.csv().await.expect("csv");
        assert_eq!(
            table.headers.iter().collect::<Vec<_>>(),
            ["Id", "Name"],
            "a header on every page"
        );
        assert_eq!(announced, Some(table.rows.len() as u64));
        counts.push(table.rows.len());
        for row in &table.rows {
            ids.insert(row[0].to_string());
        }
    }
    assert_eq!(counts, [1000, 1000, 500]);
    assert_eq!(ids.len(), 2500);
    assert!(!results.has_more());

    // The same results as a byte stream, chunk by chunk.
    let mut results = client.bulk_query_results(&job, None);
    let mut bytes = 0usize;
    let mut lines = 0usize;
    while let Some(page) = results.next_page().await.expect("page") {
        let mut stream = Box::pin(page.into_byte_stream());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("chunk");
            bytes += chunk.len();
            lines += chunk.iter().filter(|byte| **byte == b'\n').count();
        }
    }
    assert!(bytes > 2500 * 18);
    assert!(lines >= 2501, "{lines}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_all_job_includes_deleted_rows() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    let outcome = client
        .bulk_ingest_run(
            &IngestJobRequest::new("Part__c", IngestOperation::Insert),
            Bytes::from("Name,Status__c\nA,New\nB,New\n"),
            fast_poll(),
        )
        .await
        .expect("insert");
    let doomed = outcome.successful[0].id.clone();
    let outcome = client
        .bulk_ingest_run(
            &IngestJobRequest::new("Part__c", IngestOperation::Delete),
            Bytes::from(format!("Id\n{doomed}\n")),
            fast_poll(),
        )
        .await
        .expect("delete");
    assert_eq!(outcome.successful.len(), 1);

    for (operation, expected) in [(QueryOperation::Query, 1), (QueryOperation::QueryAll, 2)] {
        let job = client
            .bulk_query_create(&QueryJobRequest::new(
                "SELECT Id, IsDeleted FROM Part__c",
                operation,
            ))
            .await
            .expect("create");
        let job = client
            .bulk_query_wait(&job.id, fast_poll())
            .await
            .expect("complete");
        let mut results = client.bulk_query_results(&job, None);
        let mut rows = 0;
        while let Some(page) = results.next_page().await.expect("page") {
            rows += page.csv().await.expect("csv").rows.len();
        }
        assert_eq!(rows, expected, "{operation:?}");
    }
}
