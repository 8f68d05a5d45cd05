//! The last hour, minute by minute, of what the sidecar itself counts: records read from
//! Salesforce (the reader's `sfsync_reader_records_total`) and the API allowance used and left (the
//! budget's gauges, from every `Sforce-Limit-Info`). A sampler reads those metrics every few seconds
//! into a ring of 60 minutes; nothing is stored anywhere else, so a restart starts an empty hour.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus::Registry;

use crate::shutdown::ShutdownSignal;

/// Minutes kept (and drawn).
pub const MINUTES: usize = 60;
/// How often the metrics are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

const RECORDS_READ: &str = "sfsync_reader_records_total";
const API_USED: &str = "sfsync_salesforce_api_calls_used";
const API_REMAINING: &str = "sfsync_salesforce_api_calls_remaining";

/// One minute of the ring; the minute is Unix seconds / 60 (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinuteSample {
    pub minute: i64,
    pub read: u64,
    pub api_used: Option<u64>,
    pub api_left: Option<u64>,
}

#[derive(Debug, Default)]
struct Ring {
    minutes: VecDeque<MinuteSample>,
    /// The counter at the previous sample: a minute's reads are the differences.
    last_total: Option<u64>,
}

/// The ring, shared by the sampler and the overview page.
#[derive(Debug, Default)]
pub struct History {
    ring: Mutex<Ring>,
}

impl History {
    /// Adds one sample taken in `minute`.
    pub fn record(
        &self,
        minute: i64,
        records_read_total: u64,
        api_used: Option<u64>,
        api_left: Option<u64>,
    ) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // a counter going down means the registry was replaced: count from the new value
        let read = match ring.last_total {
            Some(previous) if records_read_total >= previous => records_read_total - previous,
            _ => 0,
        };
        ring.last_total = Some(records_read_total);
        if ring.minutes.back().map(|last| last.minute) != Some(minute) {
            ring.minutes.push_back(MinuteSample {
                minute,
                ..MinuteSample::default()
            });
        }
        if let Some(current) = ring.minutes.back_mut() {
            current.read += read;
            if api_used.is_some() {
                current.api_used = api_used;
                current.api_left = api_left;
            }
        }
        while ring
            .minutes
            .front()
            .is_some_and(|first| first.minute <= minute - MINUTES as i64)
        {
            ring.minutes.pop_front();
        }
    }

    /// The hour ending with `now_minute`, oldest first, one entry per minute (zero reads and no
    /// API figures for minutes without a sample).
    pub fn last_hour(&self, now_minute: i64) -> Vec<MinuteSample> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        (0..MINUTES as i64)
            .rev()
            .map(|ago| now_minute - ago)
            .map(|minute| {
                ring.minutes
                    .iter()
                    .find(|sample| sample.minute == minute)
                    .copied()
                    .unwrap_or(MinuteSample {
                        minute,
                        ..MinuteSample::default()
                    })
            })
            .collect()
    }

    /// Samples `registry` until shutdown.
    pub async fn sample(&self, registry: Registry, mut shutdown: ShutdownSignal) {
        loop {
            let families = registry.gather();
            let read = sum_of(&families, RECORDS_READ).unwrap_or(0.0) as u64;
            let used = sum_of(&families, API_USED).map(|value| value as u64);
            let left = sum_of(&families, API_REMAINING).map(|value| value as u64);
            // the gauges read 0/0 until Salesforce has reported any figures
            let (used, left) = match (used, left) {
                (Some(0), Some(0)) => (None, None),
                figures => figures,
            };
            self.record(current_minute(), read, used, left);
            tokio::select! {
                _ = shutdown.triggered() => return,
                _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            }
        }
    }
}

/// The current UTC minute (Unix seconds / 60).
pub fn current_minute() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(60)
}

/// The sum over all label values of a counter or gauge, if it is registered.
fn sum_of(families: &[prometheus::proto::MetricFamily], name: &str) -> Option<f64> {
    let family = families.iter().find(|family| family.name() == name)?;
    Some(
        family
            .get_metric()
            .iter()
            .map(|metric| {
                let counter = metric.get_counter();
                if counter.is_some() {
                    counter.value()
                } else {
                    metric.get_gauge().value()
                }
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_counted_per_minute_as_differences_of_the_counter() {
        let history = History::default();
        history.record(100, 10, None, None);
        history.record(100, 25, Some(7), Some(993));
        history.record(101, 40, None, None);
        history.record(103, 41, Some(9), Some(991));
        let hour = history.last_hour(103);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(hour[MINUTES - 1].minute, 103);
        let reads: Vec<u64> = hour[MINUTES - 4..].iter().map(|m| m.read).collect();
        // the first sample only sets the baseline
        assert_eq!(reads, [15, 15, 0, 1]);
        assert_eq!(hour[MINUTES - 4].api_used, Some(7));
        assert_eq!(hour[MINUTES - 3].api_used, None);
        assert_eq!(hour[MINUTES - 1].api_left, Some(991));
    }

    #[test]
    fn minutes_older_than_an_hour_are_dropped() {
        let history = History::default();
        history.record(0, 0, None, None);
        history.record(1, 5, None, None);
        history.record(61, 6, None, None);
        let ring = history.ring.lock().unwrap();
        assert_eq!(
            ring.minutes.iter().map(|m| m.minute).collect::<Vec<_>>(),
            [61]
        );
    }

    #[test]
    fn registered_metrics_are_summed_over_their_labels() {
        let registry = Registry::new();
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new(RECORDS_READ, "test"),
            &["object"],
        )
        .unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.with_label_values(&["Account"]).inc_by(3);
        counter.with_label_values(&["Contact"]).inc_by(4);
        assert_eq!(sum_of(&registry.gather(), RECORDS_READ), Some(7.0));
        assert_eq!(sum_of(&registry.gather(), API_USED), None);
    }
}
