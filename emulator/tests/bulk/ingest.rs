//! Ingest jobs end to end (Bulk API 2.0 Developer Guide: ingest jobs): every operation with mixed successes and failures, checked through the REST
//! API and the change log; result files; job protocol (uploads, close, abort, delete, list); limits.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;
use crate::support::*;

async fn widget_ids_by_ext(api: &Api, ext: &str) -> Json {
    api.get(&format!("/sobjects/Widget__c/Ext_Id__c/{ext}"))
        .await
        .json
}

#[tokio::test]
async fn insert_round_trip_with_mixed_results() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let created = create_ingest(
        &api,
        json!({"object": "widget__c", "operation": "insert", "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("750") && id.len() == 18, "{id}");
    assert_eq!(created["object"], "Widget__c");
    assert_eq!(created["operation"], "insert");
    assert_eq!(created["state"], "Open");
    assert_eq!(created["concurrencyMode"], "Parallel");
    assert_eq!(created["contentType"], "CSV");
    assert_eq!(created["apiVersion"].to_string(), "62.0");
    assert_eq!(
        created["contentUrl"],
        format!("services/data/v62.0/jobs/ingest/{id}/batches")
    );
    assert!(is_rest_datetime(
        created["createdDate"].as_str().expect("date")
    ));
    let csv = "Name,Ext_Id__c,Status__c,Color__c,Quantity__c,Price__c,Active__c,Ship_Date__c\n\
               One,W-1,Open,Red,5,12.50,true,2024-01-31\n\
               Two,W-2,,Blue,,,,\n\
               Three,W-3,Open,Purple,,,,\n\
               Four,W-4,Blocked,,,,,\n\
               Five,W-1,Open,,,,,\n\
               Six,W-6,Open,,abc,,,\n";
    upload(&api, &id, csv).await;
    let closed = close(&api, &id).await;
    assert_eq!(closed.json["state"], "UploadComplete");
    let info = wait_for(&api, "ingest", &id).await;
    assert_eq!(info["state"], "JobComplete", "{info}");
    assert_eq!(info["jobType"], "V2Ingest");
    assert_eq!(info["numberRecordsProcessed"], 6);
    assert_eq!(info["numberRecordsFailed"], 5);
    assert_eq!(info["retries"], 0);
    assert_eq!(info["apexProcessingTime"], 0);
    assert!(info["totalProcessingTime"].is_u64());
    assert!(info["apiActiveProcessingTime"].is_u64());
    assert!(info.get("errorMessage").is_none());

    let successful = result_rows(&api, &id, "successfulResults").await;
    assert_eq!(
        successful[0],
        [
            "sf__Id",
            "sf__Created",
            "Name",
            "Ext_Id__c",
            "Status__c",
            "Color__c",
            "Quantity__c",
            "Price__c",
            "Active__c",
            "Ship_Date__c"
        ]
    );
    assert_eq!(successful.len(), 2);
    let new_id = by_column(&successful, 1, "sf__Id").to_string();
    assert!(new_id.starts_with("a00"), "{new_id}");
    assert_eq!(by_column(&successful, 1, "sf__Created"), "true");
    assert_eq!(by_column(&successful, 1, "Name"), "One");

    let record = api.get(&format!("/sobjects/Widget__c/{new_id}")).await.json;
    assert_eq!(record["Ext_Id__c"], "W-1");
    assert_eq!(record["Quantity__c"], 5);
    assert_eq!(record["Price__c"].to_string(), "12.50");
    assert_eq!(record["Active__c"], true);
    assert_eq!(record["Ship_Date__c"], "2024-01-31");

    let failed = result_rows(&api, &id, "failedResults").await;
    assert_eq!(failed[0][..4], ["sf__Id", "sf__Error", "Name", "Ext_Id__c"]);
    let errors: Vec<(&str, &str)> = (1..failed.len())
        .map(|row| {
            (
                by_column(&failed, row, "Name"),
                by_column(&failed, row, "sf__Error"),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("Two", "REQUIRED_FIELD_MISSING:Required fields are missing: [Status__c]:Status__c"),
            ("Three", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Color: bad value for restricted picklist field: Purple:Color__c"),
            ("Four", "FIELD_CUSTOM_VALIDATION_EXCEPTION:Blocked widgets are not allowed:Status__c"),
            ("Five", &format!("DUPLICATE_VALUE:duplicate value found: Ext_Id__c duplicates value on record with id: {new_id}:Ext_Id__c")),
            ("Six", "INVALID_TYPE_ON_FIELD_IN_RECORD:Quantity: value not of required type: abc:Quantity__c"),
        ]
    );
    assert!(
        failed[1..].iter().all(|row| row[0].is_empty()),
        "inserts have no id"
    );

    let unprocessed = result_rows(&api, &id, "unprocessedrecords").await;
    assert_eq!(unprocessed.len(), 1, "header only: {unprocessed:?}");
    assert_eq!(unprocessed[0][0], "Name");

    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(stats["records"]["Widget__c"]["live"], 1);
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let events = changes["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "failed rows leave no change: {events:?}");
    assert_eq!(events[0]["api"], "bulkapi");
    assert_eq!(events[0]["recordId"], new_id);
}

#[tokio::test]
async fn update_leaves_empty_cells_alone_and_nulls_na() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let kept = api
        .create(
            "Widget__c",
            json!({"Name": "Keep", "Ext_Id__c": "U-1", "Status__c": "Open", "Notes__c": "old", "Phone__c": "555"}),
        )
        .await;
    let other = api.create("Widget__c", widget("U-2")).await;
    let deleted = api.create("Widget__c", widget("U-3")).await;
    api.delete(&format!("/sobjects/Widget__c/{deleted}")).await;
    let account = api.create("Account", json!({"Name": "Acme"})).await;
    let csv = format!(
        "Id,Name,Notes__c,Phone__c,Status__c,Account__c\n\
         {kept},Renamed,,#N/A,,{account}\n\
         {other},,,,Blocked,\n\
         {deleted},Gone,,,,\n\
         ,No id,,,,\n\
         not-an-id,Bad,,,,\n\
         {account},Wrong object,,,,\n\
         {other},,,,,001000000000000AAA\n"
    );
    let (id, info) = run_ingest(
        &api,
        json!({"object": "Widget__c", "operation": "update"}),
        &csv,
    )
    .await;
    assert_eq!(info["state"], "JobComplete");
    assert_eq!(info["numberRecordsProcessed"], 7);
    assert_eq!(info["numberRecordsFailed"], 6);
    let record = api.get(&format!("/sobjects/Widget__c/{kept}")).await.json;
    assert_eq!(record["Name"], "Renamed");
    assert_eq!(
        record["Notes__c"], "old",
        "empty cell leaves the field alone"
    );
    assert_eq!(record["Phone__c"], Json::Null, "#N/A sets null");
    assert_eq!(record["Status__c"], "Open");
    assert_eq!(record["Account__c"], account);

    let successful = result_rows(&api, &id, "successfulResults").await;
    assert_eq!(successful.len(), 2);
    assert_eq!(by_column(&successful, 1, "sf__Id"), kept);
    assert_eq!(by_column(&successful, 1, "sf__Created"), "false");
    let failed = result_rows(&api, &id, "failedResults").await;
    let rows: Vec<(&str, &str)> = (1..failed.len())
        .map(|row| {
            (
                by_column(&failed, row, "sf__Id"),
                by_column(&failed, row, "sf__Error"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                other.as_str(),
                "FIELD_CUSTOM_VALIDATION_EXCEPTION:Blocked widgets are not allowed:Status__c"
            ),
            (deleted.as_str(), "ENTITY_IS_DELETED:entity is deleted:--"),
            ("", "MISSING_ARGUMENT:Id not specified in an update call:--"),
            (
                "",
                "MALFORMED_ID:Widget ID: id value of incorrect type: not-an-id:Id"
            ),
            (
                account.as_str(),
                &format!("MALFORMED_ID:Widget ID: id value of incorrect type: {account}:Id")
            ),
            (
                other.as_str(),
                "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:Account__c"
            ),
        ]
    );
}

#[tokio::test]
async fn failed_rows_report_their_id_only_from_api_53() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let widget = api.create("Widget__c", widget("V-1")).await;
    let csv = format!("Id,Status__c\n{widget},Blocked\n");
    for (version, expected) in [("52.0", ""), ("53.0", widget.as_str())] {
        let created = api
            .call_version(
                version,
                Method::POST,
                "/jobs/ingest",
                Some(json!({"object": "Widget__c", "operation": "update"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::OK, "{:?}", created.json);
        let job = created.json["id"].as_str().expect("id").to_string();
        let uploaded = send_text(
            &api,
            version,
            Method::PUT,
            &format!("/jobs/ingest/{job}/batches"),
            "text/csv",
            csv.clone(),
        )
        .await;
        assert_eq!(uploaded.status, StatusCode::CREATED);
        close(&api, &job).await;
        wait_for(&api, "ingest", &job).await;
        let failed = result_rows(&api, &job, "failedResults").await;
        assert_eq!(by_column(&failed, 1, "sf__Id"), expected, "v{version}");
    }
    let old = api
        .call_version(
            "40.0",
            Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Widget__c", "operation": "insert"})),
        )
        .await;
    assert_eq!(
        old.status,
        StatusCode::NOT_FOUND,
        "Bulk API 2.0 starts at 41.0"
    );
}

#[tokio::test]
async fn upsert_creates_updates_and_reports_per_row() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let existing = api.create("Widget__c", widget("K-1")).await;
    api.create(
        "Widget__c",
        json!({"Name": "L1", "Ext_Id__c": "L-1", "Legacy_Key__c": "dup", "Status__c": "Open"}),
    )
    .await;
    api.create(
        "Widget__c",
        json!({"Name": "L2", "Ext_Id__c": "L-2", "Legacy_Key__c": "dup", "Status__c": "Open"}),
    )
    .await;
    let created = create_ingest(
        &api,
        json!({"object": "Widget__c", "operation": "upsert", "externalIdFieldName": "ext_id__c"}),
    )
    .await;
    assert_eq!(created["externalIdFieldName"], "Ext_Id__c");
    let job = created["id"].as_str().expect("id").to_string();
    upload(
        &api,
        &job,
        "Ext_Id__c,Name,Status__c\nK-1,Updated,\nK-2,New,Open\n,No key,Open\nK-3,Blocked one,Blocked\n",
    )
    .await;
    close(&api, &job).await;
    let info = wait_for(&api, "ingest", &job).await;
    assert_eq!(info["numberRecordsProcessed"], 4);
    assert_eq!(info["numberRecordsFailed"], 2);
    let successful = result_rows(&api, &job, "successfulResults").await;
    let outcomes: Vec<(&str, &str)> = (1..successful.len())
        .map(|row| {
            (
                by_column(&successful, row, "Ext_Id__c"),
                by_column(&successful, row, "sf__Created"),
            )
        })
        .collect();
    assert_eq!(outcomes, [("K-1", "false"), ("K-2", "true")]);
    assert_eq!(by_column(&successful, 1, "sf__Id"), existing);
    assert_eq!(widget_ids_by_ext(&api, "K-1").await["Name"], "Updated");
    assert_eq!(widget_ids_by_ext(&api, "K-2").await["Status__c"], "Open");
    let failed = result_rows(&api, &job, "failedResults").await;
    assert_eq!(
        by_column(&failed, 1, "sf__Error"),
        "MISSING_ARGUMENT:Ext_Id__c not specified:Ext_Id__c"
    );
    assert_eq!(
        by_column(&failed, 2, "sf__Error"),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION:Blocked widgets are not allowed:Status__c"
    );

    let (legacy_job, _) = run_ingest(
        &api,
        json!({"object": "Widget__c", "operation": "upsert", "externalIdFieldName": "Legacy_Key__c"}),
        "Legacy_Key__c,Name\ndup,Ambiguous\n",
    )
    .await;
    let failed = result_rows(&api, &legacy_job, "failedResults").await;
    assert!(
        by_column(&failed, 1, "sf__Error")
            .starts_with("DUPLICATE_EXTERNAL_ID:Legacy_Key__c: more than one record found for external id field: ["),
        "{failed:?}"
    );

    for bad in [
        json!({"object": "Widget__c", "operation": "upsert"}),
        json!({"object": "Widget__c", "operation": "upsert", "externalIdFieldName": "Name"}),
        json!({"object": "Nope__c", "operation": "insert"}),
        json!({"operation": "insert"}),
    ] {
        let response = api.post("/jobs/ingest", bad.clone()).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(response.error_code(), "INVALIDJOB", "{bad}");
    }
    let response = api
        .post(
            "/jobs/ingest",
            json!({"object": "Widget__c", "operation": "merge"}),
        )
        .await;
    assert_eq!(response.error_code(), "JSON_PARSER_ERROR");
    let response = api
        .post(
            "/jobs/ingest",
            json!({"object": "Widget__c", "operation": "insert", "columnDelimiter": "COLON"}),
        )
        .await;
    assert_eq!(response.error_code(), "JSON_PARSER_ERROR");
}

#[tokio::test]
async fn relationship_columns_resolve_parents_by_external_id() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let parent = api.create("Widget__c", widget("P-1")).await;
    let (job, info) = run_ingest(
        &api,
        json!({"object": "Gadget__c", "operation": "insert"}),
        "Name,Serial__c,Widget__r.Ext_Id__c\nG1,S-1,P-1\nG2,S-2,P-404\nG3,S-3,\n",
    )
    .await;
    assert_eq!(info["numberRecordsFailed"], 1, "{info}");
    let successful = result_rows(&api, &job, "successfulResults").await;
    let first = by_column(&successful, 1, "sf__Id");
    let gadget = api.get(&format!("/sobjects/Gadget__c/{first}")).await.json;
    assert_eq!(gadget["Widget__c"], parent);
    let second = by_column(&successful, 2, "sf__Id");
    let gadget = api.get(&format!("/sobjects/Gadget__c/{second}")).await.json;
    assert_eq!(gadget["Widget__c"], Json::Null);
    let failed = result_rows(&api, &job, "failedResults").await;
    assert_eq!(
        by_column(&failed, 1, "sf__Error"),
        "INVALID_FIELD:Foreign key external ID: P-404 not found for field Ext_Id__c in entity Widget__c:--"
    );
}

#[tokio::test]
async fn delete_and_hard_delete() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(
            api.create("Account", json!({"Name": format!("A{n}")}))
                .await,
        );
    }
    let (job, info) = run_ingest(
        &api,
        json!({"object": "Account", "operation": "delete"}),
        &format!(
            "Id\n{}\n{}\n{}\n001000000000000AAA\n",
            ids[0], ids[1], ids[0]
        ),
    )
    .await;
    assert_eq!(info["numberRecordsProcessed"], 4);
    assert_eq!(info["numberRecordsFailed"], 2);
    let failed = result_rows(&api, &job, "failedResults").await;
    assert_eq!(
        by_column(&failed, 1, "sf__Error"),
        "ENTITY_IS_DELETED:entity is deleted:--"
    );
    assert_eq!(
        by_column(&failed, 2, "sf__Error"),
        "NOT_FOUND:The requested resource does not exist:--"
    );
    let read = api.get(&format!("/sobjects/Account/{}", ids[0])).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(
        stats["records"]["Account"],
        json!({"live": 2, "deleted": 2})
    );

    let (job, info) = run_ingest(
        &api,
        json!({"object": "Account", "operation": "hardDelete"}),
        &format!("Id\n{}\n{}\n", ids[2], ids[0]),
    )
    .await;
    assert_eq!(info["operation"], "hardDelete");
    assert_eq!(
        info["numberRecordsFailed"], 1,
        "a record in the recycle bin is deleted already"
    );
    let successful = result_rows(&api, &job, "successfulResults").await;
    assert_eq!(by_column(&successful, 1, "sf__Id"), ids[2]);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(
        stats["records"]["Account"],
        json!({"live": 1, "deleted": 2})
    );
    let undelete = emulator
        .admin(
            Method::POST,
            "/__emulator/undelete",
            Some(json!({"ids": [ids[2]]})),
        )
        .await;
    assert_eq!(
        undelete.json[0]["success"], false,
        "hard-deleted records are gone: {:?}",
        undelete.json
    );

    let user_job = create_ingest(&api, json!({"object": "User", "operation": "delete"})).await;
    let job = user_job["id"].as_str().expect("id").to_string();
    let admin = user_job["createdById"].as_str().expect("creator");
    upload(&api, &job, &format!("Id\n{admin}\n")).await;
    close(&api, &job).await;
    wait_for(&api, "ingest", &job).await;
    let failed = result_rows(&api, &job, "failedResults").await;
    assert_eq!(
        by_column(&failed, 1, "sf__Error"),
        "DELETE_FAILED:User records cannot be deleted:--"
    );
}

#[tokio::test]
async fn second_upload_makes_the_close_fail() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let job = create_ingest(&api, json!({"object": "Account", "operation": "insert"})).await;
    let id = job["id"].as_str().expect("id");
    upload(&api, id, "Name\nA\n").await;
    upload(&api, id, "Name\nB\n").await;
    let response = api
        .patch(
            &format!("/jobs/ingest/{id}"),
            json!({"state": "UploadComplete"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json,
        json!([{"errorCode": "INVALIDJOB", "message": format!(
            "Found multipe contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
            &id[..15]
        )}])
    );
    let aborted = api
        .patch(&format!("/jobs/ingest/{id}"), json!({"state": "Aborted"}))
        .await;
    assert_eq!(aborted.status, StatusCode::OK);
    assert_eq!(aborted.json["state"], "Aborted");
    let again = api
        .patch(&format!("/jobs/ingest/{id}"), json!({"state": "Aborted"}))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(
        stats["records"]["Account"]["live"], 0,
        "nothing was processed"
    );

    let late = send_text(
        &api,
        VERSION,
        Method::PUT,
        &format!("/jobs/ingest/{id}/batches"),
        "text/csv",
        "Name\nC\n",
    )
    .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.text);
    let deleted = api.delete(&format!("/jobs/ingest/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(&format!("/jobs/ingest/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn job_protocol_errors() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let job = create_ingest(&api, json!({"object": "Account", "operation": "insert"})).await;
    let id = job["id"].as_str().expect("id");
    let json_upload = send_text(
        &api,
        VERSION,
        Method::PUT,
        &format!("/jobs/ingest/{id}/batches"),
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(json_upload.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let open_delete = api.delete(&format!("/jobs/ingest/{id}")).await;
    assert_eq!(open_delete.status, StatusCode::BAD_REQUEST);
    let bad_state = api
        .patch(
            &format!("/jobs/ingest/{id}"),
            json!({"state": "JobComplete"}),
        )
        .await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
    let unknown = api.get("/jobs/ingest/7508E0000000zzzAAA").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let no_data = close(&api, id).await;
    assert_eq!(no_data.json["state"], "UploadComplete");
    let info = wait_for(&api, "ingest", id).await;
    assert_eq!(info["state"], "Failed");
    assert_eq!(
        info["errorMessage"],
        "InvalidBatch : No data was uploaded for this job"
    );
    let csv_params = create_ingest(&api, json!({"object": "Account", "operation": "insert"})).await;
    let response = send_text(
        &api,
        VERSION,
        Method::PUT,
        &format!(
            "/jobs/ingest/{}/batches",
            csv_params["id"].as_str().expect("id")
        ),
        "text/csv; charset=UTF-8",
        "Name\nX\n",
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED);
}

#[tokio::test]
async fn job_list_pages_by_a_thousand() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let mut created = Vec::new();
    for _ in 0..1001 {
        created.push(
            create_ingest(&api, json!({"object": "Account", "operation": "insert"})).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let first = api.get("/jobs/ingest").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json["done"], false);
    let records = first.json["records"].as_array().expect("records");
    assert_eq!(records.len(), 1000);
    assert_eq!(records[0]["id"], created[0]);
    assert_eq!(records[0]["jobType"], "V2Ingest");
    assert_eq!(records[0]["state"], "Open");
    let next = first.json["nextRecordsUrl"].as_str().expect("next page");
    let path = next
        .strip_prefix("/services/data/v62.0")
        .expect("relative url");
    let second = api.get(path).await;
    assert_eq!(second.json["done"], true);
    assert_eq!(second.json["nextRecordsUrl"], Json::Null);
    assert_eq!(second.json["records"][0]["id"], created[1000]);
    let filtered = api.get("/jobs/ingest?jobType=Classic").await;
    assert_eq!(filtered.json["records"], json!([]));
    let reset = emulator
        .admin(Method::POST, "/__emulator/reset", None)
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    let after = api.get("/jobs/ingest").await;
    assert_eq!(after.json["records"], json!([]));
}

#[tokio::test]
async fn batches_of_ten_thousand_are_counted_and_limited() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let remaining = |limits: &Json| {
        limits["DailyBulkApiBatches"]["Remaining"]
            .as_u64()
            .expect("remaining")
    };
    let before = remaining(&api.get("/limits").await.json);
    let mut csv = String::from("Name\n");
    for n in 0..10_001 {
        csv.push_str(&format!("Account {n}\n"));
    }
    let (_, info) = run_ingest(
        &api,
        json!({"object": "Account", "operation": "insert"}),
        &csv,
    )
    .await;
    assert_eq!(info["state"], "JobComplete");
    assert_eq!(info["numberRecordsProcessed"], 10_001);
    let limits = api.get("/limits").await;
    assert_eq!(remaining(&limits.json), before - 2, "two internal batches");
    let usage = limits
        .header("Sforce-Limit-Info")
        .expect("usage header")
        .to_string();
    assert!(usage.starts_with("api-usage="), "{usage}");

    let lowered = emulator
        .admin(
            Method::PUT,
            "/__emulator/limits",
            Some(json!({"DailyBulkApiBatches": {"Remaining": 1}})),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK, "{:?}", lowered.json);
    let (job, info) = run_ingest(
        &api,
        json!({"object": "Account", "operation": "insert"}),
        &csv,
    )
    .await;
    assert_eq!(info["state"], "Failed");
    assert!(
        info["errorMessage"]
            .as_str()
            .expect("message")
            .starts_with("ExceededQuota"),
        "{info}"
    );
    assert_eq!(info["numberRecordsProcessed"], 10_000);
    let unprocessed = result_rows(&api, &job, "unprocessedrecords").await;
    assert_eq!(unprocessed.len(), 2);
    assert_eq!(unprocessed[1], ["Account 10000"]);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(stats["records"]["Account"]["live"], 20_001);
    assert!(
        stats["apiCalls"]["PUT /services/data/{version}/jobs/ingest/{job}/batches"]
            .as_u64()
            .is_some_and(|n| n == 2),
        "{stats}"
    );
}

#[tokio::test]
async fn writes_carry_the_creator_and_its_client() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let created = api
        .http
        .post(format!("{}/services/data/v{VERSION}/jobs/ingest", api.base))
        .bearer_auth(&api.token)
        .header("Sforce-Call-Options", "client=sfsync-bulk-test")
        .header("Content-Type", "application/json")
        .body(json!({"object": "Account", "operation": "insert"}).to_string())
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::OK);
    let job: Json = created.json().await.expect("job");
    let id = job["id"].as_str().expect("id");
    upload(&api, id, "Name\nFrom bulk\n").await;
    close(&api, id).await;
    wait_for(&api, "ingest", id).await;
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let event = &changes["events"][0];
    assert_eq!(event["client"], "sfsync-bulk-test");
    assert_eq!(event["api"], "bulkapi");
    assert_eq!(event["commitUser"], job["createdById"]);
    assert_eq!(event["changeType"], "CREATE");
}
