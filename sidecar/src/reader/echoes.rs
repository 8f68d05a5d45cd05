//! Change events that echo our own writer's changes while the writer has not recorded their outcome
//! yet: they are read back a little later (so the row gets the writer's result first), and at the
//! latest after some patience, when they are applied whatever the writer says.

use std::time::Duration;

use tokio::time::Instant;

/// Echoes waiting this long are applied whatever the writer has recorded.
const ECHO_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Echoes {
    /// Record ids waiting, in arrival order.
    waiting: Vec<String>,
    /// When the oldest of them arrived.
    since: Option<Instant>,
}

impl Echoes {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// What an applied batch deferred (`deferred` empty: nothing was).
    pub fn defer(&mut self, deferred: &[String]) {
        if !deferred.is_empty() {
            self.since.get_or_insert_with(Instant::now);
            for id in deferred {
                if !self.waiting.contains(id) {
                    self.waiting.push(id.clone());
                }
            }
        } else if self.waiting.is_empty() {
            self.since = None;
        }
    }

    /// The records to read back now, and whether patience ran out (apply them regardless).
    pub fn take(&mut self) -> (Vec<String>, bool) {
        let force = self
            .since
            .is_some_and(|since| since.elapsed() >= ECHO_PATIENCE);
        (std::mem::take(&mut self.waiting), force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_waits_once_and_patience_starts_with_the_first() {
        let mut echoes = Echoes::default();
        echoes.defer(&[]);
        assert!(echoes.is_empty());
        echoes.defer(&["001A".to_string(), "001B".to_string()]);
        echoes.defer(&["001A".to_string()]);
        let (ids, force) = echoes.take();
        assert_eq!(ids, ["001A", "001B"]);
        assert!(!force, "patience has not run out");
        assert!(echoes.is_empty());
        // a batch that defers nothing once every echo was read back ends the wait
        echoes.defer(&[]);
        assert!(echoes.since.is_none());
    }
}
