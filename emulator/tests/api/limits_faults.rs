//! API accounting (`Sforce-Limit-Info`, `/limits`, `REQUEST_LIMIT_EXCEEDED`) and injected faults.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn limit_exhaustion_and_recovery() {
    let emulator = Emulator::start(&["--daily-api-limit", "5"]);
    let api = emulator.login().await;
    let first = api.get("/limits").await;
    assert_eq!(first.header("sforce-limit-info"), Some("api-usage=1/5"));
    assert_eq!(
        first.json["DailyApiRequests"],
        json!({"Max": 5, "Remaining": 4})
    );
    for key in [
        "DailyBulkApiBatches",
        "DailyBulkV2QueryJobs",
        "DailyBulkV2QueryFileStorageMB",
        "DataStorageMB",
    ] {
        assert!(first.json[key]["Max"].is_u64(), "{key}");
    }
    let old = api.call_version("48.0", Method::GET, "/limits", None).await;
    assert!(
        old.json.get("DailyBulkApiRequests").is_some()
            && old.json.get("DailyBulkApiBatches").is_none()
    );
    // Failed calls count too.
    assert_eq!(
        api.get("/sobjects/Nope__c/describe").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/sobjects/").await.header("sforce-limit-info"),
        Some("api-usage=4/5")
    );
    assert_eq!(api.get("/sobjects/").await.status, StatusCode::OK);
    let refused = api.get("/sobjects/").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    assert_eq!(refused.header("sforce-limit-info"), Some("api-usage=5/5"));
    assert_eq!(
        api.post("/sobjects/Account", json!({"Name": "no"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let lowered = emulator
        .admin(
            Method::PUT,
            "/__emulator/limits",
            Some(json!({"DailyApiRequests": {"Max": 5, "Remaining": 3}})),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK);
    let again = api.get("/limits").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("sforce-limit-info"), Some("api-usage=3/5"));
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    // Calls refused for the limit never reach a route, so the per-route count only has the two served ones.
    assert_eq!(
        stats["apiCalls"]["GET /services/data/{version}/sobjects"],
        2
    );
    assert_eq!(stats["apiUsage"]["used"], 3);
}

async fn account_count(emulator: &Emulator) -> u64 {
    emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json["records"]["Account"]["live"]
        .as_u64()
        .expect("count")
}

#[tokio::test]
async fn faults_before_after_count_probability_and_latency() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let add =
        |spec: serde_json::Value| emulator.admin(Method::POST, "/__emulator/faults", Some(spec));

    assert_eq!(
        add(json!({"path": "/services/data", "method": "POST", "status": 503, "count": 2}))
            .await
            .status,
        StatusCode::CREATED
    );
    for _ in 0..2 {
        let failed = api.post("/sobjects/Account", json!({"Name": "x"})).await;
        assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failed.error_code(), "SERVER_UNAVAILABLE");
    }
    assert_eq!(
        account_count(&emulator).await,
        0,
        "a fault before the request applies nothing"
    );
    assert_eq!(
        api.get("/limits").await.status,
        StatusCode::OK,
        "method filter"
    );
    assert_eq!(
        api.post("/sobjects/Account", json!({"Name": "x"}))
            .await
            .status,
        StatusCode::CREATED,
        "count exhausted"
    );

    add(json!({"path": "/services/data/v62.0/composite", "status": 400, "errorCode": "UNABLE_TO_LOCK_ROW", "after": true, "count": 1})).await;
    let after = api
        .post(
            "/composite/sobjects",
            json!({"records": [{"attributes": {"type": "Account"}, "Name": "applied"}]}),
        )
        .await;
    assert_eq!(after.status, StatusCode::BAD_REQUEST);
    assert_eq!(after.error_code(), "UNABLE_TO_LOCK_ROW");
    assert_eq!(
        account_count(&emulator).await,
        2,
        "after:true applies the request, then fails the response"
    );

    add(json!({"path": "/services/data", "status": 500, "probability": 0.0})).await;
    for _ in 0..5 {
        assert_eq!(api.get("/limits").await.status, StatusCode::OK);
    }
    assert_eq!(
        emulator
            .admin(Method::DELETE, "/__emulator/faults", None)
            .await
            .status,
        StatusCode::OK
    );

    add(json!({"path": "/services/data", "latencyMs": 300, "count": 1})).await;
    let started = Instant::now();
    assert_eq!(
        api.get("/limits").await.status,
        StatusCode::OK,
        "latency-only fault still answers"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    add(json!({"path": "/services/oauth2/token", "status": 503, "count": 1})).await;
    let token = token_request(
        &emulator.http(),
        &emulator.base,
        &[("grant_type", "password")],
    )
    .await;
    assert_eq!(token.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(token.json["error"], "SERVER_UNAVAILABLE");
    assert_eq!(
        emulator.login().await.get("/limits").await.status,
        StatusCode::OK
    );

    // `body`: exactly these bytes, 200 unless a status is given, instead of the route's answer
    let broken = r#"{"access_token":"00D!ARtruncated","refresh_token":"5Aep"#;
    add(json!({"path": "/services/oauth2/token", "body": broken, "count": 1})).await;
    let answer = emulator
        .http()
        .post(format!("{}/services/oauth2/token", emulator.base))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("token request sent");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    assert_eq!(answer.text().await.expect("body"), broken);
    add(json!({"path": "/services/data", "method": "GET", "status": 502, "body": "<html>proxy</html>",
               "contentType": "text/html", "count": 1}))
    .await;
    let page = emulator
        .http()
        .get(format!("{}/services/data/v62.0/limits", emulator.base))
        .send()
        .await
        .expect("request sent");
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(page.headers()["content-type"], "text/html");
    assert_eq!(page.text().await.expect("body"), "<html>proxy</html>");
    assert_eq!(
        emulator.login().await.get("/limits").await.status,
        StatusCode::OK,
        "count exhausted"
    );
}
