//! The runtime the workers (writer, reader, housekeeping) run in: the shared configuration, database,
//! Salesforce client, health, metrics registry and shutdown. `commands::run` builds it once the
//! version gate and the schema's session are through; workers depend on this, never on `commands`.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Database;
use crate::metrics::{Health, Metrics};
use crate::salesforce::SalesforceClient;
use crate::shutdown::Shutdown;

/// Everything a worker task needs; cheap to clone into each task.
#[derive(Clone)]
pub struct RunContext {
    pub config: Arc<Config>,
    pub database: Database,
    pub salesforce: SalesforceClient,
    pub metrics: Metrics,
    pub health: Arc<Health>,
    pub shutdown: Shutdown,
}
