//! Injected failures (`POST /__emulator/faults`): by path prefix and method, with a probability, a count,
//! latency, `after` (apply the request, then fail the response), and `body` (answer with exactly these
//! bytes, e.g. a malformed token response, instead of an error of the route's shape).

use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A fault as posted.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    /// Path prefix the fault applies to (`/` = everything except the admin API).
    #[serde(default = "root")]
    pub path: String,
    /// HTTP method; any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Status to answer with; a latency-only fault when absent.
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Chance of firing per matching request (default 1).
    #[serde(default)]
    pub probability: Option<f64>,
    /// How many times it fires before it is removed (default: unlimited).
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub after: bool,
    /// Answers with exactly this body (status default 200) instead of the route's error shape: a
    /// server answering with something no client can parse.
    #[serde(default)]
    pub body: Option<String>,
    /// The `Content-Type` of `body` (default `application/json;charset=UTF-8`, as Salesforce sends).
    #[serde(default)]
    pub content_type: Option<String>,
}

fn root() -> String {
    "/".to_string()
}

impl FaultSpec {
    /// Whether the fault answers the request (a status or a body), rather than only delaying it.
    pub fn answers(&self) -> bool {
        self.status.is_some() || self.body.is_some()
    }

    pub fn error_code(&self) -> &str {
        self.error_code.as_deref().unwrap_or(match self.status {
            Some(503) => "SERVER_UNAVAILABLE",
            Some(401) => "INVALID_SESSION_ID",
            Some(403) => "REQUEST_LIMIT_EXCEEDED",
            Some(404) => "NOT_FOUND",
            Some(500) => "UNKNOWN_EXCEPTION",
            _ => "UNKNOWN_EXCEPTION",
        })
    }

    pub fn message(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| match self.error_code() {
                "UNABLE_TO_LOCK_ROW" => {
                    "unable to obtain exclusive access to this record".to_string()
                }
                "SERVER_UNAVAILABLE" => "Server temporarily unavailable, please retry".to_string(),
                code => format!("Injected fault: {code}"),
            })
    }
}

#[derive(Debug)]
struct ActiveFault {
    id: u64,
    spec: FaultSpec,
    remaining: Option<u64>,
}

/// The active faults, first match wins.
#[derive(Debug, Default)]
pub struct Faults {
    active: Mutex<(u64, Vec<ActiveFault>)>,
}

impl Faults {
    /// Adds a fault; returns its id.
    pub fn add(&self, spec: FaultSpec) -> u64 {
        let mut guard = self.active.lock();
        guard.0 += 1;
        let id = guard.0;
        let remaining = spec.count;
        guard.1.push(ActiveFault {
            id,
            spec,
            remaining,
        });
        id
    }

    pub fn clear(&self) {
        self.active.lock().1.clear();
    }

    pub fn list(&self) -> Vec<(u64, FaultSpec, Option<u64>)> {
        self.active
            .lock()
            .1
            .iter()
            .map(|f| (f.id, f.spec.clone(), f.remaining))
            .collect()
    }

    /// The fault that fires for this request, if any (its count is consumed).
    pub fn take(&self, method: &str, path: &str) -> Option<FaultSpec> {
        let mut guard = self.active.lock();
        let faults = &mut guard.1;
        let position = faults.iter().position(|f| {
            path.starts_with(&f.spec.path)
                && f.spec
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.remaining != Some(0)
                && rand::rng().random::<f64>() < f.spec.probability.unwrap_or(1.0)
        })?;
        let fault = &mut faults[position];
        let spec = fault.spec.clone();
        if let Some(remaining) = fault.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                faults.remove(position);
            }
        }
        Some(spec)
    }
}
