//! What a mapping reader knows about the object's schema between describes: the mapped fields
//! Salesforce no longer has (left out of every query), the drift note shown in `state_detail`, and
//! when to describe again (on a timer, or at once when a query names an unknown field).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::catalog::Mapping;
use super::drift::Drift;

/// A query naming a field Salesforce does not know triggers a describe at most this often.
const FORCED_DESCRIBE_INTERVAL: Duration = Duration::from_secs(60);

pub struct SchemaWatch {
    /// Mapped fields Salesforce no longer has (lower-case): left out of every query.
    pub skipped: BTreeSet<String>,
    pub note: Option<String>,
    pub next_describe: Instant,
    /// When a query last failed with INVALID_FIELD and a describe was tried before reporting it
    /// (at most once a minute, so an invalid filter cannot spin).
    forced_at: Option<Instant>,
}

impl Default for SchemaWatch {
    fn default() -> Self {
        Self {
            skipped: BTreeSet::new(),
            note: None,
            next_describe: Instant::now(),
            forced_at: None,
        }
    }
}

impl SchemaWatch {
    /// A query named a field Salesforce does not know: describe now, unless that was tried less
    /// than a minute ago (then the failure is reported like any other). Returns whether it will.
    pub fn force_describe(&mut self) -> bool {
        if self
            .forced_at
            .is_some_and(|at| at.elapsed() < FORCED_DESCRIBE_INTERVAL)
        {
            return false;
        }
        self.forced_at = Some(Instant::now());
        self.next_describe = Instant::now();
        true
    }

    /// A describe was done: the next one is due after `interval`.
    pub fn described(&mut self, interval: Duration) {
        self.next_describe = Instant::now() + interval;
    }

    /// Takes in the drift a describe found, logging when the note changes.
    pub fn apply(&mut self, mapping: &Mapping, drift: Drift) {
        let note = drift.note(&mapping.object_name);
        if note != self.note {
            match &note {
                Some(note) => tracing::warn!(mapping = %mapping.label(), "{note}"),
                None => tracing::info!(mapping = %mapping.label(), "no schema drift any more"),
            }
        }
        self.skipped = drift.skipped_fields();
        self.note = note;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_field_forces_a_describe_at_most_once_a_minute() {
        let mut watch = SchemaWatch::default();
        watch.described(Duration::from_secs(3600));
        assert!(watch.next_describe > Instant::now());
        assert!(watch.force_describe());
        assert!(watch.next_describe <= Instant::now());
        watch.described(Duration::from_secs(3600));
        assert!(
            !watch.force_describe(),
            "a second one within the minute is reported instead"
        );
    }
}
