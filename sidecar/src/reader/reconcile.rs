//! Reconciliation: proves that a mapping's table matches its Salesforce object, counts the drift and
//! repairs it. Both sides are counted over `SystemModstamp` ranges first (one `COUNT()` per range,
//! the local ranges cut by `_reconcile_buckets` into parts of about equal size); only ranges whose
//! counts differ are split further and, once small, listed (`Id, SystemModstamp`) and compared
//! record by record. A difference spread over most of the object is listed whole through one Bulk
//! API 2.0 query instead. Without drift this costs one call per range; repairs read records by id.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::error::ReaderError;
use super::protocol::{self, ReadStarted};
use super::soql::{quoted_ids, Selection};
use crate::salesforce::bulk::{JobState, QueryJobRequest, QueryOperation};
use crate::salesforce::datetime;
use crate::salesforce::Backoff;

/// Ranges per split: the top level costs this many calls when nothing drifted.
const BUCKETS: i32 = 16;
/// A range with at most this many records on either side is listed over REST (2,000 per call).
const LIST_LIMIT: i64 = 4_000;
/// A range this large that cannot be split further is listed through a Bulk API query.
const BULK_LIST_LIMIT: i64 = 20_000;
/// Splits below the top level before a differing range is listed whatever its size.
const MAX_DEPTH: u32 = 3;
/// A difference this large, or in more than half the ranges, is listed whole through Bulk API.
const BROAD_DIFFERENCE: i64 = 10_000;
/// Records per REST listing page.
const PAGE: u32 = 2_000;
/// Ids per read by id (the SOQL `IN` list stays well inside the request line limit).
const IDS_PER_READ: usize = 200;
/// Rows looked up locally per call.
const IDS_PER_LOOKUP: usize = 5_000;

/// Why a reconciliation runs (the `reason` of `sfsync.reconciliation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `reconcile_seconds` passed since the last one.
    Schedule,
    /// `sfsync.reconcile()` was called.
    Requested,
    /// The read position is older than what Salesforce keeps of deletes or change events.
    Retention,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Schedule => "schedule",
            Reason::Requested => "requested",
            Reason::Retention => "retention",
        }
    }
}

/// Drift per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriftCounts {
    /// Records in Salesforce (within the filter) without a row.
    pub missing: u64,
    /// Rows whose record no longer exists or no longer matches the filter.
    pub vanished: u64,
    /// Rows older than their record (`systemmodstamp` earlier than Salesforce's).
    pub stale: u64,
}

impl DriftCounts {
    pub fn total(&self) -> u64 {
        self.missing + self.vanished + self.stale
    }
}

/// What one reconciliation found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub found: DriftCounts,
    pub repaired: DriftCounts,
    /// Drift left alone because the row has a queued or in-flight local change.
    pub skipped: u64,
    pub api_calls: u64,
}

/// A `SystemModstamp` range `[lower, upper)` (SOQL literals; `None`: unbounded) and its local rows.
#[derive(Debug, Clone)]
struct Range {
    lower: Option<String>,
    upper: Option<String>,
    local: i64,
}

/// What Salesforce says about a row whose record was not listed where its stamp put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Deleted,
    LeftFilter,
    Stale,
}

/// A local row as the comparison sees it.
#[derive(Debug, Clone)]
struct LocalRow {
    stamp: Option<DateTime<Utc>>,
    queued: bool,
}

/// The differences found so far, by record id; a record is in at most one set.
#[derive(Debug, Default)]
struct Differences {
    missing: BTreeSet<String>,
    stale: BTreeSet<String>,
    deleted: BTreeSet<String>,
    left_filter: BTreeSet<String>,
    /// Drift on rows with queued changes (or records an in-flight insert may be creating), by
    /// kind: counted as found, never repaired.
    skipped: BTreeMap<String, Kind>,
}

/// A kind of drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    Vanished,
    Stale,
}

impl Differences {
    fn found(&self) -> DriftCounts {
        let skipped = |kind: Kind| self.skipped.values().filter(|k| **k == kind).count();
        DriftCounts {
            missing: (self.missing.len() + skipped(Kind::Missing)) as u64,
            vanished: (self.deleted.len() + self.left_filter.len() + skipped(Kind::Vanished))
                as u64,
            stale: (self.stale.len() + skipped(Kind::Stale)) as u64,
        }
    }

    fn seen(&self, id: &str) -> bool {
        self.missing.contains(id)
            || self.stale.contains(id)
            || self.deleted.contains(id)
            || self.left_filter.contains(id)
            || self.skipped.contains_key(id)
    }

    /// Drift left alone; a record found vanished after it looked stale is vanished.
    fn skip(&mut self, id: &str, kind: Kind) {
        let entry = self.skipped.entry(id.to_string()).or_insert(kind);
        if kind == Kind::Vanished {
            *entry = kind;
        }
    }
}

/// Runs one reconciliation of `mapping` and records it in `sfsync.reconciliation`.
pub async fn reconcile(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    skipped_fields: &BTreeSet<String>,
    reason: Reason,
) -> Result<ReconcileReport, ReaderError> {
    let row = client
        .query_one(
            "SELECT sfsync._begin_reconcile($1, $2)",
            &[&mapping.id, &reason.as_str()],
        )
        .await
        .map_err(ReaderError::query("starting a reconciliation"))?;
    let id: i64 = row.get(0);
    let mut run = Reconciler {
        context,
        client,
        mapping,
        selection: Selection::new(
            &mapping.object_name,
            mapping.plan()?,
            skipped_fields,
            mapping.filter.as_deref(),
        ),
        calls: 0,
        differences: Differences::default(),
        top: Vec::new(),
        listed: Vec::new(),
        moved: Vec::new(),
    };
    let outcome = run.run().await;
    let found = run.differences.found();
    let skipped = run.differences.skipped.len() as u64;
    let (repaired, error) = match &outcome {
        Ok(repaired) => (*repaired, None),
        Err(error) => (DriftCounts::default(), Some(error.detail())),
    };
    let to_json = |counts: &DriftCounts| serde_json::to_string(counts).unwrap_or_default();
    client
        .execute(
            "SELECT sfsync._finish_reconcile($1, $2, $3::text::jsonb, $4::text::jsonb, $5, $6)",
            &[
                &id,
                &i32::try_from(run.calls).unwrap_or(i32::MAX),
                &to_json(&found),
                &to_json(&repaired),
                &i64::try_from(skipped).unwrap_or(i64::MAX),
                &error,
            ],
        )
        .await
        .map_err(ReaderError::query("recording a reconciliation"))?;
    let metrics = &context.metrics;
    let object = mapping.object_name.as_str();
    metrics
        .reconcile_runs
        .with_label_values(&[object, if error.is_none() { "ok" } else { "error" }])
        .inc();
    outcome?;
    for (kind, count) in [
        ("missing", found.missing),
        ("vanished", found.vanished),
        ("stale", found.stale),
    ] {
        metrics
            .reconcile_drift
            .with_label_values(&[object, kind])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    Ok(ReconcileReport {
        found,
        repaired,
        skipped,
        api_calls: run.calls,
    })
}

struct Reconciler<'a> {
    context: &'a ReaderContext,
    client: &'a Client,
    mapping: &'a Mapping,
    /// The mapping's fields and filter: what repairs read.
    selection: Selection,
    /// Salesforce API calls this reconciliation made.
    calls: u64,
    differences: Differences,
    /// The top-level ranges.
    top: Vec<Range>,
    /// Ranges compared record by record so far (bounds as timestamps; `None`: unbounded).
    listed: Vec<Bounds>,
    /// The two stamps of each stale row found outside the range it was listed in: the range of its
    /// record's newer stamp counted one record too many in Salesforce, the range of the row's older
    /// stamp one row too many here, and either can hide a difference the other way.
    moved: Vec<DateTime<Utc>>,
}

impl Reconciler<'_> {
    /// Compares, then repairs; returns what was repaired.
    async fn run(&mut self) -> Result<DriftCounts, ReaderError> {
        let top = self.buckets(None, None).await?;
        self.top = top.clone();
        let mut differing = Vec::new();
        let mut difference = 0;
        for range in top {
            let remote = self.remote_count(&range).await?;
            if remote != range.local {
                difference += (remote - range.local).abs();
                differing.push((range, remote));
            }
        }
        if differing.len() as i32 > BUCKETS / 2 || difference > BROAD_DIFFERENCE {
            let everything = Range {
                lower: None,
                upper: None,
                local: 0,
            };
            self.compare_listed(&everything, true).await?;
        } else {
            for (range, remote) in differing {
                self.drill(range, remote, 1).await?;
            }
            self.list_where_rows_moved().await?;
        }
        self.repair().await
    }

    /// A stale row counts in the range of its older stamp here and in the range of its newer one in
    /// Salesforce: equal counts in either can hide a difference. Each top-level range a stale row's
    /// stamps fall in is listed too (and again for stale rows found while listing).
    async fn list_where_rows_moved(&mut self) -> Result<(), ReaderError> {
        loop {
            let uncovered: Vec<DateTime<Utc>> = self
                .moved
                .iter()
                .copied()
                .filter(|stamp| !self.listed.iter().any(|bounds| bounds.contains(*stamp)))
                .collect();
            let ranges: Vec<Range> = self
                .top
                .iter()
                .filter(|range| {
                    let bounds = Bounds::of(range);
                    uncovered.iter().any(|stamp| bounds.contains(*stamp))
                })
                .cloned()
                .collect();
            if ranges.is_empty() {
                return Ok(());
            }
            for range in ranges {
                self.compare_listed(&range, range.local > BULK_LIST_LIMIT)
                    .await?;
            }
        }
    }

    /// A range whose counts differ: split it, or list it once it is small (or cannot be split).
    async fn drill(&mut self, range: Range, remote: i64, depth: u32) -> Result<(), ReaderError> {
        let larger = remote.max(range.local);
        if larger <= LIST_LIMIT {
            return self.compare_listed(&range, false).await;
        }
        if depth >= MAX_DEPTH {
            return self.compare_listed(&range, larger > BULK_LIST_LIMIT).await;
        }
        let parts = self
            .buckets(range.lower.as_deref(), range.upper.as_deref())
            .await?;
        if parts.len() <= 1 {
            // all local rows share one second (or there are none): listing is all that is left
            return self.compare_listed(&range, larger > BULK_LIST_LIMIT).await;
        }
        for part in parts {
            let part_remote = self.remote_count(&part).await?;
            if part_remote != part.local {
                Box::pin(self.drill(part, part_remote, depth + 1)).await?;
            }
        }
        Ok(())
    }

    /// `_reconcile_buckets`: the local rows of `[lower, upper)` split into parts.
    async fn buckets(
        &self,
        lower: Option<&str>,
        upper: Option<&str>,
    ) -> Result<Vec<Range>, ReaderError> {
        let rows = self
            .client
            .query(
                "SELECT lower_bound, upper_bound, row_count FROM sfsync._reconcile_buckets($1, $2, $3, $4)",
                &[&self.mapping.id, &BUCKETS, &lower, &upper],
            )
            .await
            .map_err(ReaderError::query("counting the table's rows by SystemModstamp"))?;
        Ok(rows
            .iter()
            .map(|row| Range {
                lower: row.get(0),
                upper: row.get(1),
                local: row.get(2),
            })
            .collect())
    }

    /// The SOQL condition of a range, within the mapping's filter (`None`: everything).
    fn condition(&self, range: &Range) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(lower) = &range.lower {
            parts.push(format!("SystemModstamp >= {lower}"));
        }
        if let Some(upper) = &range.upper {
            parts.push(format!("SystemModstamp < {upper}"));
        }
        if let Some(filter) = &self.mapping.filter {
            parts.push(format!("({filter})"));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    async fn remote_count(&mut self, range: &Range) -> Result<i64, ReaderError> {
        self.calls += 1;
        let count = self
            .context
            .salesforce
            .count(
                &self.mapping.object_name,
                self.condition(range).as_deref(),
                false,
            )
            .await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// Lists both sides of a range and records every difference in it.
    async fn compare_listed(&mut self, range: &Range, bulk: bool) -> Result<(), ReaderError> {
        self.listed.push(Bounds::of(range));
        let remote = if bulk {
            self.list_remote_bulk(range).await?
        } else {
            self.list_remote(range).await?
        };
        let local = self.list_local(range).await?;
        let mut unknown_here = Vec::new();
        for (id, remote_stamp) in &remote {
            match local.get(id) {
                Some(row) => {
                    if row.stamp.is_none_or(|stamp| stamp < *remote_stamp) {
                        self.note_stale(id, row.queued);
                    }
                }
                None => unknown_here.push(id.clone()),
            }
        }
        // records here without a row in this range: no row at all, or a row stamped elsewhere
        for chunk in unknown_here.chunks(IDS_PER_LOOKUP) {
            let rows = self.lookup(chunk).await?;
            for id in chunk {
                match rows.get(id) {
                    None => {
                        if !self.differences.seen(id) {
                            self.differences.missing.insert(id.clone());
                        }
                    }
                    Some(row) => {
                        if row.stamp.is_none_or(|stamp| stamp < remote[id]) {
                            self.note_stale(id, row.queued);
                            self.moved.push(remote[id]);
                            self.moved.extend(row.stamp);
                        }
                    }
                }
            }
        }
        // rows here whose record is not here: gone, out of the filter, or stamped elsewhere
        let gone: Vec<(String, LocalRow)> = local
            .into_iter()
            .filter(|(id, _)| !remote.contains_key(id))
            .collect();
        for chunk in gone.chunks(IDS_PER_READ) {
            self.check_gone(chunk).await?;
        }
        Ok(())
    }

    fn note_stale(&mut self, id: &str, queued: bool) {
        if queued {
            self.differences.skip(id, Kind::Stale);
        } else if !self.differences.seen(id) {
            self.differences.stale.insert(id.to_string());
        }
    }

    /// Rows whose records were not where their stamps put them: asks Salesforce about each.
    async fn check_gone(&mut self, rows: &[(String, LocalRow)]) -> Result<(), ReaderError> {
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        self.calls += 1;
        let soql = format!(
            "SELECT Id, IsDeleted, SystemModstamp FROM {} WHERE Id IN ({})",
            self.mapping.object_name,
            quoted_ids(&ids)
        );
        let records = self
            .context
            .salesforce
            .query_all(&soql, None)
            .next_page()
            .await?
            .map(|page| page.records)
            .unwrap_or_default();
        let mut live: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for record in &records {
            let Some(id) = record.get("Id").and_then(|id| id.as_str()) else {
                continue;
            };
            if record.get("IsDeleted").and_then(|d| d.as_bool()) == Some(true) {
                continue;
            }
            if let Some(stamp) = record
                .get("SystemModstamp")
                .and_then(|s| s.as_str())
                .and_then(datetime::parse)
            {
                live.insert(id.to_string(), stamp);
            }
        }
        let mut within_filter: BTreeSet<String> = live.keys().cloned().collect();
        if let Some(filter) = &self.mapping.filter {
            if !live.is_empty() {
                let live_ids: Vec<String> = live.keys().cloned().collect();
                self.calls += 1;
                let soql = format!(
                    "SELECT Id FROM {} WHERE Id IN ({}) AND ({filter})",
                    self.mapping.object_name,
                    quoted_ids(&live_ids)
                );
                within_filter = self
                    .context
                    .salesforce
                    .query_all(&soql, None)
                    .next_page()
                    .await?
                    .map(|page| page.records)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|record| record.get("Id").and_then(|id| id.as_str()))
                    .map(str::to_string)
                    .collect();
            }
        }
        for (id, row) in rows {
            let verdict = match live.get(id) {
                None => Verdict::Deleted,
                Some(_) if !within_filter.contains(id) => Verdict::LeftFilter,
                Some(stamp) if row.stamp.is_none_or(|local| local < *stamp) => {
                    self.moved.push(*stamp);
                    self.moved.extend(row.stamp);
                    Verdict::Stale
                }
                Some(_) => continue,
            };
            if row.queued {
                let kind = if verdict == Verdict::Stale {
                    Kind::Stale
                } else {
                    Kind::Vanished
                };
                self.differences.skip(id, kind);
                continue;
            }
            let differences = &mut self.differences;
            match verdict {
                Verdict::Deleted | Verdict::LeftFilter => {
                    // a record first taken for stale (seen in another range) is in fact gone
                    differences.stale.remove(id);
                    let set = if verdict == Verdict::Deleted {
                        &mut differences.deleted
                    } else {
                        &mut differences.left_filter
                    };
                    set.insert(id.clone());
                }
                Verdict::Stale => {
                    if !differences.seen(id) {
                        differences.stale.insert(id.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// `Id, SystemModstamp` of the live records in a range, over REST.
    async fn list_remote(
        &mut self,
        range: &Range,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, ReaderError> {
        let soql = self.listing_soql(range);
        let mut pages = self.context.salesforce.query(&soql, Some(PAGE));
        let mut listed = BTreeMap::new();
        // (a finished cursor answers `None` without a request)
        while let Some(page) = pages.next_page().await? {
            self.calls += 1;
            for record in &page.records {
                let id = record.get("Id").and_then(|id| id.as_str());
                let stamp = record
                    .get("SystemModstamp")
                    .and_then(|s| s.as_str())
                    .and_then(datetime::parse);
                if let (Some(id), Some(stamp)) = (id, stamp) {
                    listed.insert(id.to_string(), stamp);
                }
            }
            if page.done {
                break;
            }
        }
        Ok(listed)
    }

    fn listing_soql(&self, range: &Range) -> String {
        let mut soql = format!(
            "SELECT Id, SystemModstamp FROM {}",
            self.mapping.object_name
        );
        if let Some(condition) = self.condition(range) {
            soql.push_str(" WHERE ");
            soql.push_str(&condition);
        }
        soql
    }

    /// The same listing through one Bulk API 2.0 query job (for large ranges).
    async fn list_remote_bulk(
        &mut self,
        range: &Range,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, ReaderError> {
        let salesforce = &self.context.salesforce;
        let soql = self.listing_soql(range);
        self.calls += 1;
        let mut job = salesforce
            .bulk_query_create(&QueryJobRequest::new(&soql, QueryOperation::Query))
            .await?;
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempt = 0;
        while !job.state.is_terminal() {
            tokio::time::sleep(backoff.delay(attempt)).await;
            attempt += 1;
            self.calls += 1;
            job = salesforce.bulk_query_status(&job.id).await?;
        }
        if job.state != JobState::JobComplete {
            return Err(ReaderError::Unexpected(format!(
                "the Bulk API query job {} listing {} ended {}: {}",
                job.id,
                self.mapping.object_name,
                job.state.as_str(),
                job.error_message.clone().unwrap_or_default()
            )));
        }
        let mut results = salesforce.bulk_query_results(&job, Some(100_000));
        let mut listed = BTreeMap::new();
        while let Some(page) = results.next_page().await? {
            self.calls += 1;
            let table = page.csv().await?;
            let (Some(id_at), Some(stamp_at)) =
                (table.column("Id"), table.column("SystemModstamp"))
            else {
                return Err(ReaderError::Unexpected(
                    "a Bulk API listing without Id and SystemModstamp columns".into(),
                ));
            };
            for row in &table.rows {
                if let (Some(id), Some(stamp)) =
                    (row.get(id_at), row.get(stamp_at).and_then(datetime::parse))
                {
                    listed.insert(id.to_string(), stamp);
                }
            }
            if !results.has_more() {
                break;
            }
        }
        Ok(listed)
    }

    /// `_reconcile_rows`: the local rows of a range.
    async fn list_local(&self, range: &Range) -> Result<BTreeMap<String, LocalRow>, ReaderError> {
        let rows = self
            .client
            .query(
                "SELECT sfid, systemmodstamp, queued FROM sfsync._reconcile_rows($1, $2, $3)",
                &[&self.mapping.id, &range.lower, &range.upper],
            )
            .await
            .map_err(ReaderError::query("listing the table's rows"))?;
        Ok(rows.iter().map(local_row).collect())
    }

    /// `_reconcile_rows` by sfid: the rows of these ids, wherever they are stamped.
    async fn lookup(&self, ids: &[String]) -> Result<BTreeMap<String, LocalRow>, ReaderError> {
        let rows = self
            .client
            .query(
                "SELECT sfid, systemmodstamp, queued FROM sfsync._reconcile_rows($1, NULL, NULL, $2)",
                &[&self.mapping.id, &ids],
            )
            .await
            .map_err(ReaderError::query("looking up rows by sfid"))?;
        Ok(rows.iter().map(local_row).collect())
    }

    /// Reads missing and stale records by id and merges them; removes vanished rows. Rows with
    /// queued changes were left out when the differences were noted.
    async fn repair(&mut self) -> Result<DriftCounts, ReaderError> {
        let mut repaired = DriftCounts::default();
        let mut missing: Vec<String> = self.differences.missing.iter().cloned().collect();
        if !missing.is_empty() && self.insert_in_flight(&missing).await? {
            // a record the writer is creating right now has no sfid on its row yet: reading it
            // here could give it a second row, and its own echo brings it anyway
            tracing::info!(mapping = %self.mapping.label(), records = missing.len(), "an insert is in flight: missing records are left to the next reconciliation");
            for id in missing.drain(..) {
                self.differences.missing.remove(&id);
                self.differences.skip(&id, Kind::Missing);
            }
        }
        let stale: Vec<String> = self.differences.stale.iter().cloned().collect();
        for chunk in missing.chunks(IDS_PER_READ) {
            repaired.missing += self.read_and_merge(chunk).await?.inserted.max(0) as u64;
        }
        for chunk in stale.chunks(IDS_PER_READ) {
            repaired.stale += self.read_and_merge(chunk).await?.updated.max(0) as u64;
        }
        let deleted: Vec<String> = self.differences.deleted.iter().cloned().collect();
        let left: Vec<String> = self.differences.left_filter.iter().cloned().collect();
        repaired.vanished += self.remove(&deleted, false).await?;
        repaired.vanished += self.remove(&left, true).await?;
        Ok(repaired)
    }

    /// Whether the writer has an insert in flight whose record's id is not known yet.
    async fn insert_in_flight(&self, ids: &[String]) -> Result<bool, ReaderError> {
        let rows = self
            .client
            .query(
                "SELECT sfid FROM sfsync._in_flight($1, $2) AS sfid",
                &[&self.mapping.id, &ids],
            )
            .await
            .map_err(ReaderError::query("looking for in-flight writes"))?;
        Ok(rows
            .iter()
            .any(|row| row.get::<_, Option<String>>(0).is_none()))
    }

    async fn read_and_merge(
        &mut self,
        ids: &[String],
    ) -> Result<protocol::MergeOutcome, ReaderError> {
        let read_started = ReadStarted::now(self.client).await?;
        self.calls += 1;
        let records = self
            .context
            .salesforce
            .query_all(&self.selection.by_ids(ids), None)
            .next_page()
            .await?
            .map(|page| page.records)
            .unwrap_or_default();
        if records.is_empty() {
            return Ok(protocol::MergeOutcome::default());
        }
        let json = serde_json::to_string(&records).map_err(|source| ReaderError::Decode {
            what: "records read to repair drift".to_string(),
            source,
        })?;
        protocol::apply_records(self.client, self.mapping.id, &json, &read_started).await
    }

    async fn remove(&self, ids: &[String], left_filter: bool) -> Result<u64, ReaderError> {
        let mut removed = 0;
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            let row = self
                .client
                .query_one(
                    "SELECT sfsync._remove_vanished($1, $2, $3)",
                    &[&self.mapping.id, &chunk, &left_filter],
                )
                .await
                .map_err(ReaderError::query("removing rows of vanished records"))?;
            removed += row.get::<_, i64>(0).max(0) as u64;
        }
        Ok(removed)
    }
}

/// A range's bounds as timestamps (`None`: unbounded).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    lower: Option<DateTime<Utc>>,
    upper: Option<DateTime<Utc>>,
}

impl Bounds {
    fn of(range: &Range) -> Bounds {
        Bounds {
            lower: range.lower.as_deref().and_then(datetime::parse),
            upper: range.upper.as_deref().and_then(datetime::parse),
        }
    }

    /// Whether `[lower, upper)` holds `stamp`.
    fn contains(&self, stamp: DateTime<Utc>) -> bool {
        self.lower.is_none_or(|lower| lower <= stamp)
            && self.upper.is_none_or(|upper| stamp < upper)
    }
}

fn local_row(row: &tokio_postgres::Row) -> (String, LocalRow) {
    let stamp: Option<String> = row.get(1);
    (
        row.get(0),
        LocalRow {
            stamp: stamp.as_deref().and_then(datetime::parse),
            queued: row.get(2),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_totals_add_the_kinds() {
        let counts = DriftCounts {
            missing: 2,
            vanished: 3,
            stale: 4,
        };
        assert_eq!(counts.total(), 9);
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"missing":2,"vanished":3,"stale":4}"#
        );
    }

    #[test]
    fn ranges_hold_their_lower_bound_not_their_upper() {
        let range = Range {
            lower: Some("2024-01-31T13:00:00Z".into()),
            upper: Some("2024-01-31T14:00:00Z".into()),
            local: 0,
        };
        let bounds = Bounds::of(&range);
        let at = |text: &str| datetime::parse(text).unwrap();
        assert!(bounds.contains(at("2024-01-31T13:00:00.000+0000")));
        assert!(bounds.contains(at("2024-01-31T13:59:59.999+0000")));
        assert!(!bounds.contains(at("2024-01-31T14:00:00.000+0000")));
        let open = Bounds::of(&Range {
            lower: None,
            upper: None,
            local: 0,
        });
        assert!(open.contains(at("1999-01-01T00:00:00Z")));
    }

    #[test]
    fn a_record_is_in_one_set_only() {
        let mut differences = Differences::default();
        differences.missing.insert("001A".into());
        assert!(differences.seen("001A"));
        assert!(!differences.seen("001B"));
        assert_eq!(differences.found().missing, 1);
    }
}
