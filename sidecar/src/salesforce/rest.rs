//! REST basics: API versions, global and object describe, `/limits`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::budget::ApiUsage;
use super::client::{api_name, Call, CallKind, SalesforceClient};
use super::describe::{ApiVersionInfo, GlobalDescribe, SObjectDescribe};
use super::error::SalesforceError;

/// One `/limits` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LimitFigure {
    pub max: i64,
    pub remaining: i64,
}

/// `GET /limits/`: every entry with `Max`/`Remaining`, plus the raw answer.
#[derive(Debug, Clone)]
pub struct OrgLimits {
    pub entries: BTreeMap<String, LimitFigure>,
    pub raw: Value,
}

impl OrgLimits {
    pub fn from_json(raw: Value) -> Self {
        let entries = raw
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter_map(|(name, value)| {
                        serde_json::from_value::<LimitFigure>(value.clone())
                            .ok()
                            .map(|figure| (name.clone(), figure))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { entries, raw }
    }

    /// `DailyApiRequests` as used/max.
    pub fn daily_api_requests(&self) -> Option<ApiUsage> {
        let figure = self.entries.get("DailyApiRequests")?;
        let max = u64::try_from(figure.max).ok()?;
        let remaining = u64::try_from(figure.remaining).unwrap_or(0);
        Some(ApiUsage {
            used: max.saturating_sub(remaining),
            max,
        })
    }
}

impl SalesforceClient {
    /// `GET /services/data/`: the API versions the org serves (does not count against the limit).
    pub async fn versions(&self) -> Result<Vec<ApiVersionInfo>, SalesforceError> {
        let call = Call::new(
            "versions",
            Method::GET,
            "/services/data/".to_string(),
            CallKind::Read,
        )
        .unbudgeted();
        self.execute_json(call).await
    }

    /// `GET /sobjects/`.
    pub async fn describe_global(&self) -> Result<GlobalDescribe, SalesforceError> {
        let call = Call::new(
            "describe_global",
            Method::GET,
            self.data_path("sobjects/"),
            CallKind::Read,
        );
        self.execute_json(call).await
    }

    /// `GET /sobjects/{object}/describe`.
    pub async fn describe_sobject(&self, object: &str) -> Result<SObjectDescribe, SalesforceError> {
        const OPERATION: &str = "describe_sobject";
        let object = api_name(OPERATION, object)?;
        let call = Call::new(
            OPERATION,
            Method::GET,
            self.data_path(&format!("sobjects/{object}/describe")),
            CallKind::Read,
        );
        let raw: Value = self.execute_json(call).await?;
        SObjectDescribe::from_json(raw).map_err(|source| SalesforceError::Decode {
            operation: OPERATION,
            snippet: String::from("(describe JSON did not match the expected shape)"),
            source,
        })
    }

    /// `GET /limits/`; also refreshes the API budget from `DailyApiRequests`.
    pub async fn limits(&self) -> Result<OrgLimits, SalesforceError> {
        let call = Call::new(
            "limits",
            Method::GET,
            self.data_path("limits/"),
            CallKind::Read,
        );
        let raw: Value = self.execute_json(call).await?;
        let limits = OrgLimits::from_json(raw);
        if let Some(usage) = limits.daily_api_requests() {
            self.budget().record(usage);
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// REST API Developer Guide: Limits and the Sforce-Limit-Info header, `/limits` example, verbatim apart from the elided tail.
    const LIMITS: &str = r#"{"DailyApiRequests":{"Remaining":14998,"Max":15000},
 "DailyBulkApiBatches":{"Remaining":15000,"Max":15000},
 "DailyBulkV2QueryJobs":{"Remaining":10000,"Max":10000},
 "DailyBulkV2QueryFileStorageMB":{"Remaining":976562,"Max":976562},
 "DataStorageMB":{"Remaining":1073,"Max":1073}}"#;

    #[test]
    fn limits_parse_and_give_api_usage() {
        let limits = OrgLimits::from_json(serde_json::from_str(LIMITS).expect("json"));
        assert_eq!(
            limits.daily_api_requests(),
            Some(ApiUsage {
                used: 2,
                max: 15000
            })
        );
        assert_eq!(
            limits.entries.get("DataStorageMB"),
            Some(&LimitFigure {
                max: 1073,
                remaining: 1073
            })
        );
        assert_eq!(limits.entries.len(), 5);
    }
}
