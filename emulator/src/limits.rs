//! Org limits: the daily API allowance that every `/services/data` call spends, plus the other `/limits` entries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::{json, Map, Value as Json};

/// API usage counters and the static limits `/limits` reports.
#[derive(Debug)]
pub struct OrgLimits {
    api_max: AtomicU64,
    api_used: AtomicU64,
    /// Other limits by name: (Max, Remaining).
    others: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl OrgLimits {
    pub fn new(daily_api_limit: u64) -> OrgLimits {
        let others = [
            ("DailyBulkApiBatches", 15_000),
            ("DailyBulkV2QueryJobs", 10_000),
            ("DailyBulkV2QueryFileStorageMB", 976_562),
            ("DataStorageMB", 1_073),
            ("FileStorageMB", 1_073),
            ("DailyAsyncApexExecutions", 250_000),
            ("DailyStreamingApiEvents", 1_000_000),
            ("MonthlyPlatformEventsUsageEntitlement", 0),
            ("HourlyPublishedStandardVolumePlatformEvents", 100_000),
            ("DailyDeliveredPlatformEvents", 50_000),
            ("ConcurrentAsyncGetReportInstances", 200),
            ("HourlyODataCallout", 10_000),
        ]
        .into_iter()
        .map(|(name, max)| (name.to_string(), (max, max)))
        .collect();
        OrgLimits {
            api_max: AtomicU64::new(daily_api_limit),
            api_used: AtomicU64::new(0),
            others: Mutex::new(others),
        }
    }

    /// Spends one API request; `false` (and nothing spent) once usage has reached the limit.
    pub fn try_spend(&self) -> bool {
        let max = self.api_max.load(Ordering::Relaxed);
        self.api_used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < max).then_some(used + 1)
            })
            .is_ok()
    }

    pub fn usage(&self) -> (u64, u64) {
        (
            self.api_used.load(Ordering::Acquire),
            self.api_max.load(Ordering::Acquire),
        )
    }

    /// `api-usage=N/M`.
    pub fn header_value(&self) -> String {
        let (used, max) = self.usage();
        format!("api-usage={used}/{max}")
    }

    /// Spends from another named limit (e.g. `DailyBulkV2QueryJobs`); `false` once exhausted.
    pub fn try_spend_other(&self, name: &str, amount: u64) -> bool {
        let mut others = self.others.lock();
        match others.get_mut(name) {
            Some((_, remaining)) if *remaining >= amount => {
                *remaining -= amount;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Applies `PUT /__emulator/limits`: `{"Name": {"Max": N, "Remaining": M}}`; returns unknown names.
    pub fn apply(&self, body: &Map<String, Json>) -> Result<(), String> {
        for (name, entry) in body {
            let max = entry.get("Max").and_then(Json::as_u64);
            let remaining = entry.get("Remaining").and_then(Json::as_u64);
            if name == "DailyApiRequests" {
                let max = max.unwrap_or_else(|| self.api_max.load(Ordering::Acquire));
                self.api_max.store(max, Ordering::Release);
                if let Some(remaining) = remaining {
                    self.api_used
                        .store(max.saturating_sub(remaining), Ordering::Release);
                }
                continue;
            }
            let mut others = self.others.lock();
            let Some(slot) = others.get_mut(name) else {
                return Err(name.clone());
            };
            let max = max.unwrap_or(slot.0);
            *slot = (max, remaining.unwrap_or(max).min(max));
        }
        Ok(())
    }

    /// Forgets usage (reset).
    pub fn reset_usage(&self) {
        self.api_used.store(0, Ordering::Release);
        for (max, remaining) in self.others.lock().values_mut() {
            *remaining = *max;
        }
    }

    /// The `/limits` body. API ≤ 48.0 names the Bulk batches limit `DailyBulkApiRequests`.
    pub fn to_json(&self, api_version: f64) -> Json {
        let (used, max) = self.usage();
        let mut body = Map::new();
        body.insert(
            "DailyApiRequests".into(),
            json!({"Max": max, "Remaining": max.saturating_sub(used)}),
        );
        for (name, (max, remaining)) in self.others.lock().iter() {
            let key = if name == "DailyBulkApiBatches" && api_version < 49.0 {
                "DailyBulkApiRequests"
            } else {
                name.as_str()
            };
            body.insert(key.to_string(), json!({"Max": max, "Remaining": remaining}));
        }
        Json::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_stops_at_the_limit_until_lowered() {
        let limits = OrgLimits::new(2);
        assert!(limits.try_spend());
        assert!(limits.try_spend());
        assert!(!limits.try_spend());
        assert_eq!(limits.header_value(), "api-usage=2/2");
        let body = serde_json::from_value(json!({"DailyApiRequests": {"Max": 2, "Remaining": 1}}))
            .expect("map");
        limits.apply(&body).expect("known limit");
        assert!(limits.try_spend());
    }
}
