//! The reader: Salesforce → Postgres. A supervisor follows `sfsync.mapping` (polling it every few
//! seconds and listening on `sfsync_control`), holds one reading lease per mapping it reads, and runs
//! one worker per leased mapping: describe → `_install_mapping` → initial load → incremental sync
//! (polling `queryAll` on `SystemModstamp`, or Change Data Capture over CometD), reloads, back-fills
//! and schema-drift checks.

mod bulk_load;
mod catalog;
mod context;
mod describe;
mod drift;
mod echoes;
mod error;
mod events;
mod feed;
mod formulas;
mod lifecycle;
mod load;
mod metrics;
mod poll;
mod position;
mod progress;
mod protocol;
mod reconcile;
mod schema_watch;
mod soql;
mod stage;
mod stream;
mod supervisor;
mod sweep;
mod worker;

pub use catalog::{ColumnPlan, Mapping};
pub use context::ReaderContext;
pub use drift::{new_fields, Drift};
pub use error::ReaderError;
pub use metrics::ReaderMetrics;
pub use supervisor::ReaderSupervisor;
