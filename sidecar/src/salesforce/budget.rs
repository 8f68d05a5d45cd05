//! API budget: tracks `Sforce-Limit-Info: api-usage=N/M` from every response and refuses calls that
//! would spend the configured reserve of the org's daily allowance.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::config::ApiReserve;
use crate::metrics::SalesforceMetrics;

pub const LIMIT_INFO_HEADER: &str = "Sforce-Limit-Info";

/// Calls used and the daily maximum, as Salesforce last reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl ApiUsage {
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }
}

/// Reads `api-usage=N/M` out of a `Sforce-Limit-Info` value (other entries such as
/// `per-app-api-usage=...` may sit beside it, comma-separated).
pub fn parse_limit_info(value: &str) -> Option<ApiUsage> {
    value.split(',').find_map(|entry| {
        let figures = entry.trim().strip_prefix("api-usage=")?;
        let (used, max) = figures.split_once('/')?;
        Some(ApiUsage {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

pub fn usage_from_headers(headers: &HeaderMap) -> Option<ApiUsage> {
    headers
        .get(LIMIT_INFO_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_limit_info)
}

/// Why a call was refused locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetRefusal {
    pub used: u64,
    pub max: u64,
    pub reserve: u64,
    pub retry_after: Duration,
}

/// The figures when only the reserve is left: calls used, the daily maximum, the reserved calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveReached {
    pub used: u64,
    pub max: u64,
    pub reserve: u64,
}

#[derive(Debug, Default)]
struct BudgetState {
    usage: Option<ApiUsage>,
    /// When the figures were last refreshed, or when the last probe call was let through.
    refreshed_at: Option<Instant>,
}

/// Shared by every task using the client.
pub struct ApiBudget {
    reserve: ApiReserve,
    /// While at the reserve, one call is let through this often to learn whether calls were freed
    /// (the allowance is a rolling 24-hour window, so usage drops on its own).
    probe_interval: Duration,
    state: Mutex<BudgetState>,
    metrics: SalesforceMetrics,
}

impl ApiBudget {
    pub fn new(reserve: ApiReserve, probe_interval: Duration, metrics: SalesforceMetrics) -> Self {
        Self {
            reserve,
            probe_interval,
            state: Mutex::new(BudgetState::default()),
            metrics,
        }
    }

    pub fn reserve(&self) -> ApiReserve {
        self.reserve
    }

    /// The latest figures, if Salesforce reported any yet.
    pub fn usage(&self) -> Option<ApiUsage> {
        self.lock().usage
    }

    /// Records figures from a response header or `/limits`.
    pub fn record(&self, usage: ApiUsage) {
        let mut state = self.lock();
        state.usage = Some(usage);
        state.refreshed_at = Some(Instant::now());
        self.metrics.record_usage(usage.used, usage.max);
    }

    /// Records a `REQUEST_LIMIT_EXCEEDED` answer: the allowance is spent whatever we believed.
    pub fn record_limit_exceeded(&self) {
        let mut state = self.lock();
        let max = state.usage.map(|usage| usage.max).unwrap_or(0);
        let used = state.usage.map(|usage| usage.used.max(max)).unwrap_or(0);
        state.usage = Some(ApiUsage { used, max });
        state.refreshed_at = Some(Instant::now());
        self.metrics.record_usage(used, max);
    }

    /// Whether the last figures Salesforce reported leave nothing but the reserve (or less) to
    /// spend: what [`ApiBudget::admit`] refuses on, without letting a probe through. Unknown usage
    /// is not at the reserve.
    pub fn at_reserve(&self) -> Option<ReserveReached> {
        let usage = self.lock().usage?;
        let reserve = self.reserve.calls_out_of(usage.max);
        let spendable = usage.max.saturating_sub(reserve);
        (usage.used >= spendable || usage.max == 0).then_some(ReserveReached {
            used: usage.used,
            max: usage.max,
            reserve,
        })
    }

    pub fn probe_interval(&self) -> Duration {
        self.probe_interval
    }

    /// Allows a call unless it would eat into the reserve. At the reserve, one probe call per
    /// `probe_interval` goes through so fresh figures can reopen the budget.
    pub fn admit(&self) -> Result<(), BudgetRefusal> {
        let mut state = self.lock();
        let Some(usage) = state.usage else {
            return Ok(());
        };
        let reserve = self.reserve.calls_out_of(usage.max);
        let spendable = usage.max.saturating_sub(reserve);
        if usage.used < spendable && usage.max > 0 {
            return Ok(());
        }
        let since_refresh = state
            .refreshed_at
            .map(|at| at.elapsed())
            .unwrap_or(self.probe_interval);
        if since_refresh >= self.probe_interval {
            state.refreshed_at = Some(Instant::now());
            return Ok(());
        }
        Err(BudgetRefusal {
            used: usage.used,
            max: usage.max,
            reserve,
            retry_after: self.probe_interval - since_refresh,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(reserve: ApiReserve, probe: Duration) -> ApiBudget {
        ApiBudget::new(
            reserve,
            probe,
            SalesforceMetrics::unregistered().expect("metrics"),
        )
    }

    #[test]
    fn limit_info_header_parses() {
        assert_eq!(
            parse_limit_info("api-usage=10018/100000"),
            Some(ApiUsage {
                used: 10018,
                max: 100000
            })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=sample), api-usage=25/5000"),
            Some(ApiUsage {
                used: 25,
                max: 5000
            })
        );
        assert_eq!(parse_limit_info("garbage"), None);
    }

    #[test]
    fn calls_stop_at_the_reserve() {
        let budget = budget(ApiReserve::Percent(10.0), Duration::from_secs(300));
        assert!(budget.admit().is_ok(), "unknown usage lets calls through");
        budget.record(ApiUsage {
            used: 899,
            max: 1000,
        });
        assert!(
            budget.admit().is_ok(),
            "the 900th call is still outside the reserve"
        );
        budget.record(ApiUsage {
            used: 900,
            max: 1000,
        });
        let refusal = budget.admit().expect_err("the reserve is untouchable");
        assert_eq!(refusal.reserve, 100);
        assert!(refusal.retry_after > Duration::from_secs(250));
    }

    #[test]
    fn a_probe_goes_through_after_the_interval() {
        let budget = budget(ApiReserve::Calls(5), Duration::from_millis(50));
        budget.record(ApiUsage { used: 95, max: 100 });
        assert!(budget.admit().is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(budget.admit().is_ok(), "one probe after the interval");
        assert!(budget.admit().is_err(), "but only one");
        budget.record(ApiUsage { used: 10, max: 100 });
        assert!(budget.admit().is_ok(), "fresh figures reopen the budget");
    }

    #[test]
    fn at_reserve_follows_the_figures_without_spending_a_probe() {
        let budget = budget(ApiReserve::Percent(10.0), Duration::from_millis(1));
        assert_eq!(budget.at_reserve(), None, "unknown usage");
        budget.record(ApiUsage {
            used: 899,
            max: 1000,
        });
        assert_eq!(budget.at_reserve(), None);
        budget.record(ApiUsage {
            used: 950,
            max: 1000,
        });
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            budget.at_reserve(),
            Some(ReserveReached {
                used: 950,
                max: 1000,
                reserve: 100
            })
        );
        assert!(
            budget.admit().is_ok(),
            "asking did not use up the probe call"
        );
        budget.record(ApiUsage {
            used: 10,
            max: 1000,
        });
        assert_eq!(budget.at_reserve(), None, "calls were freed");
    }

    #[test]
    fn limit_exceeded_closes_the_budget() {
        let budget = budget(ApiReserve::Percent(0.0), Duration::from_secs(60));
        budget.record(ApiUsage { used: 10, max: 100 });
        budget.record_limit_exceeded();
        assert_eq!(
            budget.usage(),
            Some(ApiUsage {
                used: 100,
                max: 100
            })
        );
        assert!(budget.admit().is_err());
    }
}
