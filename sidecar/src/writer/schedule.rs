//! Which claimed writes may go out now, and in which calls. Parents come before children: within a
//! claim, a write that refers by external id to a record another write of the claim creates goes in a
//! later wave; across claims, it waits until every earlier write providing that record has finished.
//! Ready writes are grouped per mapping and kind into calls of up to 200 (or a Bulk job), objects
//! referenced by others first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::mapping::WriteMapping;
use super::operation::{Operation, ParentKey, WriteKind};

/// Waves of one claim are numbered below this; claims above it (so every wave of a claim comes
/// after every wave of an earlier claim).
const WAVES_PER_CLAIM: u64 = 1 << 20;

/// A write waiting to be sent.
#[derive(Debug)]
pub struct Waiting {
    pub seq: u64,
    pub operation: Operation,
    /// Came from a Bulk-sized claim: may go through Bulk API 2.0.
    pub bulk: bool,
    pub since: Instant,
}

/// Writes that go out together: one Collections call, or one Bulk job.
#[derive(Debug)]
pub struct Batch {
    pub mapping: Arc<WriteMapping>,
    pub kind: WriteKind,
    pub bulk: bool,
    pub writes: Vec<Waiting>,
}

/// How batches are cut.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Records per Collections call.
    pub call_size: usize,
    /// A Bulk job is used for at least this many writes of one kind...
    pub bulk_min: usize,
    /// ...and carries at most this many.
    pub bulk_max: usize,
    /// A call that is not full still goes out after waiting this long.
    pub max_wait: Duration,
    /// A Bulk job that is not full still goes out after waiting this long.
    pub bulk_max_wait: Duration,
}

/// Whether more writes are expected soon, so that calls and jobs that are not full may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flush {
    /// The queue had nothing more to claim: calls go out as they are.
    pub calls: bool,
    /// No more Bulk-sized claims are coming: jobs go out as they are.
    pub bulk: bool,
}

/// The writer's waiting room.
#[derive(Debug, Default)]
pub struct Scheduler {
    waiting: Vec<Waiting>,
    /// Unfinished writes providing each external id: their sequence numbers (with counts).
    providers: HashMap<ParentKey, BTreeMap<u64, usize>>,
    claims: u64,
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// Adds a claim's writes, ordering children after the parents they need.
    pub fn add_claim(&mut self, operations: Vec<Operation>, bulk: bool) {
        self.claims += 1;
        let base = self.claims * WAVES_PER_CLAIM;
        let waves = waves(&operations);
        let now = Instant::now();
        let mut entries: Vec<Waiting> = operations
            .into_iter()
            .zip(waves)
            .map(|(operation, wave)| Waiting {
                seq: base + wave.min(WAVES_PER_CLAIM - 1),
                operation,
                bulk,
                since: now,
            })
            .collect();
        entries.sort_by_key(|entry| entry.seq);
        for entry in &entries {
            for key in &entry.operation.provides {
                *self
                    .providers
                    .entry(key.clone())
                    .or_default()
                    .entry(entry.seq)
                    .or_default() += 1;
            }
        }
        self.waiting.extend(entries);
    }

    /// A write has finished (whatever its outcome): children waiting for it may go.
    pub fn finish(&mut self, seq: u64, operation: &Operation) {
        for key in &operation.provides {
            if let Some(sequences) = self.providers.get_mut(key) {
                if let Some(count) = sequences.get_mut(&seq) {
                    *count -= 1;
                    if *count == 0 {
                        sequences.remove(&seq);
                    }
                }
                if sequences.is_empty() {
                    self.providers.remove(key);
                }
            }
        }
    }

    fn is_blocked(&self, entry: &Waiting) -> bool {
        entry.operation.needs.iter().any(|key| {
            self.providers
                .get(key)
                .is_some_and(|sequences| sequences.range(..entry.seq).next().is_some())
        })
    }

    /// Takes up to `max_batches` batches of writes that may go now. Calls and Bulk jobs that are not
    /// full wait for more writes unless `flush` says none are coming or they have waited long enough.
    pub fn take_batches(
        &mut self,
        max_batches: usize,
        limits: BatchLimits,
        flush: Flush,
        now: Instant,
    ) -> Vec<Batch> {
        if max_batches == 0 || self.waiting.is_empty() {
            return Vec::new();
        }
        // Group the ready writes (indices into `waiting`) per mapping, kind and Bulk eligibility.
        let mut groups: BTreeMap<(usize, i64, WriteKind, bool), Vec<usize>> = BTreeMap::new();
        for (index, entry) in self.waiting.iter().enumerate() {
            if self.is_blocked(entry) {
                continue;
            }
            let kind = entry.operation.write.kind();
            let bulk = entry.bulk && kind != WriteKind::Create;
            let mapping = &entry.operation.mapping;
            groups
                .entry((mapping.rank, mapping.id, kind, bulk))
                .or_default()
                .push(index);
        }
        let oldest = |members: &[usize]| {
            members
                .iter()
                .map(|&index| self.waiting[index].since)
                .min()
                .unwrap_or(now)
        };
        // A Bulk group that is due but too small for a job joins its Collections siblings; one that
        // is not due yet keeps growing.
        let small_bulk: Vec<(usize, i64, WriteKind, bool)> = groups
            .iter()
            .filter(|((_, _, _, bulk), members)| {
                let due = flush.bulk
                    || now.saturating_duration_since(oldest(members)) >= limits.bulk_max_wait;
                *bulk && members.len() < limits.bulk_min && due
            })
            .map(|(key, _)| *key)
            .collect();
        for key in small_bulk {
            if let Some(members) = groups.remove(&key) {
                let sibling = groups.entry((key.0, key.1, key.2, false)).or_default();
                sibling.extend(members);
                sibling.sort_unstable();
            }
        }

        let mut chosen: Vec<(u64, bool, WriteKind, Vec<usize>)> = Vec::new();
        for ((_, _, kind, bulk), members) in groups {
            let (size, flushing, max_wait) = if bulk {
                (limits.bulk_max, flush.bulk, limits.bulk_max_wait)
            } else {
                (limits.call_size, flush.calls, limits.max_wait)
            };
            for chunk in members.chunks(size.max(1)) {
                let full = chunk.len() >= size.max(1);
                let overdue = now.saturating_duration_since(oldest(chunk)) >= max_wait;
                let big_enough = !bulk || chunk.len() >= limits.bulk_min;
                if full || ((flushing || overdue) && big_enough) {
                    let first_seq = self.waiting[chunk[0]].seq;
                    chosen.push((first_seq, bulk, kind, chunk.to_vec()));
                }
            }
        }
        // Groups come in rank order (parents' objects first), each group's calls oldest first.
        chosen.truncate(max_batches);

        let mut batches_indices: Vec<(bool, WriteKind, Vec<usize>)> = Vec::new();
        for (_, bulk, kind, indices) in chosen {
            batches_indices.push((bulk, kind, indices));
        }
        if batches_indices.is_empty() {
            return Vec::new();
        }
        let mut remaining = Vec::with_capacity(self.waiting.len());
        let mut slots: HashMap<usize, usize> = HashMap::new();
        for (batch_number, (_, _, indices)) in batches_indices.iter().enumerate() {
            for &index in indices {
                slots.insert(index, batch_number);
            }
        }
        let mut per_batch: Vec<Vec<Waiting>> = batches_indices.iter().map(|_| Vec::new()).collect();
        for (index, entry) in std::mem::take(&mut self.waiting).into_iter().enumerate() {
            match slots.get(&index) {
                Some(&batch_number) => per_batch[batch_number].push(entry),
                None => remaining.push(entry),
            }
        }
        self.waiting = remaining;
        batches_indices
            .into_iter()
            .zip(per_batch)
            .filter(|(_, writes)| !writes.is_empty())
            .map(|((bulk, kind, _), writes)| Batch {
                mapping: writes[0].operation.mapping.clone(),
                kind,
                bulk,
                writes,
            })
            .collect()
    }

    /// Removes and returns every waiting write held under `token` (its lease was lost).
    pub fn remove_token(&mut self, token: &str) -> Vec<Waiting> {
        let (removed, kept): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|entry| entry.operation.token == token);
        self.waiting = kept;
        for entry in &removed {
            self.finish(entry.seq, &entry.operation);
        }
        removed
    }

    /// Removes and returns every waiting write (shutdown, pause).
    pub fn remove_all(&mut self) -> Vec<Waiting> {
        let removed = std::mem::take(&mut self.waiting);
        for entry in &removed {
            self.finish(entry.seq, &entry.operation);
        }
        removed
    }
}

/// The wave of each write of one claim: 0 without parents in the claim, else one more than its
/// latest parent. A cycle (A needs B needs A) is cut where it is found.
fn waves(operations: &[Operation]) -> Vec<u64> {
    let mut providers: HashMap<&ParentKey, Vec<usize>> = HashMap::new();
    for (index, operation) in operations.iter().enumerate() {
        for key in &operation.provides {
            providers.entry(key).or_default().push(index);
        }
    }
    let parents: Vec<Vec<usize>> = operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            let mut found: Vec<usize> = operation
                .needs
                .iter()
                .filter_map(|key| providers.get(key))
                .flatten()
                .copied()
                .filter(|&parent| parent != index)
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done(u64),
    }
    let mut marks = vec![Mark::New; operations.len()];
    for start in 0..operations.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (node, next parent to look at).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Visiting;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&parent) = parents[node].get(*next) {
                *next += 1;
                if marks[parent] == Mark::New {
                    marks[parent] = Mark::Visiting;
                    stack.push((parent, 0));
                }
                continue;
            }
            let wave = parents[node]
                .iter()
                .filter_map(|&parent| match marks[parent] {
                    Mark::Done(wave) => Some(wave + 1),
                    _ => None, // still on the stack: a cycle, cut here
                })
                .max()
                .unwrap_or(0);
            marks[node] = Mark::Done(wave);
            stack.pop();
        }
    }
    marks
        .into_iter()
        .map(|mark| match mark {
            Mark::Done(wave) => wave,
            _ => 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::Record;
    use crate::writer::mapping::tests::{account, contact};
    use crate::writer::mapping::MappingCatalog;
    use crate::writer::operation::Write;

    struct Fixture {
        account: Arc<WriteMapping>,
        contact: Arc<WriteMapping>,
    }

    fn fixture() -> Fixture {
        let catalog = MappingCatalog::from_mappings(vec![account(), contact()]);
        Fixture {
            account: catalog.get(1).expect("account").clone(),
            contact: catalog.get(2).expect("contact").clone(),
        }
    }

    fn key(object: &str, value: &str) -> ParentKey {
        ParentKey {
            object: object.to_ascii_lowercase(),
            field: "ext_id__c".into(),
            value: value.to_lowercase(),
        }
    }

    fn upsert(mapping: &Arc<WriteMapping>, id: i64, own: &str, parent: Option<&str>) -> Operation {
        Operation {
            mapping: mapping.clone(),
            record_id: id,
            write: Write::Upsert {
                key: own.into(),
                fields: Record::new(),
            },
            carrier: id,
            merged: vec![],
            token: "t".into(),
            oldest_created_at: 0.0,
            needs: parent.map(|p| vec![key("account", p)]).unwrap_or_default(),
            provides: vec![key(&mapping.object, own)],
        }
    }

    const ALL: Flush = Flush {
        calls: true,
        bulk: true,
    };
    const NONE: Flush = Flush {
        calls: false,
        bulk: false,
    };

    fn limits() -> BatchLimits {
        BatchLimits {
            call_size: 2,
            bulk_min: 3,
            bulk_max: 10,
            max_wait: Duration::from_secs(3600),
            bulk_max_wait: Duration::from_secs(3600),
        }
    }

    fn ids(batches: &[Batch]) -> Vec<Vec<i64>> {
        batches
            .iter()
            .map(|b| b.writes.iter().map(|w| w.operation.carrier).collect())
            .collect()
    }

    #[test]
    fn children_wait_for_parents_created_in_the_same_claim() {
        let f = fixture();
        let mut scheduler = Scheduler::new();
        scheduler.add_claim(
            vec![
                upsert(&f.contact, 1, "C-1", Some("A-1")),
                upsert(&f.account, 2, "A-1", None),
                upsert(&f.account, 3, "A-2", Some("A-1")), // a child account of A-1
            ],
            false,
        );
        let now = Instant::now();
        let first = scheduler.take_batches(4, limits(), ALL, now);
        assert_eq!(ids(&first), [vec![2]], "only the parent may go first");
        assert!(
            scheduler.take_batches(4, limits(), ALL, now).is_empty(),
            "children wait"
        );
        let parent = &first[0].writes[0];
        scheduler.finish(parent.seq, &parent.operation);
        let second = scheduler.take_batches(4, limits(), ALL, now);
        assert_eq!(
            ids(&second),
            [vec![3], vec![1]],
            "accounts (rank 0) before contacts"
        );
    }

    #[test]
    fn a_child_waits_for_a_parent_of_an_earlier_claim_still_in_flight() {
        let f = fixture();
        let mut scheduler = Scheduler::new();
        scheduler.add_claim(vec![upsert(&f.account, 1, "A-1", None)], false);
        let now = Instant::now();
        let parents = scheduler.take_batches(4, limits(), ALL, now);
        scheduler.add_claim(
            vec![
                upsert(&f.contact, 2, "C-1", Some("a-1")),
                upsert(&f.contact, 3, "C-2", None),
            ],
            false,
        );
        assert_eq!(
            ids(&scheduler.take_batches(4, limits(), ALL, now)),
            [vec![3]]
        );
        let parent = &parents[0].writes[0];
        scheduler.finish(parent.seq, &parent.operation);
        assert_eq!(
            ids(&scheduler.take_batches(4, limits(), ALL, now)),
            [vec![2]]
        );
    }

    #[test]
    fn partial_calls_wait_unless_drained_or_overdue_and_bulk_needs_enough_writes() {
        let f = fixture();
        let mut scheduler = Scheduler::new();
        scheduler.add_claim(
            (1..=3)
                .map(|i| upsert(&f.account, i, &format!("A-{i}"), None))
                .collect(),
            false,
        );
        let now = Instant::now();
        assert_eq!(
            ids(&scheduler.take_batches(4, limits(), NONE, now)),
            [vec![1, 2]]
        );
        assert!(
            scheduler.take_batches(4, limits(), NONE, now).is_empty(),
            "a partial call waits for more"
        );
        assert_eq!(
            ids(&scheduler.take_batches(4, limits(), NONE, now + Duration::from_secs(3601))),
            [vec![3]]
        );

        scheduler.add_claim(
            (10..=13)
                .map(|i| upsert(&f.account, i, &format!("A-{i}"), None))
                .collect(),
            true,
        );
        assert!(
            scheduler.take_batches(4, limits(), NONE, now).is_empty(),
            "a Bulk job that is not full waits for more claims"
        );
        let only_bulk = Flush {
            calls: false,
            bulk: true,
        };
        let batches = scheduler.take_batches(4, limits(), only_bulk, now);
        assert_eq!(ids(&batches), [vec![10, 11, 12, 13]]);
        assert!(batches[0].bulk);
        scheduler.add_claim(
            (20..=21)
                .map(|i| upsert(&f.account, i, &format!("A-{i}"), None))
                .collect(),
            true,
        );
        let batches = scheduler.take_batches(4, limits(), ALL, now);
        assert!(!batches[0].bulk, "two writes are too few for a Bulk job");
    }

    #[test]
    fn cycles_are_cut_and_lost_leases_remove_their_writes() {
        let f = fixture();
        let mut first = upsert(&f.account, 1, "A-1", Some("A-2"));
        first.token = "lost".into();
        let second = upsert(&f.account, 2, "A-2", Some("A-1"));
        let mut scheduler = Scheduler::new();
        scheduler.add_claim(vec![first, second], false);
        assert_eq!(
            scheduler
                .take_batches(4, limits(), ALL, Instant::now())
                .len(),
            1,
            "one of the two goes"
        );
        let mut scheduler = Scheduler::new();
        let mut lost = upsert(&f.account, 1, "A-1", None);
        lost.token = "lost".into();
        scheduler.add_claim(vec![lost, upsert(&f.account, 2, "A-2", None)], false);
        assert_eq!(scheduler.remove_token("lost").len(), 1);
        assert_eq!(scheduler.waiting_len(), 1);
        assert_eq!(scheduler.remove_all().len(), 1);
    }
}
