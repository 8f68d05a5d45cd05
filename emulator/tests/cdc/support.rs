//! Writes with a `Sforce-Call-Options` client, Bulk ingest runs and other helpers shared by the CDC tests.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{Api, Resp, VERSION};

/// A `/services/data/v62.0` call carrying `Sforce-Call-Options: client=<client>`.
pub async fn call_as(
    api: &Api,
    client: &str,
    method: Method,
    path: &str,
    body: Option<Json>,
) -> Resp {
    let url = format!("{}/services/data/v{VERSION}{path}", api.base);
    let mut request = api
        .http
        .request(method, &url)
        .bearer_auth(&api.token)
        .header("Sforce-Call-Options", format!("client={client}"));
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        Json::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    Resp {
        status,
        headers,
        json,
    }
}

/// Creates one record over REST as `client`; returns its id.
pub async fn create_as(api: &Api, client: &str, object: &str, body: Json) -> String {
    let response = call_as(
        api,
        client,
        Method::POST,
        &format!("/sobjects/{object}"),
        Some(body),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.json);
    response.json["id"].as_str().expect("id").to_string()
}

/// Creates several Accounts in one Collections call as `client`; returns their ids.
pub async fn create_accounts(api: &Api, client: &str, names: &[String]) -> Vec<String> {
    let records: Vec<Json> = names
        .iter()
        .map(|name| json!({"attributes": {"type": "Account"}, "Name": name}))
        .collect();
    let response = call_as(
        api,
        client,
        Method::POST,
        "/composite/sobjects",
        Some(json!({"allOrNone": true, "records": records})),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
    response
        .json
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            assert_eq!(r["success"], true, "{r}");
            r["id"].as_str().expect("id").to_string()
        })
        .collect()
}

/// Runs a Bulk API 2.0 ingest job to completion as `client`; returns the final job info.
pub async fn bulk_ingest(
    api: &Api,
    client: &str,
    object: &str,
    operation: &str,
    csv: &str,
) -> Json {
    let created = call_as(
        api,
        client,
        Method::POST,
        "/jobs/ingest",
        Some(json!({"object": object, "operation": operation, "contentType": "CSV", "lineEnding": "LF"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.json);
    let job = created.json["id"].as_str().expect("job id").to_string();
    let upload = api
        .http
        .put(format!(
            "{}/services/data/v{VERSION}/jobs/ingest/{job}/batches",
            api.base
        ))
        .bearer_auth(&api.token)
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("upload sent");
    assert_eq!(upload.status(), StatusCode::CREATED);
    let closed = api
        .patch(
            &format!("/jobs/ingest/{job}"),
            json!({"state": "UploadComplete"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{:?}", closed.json);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = api.get(&format!("/jobs/ingest/{job}")).await;
        let state = info.json["state"].as_str().unwrap_or_default().to_string();
        if ["JobComplete", "Failed", "Aborted"].contains(&state.as_str()) {
            assert_eq!(state, "JobComplete", "{:?}", info.json);
            return info.json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bulk job stuck in {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Field `name` of a record read over REST.
pub async fn field(api: &Api, object: &str, id: &str, name: &str) -> Json {
    let response = api.get(&format!("/sobjects/{object}/{id}")).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
    response.json[name].clone()
}
