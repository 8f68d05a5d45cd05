//! The writer's route choice, Bulk API 2.0 or sObject Collections: which mappings have a backlog
//! large enough for Bulk (measured every few seconds while the queue does not drain, with
//! hysteresis so a draining backlog stays on Bulk while a job still fits), and what the next claim
//! asks for accordingly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::mapping::MappingCatalog;
use crate::db::queue;
use crate::db::DbError;

/// Records claimed at once while a Bulk-sized backlog drains (a claim's cost grows faster than its
/// size beyond a few thousand records, so jobs are filled from several claims).
const BULK_CLAIM_RECORDS: i32 = 2_000;
/// A Bulk job is only worth its fixed cost of about seven calls above this many writes.
pub const BULK_MIN_WRITES: usize = 2_000;
/// How often the backlog is measured while the queue does not drain.
const BACKLOG_CHECK: Duration = Duration::from_secs(2);

/// What the next claim asks for.
pub struct ClaimPlan {
    /// Records at most.
    pub batch: i32,
    /// Claim this mapping's changes only.
    pub mapping: Option<i64>,
    /// The mapping whose backlog this claim drains through Bulk.
    pub bulk: Option<i64>,
}

#[derive(Default)]
pub struct Route {
    /// Mappings with a Bulk-sized backlog, and about how many of its writes Bulk could carry.
    bulk_backlog: HashMap<i64, i64>,
    /// How many mappings had queued changes when the backlog was last measured.
    queued_mappings: usize,
    checked_at: Option<Instant>,
}

impl Route {
    /// Whether some backlog drains through Bulk now.
    pub fn is_bulk_draining(&self) -> bool {
        !self.bulk_backlog.is_empty()
    }

    /// Whether the backlog should be measured before the next claim (only while the queue does not
    /// drain: an empty queue has no backlog).
    pub fn due(&self, drained: bool) -> bool {
        !drained
            && self
                .checked_at
                .is_none_or(|at| at.elapsed() >= BACKLOG_CHECK)
    }

    pub async fn measure(
        &mut self,
        client: &Client,
        catalog: &MappingCatalog,
        bulk_threshold: u64,
    ) -> Result<(), DbError> {
        self.checked_at = Some(Instant::now());
        let upsert_columns: Vec<(i64, String)> = catalog
            .mappings()
            .filter_map(|mapping| Some((mapping.id, mapping.upsert_column.clone()?)))
            .collect();
        let backlog = queue::backlog(client, &upsert_columns).await?;
        self.queued_mappings = backlog.len();
        let threshold = i64::try_from(bulk_threshold).unwrap_or(i64::MAX);
        let draining = std::mem::take(&mut self.bulk_backlog);
        self.bulk_backlog = backlog
            .into_iter()
            .filter(|backlog| {
                // hysteresis: a backlog already draining through Bulk stays there while a job fits
                let entry = if draining.contains_key(&backlog.mapping_id) {
                    BULK_MIN_WRITES as i64
                } else {
                    threshold
                };
                backlog.creates_with_external_id >= entry || backlog.changes_by_id >= entry
            })
            .map(|backlog| {
                (
                    backlog.mapping_id,
                    backlog.creates_with_external_id.max(backlog.changes_by_id),
                )
            })
            .collect();
        if !self.bulk_backlog.is_empty() {
            tracing::debug!(mappings = ?self.bulk_backlog, "backlog large enough for Bulk API 2.0");
        }
        Ok(())
    }

    /// A Bulk-sized claim for the largest backlog, else `collections` records (enough to fill the
    /// free calls).
    pub fn next_claim(&self, collections: i32) -> ClaimPlan {
        let bulk = self
            .bulk_backlog
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(mapping, _)| *mapping);
        match bulk {
            // Naming the mapping makes the claim sort that mapping's whole queue; when it is the
            // only one with queued changes the claim in id order gets the same records faster.
            Some(_) if self.queued_mappings <= 1 => ClaimPlan {
                batch: BULK_CLAIM_RECORDS,
                mapping: None,
                bulk,
            },
            Some(mapping) => ClaimPlan {
                batch: BULK_CLAIM_RECORDS,
                mapping: Some(mapping),
                bulk,
            },
            None => ClaimPlan {
                batch: collections,
                mapping: None,
                bulk,
            },
        }
    }

    /// Counts a Bulk claim against its backlog; returns whether the queue looks drained.
    pub fn claimed(&mut self, plan: &ClaimPlan, claimed: usize) -> bool {
        let Some(mapping) = plan.bulk else {
            return claimed < plan.batch as usize;
        };
        let estimate = self.bulk_backlog.entry(mapping).or_default();
        *estimate -= claimed as i64;
        // Once a backlog drains through Bulk, it does until too little is left for a job.
        if *estimate < BULK_MIN_WRITES as i64 || claimed < plan.batch as usize {
            self.bulk_backlog.remove(&mapping);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_backlog_drains_through_bulk_until_too_little_is_left() {
        let mut route = Route {
            bulk_backlog: HashMap::from([(7, 5_000)]),
            queued_mappings: 2,
            checked_at: None,
        };
        let plan = route.next_claim(200);
        assert_eq!(
            (plan.batch, plan.mapping, plan.bulk),
            (2_000, Some(7), Some(7))
        );
        assert!(
            !route.claimed(&plan, 2_000),
            "a Bulk claim never reports drained"
        );
        assert!(route.is_bulk_draining(), "3,000 left: still a job");
        assert!(!route.claimed(&route.next_claim(200), 2_000));
        assert!(!route.is_bulk_draining(), "1,000 left: Collections again");
        let plan = route.next_claim(200);
        assert_eq!((plan.batch, plan.mapping, plan.bulk), (200, None, None));
        assert!(
            route.claimed(&plan, 10),
            "a short Collections claim means drained"
        );
    }

    #[test]
    fn a_lone_backlog_is_claimed_in_id_order() {
        let route = Route {
            bulk_backlog: HashMap::from([(7, 5_000)]),
            queued_mappings: 1,
            checked_at: None,
        };
        let plan = route.next_claim(200);
        assert_eq!((plan.mapping, plan.bulk), (None, Some(7)));
    }
}
