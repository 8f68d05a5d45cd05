//! Bulk API 2.0 client helpers for the tests: create, upload, close and poll jobs, fetch CSV results.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{Api, Resp, VERSION};

/// A raw (non-JSON) response.
pub struct TextResp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TextResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `body` with `content_type` to a path under `/services/data/v{version}`.
pub async fn send_text(
    api: &Api,
    version: &str,
    method: Method,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> TextResp {
    let url = format!("{}/services/data/v{version}{path}", api.base);
    let response = api
        .http
        .request(method, url)
        .bearer_auth(&api.token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    TextResp {
        status,
        headers,
        text,
    }
}

/// GETs a path under `/services/data/v{version}` and returns the body as text.
pub async fn get_text(api: &Api, version: &str, path: &str) -> TextResp {
    let url = format!("{}/services/data/v{version}{path}", api.base);
    let response = api
        .http
        .get(url)
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    TextResp {
        status,
        headers,
        text,
    }
}

/// Creates an ingest job and returns its info.
pub async fn create_ingest(api: &Api, body: Json) -> Json {
    let response = api.post("/jobs/ingest", body).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
    response.json
}

/// Uploads CSV data to a job (asserting 201).
pub async fn upload(api: &Api, job: &str, csv: &str) {
    let response = send_text(
        api,
        VERSION,
        Method::PUT,
        &format!("/jobs/ingest/{job}/batches"),
        "text/csv",
        csv.to_string(),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert!(response.text.is_empty());
}

/// Closes a job (asserting 200).
pub async fn close(api: &Api, job: &str) -> Resp {
    let response = api
        .patch(
            &format!("/jobs/ingest/{job}"),
            json!({"state": "UploadComplete"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
    response
}

/// Polls a job until it reaches a terminal state; panics after a generous time-out.
pub async fn wait_for(api: &Api, kind: &str, job: &str) -> Json {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let info = api.get(&format!("/jobs/{kind}/{job}")).await;
        assert_eq!(info.status, StatusCode::OK, "{:?}", info.json);
        let state = info.json["state"].as_str().unwrap_or_default().to_string();
        if ["JobComplete", "Failed", "Aborted"].contains(&state.as_str()) {
            return info.json;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still {state} after the time-out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates an ingest job, uploads `csv`, closes it and waits for the end; returns the job id and final info.
pub async fn run_ingest(api: &Api, spec: Json, csv: &str) -> (String, Json) {
    let created = create_ingest(api, spec).await;
    let id = created["id"].as_str().expect("job id").to_string();
    upload(api, &id, csv).await;
    close(api, &id).await;
    let info = wait_for(api, "ingest", &id).await;
    (id, info)
}

/// One result file of an ingest job, parsed into rows of strings (header first).
pub async fn result_rows(api: &Api, job: &str, file: &str) -> Vec<Vec<String>> {
    let response = get_text(api, VERSION, &format!("/jobs/ingest/{job}/{file}/")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("content-type"), Some("text/csv"));
    parse_csv(&response.text, b',')
}

/// Parses CSV text (header included) into rows of strings.
pub fn parse_csv(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("csv row").iter().map(str::to_string).collect())
        .collect()
}

/// `rows` as (column → value) lookups, skipping the header.
pub fn by_column<'r>(rows: &'r [Vec<String>], row: usize, column: &str) -> &'r str {
    let position = rows[0]
        .iter()
        .position(|name| name == column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", rows[0]));
    &rows[row][position]
}
