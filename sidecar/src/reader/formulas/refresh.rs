//! Keeping a followed mapping's dependent fields fresh. One watch per parent or child object the
//! dependencies name: a parent mapped in the same schema (unfiltered) is watched through its table,
//! which its own reader keeps current, at no API cost; any other object by a light query of its
//! `Id, SystemModstamp` (children through `queryAll`, so deleted ones count) once per read cycle.
//! The records pointing at what changed are re-read, dependent fields only, in batches
//! (`... WHERE AccountId IN (...)`, masters `WHERE Id IN (...)`) and applied by
//! `sfsync._refresh_fields`. Fields on `TODAY()`/`NOW()` are re-read whole every
//! `formula_refresh_seconds`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::Value;
use sfsync_protocol::Dependencies;
use tokio::time::Instant;
use tokio_postgres::Client;

use crate::reader::catalog::Mapping;
use crate::reader::context::ReaderContext;
use crate::reader::error::ReaderError;
use crate::reader::protocol;
use crate::reader::soql::quoted_ids;
use crate::salesforce::datetime::{format_soql, parse};
use crate::salesforce::Record;

/// How often a parent's table is looked at (an indexed query of the rows changed within the re-read
/// window, no API call): what a parent change waits at most beyond its own mapping's read.
const TABLE_CHECK: Duration = Duration::from_millis(500);
/// Rows of a parent's table looked at per check.
const TABLE_ROWS_PER_CHECK: i32 = 10_000;
/// Ids per re-read (the SOQL `IN` list stays well inside the request line limit).
const IDS_PER_READ: usize = 200;
/// Records per page of a re-read.
const PAGE: u32 = 2_000;

/// What makes the mapped records to re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    /// A changed parent: the records whose `key` (a lookup path) is its id.
    Parent { key: String },
    /// A changed or deleted detail: the master its `master_field` names.
    Child { master_field: String },
}

/// Where a watch sees changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The table of the object's own mapping (its id) in this schema.
    Table(i64),
    /// Salesforce, by a light query.
    Salesforce,
}

/// One watched object.
#[derive(Debug)]
struct Watch {
    object: String,
    trigger: Trigger,
    /// The dependent fields to re-read.
    fields: Vec<String>,
    source: Source,
    /// Changes at or after this are looked at (the newest seen, less the re-read window: a commit
    /// can become visible after later ones).
    since: DateTime<Utc>,
    /// Records seen within the window and the version seen, so none triggers twice.
    seen: HashMap<String, DateTime<Utc>>,
    next_check: Instant,
}

/// What a look at a watched object found.
struct Changes {
    /// Ids of the records to re-read (parents' ids, or masters' ids).
    targets: BTreeSet<String>,
    /// The versions seen, kept once the re-read succeeded.
    seen: Vec<(String, DateTime<Utc>)>,
    /// The look returned as many rows as it may: the next one starts at the newest.
    full: bool,
    calls: u64,
}

/// What one round of refreshing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub api_calls: u64,
    /// Records re-read.
    pub records: u64,
    /// Rows whose values changed.
    pub rows: i64,
}

/// The watches of one mapping, rebuilt when its dependencies or options change.
#[derive(Debug, Default)]
pub struct FreshFormulas {
    watches: Vec<Watch>,
    /// What the watches were built from: the dependencies, the filter, the schedule.
    built_for: Option<(Dependencies, Option<String>, i32)>,
    /// The next re-read of fields on the clock.
    next_volatile: Option<Instant>,
}

impl FreshFormulas {
    /// Builds the watches for `mapping` unless they are built for it already.
    pub async fn prepare(
        &mut self,
        context: &ReaderContext,
        client: &Client,
        mapping: &Mapping,
    ) -> Result<(), ReaderError> {
        let wanted = mapping
            .dependencies
            .clone()
            .filter(|dependencies| mapping.fresh_formulas && !dependencies.fields.is_empty())
            .map(|dependencies| {
                (
                    dependencies,
                    mapping.filter.clone(),
                    mapping.formula_refresh_seconds,
                )
            });
        if self.built_for == wanted {
            return Ok(());
        }
        self.watches.clear();
        self.next_volatile = None;
        self.built_for = wanted.clone();
        let Some((dependencies, _, refresh_seconds)) = wanted else {
            return Ok(());
        };
        let siblings = Mapping::all(client, &mapping.schema_name).await?;
        let window = self.window(context);
        // from where this mapping last read: what changed while no sidecar followed it counts too
        let since = mapping.last_read_at.unwrap_or_else(Utc::now) - window;
        let now = Instant::now();
        for parent in &dependencies.parents {
            let source = siblings
                .iter()
                .find(|other| {
                    other.object_name.eq_ignore_ascii_case(&parent.object)
                        && other.filter.is_none()
                        && other.has_systemmodstamp()
                })
                .map_or(Source::Salesforce, |other| Source::Table(other.id));
            self.watches.push(Watch {
                object: parent.object.clone(),
                trigger: Trigger::Parent {
                    key: parent.key.clone(),
                },
                fields: parent.fields.clone(),
                source,
                since,
                seen: HashMap::new(),
                next_check: now,
            });
        }
        for child in &dependencies.children {
            // always Salesforce: a deleted detail's row is gone from its table, with its master's id
            self.watches.push(Watch {
                object: child.object.clone(),
                trigger: Trigger::Child {
                    master_field: child.master_field.clone(),
                },
                fields: child.fields.clone(),
                source: Source::Salesforce,
                since,
                seen: HashMap::new(),
                next_check: now,
            });
        }
        if dependencies.has_volatile() {
            self.next_volatile = Some(now + seconds(refresh_seconds));
        }
        tracing::info!(
            mapping = %mapping.label(),
            fields = %dependencies.field_names().join(", "),
            watches = %self.describe_watches(),
            "keeping fields computed from other records fresh"
        );
        Ok(())
    }

    /// When something is due next (`None`: nothing to keep fresh).
    pub fn next_due(&self) -> Option<Instant> {
        self.watches
            .iter()
            .map(|watch| watch.next_check)
            .chain(self.next_volatile)
            .min()
    }

    /// Looks at every watch that is due, re-reads what changed, and re-reads fields on the clock
    /// when their time has come.
    pub async fn run_due(
        &mut self,
        context: &ReaderContext,
        client: &Client,
        mapping: &Mapping,
    ) -> Result<RefreshReport, ReaderError> {
        let mut report = RefreshReport::default();
        let result = self
            .run_watches(context, client, mapping, &mut report)
            .await;
        // what was spent is counted even when a step failed
        record(context, client, mapping, &report).await?;
        result.map(|()| report)
    }

    async fn run_watches(
        &mut self,
        context: &ReaderContext,
        client: &Client,
        mapping: &Mapping,
        report: &mut RefreshReport,
    ) -> Result<(), ReaderError> {
        let window = self.window(context);
        let cycle = seconds(mapping.poll_seconds);
        for watch in &mut self.watches {
            if watch.next_check > Instant::now() {
                continue;
            }
            let changes = watch.changes(context, client).await;
            let changes = match changes {
                Ok(changes) => changes,
                Err(error)
                    if matches!(watch.source, Source::Table(_)) && !error.is_connection_lost() =>
                {
                    // the parent's mapping was dropped or its table changed: ask Salesforce instead
                    tracing::warn!(mapping = %mapping.label(), object = %watch.object, error = %error.detail(), "cannot watch the parent through its table any more; watching it in Salesforce");
                    watch.source = Source::Salesforce;
                    continue;
                }
                Err(error) => {
                    watch.next_check = Instant::now() + cycle;
                    return Err(error);
                }
            };
            report.api_calls += changes.calls;
            if !changes.targets.is_empty() {
                let targets: Vec<String> = changes.targets.iter().cloned().collect();
                let (column, fields) = match &watch.trigger {
                    Trigger::Parent { key } => (key.as_str(), &watch.fields),
                    Trigger::Child { .. } => ("Id", &watch.fields),
                };
                reread(context, client, mapping, fields, column, &targets, report).await?;
                tracing::debug!(mapping = %mapping.label(), object = %watch.object, records = targets.len(), "re-read the dependent fields of what changed");
            }
            watch.commit(changes.seen, changes.full, window);
            watch.next_check = Instant::now()
                + match watch.source {
                    Source::Table(_) => TABLE_CHECK.min(cycle),
                    Source::Salesforce => cycle,
                };
        }
        if self.next_volatile.is_some_and(|at| at <= Instant::now()) {
            let fields = self
                .built_for
                .as_ref()
                .map(|(dependencies, _, _)| {
                    dependencies
                        .fields
                        .iter()
                        .filter(|field| field.volatile)
                        .map(|field| field.field.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let interval = seconds(mapping.formula_refresh_seconds);
            self.next_volatile = Some(Instant::now() + interval);
            apply_query(
                context,
                client,
                mapping,
                &select(mapping, &fields, None),
                report,
            )
            .await?;
        }
        Ok(())
    }

    fn window(&self, context: &ReaderContext) -> TimeDelta {
        TimeDelta::from_std(context.tuning.reread_window).unwrap_or(TimeDelta::seconds(60))
    }

    fn describe_watches(&self) -> String {
        self.watches
            .iter()
            .map(|watch| {
                let source = match watch.source {
                    Source::Table(_) => "its table",
                    Source::Salesforce => "Salesforce",
                };
                format!("{} (through {source})", watch.object)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Watch {
    /// What changed since `since` that was not seen yet.
    async fn changes(
        &self,
        context: &ReaderContext,
        client: &Client,
    ) -> Result<Changes, ReaderError> {
        let mut changes = Changes {
            targets: BTreeSet::new(),
            seen: Vec::new(),
            full: false,
            calls: 0,
        };
        match (self.source, &self.trigger) {
            (Source::Table(parent_mapping), _) => {
                let rows = protocol::changed_rows(
                    client,
                    parent_mapping,
                    self.since,
                    TABLE_ROWS_PER_CHECK,
                )
                .await?;
                changes.full = rows.len() >= TABLE_ROWS_PER_CHECK as usize;
                for (id, stamp) in rows {
                    if self.seen.get(&id) != Some(&stamp) {
                        changes.targets.insert(id.clone());
                        changes.seen.push((id, stamp));
                    }
                }
            }
            (Source::Salesforce, trigger) => {
                let since = format_soql(&self.since);
                let (soql, pages) = match trigger {
                    Trigger::Parent { .. } => {
                        let soql = format!(
                            "SELECT Id, SystemModstamp FROM {} WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id",
                            self.object
                        );
                        let pages = context.salesforce.query(&soql, Some(PAGE));
                        (soql, pages)
                    }
                    Trigger::Child { master_field } => {
                        let soql = format!(
                            "SELECT Id, SystemModstamp, {master_field} FROM {} WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id",
                            self.object
                        );
                        let pages = context.salesforce.query_all(&soql, Some(PAGE));
                        (soql, pages)
                    }
                };
                let mut pages = pages;
                while let Some(page) = pages.next_page().await? {
                    changes.calls += 1;
                    for record in &page.records {
                        let (Some(id), Some(stamp)) = (
                            text(record, "Id"),
                            text(record, "SystemModstamp").and_then(|stamp| parse(&stamp)),
                        ) else {
                            tracing::warn!(soql, "a record without Id or SystemModstamp; skipped");
                            continue;
                        };
                        if self.seen.get(&id) == Some(&stamp) {
                            continue;
                        }
                        let target = match trigger {
                            Trigger::Parent { .. } => Some(id.clone()),
                            Trigger::Child { master_field } => text(record, master_field),
                        };
                        changes.targets.extend(target);
                        changes.seen.push((id, stamp));
                    }
                }
            }
        }
        Ok(changes)
    }

    /// Remembers what was seen and moves `since` to the newest less the window (to the newest
    /// itself after a look that returned all it may).
    fn commit(&mut self, seen: Vec<(String, DateTime<Utc>)>, full: bool, window: TimeDelta) {
        let newest = seen.iter().map(|(_, stamp)| *stamp).max();
        self.seen.extend(seen);
        if let Some(newest) = newest {
            let since = if full { newest } else { newest - window };
            self.since = self.since.max(since);
        }
        let since = self.since;
        self.seen.retain(|_, stamp| *stamp >= since);
    }
}

/// `SELECT Id, SystemModstamp, <fields> FROM <object> [WHERE <condition>] [AND (<filter>)]`.
fn select(mapping: &Mapping, fields: &[String], condition: Option<String>) -> String {
    let mut columns = vec!["Id".to_string()];
    if mapping.has_systemmodstamp() {
        columns.push("SystemModstamp".to_string());
    }
    columns.extend(fields.iter().cloned());
    let conditions: Vec<String> = condition
        .into_iter()
        .chain(mapping.filter.as_ref().map(|filter| format!("({filter})")))
        .collect();
    let mut soql = format!("SELECT {} FROM {}", columns.join(", "), mapping.object_name);
    if !conditions.is_empty() {
        soql.push_str(" WHERE ");
        soql.push_str(&conditions.join(" AND "));
    }
    soql
}

/// Re-reads `fields` of the records whose `column` is one of `ids`, and applies them.
async fn reread(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    fields: &[String],
    column: &str,
    ids: &[String],
    report: &mut RefreshReport,
) -> Result<(), ReaderError> {
    for chunk in ids.chunks(IDS_PER_READ) {
        let soql = select(
            mapping,
            fields,
            Some(format!("{column} IN ({})", quoted_ids(chunk))),
        );
        apply_query(context, client, mapping, &soql, report).await?;
    }
    Ok(())
}

/// Runs a re-read and applies every page through `_refresh_fields`.
async fn apply_query(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    soql: &str,
    report: &mut RefreshReport,
) -> Result<(), ReaderError> {
    let mut pages = context.salesforce.query(soql, Some(PAGE));
    while let Some(page) = pages.next_page().await? {
        report.api_calls += 1;
        if page.records.is_empty() {
            continue;
        }
        report.records += page.records.len() as u64;
        let json = serde_json::to_string(&page.records).map_err(|source| ReaderError::Decode {
            what: "a page of re-read records".to_string(),
            source,
        })?;
        report.rows += protocol::refresh_fields(client, mapping.id, &json).await?;
    }
    Ok(())
}

/// Counts what a round cost on the mapping and in the metrics.
async fn record(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    report: &RefreshReport,
) -> Result<(), ReaderError> {
    if report.api_calls == 0 && report.rows == 0 {
        return Ok(());
    }
    let object = mapping.object_name.as_str();
    context
        .metrics
        .formula_api_calls
        .with_label_values(&[object])
        .inc_by(report.api_calls);
    context
        .metrics
        .formula_rows
        .with_label_values(&[object])
        .inc_by(report.rows.max(0) as u64);
    protocol::count_formula_calls(client, mapping.id, report.api_calls, report.rows).await
}

fn text(record: &Record, field: &str) -> Option<String> {
    match record.get(field) {
        Some(Value::String(value)) if !value.is_empty() => Some(value.clone()),
        _ => None,
    }
}

fn seconds(value: i32) -> Duration {
    Duration::from_secs(u64::try_from(value.max(1)).unwrap_or(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, second)
            .single()
            .expect("valid")
    }

    fn watch() -> Watch {
        Watch {
            object: "Account".into(),
            trigger: Trigger::Parent {
                key: "AccountId".into(),
            },
            fields: vec!["Industry__c".into()],
            source: Source::Salesforce,
            since: at(0),
            seen: HashMap::new(),
            next_check: Instant::now(),
        }
    }

    #[test]
    fn the_window_trails_the_newest_change_and_forgets_what_falls_out() {
        let mut watch = watch();
        let window = TimeDelta::seconds(10);
        watch.commit(
            vec![("001A".into(), at(5)), ("001B".into(), at(30))],
            false,
            window,
        );
        assert_eq!(watch.since, at(20));
        assert_eq!(watch.seen.len(), 1, "001A fell out of the window");
        assert_eq!(watch.seen.get("001B"), Some(&at(30)));
        // nothing new: the window stays
        watch.commit(vec![], false, window);
        assert_eq!(watch.since, at(20));
        // an older change seen late does not move it back
        watch.commit(vec![("001C".into(), at(21))], false, window);
        assert_eq!(watch.since, at(20));
        // a full look starts the next one at its newest
        watch.commit(vec![("001D".into(), at(40))], true, window);
        assert_eq!(watch.since, at(40));
    }

    #[test]
    fn re_reads_select_the_dependent_fields_within_the_filter() {
        let mut mapping = Mapping::example();
        mapping.object_name = "Contact".into();
        mapping.filter = Some("LeadSource = 'Web'".into());
        assert_eq!(
            select(
                &mapping,
                &["Industry__c".into()],
                Some("AccountId IN ('001A')".into())
            ),
            "SELECT Id, Industry__c FROM Contact WHERE AccountId IN ('001A') AND (LeadSource = 'Web')"
        );
        mapping.filter = None;
        assert_eq!(
            select(&mapping, &["Age__c".into()], None),
            "SELECT Id, Age__c FROM Contact"
        );
    }
}
