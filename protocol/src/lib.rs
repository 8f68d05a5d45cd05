//! sfsync-protocol: the contract between the sfsync extension and its sidecar, declared once.
//!
//! The extension (`sfsync`, a pgrx crate) and the sidecar (`sfsync-sidecar`) meet only in the
//! database (docs/architecture.md, *Contracts*; docs/protocol.md). What both sides must spell the
//! same way lives here, with no dependency beyond serde:
//!
//! - [`plan`]: the **column plan** stored in `sfsync.mapping.columns` ([`ColumnPlan`]), written by the
//!   extension's planner and read by the capture triggers, the writer and the reader;
//! - [`types`]: the **Salesforce → Postgres type map** ([`sql_type`]), applied by the planner when a
//!   table is built and by the reader when it checks a fresh describe for drift;
//! - [`states`]: the words of the catalog as enums whose [`as_str`](Action::as_str) and serde names
//!   are the strings the SQL stores and checks: change actions, queue states, mapping states and
//!   access, the rows' `_hc_lastop`, and the outcomes `_complete_changes` takes;
//! - [`result`]: a typed entry of `_complete_changes`' `p_results` ([`ChangeResult`]);
//! - [`dependencies`]: a mapping's fields that Salesforce computes from other records or the clock,
//!   as the reader stores them in `sfsync.mapping.dependencies` ([`Dependencies`]) and
//!   `sfsync.status()` lists them;
//! - [`echo`]: the client name the writer's calls carry (`Sforce-Call-Options: client=sfsync-<id>`)
//!   and the reader recognises its own changes by ([`echo_client`]).
//!
//! The emulator must not use this crate: it is written from Salesforce's documentation and must
//! accept whatever a Salesforce client sends.

pub mod dependencies;
pub mod echo;
pub mod plan;
pub mod result;
pub mod states;
pub mod types;

pub use dependencies::{ChildWatch, Dependencies, DependencyKind, DependentField, ParentWatch};
pub use echo::echo_client;
pub use plan::ColumnPlan;
pub use result::{ChangeResult, ResultError};
pub use states::{Access, Action, ChangeState, LastOp, MappingState, Outcome, UnknownWord};
pub use types::sql_type;
