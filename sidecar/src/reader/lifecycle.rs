//! A mapping reader's lifecycle as typed data: the steps a worker can take (install, initial load,
//! reload, back-fill, follow), which one is due, and the phase a failure happened in. The decision
//! reads only typed state (the mapping's columns and what this worker knows in-process), never the
//! text of `state_detail`, which is for people and may be reworded at any time.

use super::catalog::Mapping;
use super::error::ReaderError;
use sfsync_protocol::MappingState;

/// The step that failed, named in `state_detail` and remembered in-process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Database,
    Describe,
    InitialLoad,
    Reload,
    Backfill,
    Polling,
    Streaming,
    Reconcile,
    Formulas,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Database => "reading the mapping",
            Phase::Describe => "describe",
            Phase::InitialLoad => "initial load",
            Phase::Reload => "reload",
            Phase::Backfill => "back-fill",
            Phase::Polling => "polling",
            Phase::Streaming => "streaming",
            Phase::Reconcile => "reconciliation",
            Phase::Formulas => "formula refresh",
        }
    }
}

pub type Failure = (Phase, ReaderError);

pub trait InPhase<T> {
    fn phase(self, phase: Phase) -> Result<T, Failure>;
}

impl<T, E: Into<ReaderError>> InPhase<T> for Result<T, E> {
    fn phase(self, phase: Phase) -> Result<T, Failure> {
        self.map_err(|error| (phase, error.into()))
    }
}

/// What this worker knows about its mapping beyond the row: kept in-process, lost on restart (and
/// then rebuilt from the row's typed columns).
#[derive(Debug, Default)]
pub struct Progress {
    /// The filter the worker follows; `None` until this worker has read or taken over the table.
    /// (`alter_mapping` requests a reconciliation when the filter changes: it reads what the new
    /// filter adds and removes what it drops.)
    pub loaded_filter: Option<Option<String>>,
    /// A reconciliation this worker decided on (deletes or change events may have been lost).
    pub reconcile_wanted: bool,
    /// The phase of the last failed step, cleared once a step succeeds.
    pub failed_in: Option<Phase>,
}

/// The step a worker takes next, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Paused: wait for the mapping to change.
    Wait,
    /// Describe and `_install_mapping` (new mapping, no plan yet, or a describe was requested).
    Install,
    /// The first full read of the table.
    InitialLoad,
    /// Read everything again and remove rows whose records are gone.
    Reload,
    /// Fill new columns by reading every record again.
    Backfill,
    /// Poll or stream until something needs attention.
    Follow,
}

impl Step {
    /// The step before the drift check: the ones that must not wait for a describe.
    pub fn before_drift_check(mapping: &Mapping) -> Option<Step> {
        if mapping.is_paused() {
            Some(Step::Wait)
        } else if mapping.columns.is_none()
            || mapping.describe_requested
            || mapping.state == MappingState::New
            || mapping.state == MappingState::Describing
        {
            Some(Step::Install)
        } else {
            None
        }
    }

    /// The step for an installed, unpaused mapping.
    pub fn after_drift_check(mapping: &Mapping, progress: &Progress) -> Step {
        if needs_initial_load(mapping, progress) {
            Step::InitialLoad
        } else if mapping.reload_requested || mapping.state == MappingState::Reloading {
            Step::Reload
        } else if !mapping.backfill_fields.is_empty() {
            Step::Backfill
        } else {
            Step::Follow
        }
    }
}

/// Whether the table still needs its first full read. A load stages every record and merges once,
/// and only that merge sets `last_read_at` before the mapping is followed: so a mapping in ERROR
/// with no `last_read_at` never finished its initial load. In-process, the failed phase says the
/// same for a load that merged but failed right after (the step is then repeated, as before).
fn needs_initial_load(mapping: &Mapping, progress: &Progress) -> bool {
    match mapping.state {
        MappingState::Loading => true,
        MappingState::Error => {
            mapping.last_read_at.is_none() || progress.failed_in == Some(Phase::InitialLoad)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn mapping(state: MappingState) -> Mapping {
        Mapping {
            state,
            columns: Some(Vec::new()),
            ..Mapping::example()
        }
    }

    fn taken_over(mapping: &Mapping) -> Progress {
        Progress {
            loaded_filter: Some(mapping.filter.clone()),
            ..Progress::default()
        }
    }

    #[test]
    fn a_failed_initial_load_is_retried_whatever_the_detail_says() {
        let mut failed = mapping(MappingState::Error);
        // the wording of the detail plays no part
        failed.state_detail = Some("something else entirely".into());
        let progress = taken_over(&failed);
        assert_eq!(
            Step::after_drift_check(&failed, &progress),
            Step::InitialLoad
        );
    }

    #[test]
    fn after_a_restart_a_mapping_that_was_read_is_followed_not_loaded_again() {
        let mut failed = mapping(MappingState::Error);
        failed.last_read_at = Some(Utc::now());
        failed.state_detail = Some("initial load failed: timeout; retrying in 5s".into());
        let progress = taken_over(&failed);
        assert_eq!(Step::after_drift_check(&failed, &progress), Step::Follow);
    }

    #[test]
    fn in_process_a_load_that_failed_after_its_merge_is_repeated() {
        let mut failed = mapping(MappingState::Error);
        failed.last_read_at = Some(Utc::now());
        let progress = Progress {
            failed_in: Some(Phase::InitialLoad),
            ..taken_over(&failed)
        };
        assert_eq!(
            Step::after_drift_check(&failed, &progress),
            Step::InitialLoad
        );
        let polling = Progress {
            failed_in: Some(Phase::Polling),
            ..taken_over(&failed)
        };
        assert_eq!(Step::after_drift_check(&failed, &polling), Step::Follow);
    }

    #[test]
    fn the_steps_keep_their_precedence() {
        assert_eq!(
            Step::before_drift_check(&mapping(MappingState::Paused)),
            Some(Step::Wait)
        );
        assert_eq!(
            Step::before_drift_check(&mapping(MappingState::New)),
            Some(Step::Install)
        );
        let loading = mapping(MappingState::Loading);
        assert_eq!(Step::before_drift_check(&loading), None);
        assert_eq!(
            Step::after_drift_check(&loading, &taken_over(&loading)),
            Step::InitialLoad
        );
        let mut synced = mapping(MappingState::Synced);
        synced.last_read_at = Some(Utc::now());
        // a filter other than the one followed is no reload: alter_mapping requested a reconciliation
        let other_filter = Progress {
            loaded_filter: Some(Some("Industry = 'Energy'".into())),
            ..Progress::default()
        };
        assert_eq!(
            Step::after_drift_check(&synced, &other_filter),
            Step::Follow
        );
        synced.reload_requested = true;
        assert_eq!(
            Step::after_drift_check(&synced, &taken_over(&synced)),
            Step::Reload
        );
        synced.reload_requested = false;
        synced.backfill_fields = vec!["Phone".into()];
        assert_eq!(
            Step::after_drift_check(&synced, &taken_over(&synced)),
            Step::Backfill
        );
    }
}
