//! Every Bulk API 2.0 job of the running emulator, by id, in creation order. Jobs live in memory only (they are
//! not part of the state file) and disappear on `DELETE` or `POST /__emulator/reset`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::ingest::IngestJob;
use super::job::JOB_KEY_PREFIX;
use super::query::QueryJob;
use crate::store::RecordId;

/// Jobs of one kind. Generated ids sort in creation order, so the map's order is the listing order.
#[derive(Debug)]
pub struct JobTable<T> {
    jobs: Mutex<BTreeMap<RecordId, Arc<T>>>,
}

impl<T> Default for JobTable<T> {
    fn default() -> Self {
        JobTable {
            jobs: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<T> JobTable<T> {
    pub fn insert(&self, id: RecordId, job: Arc<T>) {
        self.jobs.lock().insert(id, job);
    }

    /// The job with this id (15 or 18 characters).
    pub fn get(&self, id_text: &str) -> Option<Arc<T>> {
        let id = RecordId::parse(id_text)?;
        self.jobs.lock().get(&id).cloned()
    }

    pub fn remove(&self, id: &RecordId) -> Option<Arc<T>> {
        self.jobs.lock().remove(id)
    }

    /// Up to `limit` jobs after skipping `offset`, and whether more follow.
    pub fn page(&self, offset: usize, limit: usize) -> (Vec<Arc<T>>, bool) {
        let jobs = self.jobs.lock();
        let page: Vec<Arc<T>> = jobs.values().skip(offset).take(limit).cloned().collect();
        let more = jobs.len() > offset.saturating_add(page.len());
        (page, more)
    }

    pub fn clear(&self) {
        self.jobs.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The emulator's Bulk API 2.0 jobs.
#[derive(Debug, Default)]
pub struct BulkJobs {
    pub ingest: JobTable<IngestJob>,
    pub query: JobTable<QueryJob>,
    serial: AtomicU64,
}

impl BulkJobs {
    /// A fresh `750...` id, unique across ingest and query jobs.
    pub fn next_id(&self) -> RecordId {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        RecordId::generate(JOB_KEY_PREFIX, serial)
    }

    /// Forgets every job; running ingest jobs stop before their next batch.
    pub fn clear(&self) {
        let (running, _) = self.ingest.page(0, usize::MAX);
        for job in running {
            job.cancel();
        }
        self.ingest.clear();
        self.query.clear();
    }
}
