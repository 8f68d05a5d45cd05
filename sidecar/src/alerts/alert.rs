//! The alerts themselves and their JSON body (documented in the README's "Alerts"):
//! `{"kind", "schema", "object", "at", "text", "details"}`, where `text` is one Slack-compatible line
//! and `details` depends on the kind. Nothing here carries a secret: the fields come from
//! `sfsync.status()`, `sfsync._failures_since` and the API figures, never from the configuration.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// What happened; the `kind` of the body and the label of `sfsync_alerts_sent_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    ChangesFailed,
    MappingError,
    MappingRecovered,
    QueueLag,
    ApiReserve,
    Drift,
}

impl AlertKind {
    pub const ALL: &'static [AlertKind] = &[
        AlertKind::ChangesFailed,
        AlertKind::MappingError,
        AlertKind::MappingRecovered,
        AlertKind::QueueLag,
        AlertKind::ApiReserve,
        AlertKind::Drift,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::ChangesFailed => "changes_failed",
            AlertKind::MappingError => "mapping_error",
            AlertKind::MappingRecovered => "mapping_recovered",
            AlertKind::QueueLag => "queue_lag",
            AlertKind::ApiReserve => "api_reserve",
            AlertKind::Drift => "drift",
        }
    }
}

/// One failed change quoted in a `changes_failed` alert.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedChange {
    pub change_id: Option<i64>,
    pub sfid: Option<String>,
    pub record_id: Option<i64>,
    pub action: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub fields: Option<Vec<String>>,
}

impl FailedChange {
    /// Reads one entry of `_failures_since`'s `errors`; missing or mistyped keys become None.
    pub fn from_json(entry: &Value) -> Self {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_string);
        let number = |key: &str| entry.get(key).and_then(Value::as_i64);
        Self {
            change_id: number("change_id"),
            sfid: text("sfid"),
            record_id: number("record_id"),
            action: text("action"),
            code: text("code"),
            message: text("message"),
            fields: entry.get("fields").and_then(Value::as_array).map(|fields| {
                fields
                    .iter()
                    .filter_map(|field| field.as_str().map(str::to_string))
                    .collect()
            }),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "change_id": self.change_id,
            "sfid": self.sfid,
            "record_id": self.record_id,
            "action": self.action,
            "code": self.code,
            "message": self.message,
            "fields": self.fields,
        })
    }
}

/// The kind-specific part of an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertDetails {
    /// Changes of one mapping that Salesforce refused, aggregated over at most a minute.
    ChangesFailed {
        count: i64,
        first_failed_at: DateTime<Utc>,
        last_failed_at: DateTime<Utc>,
        /// The oldest few of them.
        errors: Vec<FailedChange>,
    },
    /// The mapping entered ERROR.
    MappingError { state_detail: Option<String> },
    /// The mapping left ERROR.
    MappingRecovered { state: String },
    /// The mapping's oldest queued change is older than the threshold.
    QueueLag {
        oldest_seconds: u64,
        threshold_seconds: u64,
        pending: i64,
    },
    /// Only the reserve of the daily API allowance is left: calls pause until some are freed.
    ApiReserve { used: u64, limit: u64, reserve: u64 },
    /// A reconciliation found drift.
    Drift {
        found: i64,
        kinds: Map<String, Value>,
        reconciled_at: Option<DateTime<Utc>>,
    },
}

/// One alert: about the sidecar's schema and, except `api_reserve`, one mapped object.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub schema: String,
    pub object: Option<String>,
    pub at: DateTime<Utc>,
    pub details: AlertDetails,
}

impl Alert {
    pub fn kind(&self) -> AlertKind {
        match self.details {
            AlertDetails::ChangesFailed { .. } => AlertKind::ChangesFailed,
            AlertDetails::MappingError { .. } => AlertKind::MappingError,
            AlertDetails::MappingRecovered { .. } => AlertKind::MappingRecovered,
            AlertDetails::QueueLag { .. } => AlertKind::QueueLag,
            AlertDetails::ApiReserve { .. } => AlertKind::ApiReserve,
            AlertDetails::Drift { .. } => AlertKind::Drift,
        }
    }

    /// The body POSTed to the webhook.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind().as_str(),
            "schema": self.schema,
            "object": self.object,
            "at": rfc3339(self.at),
            "text": self.text(),
            "details": self.details_json(),
        })
    }

    fn details_json(&self) -> Value {
        match &self.details {
            AlertDetails::ChangesFailed {
                count,
                first_failed_at,
                last_failed_at,
                errors,
            } => json!({
                "count": count,
                "first_failed_at": rfc3339(*first_failed_at),
                "last_failed_at": rfc3339(*last_failed_at),
                "errors": errors.iter().map(FailedChange::to_json).collect::<Vec<_>>(),
            }),
            AlertDetails::MappingError { state_detail } => json!({
                "state": "ERROR",
                "state_detail": state_detail,
            }),
            AlertDetails::MappingRecovered { state } => json!({
                "previous_state": "ERROR",
                "state": state,
            }),
            AlertDetails::QueueLag {
                oldest_seconds,
                threshold_seconds,
                pending,
            } => json!({
                "oldest_seconds": oldest_seconds,
                "threshold_seconds": threshold_seconds,
                "pending": pending,
            }),
            AlertDetails::ApiReserve {
                used,
                limit,
                reserve,
            } => json!({"used": used, "limit": limit, "reserve": reserve}),
            AlertDetails::Drift {
                found,
                kinds,
                reconciled_at,
            } => json!({
                "found": found,
                "kinds": kinds,
                "reconciled_at": reconciled_at.map(rfc3339),
            }),
        }
    }

    /// One line, `sfsync (<schema>): …`, escaped as Slack's `text` wants (`&`, `<`, `>`).
    pub fn text(&self) -> String {
        let object = self.object.as_deref().unwrap_or("?");
        let line = match &self.details {
            AlertDetails::ChangesFailed { count, errors, .. } => {
                let noun = if *count == 1 { "change" } else { "changes" };
                let mut line = format!("{count} {noun} to {object} refused by Salesforce");
                if let Some(first) = errors.first() {
                    line.push_str(&format!(
                        "; first: {}: {}",
                        first.code.as_deref().unwrap_or("unknown error"),
                        first.message.as_deref().unwrap_or("")
                    ));
                    if let Some(fields) = first.fields.as_ref().filter(|f| !f.is_empty()) {
                        line.push_str(&format!(" ({})", fields.join(", ")));
                    }
                }
                line
            }
            AlertDetails::MappingError { state_detail } => match state_detail {
                Some(detail) => format!("mapping {object} is in ERROR: {detail}"),
                None => format!("mapping {object} is in ERROR"),
            },
            AlertDetails::MappingRecovered { state } => {
                format!("mapping {object} left ERROR (now {state})")
            }
            AlertDetails::QueueLag {
                oldest_seconds,
                threshold_seconds,
                pending,
            } => format!(
                "the oldest queued change of {object} is {oldest_seconds} s old \
                 (threshold {threshold_seconds} s, {pending} queued)"
            ),
            AlertDetails::ApiReserve {
                used,
                limit,
                reserve,
            } => format!(
                "only the API reserve is left ({used} of {limit} daily calls used, {reserve} reserved); \
                 calls pause until some are freed"
            ),
            AlertDetails::Drift { found, kinds, .. } => {
                let per_kind: Vec<String> = kinds
                    .iter()
                    .filter(|(_, count)| count.as_i64().unwrap_or(0) > 0)
                    .map(|(kind, count)| format!("{kind} {count}"))
                    .collect();
                format!(
                    "reconciliation of {object} found {found} drifted rows ({})",
                    per_kind.join(", ")
                )
            }
        };
        slack_escape(&format!("sfsync ({}): {line}", self.schema))
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Slack reads `<…>` as links and mentions and `&` as an entity: these three must be escaped.
/// Newlines from an error message would break the one-line promise, so they become spaces.
fn slack_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\n' | '\r' => escaped.push(' '),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a time")
    }

    #[test]
    fn a_failure_alert_serialises_to_the_documented_body() {
        let alert = Alert {
            schema: "salesforce".into(),
            object: Some("Gadget__c".into()),
            at: at(1_800_000_000),
            details: AlertDetails::ChangesFailed {
                count: 2,
                first_failed_at: at(1_799_999_990),
                last_failed_at: at(1_799_999_995),
                errors: vec![FailedChange::from_json(&json!({
                    "change_id": 7, "sfid": null, "record_id": 3, "action": "INSERT",
                    "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "message": "Bad <names> & worse", "fields": ["Name"]
                }))],
            },
        };
        assert_eq!(
            alert.to_json(),
            json!({
                "kind": "changes_failed",
                "schema": "salesforce",
                "object": "Gadget__c",
                "at": "2027-01-15T08:00:00.000Z",
                "text": "sfsync (salesforce): 2 changes to Gadget__c refused by Salesforce; first: FIELD_CUSTOM_VALIDATION_EXCEPTION: Bad &lt;names&gt; &amp; worse (Name)",
                "details": {
                    "count": 2,
                    "first_failed_at": "2027-01-15T07:59:50.000Z",
                    "last_failed_at": "2027-01-15T07:59:55.000Z",
                    "errors": [{"change_id": 7, "sfid": null, "record_id": 3, "action": "INSERT",
                                "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                "message": "Bad <names> & worse", "fields": ["Name"]}]
                }
            })
        );
    }

    #[test]
    fn every_kind_has_a_one_line_text_naming_the_schema() {
        let kinds = serde_json::from_value::<Map<String, Value>>(
            json!({"missing": 4, "stale": 2, "vanished": 0}),
        )
        .expect("map");
        let alerts = [
            AlertDetails::MappingError {
                state_detail: Some("describe failed:\nno such field".into()),
            },
            AlertDetails::MappingRecovered {
                state: "SYNCED".into(),
            },
            AlertDetails::QueueLag {
                oldest_seconds: 930,
                threshold_seconds: 900,
                pending: 12,
            },
            AlertDetails::ApiReserve {
                used: 95_000,
                limit: 100_000,
                reserve: 10_000,
            },
            AlertDetails::Drift {
                found: 6,
                kinds,
                reconciled_at: Some(at(1_800_000_000)),
            },
        ]
        .map(|details| Alert {
            schema: "crm".into(),
            object: Some("Account".into()),
            at: at(1_800_000_000),
            details,
        });
        let texts: Vec<String> = alerts.iter().map(Alert::text).collect();
        assert_eq!(
            texts,
            [
                "sfsync (crm): mapping Account is in ERROR: describe failed: no such field",
                "sfsync (crm): mapping Account left ERROR (now SYNCED)",
                "sfsync (crm): the oldest queued change of Account is 930 s old (threshold 900 s, 12 queued)",
                "sfsync (crm): only the API reserve is left (95000 of 100000 daily calls used, 10000 reserved); calls pause until some are freed",
                "sfsync (crm): reconciliation of Account found 6 drifted rows (missing 4, stale 2)",
            ]
        );
        let kinds: Vec<Value> = alerts.iter().map(|a| a.to_json()["kind"].clone()).collect();
        assert_eq!(
            kinds,
            [
                "mapping_error",
                "mapping_recovered",
                "queue_lag",
                "api_reserve",
                "drift"
            ]
        );
        assert_eq!(alerts[4].to_json()["details"]["kinds"]["missing"], 4);
    }
}
