//! Middleware: injected faults (outermost, every route but the admin API), then for `/services/data/vXX.X/...`
//! authentication, API-limit accounting and the `Sforce-Limit-Info` header; per-route call statistics.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::context::{call_options_client, parse_version, ApiContext};
use super::error::{json_response, ApiError};
use crate::app::SharedState;
use crate::faults::FaultSpec;

const ADMIN_PREFIX: &str = "/__emulator";
const DATA_PREFIX: &str = "/services/data/";

fn fault_response(fault: &FaultSpec, path: &str) -> Response {
    if let Some(body) = &fault.body {
        let status = fault
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let content_type = fault
            .content_type
            .as_deref()
            .unwrap_or("application/json;charset=UTF-8");
        let mut response = (status, body.clone()).into_response();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        return response;
    }
    let status = fault
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    if path.starts_with("/services/oauth2") {
        return json_response(
            status,
            &json!({"error": fault.error_code(), "error_description": fault.message()}),
        );
    }
    ApiError::new(status, fault.error_code(), fault.message()).into_response()
}

/// Faults, then API accounting for data calls.
pub async fn front(State(app): State<SharedState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with(ADMIN_PREFIX) {
        return next.run(request).await;
    }
    let fault = app.faults.take(request.method().as_str(), &path);
    if let Some(fault) = &fault {
        if let Some(latency) = fault.latency_ms {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if fault.answers() && !fault.after {
            return fault_response(fault, &path);
        }
    }
    let response = match path.strip_prefix(DATA_PREFIX) {
        Some(rest) if !rest.is_empty() => api_call(&app, rest, request, next).await,
        _ => next.run(request).await,
    };
    match fault {
        Some(fault) if fault.answers() && fault.after => fault_response(&fault, &path),
        _ => response,
    }
}

fn with_limit_info(app: &SharedState, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&app.limits.header_value()) {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
    response
}

async fn api_call(app: &SharedState, rest: &str, mut request: Request, next: Next) -> Response {
    let segment = rest.split('/').next().unwrap_or_default();
    let Some((version, version_number)) = parse_version(segment) else {
        return with_limit_info(app, ApiError::not_found().into_response());
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(str::trim);
    let Some(user) = token.and_then(|t| app.sessions.lock().authenticate(t)) else {
        return with_limit_info(app, ApiError::invalid_session().into_response());
    };
    if !app.limits.try_spend() {
        let error = ApiError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        );
        return with_limit_info(app, error.into_response());
    }
    let client = request
        .headers()
        .get("Sforce-Call-Options")
        .and_then(|v| v.to_str().ok())
        .and_then(call_options_client);
    request.extensions_mut().insert(ApiContext {
        version,
        version_number,
        user,
        client,
    });
    let response = next.run(request).await;
    with_limit_info(app, response)
}

/// Counts calls per `METHOD route-template` (route layer: only matched routes).
pub async fn stats(State(app): State<SharedState>, request: Request, next: Next) -> Response {
    if let Some(matched) = request.extensions().get::<MatchedPath>() {
        if !matched.as_str().starts_with(ADMIN_PREFIX) {
            app.count_call(format!("{} {}", request.method(), matched.as_str()));
        }
    }
    next.run(request).await
}
