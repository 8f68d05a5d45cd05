//! Parsing JSON request bodies into Salesforce-style `JSON_PARSER_ERROR`s.

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use super::error::ApiError;

/// Parses a JSON body.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!("Cannot parse the request body: {e}"),
        )
    })
}

/// Parses a JSON object body (a record).
pub fn parse_object(body: &Bytes) -> Result<Map<String, Json>, ApiError> {
    match parse_json::<Json>(body)? {
        Json::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object",
        )),
    }
}
