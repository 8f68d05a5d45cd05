//! Health of the sidecar's parts, reported by `/healthz`: every part that registered must be healthy.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Shared health board; parts (writer, reader, ...) report themselves by name. Notes describe a
/// degraded but expected state (e.g. writing paused for API limits): shown by `/healthz`, not failing it.
#[derive(Default)]
pub struct Health {
    parts: Mutex<BTreeMap<String, Option<String>>>,
    notes: Mutex<BTreeMap<String, String>>,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_healthy(&self, part: &str) {
        self.lock().insert(part.to_string(), None);
    }

    pub fn set_unhealthy(&self, part: &str, reason: impl Into<String>) {
        self.lock().insert(part.to_string(), Some(reason.into()));
    }

    pub fn remove(&self, part: &str) {
        self.lock().remove(part);
    }

    /// Sets (or replaces) the note of `part`.
    pub fn set_note(&self, part: &str, note: impl Into<String>) {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(part.to_string(), note.into());
    }

    pub fn clear_note(&self, part: &str) {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(part);
    }

    /// Every part's note.
    pub fn notes(&self) -> Vec<(String, String)> {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(part, note)| (part.clone(), note.clone()))
            .collect()
    }

    /// `Ok` when every part is healthy, otherwise the failing parts and why.
    pub fn check(&self) -> Result<(), Vec<(String, String)>> {
        let failing: Vec<(String, String)> = self
            .lock()
            .iter()
            .filter_map(|(part, problem)| problem.clone().map(|problem| (part.clone(), problem)))
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<String>>> {
        self.parts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
