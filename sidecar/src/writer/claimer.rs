//! What a claim becomes: each record's claimed changes are merged into one write (or refused,
//! ignored, held back behind an interrupted insert), and the changes that will not be sent get
//! their results at once. Kept apart from the loop, which only decides when to claim.

use std::time::Duration;

use sfsync_protocol::ChangeResult;

use super::leases::Leases;
use super::mapping::MappingCatalog;
use super::metrics::WriterMetrics;
use super::operation::{group_by_record, plan_record, Operation, Plan};
use super::outcome::{change_results, ignored_results, retry_result, WriteError, WriteOutcome};
use crate::db::queue::ClaimedRow;

/// Changes of a mapping the writer does not know (yet) are released for this long.
const UNKNOWN_MAPPING_RETRY: Duration = Duration::from_secs(5);

/// A claim sorted out.
pub struct Triage {
    /// Writes to send, each now counted under its lease.
    pub operations: Vec<Operation>,
    /// Results for `_complete_changes` of the changes that are not sent.
    pub finished: Vec<ChangeResult>,
}

/// Sorts claimed rows into writes and immediate results, by record.
pub fn triage(
    rows: Vec<ClaimedRow>,
    catalog: &MappingCatalog,
    leases: &mut Leases,
    metrics: &WriterMetrics,
) -> Triage {
    let mut operations: Vec<Operation> = Vec::new();
    let mut finished: Vec<ChangeResult> = Vec::new();
    for group in group_by_record(rows) {
        let Some(mapping) = catalog.get(group[0].mapping_id).cloned() else {
            let error = WriteError::new(
                "UNKNOWN_MAPPING",
                "the mapping of this change is not known to the writer (yet)",
            );
            finished.extend(group.iter().map(|row| {
                retry_result(
                    row.change_id,
                    &row.lease_token,
                    &error,
                    Some(UNKNOWN_MAPPING_RETRY),
                )
            }));
            continue;
        };
        match plan_record(&mapping, &group) {
            Plan::Send(operation) => match operation.check_sent_id() {
                Ok(()) => {
                    leases.hold(&operation.token);
                    operations.push(operation);
                }
                // never sent; FAILED on the row and the queue as a Salesforce refusal would be
                Err(error) => {
                    tracing::warn!(object = %mapping.object, record_id = operation.record_id, message = %error.message, "refusing to send a change");
                    metrics.count(&mapping.object, "failed", 1);
                    metrics.count(&mapping.object, "merged", operation.merged.len() as u64);
                    finished.extend(change_results(&operation, &WriteOutcome::Failed(error)));
                }
            },
            Plan::SendFirst {
                operation,
                held_back,
            } => {
                let error = WriteError::new(
                    "WAITS_FOR_INSERT",
                    "waits for the insert of its record, resent after an interrupted attempt",
                );
                finished.extend(
                    held_back.iter().map(|id| {
                        retry_result(*id, &operation.token, &error, Some(Duration::ZERO))
                    }),
                );
                leases.hold(&operation.token);
                operations.push(operation);
            }
            Plan::Ignore {
                change_ids,
                token,
                reason,
            } => {
                metrics.count(&mapping.object, "ignored", change_ids.len() as u64);
                finished.extend(ignored_results(&change_ids, &token, reason));
            }
        }
    }
    Triage {
        operations,
        finished,
    }
}
