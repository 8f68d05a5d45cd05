//! Watching for what is worth an alert: every few seconds the sidecar's own connection reads the
//! mappings' states and queues and `sfsync._failures_since(<last seen>)` (and `sfsync.status()`'s
//! drift after a reconciliation finished), and [`Watcher`] (pure, no I/O)
//! compares them with what it saw before and turns edges into alerts:
//! - a mapping entering ERROR, and leaving it: back in SYNCED (or PAUSED). The states a mapping
//!   passes through while it retries (DESCRIBING, LOADING...) do not end the episode, so a mapping
//!   whose retries keep failing is announced once, not at every retry;
//! - a mapping's oldest queued change crossing above the lag threshold (once, until it is below
//!   again);
//! - a reconciliation that found drift (once per reconciliation: keyed on `last_reconciled_at`);
//! - the API allowance reaching the reserve (once, until it leaves the reserve);
//! - failed changes: at most one alert per mapping per minute, with the count of that window and
//!   its first errors.
//!
//! What was true before the sidecar started is not announced again, except a mapping already in
//! ERROR, already lagging or already at the reserve (a restart does not make those go away).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sfsync_protocol::MappingState;

use super::alert::{Alert, AlertDetails, FailedChange};
use super::deliver::Outbox;
use crate::db::monitoring::{self, Drift, MappingFailures, MappingHealth, MAX_ERRORS_PER_MAPPING};
use crate::db::{ClientPool, DbError};
use crate::runtime::RunContext;
use crate::salesforce::ReserveReached;

/// How often the database is looked at.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);
/// At most one `changes_failed` alert per mapping in this time.
pub const FAILURE_ALERT_INTERVAL: Duration = Duration::from_secs(60);
/// A `changes_failed` alert quotes at most this many errors.
pub const ERRORS_QUOTED: usize = 3;
/// Failures are read again from this long before the latest one seen: `processed_at` is the
/// finishing transaction's start, so a failure committed late carries an earlier time.
const FAILURE_OVERLAP_MICROS: i64 = 5_000_000;

/// One look at the world.
#[derive(Debug, Clone)]
pub struct Observation {
    pub at: DateTime<Utc>,
    pub mappings: Vec<MappingHealth>,
    /// Changes that failed since the previous observation.
    pub failures: Vec<MappingFailures>,
    pub reserve: Option<ReserveReached>,
}

/// What was seen of a mapping last time.
#[derive(Debug, Clone)]
struct Seen {
    /// In ERROR, or retrying since it was and not settled yet.
    in_error: bool,
    lagging: bool,
    last_reconciled_at: Option<i64>,
}

/// Failures seen but not announced yet (their mapping had an alert less than a minute ago).
#[derive(Debug, Clone)]
struct HeldFailures {
    count: i64,
    first_failed_at: DateTime<Utc>,
    last_failed_at: DateTime<Utc>,
    errors: Vec<FailedChange>,
}

/// The edge detection: feed it observations in order, it returns the alerts they call for.
pub struct Watcher {
    schema: String,
    lag_threshold: Duration,
    mappings: HashMap<String, Seen>,
    at_reserve: bool,
    held: HashMap<String, HeldFailures>,
    last_failure_alert: HashMap<String, DateTime<Utc>>,
}

impl Watcher {
    pub fn new(schema: &str, lag_threshold: Duration) -> Self {
        Self {
            schema: schema.to_string(),
            lag_threshold,
            mappings: HashMap::new(),
            at_reserve: false,
            held: HashMap::new(),
            last_failure_alert: HashMap::new(),
        }
    }

    pub fn observe(&mut self, observation: Observation) -> Vec<Alert> {
        let at = observation.at;
        let mut alerts = Vec::new();
        let mut present = HashMap::new();
        for health in observation.mappings {
            let previous = self.mappings.get(&health.object_name);
            let now = self.mapping_alerts(&health, previous, at, &mut alerts);
            present.insert(health.object_name, now);
        }
        // a dropped mapping is forgotten: created again, it starts afresh
        self.mappings = present;

        if let Some(reserve) = observation.reserve {
            if !self.at_reserve {
                alerts.push(self.alert(
                    None,
                    at,
                    AlertDetails::ApiReserve {
                        used: reserve.used,
                        limit: reserve.max,
                        reserve: reserve.reserve,
                    },
                ));
            }
        }
        self.at_reserve = observation.reserve.is_some();

        for failures in observation.failures {
            self.hold(failures);
        }
        self.release_failures(at, &mut alerts);
        alerts
    }

    fn mapping_alerts(
        &self,
        health: &MappingHealth,
        previous: Option<&Seen>,
        at: DateTime<Utc>,
        alerts: &mut Vec<Alert>,
    ) -> Seen {
        let object = Some(health.object_name.clone());
        let was_in_error = previous.is_some_and(|seen| seen.in_error);
        let in_error = match health.state {
            MappingState::Error => true,
            MappingState::Synced | MappingState::Paused => false,
            // passing through: a retry, or a load that may fail again
            MappingState::New
            | MappingState::Describing
            | MappingState::Loading
            | MappingState::Reloading => was_in_error,
        };
        if in_error && !was_in_error {
            alerts.push(self.alert(
                object.clone(),
                at,
                AlertDetails::MappingError {
                    state_detail: health.state_detail.clone(),
                },
            ));
        } else if was_in_error && !in_error {
            alerts.push(self.alert(
                object.clone(),
                at,
                AlertDetails::MappingRecovered {
                    state: health.state.as_str().to_string(),
                },
            ));
        }

        let threshold = self.lag_threshold.as_secs_f64();
        let lagging = health.lag_seconds.is_some_and(|lag| lag >= threshold);
        if lagging && !previous.is_some_and(|seen| seen.lagging) {
            alerts.push(self.alert(
                object.clone(),
                at,
                AlertDetails::QueueLag {
                    oldest_seconds: health.lag_seconds.unwrap_or(0.0).max(0.0) as u64,
                    threshold_seconds: self.lag_threshold.as_secs(),
                    pending: health.pending,
                },
            ));
        }

        // first sight sets the baseline: an old reconciliation's drift was announced before
        if let Some(seen) = previous {
            let reconciled_again = health.last_reconciled_at.is_some()
                && health.last_reconciled_at != seen.last_reconciled_at;
            let found = health.drift.found.unwrap_or(0);
            if reconciled_again && found > 0 {
                alerts.push(
                    self.alert(
                        object,
                        at,
                        AlertDetails::Drift {
                            found,
                            kinds: health.drift.kinds.clone().unwrap_or_default(),
                            reconciled_at: health
                                .last_reconciled_at
                                .and_then(DateTime::from_timestamp_micros),
                        },
                    ),
                );
            }
        }

        Seen {
            in_error,
            lagging,
            last_reconciled_at: health.last_reconciled_at,
        }
    }

    fn hold(&mut self, failures: MappingFailures) {
        if failures.failed <= 0 {
            return;
        }
        let first = micros(failures.first_failed_at);
        let last = micros(failures.last_failed_at);
        let errors = failures.errors.iter().map(FailedChange::from_json);
        let held = self
            .held
            .entry(failures.object_name)
            .or_insert_with(|| HeldFailures {
                count: 0,
                first_failed_at: first,
                last_failed_at: last,
                errors: Vec::new(),
            });
        held.count += failures.failed;
        held.first_failed_at = held.first_failed_at.min(first);
        held.last_failed_at = held.last_failed_at.max(last);
        // the oldest ones are quoted: they are where the trouble started
        let room = ERRORS_QUOTED.saturating_sub(held.errors.len());
        held.errors.extend(errors.take(room));
    }

    fn release_failures(&mut self, at: DateTime<Utc>, alerts: &mut Vec<Alert>) {
        let interval =
            chrono::Duration::from_std(FAILURE_ALERT_INTERVAL).unwrap_or(chrono::Duration::MAX);
        let mut due: Vec<String> = self
            .held
            .keys()
            .filter(|object| {
                self.last_failure_alert
                    .get(*object)
                    .is_none_or(|last| at - *last >= interval)
            })
            .cloned()
            .collect();
        due.sort();
        for object in due {
            let Some(held) = self.held.remove(&object) else {
                continue;
            };
            self.last_failure_alert.insert(object.clone(), at);
            alerts.push(self.alert(
                Some(object),
                at,
                AlertDetails::ChangesFailed {
                    count: held.count,
                    first_failed_at: held.first_failed_at,
                    last_failed_at: held.last_failed_at,
                    errors: held.errors,
                },
            ));
        }
    }

    fn alert(&self, object: Option<String>, at: DateTime<Utc>, details: AlertDetails) -> Alert {
        Alert {
            schema: self.schema.clone(),
            object,
            at,
            details,
        }
    }
}

fn micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}

/// Runs until shutdown, putting alerts in `outbox`. It cannot fail: a look that fails is logged and
/// tried again at the next interval (failures since the last successful look are not lost).
pub async fn run(context: RunContext, outbox: Outbox, lag_threshold: Duration) {
    let mut watcher = Watcher::new(&context.config.schema, lag_threshold);
    let mut reader = Reader {
        pool: ClientPool::new(context.database.clone(), 1),
        cursor: None,
        seen: HashMap::new(),
        drift: HashMap::new(),
        failing: Failing::default(),
    };
    let mut shutdown = context.shutdown.signal();
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        let Some(observation) = reader.look(&context).await else {
            continue;
        };
        for alert in watcher.observe(observation) {
            tracing::info!(
                kind = alert.kind().as_str(),
                object = alert.object.as_deref().unwrap_or(""),
                "alert"
            );
            outbox.send(alert);
        }
    }
}

/// Which reads are failing, so each outage is logged once (not every five seconds).
#[derive(Default)]
struct Failing {
    mappings: bool,
    failures: bool,
}

/// The I/O side of the watcher: what it read last and where the next failures read starts.
struct Reader {
    pool: Arc<ClientPool>,
    /// The latest failure time read (the database's clock, microseconds); the next
    /// `_failures_since` starts a little before it.
    cursor: Option<i64>,
    /// Change ids already counted, with the latest failure time of the read that listed them.
    seen: HashMap<i64, i64>,
    /// The drift last read per mapping, with the `last_reconciled_at` it belongs to.
    drift: HashMap<String, (Option<i64>, Drift)>,
    failing: Failing,
}

impl Reader {
    /// One observation, or None when the mappings cannot be read. When only the failures cannot
    /// be read (say, an extension without `_failures_since`), the rest is still watched and the
    /// failures are read from the same cursor once they can be.
    async fn look(&mut self, context: &RunContext) -> Option<Observation> {
        let mappings = match self.mappings().await {
            Ok(mappings) => {
                if std::mem::take(&mut self.failing.mappings) {
                    tracing::info!("alerts: the mappings can be read again");
                }
                mappings
            }
            Err(error) => {
                if !std::mem::replace(&mut self.failing.mappings, true) {
                    tracing::warn!(error = %crate::error_chain(&error), "alerts: cannot read the mappings' state; trying again every few seconds");
                }
                return None;
            }
        };
        let failures = match self.failures().await {
            Ok(failures) => {
                if std::mem::take(&mut self.failing.failures) {
                    tracing::info!("alerts: failed changes can be read again");
                }
                failures
            }
            Err(error) => {
                if !std::mem::replace(&mut self.failing.failures, true) {
                    tracing::warn!(error = %crate::error_chain(&error), "alerts: cannot read failed changes; trying again every few seconds");
                }
                Vec::new()
            }
        };
        Some(Observation {
            at: Utc::now(),
            mappings,
            failures,
            reserve: context.salesforce.budget().at_reserve(),
        })
    }

    /// The mappings, with the drift of their last reconciliation: `status()` (which counts every
    /// mapped table's rows) is read only when a mapping's `last_reconciled_at` moved.
    async fn mappings(&mut self) -> Result<Vec<MappingHealth>, DbError> {
        let client = self.pool.get().await?;
        let mut mappings = monitoring::mapping_health(&client).await?;
        let stale = mappings.iter().any(|health| {
            self.drift
                .get(&health.object_name)
                .is_none_or(|(reconciled_at, _)| *reconciled_at != health.last_reconciled_at)
        });
        if stale {
            let mut drift = monitoring::drift(&client).await?;
            self.drift = mappings
                .iter()
                .map(|health| {
                    let found = drift.remove(&health.object_name).unwrap_or_default();
                    (
                        health.object_name.clone(),
                        (health.last_reconciled_at, found),
                    )
                })
                .collect();
        }
        for health in &mut mappings {
            if let Some((_, drift)) = self.drift.get(&health.object_name) {
                health.drift = drift.clone();
            }
        }
        Ok(mappings)
    }

    /// The failures not seen before: read from a little before the cursor, without the change ids
    /// already counted.
    async fn failures(&mut self) -> Result<Vec<MappingFailures>, DbError> {
        let client = self.pool.get().await?;
        let (cursor, since) = match self.cursor {
            Some(cursor) => (cursor, cursor - FAILURE_OVERLAP_MICROS),
            // the first read: from now, no overlap (earlier failures were not ours to announce)
            None => {
                let now = monitoring::database_now(&client).await?;
                self.cursor = Some(now);
                (now, now)
            }
        };
        let read = monitoring::failures_since(&client, since, MAX_ERRORS_PER_MAPPING).await?;
        let latest = read
            .iter()
            .map(|failed| failed.last_failed_at)
            .max()
            .unwrap_or(cursor)
            .max(cursor);
        let mut fresh = Vec::new();
        for mut failures in read {
            let listed = failures.errors.len();
            let complete = i64::try_from(listed).unwrap_or(i64::MAX) >= failures.failed;
            failures.errors.retain(|error| {
                error
                    .get("change_id")
                    .and_then(serde_json::Value::as_i64)
                    .is_none_or(|id| !self.seen.contains_key(&id))
            });
            let count = if complete {
                i64::try_from(failures.errors.len()).unwrap_or(i64::MAX)
            } else {
                // more than are listed: count those after the cursor instead (a storm; the few
                // committed late in it are not worth an exact count)
                let after_cursor = monitoring::failures_since(&client, cursor, 0).await?;
                after_cursor
                    .iter()
                    .find(|later| later.object_name == failures.object_name)
                    .map(|later| later.failed)
                    .unwrap_or(0)
                    .max(i64::try_from(failures.errors.len()).unwrap_or(0))
            };
            for error in &failures.errors {
                if let Some(id) = error.get("change_id").and_then(serde_json::Value::as_i64) {
                    self.seen.insert(id, failures.last_failed_at);
                }
            }
            if count > 0 {
                failures.failed = count;
                fresh.push(failures);
            }
        }
        self.cursor = Some(latest);
        // an id older than the next read's start is never listed again
        let next_since = latest - FAILURE_OVERLAP_MICROS;
        self.seen
            .retain(|_, last_failed_at| *last_failed_at >= next_since);
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::*;

    const SECOND: i64 = 1_000_000;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a time")
    }

    fn health(object: &str, state: MappingState) -> MappingHealth {
        MappingHealth {
            object_name: object.into(),
            state,
            state_detail: None,
            pending: 0,
            lag_seconds: None,
            drift: Drift::default(),
            last_reconciled_at: None,
        }
    }

    fn look(seconds: i64, mappings: Vec<MappingHealth>) -> Observation {
        Observation {
            at: at(seconds),
            mappings,
            failures: Vec::new(),
            reserve: None,
        }
    }

    fn kinds(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|alert| alert.kind().as_str()).collect()
    }

    fn watcher() -> Watcher {
        Watcher::new("salesforce", Duration::from_secs(900))
    }

    #[test]
    fn entering_and_leaving_error_alert_once_each() {
        let mut watcher = watcher();
        assert!(watcher
            .observe(look(0, vec![health("Account", MappingState::Synced)]))
            .is_empty());
        let broken = MappingHealth {
            state_detail: Some("polling failed: timeout".into()),
            ..health("Account", MappingState::Error)
        };
        let alerts = watcher.observe(look(5, vec![broken.clone()]));
        assert_eq!(kinds(&alerts), ["mapping_error"]);
        assert_eq!(
            alerts[0].details,
            AlertDetails::MappingError {
                state_detail: Some("polling failed: timeout".into())
            }
        );
        assert!(
            watcher.observe(look(10, vec![broken])).is_empty(),
            "still in ERROR: nothing new"
        );
        let alerts = watcher.observe(look(15, vec![health("Account", MappingState::Synced)]));
        assert_eq!(kinds(&alerts), ["mapping_recovered"]);
        assert!(watcher
            .observe(look(20, vec![health("Account", MappingState::Synced)]))
            .is_empty());
    }

    #[test]
    fn retries_passing_through_other_states_are_one_error_episode() {
        let mut watcher = watcher();
        assert_eq!(
            kinds(&watcher.observe(look(0, vec![health("Account", MappingState::Error)]))),
            ["mapping_error"]
        );
        for (seconds, state) in [
            (5, MappingState::Describing),
            (10, MappingState::Error),
            (15, MappingState::Loading),
            (20, MappingState::Error),
            (25, MappingState::Describing),
            (30, MappingState::Loading),
        ] {
            assert!(
                watcher
                    .observe(look(seconds, vec![health("Account", state)]))
                    .is_empty(),
                "{state} at {seconds}s"
            );
        }
        let alerts = watcher.observe(look(35, vec![health("Account", MappingState::Synced)]));
        assert_eq!(kinds(&alerts), ["mapping_recovered"]);
        assert_eq!(
            alerts[0].details,
            AlertDetails::MappingRecovered {
                state: "SYNCED".into()
            }
        );
        // a new mapping loading for the first time is no episode
        assert!(watcher
            .observe(look(40, vec![health("Lead", MappingState::Loading)]))
            .is_empty());
    }

    #[test]
    fn a_mapping_first_seen_in_error_is_announced() {
        let mut watcher = watcher();
        let alerts = watcher.observe(look(0, vec![health("Lead", MappingState::Error)]));
        assert_eq!(kinds(&alerts), ["mapping_error"]);
        assert_eq!(alerts[0].object.as_deref(), Some("Lead"));
    }

    #[test]
    fn lag_alerts_once_until_it_drops_below_the_threshold() {
        let mut watcher = Watcher::new("salesforce", Duration::from_secs(60));
        let lag = |seconds: Option<f64>| MappingHealth {
            lag_seconds: seconds,
            pending: 4,
            ..health("Account", MappingState::Synced)
        };
        assert!(watcher.observe(look(0, vec![lag(Some(59.9))])).is_empty());
        let alerts = watcher.observe(look(5, vec![lag(Some(61.5))]));
        assert_eq!(kinds(&alerts), ["queue_lag"]);
        assert_eq!(
            alerts[0].details,
            AlertDetails::QueueLag {
                oldest_seconds: 61,
                threshold_seconds: 60,
                pending: 4
            }
        );
        assert!(watcher.observe(look(10, vec![lag(Some(300.0))])).is_empty());
        assert!(watcher.observe(look(15, vec![lag(None)])).is_empty());
        assert_eq!(
            kinds(&watcher.observe(look(20, vec![lag(Some(60.0))]))),
            ["queue_lag"],
            "lagging again after it dropped"
        );
    }

    #[test]
    fn drift_alerts_once_per_reconciliation_that_found_some() {
        let mut watcher = watcher();
        let found = serde_json::from_value::<Map<String, Value>>(
            json!({"missing": 2, "vanished": 0, "stale": 1}),
        )
        .expect("map");
        let reconciled = |when: Option<i64>, drift: i64| MappingHealth {
            last_reconciled_at: when,
            drift: Drift {
                found: Some(drift),
                kinds: Some(found.clone()),
            },
            ..health("Account", MappingState::Synced)
        };
        assert!(
            watcher
                .observe(look(0, vec![reconciled(Some(SECOND), 3)]))
                .is_empty(),
            "a reconciliation from before the start is not announced again"
        );
        assert!(watcher
            .observe(look(5, vec![reconciled(Some(SECOND), 3)]))
            .is_empty());
        let alerts = watcher.observe(look(10, vec![reconciled(Some(9 * SECOND), 3)]));
        assert_eq!(kinds(&alerts), ["drift"]);
        let AlertDetails::Drift {
            found: count,
            kinds: per_kind,
            reconciled_at,
        } = &alerts[0].details
        else {
            panic!("{alerts:?}");
        };
        assert_eq!((*count, per_kind["missing"].as_i64()), (3, Some(2)));
        assert_eq!(*reconciled_at, DateTime::from_timestamp(9, 0));
        assert!(watcher
            .observe(look(15, vec![reconciled(Some(9 * SECOND), 3)]))
            .is_empty());
        assert!(
            watcher
                .observe(look(20, vec![reconciled(Some(20 * SECOND), 0)]))
                .is_empty(),
            "a clean reconciliation is no alert"
        );
        // never reconciled before, then reconciled with drift
        let mut fresh = self::watcher();
        assert!(fresh
            .observe(look(0, vec![health("Account", MappingState::Synced)]))
            .is_empty());
        assert_eq!(
            kinds(&fresh.observe(look(5, vec![reconciled(Some(SECOND), 3)]))),
            ["drift"]
        );
    }

    #[test]
    fn the_reserve_alerts_once_until_it_is_left() {
        let mut watcher = watcher();
        let reserve = ReserveReached {
            used: 95_000,
            max: 100_000,
            reserve: 10_000,
        };
        let with_reserve = |seconds, reserve| Observation {
            reserve,
            ..look(seconds, Vec::new())
        };
        assert!(watcher.observe(with_reserve(0, None)).is_empty());
        let alerts = watcher.observe(with_reserve(5, Some(reserve)));
        assert_eq!(kinds(&alerts), ["api_reserve"]);
        assert_eq!(alerts[0].object, None);
        assert!(watcher.observe(with_reserve(10, Some(reserve))).is_empty());
        assert!(watcher.observe(with_reserve(15, None)).is_empty());
        assert_eq!(
            kinds(&watcher.observe(with_reserve(20, Some(reserve)))),
            ["api_reserve"]
        );
    }

    fn failed(object: &str, count: i64, first: i64, codes: &[&str]) -> MappingFailures {
        MappingFailures {
            object_name: object.into(),
            failed: count,
            first_failed_at: first * SECOND,
            last_failed_at: (first + 1) * SECOND,
            errors: codes
                .iter()
                .map(|code| {
                    json!({"change_id": 1, "sfid": null, "record_id": 2, "action": "INSERT",
                                    "code": code, "message": "no", "fields": null})
                })
                .collect(),
        }
    }

    #[test]
    fn failures_alert_at_most_once_per_mapping_per_minute_with_the_window_counted() {
        let mut watcher = watcher();
        let with_failures = |seconds, failures| Observation {
            failures,
            ..look(seconds, Vec::new())
        };
        let alerts = watcher.observe(with_failures(0, vec![failed("Account", 2, 1, &["A", "B"])]));
        assert_eq!(kinds(&alerts), ["changes_failed"], "the first is at once");
        let AlertDetails::ChangesFailed { count, errors, .. } = &alerts[0].details else {
            panic!("{alerts:?}");
        };
        assert_eq!((*count, errors.len()), (2, 2));

        // more within the minute are held, and counted together
        assert!(watcher
            .observe(with_failures(
                10,
                vec![failed("Account", 5, 10, &["C", "D", "E"])]
            ))
            .is_empty());
        assert!(watcher
            .observe(with_failures(30, vec![failed("Account", 1, 30, &["F"])]))
            .is_empty());
        // another mapping has its own minute
        assert_eq!(
            kinds(&watcher.observe(with_failures(35, vec![failed("Contact", 1, 35, &["G"])]))),
            ["changes_failed"]
        );
        assert!(watcher.observe(with_failures(59, Vec::new())).is_empty());
        let alerts = watcher.observe(with_failures(60, Vec::new()));
        assert_eq!(
            kinds(&alerts),
            ["changes_failed"],
            "released after a minute"
        );
        let AlertDetails::ChangesFailed {
            count,
            errors,
            first_failed_at,
            last_failed_at,
        } = &alerts[0].details
        else {
            panic!("{alerts:?}");
        };
        assert_eq!(alerts[0].object.as_deref(), Some("Account"));
        assert_eq!(*count, 6);
        let codes: Vec<_> = errors.iter().map(|e| e.code.as_deref()).collect();
        assert_eq!(codes, [Some("C"), Some("D"), Some("E")], "the oldest three");
        assert_eq!(
            (*first_failed_at, *last_failed_at),
            (
                DateTime::from_timestamp(10, 0).expect("t"),
                DateTime::from_timestamp(31, 0).expect("t")
            )
        );
        assert!(
            watcher.observe(with_failures(200, Vec::new())).is_empty(),
            "nothing held, nothing sent"
        );
    }
}
