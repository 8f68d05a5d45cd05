//! Where a mapping reader reads from: the floor its polls start at when the mapping has no
//! high-water mark yet, and the getDeleted sweep with when it runs next. Rebuilt from the row's
//! typed columns (`last_read_at`, `deleted_swept_at`) when a worker takes a mapping over.

use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use tokio::time::Instant;

use super::catalog::Mapping;
use super::sweep::DeleteSweep;

/// Delete sweeps run at least this often...
pub const SWEEP_MAX_INTERVAL: Duration = Duration::from_secs(300);
/// ...and at most this often.
const SWEEP_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// On start, sweeps begin this long before the last read (the last sweep was at most one interval
/// before it).
const SWEEP_RESTART_MARGIN: TimeDelta = TimeDelta::minutes(10);

pub struct ReadPosition {
    sweep: Option<DeleteSweep>,
    pub next_sweep: Instant,
    /// Where polling starts when the mapping has no high-water mark yet.
    poll_floor: Option<DateTime<Utc>>,
}

impl Default for ReadPosition {
    fn default() -> Self {
        Self {
            sweep: None,
            next_sweep: Instant::now(),
            poll_floor: None,
        }
    }
}

impl ReadPosition {
    /// Where polling and delete sweeps start when this worker takes over a loaded mapping.
    pub fn take_over(&mut self, mapping: &Mapping) {
        let last_read = mapping.last_read_at.unwrap_or_else(Utc::now);
        self.poll_floor = Some(last_read);
        let swept = mapping
            .deleted_swept_at
            .unwrap_or(last_read - SWEEP_RESTART_MARGIN);
        self.sweep = Some(DeleteSweep::since(swept));
    }

    /// A full read that began at `started_at` covers everything before it.
    pub fn after_full_read(&mut self, started_at: DateTime<Utc>) {
        self.poll_floor = Some(started_at);
        self.sweep = Some(DeleteSweep::since(started_at));
    }

    /// Where the next poll starts: the high-water mark (or what stands in for it) less the
    /// re-read window.
    pub fn poll_since(&self, fresh: &Mapping, window: TimeDelta) -> DateTime<Utc> {
        let floor = fresh
            .hwm
            .or(self.poll_floor)
            .or(fresh.last_read_at)
            .unwrap_or_else(|| Utc::now() - TimeDelta::days(1));
        floor - window
    }

    /// The sweep to run next (one starting a margin back when none is known).
    pub fn take_sweep(&mut self) -> DeleteSweep {
        self.sweep
            .take()
            .unwrap_or_else(|| DeleteSweep::since(Utc::now() - SWEEP_RESTART_MARGIN))
    }

    /// After a sweep ran (or failed): keep it, so the next one goes on from where it got to.
    pub fn swept(&mut self, sweep: DeleteSweep) {
        self.sweep = Some(sweep);
    }

    /// The next sweep after one that succeeded: every five polls, within bounds; while streaming
    /// (no polls to follow), at the longest interval.
    pub fn schedule_sweep(&mut self, poll_seconds: i32, streaming: bool) {
        let poll_seconds = u64::try_from(poll_seconds.max(1)).unwrap_or(60);
        let interval = if streaming {
            SWEEP_MAX_INTERVAL
        } else {
            Duration::from_secs(poll_seconds * 5).clamp(SWEEP_MIN_INTERVAL, SWEEP_MAX_INTERVAL)
        };
        self.next_sweep = Instant::now() + interval;
    }
}
