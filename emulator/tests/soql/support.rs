//! Helpers shared by the SOQL endpoint tests: running queries, following pages, comparing records.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{send, Api, Resp, VERSION};

/// `/query?q=...` (or `/queryAll`) with the text URL-encoded.
pub fn query_path(resource: &str, text: &str) -> String {
    let encoded = serde_urlencoded::to_string([("q", text)]).expect("encodes");
    format!("/{resource}?{encoded}")
}

pub async fn query(api: &Api, text: &str) -> Resp {
    api.get(&query_path("query", text)).await
}

pub async fn query_all(api: &Api, text: &str) -> Resp {
    api.get(&query_path("queryAll", text)).await
}

/// GET an absolute path of the emulator (a `nextRecordsUrl`), optionally with `Sforce-Query-Options`.
pub async fn get_absolute(api: &Api, path: &str, batch_size: Option<usize>) -> Resp {
    let mut request = api
        .http
        .request(Method::GET, format!("{}{path}", api.base))
        .bearer_auth(&api.token);
    if let Some(size) = batch_size {
        request = request.header("Sforce-Query-Options", format!("batchSize={size}"));
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

/// Runs a query with a batch size and returns the first response.
pub async fn query_batched(api: &Api, resource: &str, text: &str, batch_size: usize) -> Resp {
    let path = format!("/services/data/v{VERSION}{}", query_path(resource, text));
    get_absolute(api, &path, Some(batch_size)).await
}

/// Follows `nextRecordsUrl` to the end; returns every page's JSON.
pub async fn all_pages(api: &Api, first: Resp) -> Vec<Json> {
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    let mut pages = vec![first.json];
    while let Some(next) = pages
        .last()
        .and_then(|page| page["nextRecordsUrl"].as_str())
        .map(str::to_string)
    {
        let page = get_absolute(api, &next, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json);
        pages.push(page.json);
    }
    pages
}

/// A record (or any JSON) without its `attributes` objects, for comparing values only.
pub fn without_attributes(value: &Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != "attributes")
                .map(|(key, value)| (key.clone(), without_attributes(value)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(without_attributes).collect()),
        other => other.clone(),
    }
}

/// Raw request helper for methods the `Api` helpers do not cover.
pub async fn call(api: &Api, method: Method, path: &str, body: Option<Json>) -> Resp {
    let url = format!("{}/services/data/v{VERSION}{path}", api.base);
    send(&api.http, method, &url, Some(&api.token), body).await
}

/// What a query must produce, for table-driven tests.
pub enum Expect {
    /// The `records` (without `attributes`) and `totalSize`.
    Records(Json),
    /// `COUNT()`: `totalSize` only, no records.
    Count(u64),
    /// A 400 error with this `errorCode`, and a message containing this text.
    Error(&'static str, &'static str),
}

/// Runs every `(query, expected)` case and fails once, listing every case that did not match.
pub async fn check_cases(api: &Api, cases: Vec<(&str, Expect)>) {
    let mut failures = Vec::new();
    for (text, expect) in cases {
        let response = query(api, text).await;
        let problem = match &expect {
            Expect::Records(expected) => {
                let got = without_attributes(&response.json["records"]);
                if response.status != StatusCode::OK
                    || got != *expected
                    || response.json["totalSize"] != json!(expected.as_array().map_or(0, Vec::len))
                    || response.json["done"] != json!(true)
                {
                    Some(format!("expected {expected}"))
                } else {
                    None
                }
            }
            Expect::Count(count) => (response.status != StatusCode::OK
                || response.json != json!({"totalSize": count, "done": true, "records": []}))
            .then(|| format!("expected COUNT {count}")),
            Expect::Error(code, message) => (response.status != StatusCode::BAD_REQUEST
                || response.error_code() != *code
                || !response.json[0]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(message))
            .then(|| format!("expected {code} containing {message:?}")),
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{text}\n  {problem}\n  got {} {}",
                response.status, response.json
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
