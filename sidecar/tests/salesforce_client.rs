//! The Salesforce client against the real emulator process over HTTPS, trusting only the emulator's
//! generated certificate: logins, re-authentication, describe, Collections, limits and the budget.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_sidecar::auth::AuthError;
use sfsync_sidecar::config::ApiReserve;
use sfsync_sidecar::salesforce::{
    Backoff, ClientOptions, NewRecord, Record, RecordUpdate, SalesforceError,
};
use sfsync_tests::Emulator;
use support::{self as emulator, Clients};

fn record(pairs: Value) -> Record {
    match pairs {
        Value::Object(map) => map,
        _ => panic!("record literals are objects"),
    }
}

fn assert_org_identity(token: &sfsync_sidecar::auth::AccessToken, emulator: &Emulator) {
    assert_eq!(
        token.instance_url.as_str().trim_end_matches('/'),
        emulator.url.trim_end_matches('/')
    );
    assert!(
        token.identity.org_id.starts_with("00D"),
        "{:?}",
        token.identity
    );
    assert!(
        token.identity.user_id.starts_with("005"),
        "{:?}",
        token.identity
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_login_and_describe() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    let token = client.login().await.expect("login");
    assert_org_identity(&token, &emulator);

    let versions = client.versions().await.expect("versions");
    assert!(versions.iter().any(|v| v.version == "62.0"), "{versions:?}");

    let global = client.describe_global().await.expect("global describe");
    let names: HashSet<&str> = global.sobjects.iter().map(|o| o.name.as_str()).collect();
    assert!(
        names.contains("Account") && names.contains("Part__c"),
        "{names:?}"
    );

    let part = client.describe_sobject("Part__c").await.expect("describe");
    let number = part.field("Part_Number__c").expect("external id field");
    assert!(number.external_id && number.unique);
    assert_eq!(number.field_type, "string");
    assert_eq!(number.length, 40);
    let price = part.field("Price__c").expect("price");
    assert_eq!(
        (price.field_type.as_str(), price.precision, price.scale),
        ("currency", 18, 2)
    );
    let id = part.field("Id").expect("Id");
    assert_eq!(id.field_type, "id");
    assert!(!id.createable && !id.updateable);
    assert_eq!(
        part.raw["fields"].as_array().map(Vec::len),
        Some(part.fields.len()),
        "the raw describe is kept whole"
    );

    let error = client
        .describe_sobject("No_Such_Object__c")
        .await
        .expect_err("unknown object");
    assert_eq!(error.status(), Some(404), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_flow_logs_in_and_reports_salesforce_errors() {
    let emulator = emulator::start(&[]);
    let token = emulator
        .client_with(
            emulator::password(emulator::PASSWORD),
            ClientOptions::default(),
        )
        .login()
        .await
        .expect("login");
    assert_org_identity(&token, &emulator);
    assert!(
        token.issued_at.is_some(),
        "the password flow returns issued_at"
    );

    let error = emulator
        .client_with(emulator::password("wrong"), ClientOptions::default())
        .login()
        .await
        .expect_err("wrong password");
    match &error {
        AuthError::Rejected { error, description } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(description.as_deref(), Some("authentication failure"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.to_string().contains("authentication failure"));
    assert!(!error.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_flow() {
    let emulator = emulator::start(&[]);
    let client = emulator.client_with(
        emulator::jwt(emulator::USERNAME, "https://login.salesforce.com"),
        ClientOptions::default(),
    );
    let token = client.login().await.expect("JWT login");
    assert_org_identity(&token, &emulator);
    assert!(token.issued_at.is_none(), "the JWT flow has no issued_at");
    client.limits().await.expect("the JWT session works");

    let error = emulator
        .client_with(
            emulator::jwt("someone-else@sidecar.test", "https://login.salesforce.com"),
            ClientOptions::default(),
        )
        .login()
        .await
        .expect_err("unknown user");
    assert!(
        error
            .to_string()
            .contains("user hasn't approved this consumer"),
        "{error}"
    );
    let error = emulator
        .client_with(
            emulator::jwt(emulator::USERNAME, "https://elsewhere.example.com"),
            ClientOptions::default(),
        )
        .login()
        .await
        .expect_err("wrong audience");
    assert!(error.to_string().contains("audience is invalid"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_rotation_keeps_the_newest_token() {
    let emulator = emulator::start(&["--refresh-token-rotation"]);
    let (status, body) = emulator
        .request(Method::POST, "/__emulator/refresh-tokens", None)
        .await;
    assert_eq!(status, 201, "{body}");
    let issued = body["refresh_token"].as_str().expect("a refresh token");
    let client = emulator.client_with(emulator::refresh_token(issued), ClientOptions::default());
    let first = client.login().await.expect("first refresh");

    // Each re-login after an expired session spends the previous refresh token; with rotation the
    // emulator revokes everything if a spent one is reused, so these only pass with the new token.
    for round in 0..3 {
        let (status, _) = emulator
            .request(Method::POST, "/__emulator/expire-sessions", None)
            .await;
        assert_eq!(status, 200);
        client
            .limits()
            .await
            .unwrap_or_else(|error| panic!("round {round}: {error}"));
    }
    let latest = client.session().token().await.expect("token");
    assert_eq!(latest.generation, first.generation + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_renewed_once_for_all_concurrent_callers() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    client.limits().await.expect("first call");
    let before = client.session().token().await.expect("token").generation;

    let (status, _) = emulator
        .request(Method::POST, "/__emulator/expire-sessions", None)
        .await;
    assert_eq!(status, 200);
    let calls = (0..12).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.describe_sobject("Account").await.map(|_| ()) })
    });
    for call in futures::future::join_all(calls).await {
        call.expect("task").expect("describe after re-login");
    }
    let after = client.session().token().await.expect("token").generation;
    assert_eq!(
        after,
        before + 1,
        "exactly one login replaced the expired session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_round_trip_with_per_record_errors() {
    let emulator = emulator::start(&[]);
    let client = emulator
        .client()
        .with_call_client("sfsync-test-instance")
        .expect("valid name");

    let created = client
        .create_records(
            &[
                NewRecord {
                    object: "Part__c".into(),
                    fields: record(json!({"Name": "Bolt", "Status__c": "New", "Quantity__c": 5,
                        "Price__c": 12345678901234.57})),
                },
                NewRecord {
                    object: "Part__c".into(),
                    fields: record(json!({"Name": "No status"})),
                },
                NewRecord {
                    object: "Part__c".into(),
                    fields: record(json!({"Name": "Nut", "Status__c": "New"})),
                },
            ],
            false,
        )
        .await
        .expect("create call");
    assert_eq!(created.len(), 3);
    assert!(created[0].success && created[2].success, "{created:?}");
    assert!(!created[1].success);
    assert_eq!(created[1].errors[0].status_code, "REQUIRED_FIELD_MISSING");
    assert!(created[1].errors[0].fields.iter().any(|f| f == "Status__c"));
    let bolt = created[0].id.clone().expect("id");
    let nut = created[2].id.clone().expect("id");
    assert_eq!(bolt.len(), 18);

    // Exact decimals survive the round trip (no f64 on the way).
    let fetched = client
        .retrieve_records(
            "Part__c",
            &[bolt.clone(), nut.clone()],
            &["Name".into(), "Price__c".into(), "Quantity__c".into()],
        )
        .await
        .expect("retrieve");
    let first = fetched[0].as_ref().expect("bolt exists");
    assert_eq!(first["Name"], "Bolt");
    assert_eq!(first["Price__c"].to_string(), "12345678901234.57");

    let updated = client
        .update_records(
            &[
                RecordUpdate {
                    object: "Part__c".into(),
                    id: bolt.clone(),
                    fields: record(json!({"Quantity__c": 7})),
                },
                RecordUpdate {
                    object: "Part__c".into(),
                    id: "a00000000000000AAA".into(),
                    fields: record(json!({"Quantity__c": 1})),
                },
            ],
            false,
        )
        .await
        .expect("update call");
    assert!(updated[0].success, "{updated:?}");
    assert!(
        !updated[1].success && !updated[1].errors.is_empty(),
        "{updated:?}"
    );

    let inserted = client
        .upsert_records(
            "Part__c",
            "Part_Number__c",
            &[record(
                json!({"Part_Number__c": "P-2", "Name": "Gear", "Status__c": "New"}),
            )],
            false,
        )
        .await
        .expect("upsert insert");
    assert_eq!(
        (inserted[0].success, inserted[0].created),
        (true, Some(true)),
        "{inserted:?}"
    );
    let again = client
        .upsert_records(
            "Part__c",
            "Part_Number__c",
            &[record(json!({"Part_Number__c": "P-2", "Name": "Gear v2"}))],
            false,
        )
        .await
        .expect("upsert update");
    assert_eq!(
        (again[0].success, again[0].created),
        (true, Some(false)),
        "{again:?}"
    );
    assert_eq!(again[0].id, inserted[0].id);

    let deleted = client
        .delete_records(&[nut.clone(), "a00000000000000AAA".into()], false)
        .await
        .expect("delete call");
    assert!(deleted[0].success, "{deleted:?}");
    assert!(!deleted[1].success, "{deleted:?}");
    let after_delete = client
        .retrieve_records("Part__c", &[nut.clone(), bolt.clone()], &["Name".into()])
        .await
        .expect("retrieve");
    assert!(
        after_delete[0].is_none(),
        "deleted records come back as null"
    );
    assert!(after_delete[1].is_some());

    // Writes carry Sforce-Call-Options: the emulator records the client in its change log.
    let (status, changes) = emulator
        .request(Method::GET, "/__emulator/changes", None)
        .await;
    assert_eq!(status, 200);
    let clients: HashSet<String> = changes["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["client"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        clients,
        HashSet::from(["sfsync-test-instance".to_string()]),
        "{changes}"
    );

    // Many ids go through POST; the client refuses more than 200 before calling.
    let many: Vec<String> = (0..200).map(|_| bolt.clone()).collect();
    let fetched = client
        .retrieve_records("Part__c", &many, &["Name".into()])
        .await
        .expect("retrieve by POST");
    assert_eq!(fetched.len(), 200);
    let too_many: Vec<NewRecord> = (0..201)
        .map(|n| NewRecord {
            object: "Part__c".into(),
            fields: record(json!({"Name": format!("P{n}"), "Status__c": "New"})),
        })
        .collect();
    let error = client
        .create_records(&too_many, false)
        .await
        .expect_err("201 records");
    assert!(
        matches!(error, SalesforceError::TooManyRecords { count: 201, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_or_none_rolls_back_every_record() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    let results = client
        .create_records(
            &[
                NewRecord {
                    object: "Part__c".into(),
                    fields: record(json!({"Name": "Fine", "Status__c": "New"})),
                },
                NewRecord {
                    object: "Part__c".into(),
                    fields: record(json!({"Name": "Broken"})),
                },
            ],
            true,
        )
        .await
        .expect("call succeeds, records fail");
    assert!(results.iter().all(|result| !result.success), "{results:?}");
    assert_eq!(
        results[0].errors[0].status_code,
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(results[1].errors[0].status_code, "REQUIRED_FIELD_MISSING");
    let (_, stats) = emulator
        .request(Method::GET, "/__emulator/stats", None)
        .await;
    assert_eq!(stats["records"]["Part__c"]["live"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_tracked_and_enforced() {
    let emulator = emulator::start(&["--daily-api-limit", "1000"]);
    let client = emulator.client_with(
        emulator::client_credentials(),
        ClientOptions {
            api_reserve: ApiReserve::Percent(10.0),
            budget_probe_interval: Duration::from_millis(300),
            ..ClientOptions::default()
        },
    );
    let limits = client.limits().await.expect("limits");
    let usage = limits.daily_api_requests().expect("DailyApiRequests");
    assert_eq!(usage.max, 1000);
    let tracked = client.api_usage().expect("usage from headers or /limits");
    assert_eq!(tracked.max, 1000);
    client.describe_sobject("Account").await.expect("describe");
    let after = client.api_usage().expect("usage");
    assert!(
        after.used > tracked.used,
        "Sforce-Limit-Info is read from responses: {after:?}"
    );

    // Within the reserve: the client refuses without calling Salesforce.
    let (status, body) = emulator
        .request(
            Method::PUT,
            "/__emulator/limits",
            Some(json!({"DailyApiRequests": {"Max": 1000, "Remaining": 50}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    client
        .describe_sobject("Account")
        .await
        .expect("this call learns the new usage");
    let (_, stats_before) = emulator
        .request(Method::GET, "/__emulator/stats", None)
        .await;
    let error = client
        .describe_sobject("Account")
        .await
        .expect_err("budget");
    match &error {
        SalesforceError::BudgetExhausted {
            max,
            reserve,
            retry_after,
            ..
        } => {
            assert_eq!((*max, *reserve), (1000, 100));
            assert!(*retry_after <= Duration::from_millis(300));
        }
        other => panic!("unexpected {other:?}"),
    }
    let (_, stats_after) = emulator
        .request(Method::GET, "/__emulator/stats", None)
        .await;
    assert_eq!(
        (&stats_before["apiCalls"], &stats_before["apiUsage"]),
        (&stats_after["apiCalls"], &stats_after["apiUsage"]),
        "a refused call never reaches Salesforce"
    );

    // Exhausted on the server: 403 REQUEST_LIMIT_EXCEEDED becomes a typed error.
    let (status, _) = emulator
        .request(
            Method::PUT,
            "/__emulator/limits",
            Some(json!({"DailyApiRequests": {"Max": 1000, "Remaining": 0}})),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let error = client.describe_sobject("Account").await.expect_err("limit");
    assert!(
        matches!(error, SalesforceError::RequestLimitExceeded { .. }),
        "{error}"
    );
    assert!(error.retry_after().is_some() && !error.is_transient());

    // Allowance restored: after the probe interval one call goes through and reopens the budget.
    emulator
        .request(
            Method::PUT,
            "/__emulator/limits",
            Some(json!({"DailyApiRequests": {"Max": 1000, "Remaining": 900}})),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    client.describe_sobject("Account").await.expect("probe");
    client
        .describe_sobject("Account")
        .await
        .expect("budget reopened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_classified_and_retried() {
    let emulator = emulator::start(&[]);
    let client = emulator.client();
    client.login().await.expect("login");
    let (status, body) = emulator
        .request(
            Method::POST,
            "/__emulator/faults",
            Some(
                json!({"path": "/services/data/v62.0/sobjects/Account/describe", "status": 503,
                "errorCode": "SERVER_UNAVAILABLE", "count": 2}),
            ),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let error = client
        .describe_sobject("Account")
        .await
        .expect_err("first fault");
    assert!(error.is_transient(), "{error}");
    let describe = Backoff::new(Duration::from_millis(10), Duration::from_millis(50))
        .retry(5, || client.describe_sobject("Account"))
        .await
        .expect("succeeds once the faults are used up");
    assert_eq!(describe.name, "Account");
}
