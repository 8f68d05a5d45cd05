//! The writer's view of the mappings: read again every few seconds (new mappings, altered column
//! plans) and at once when a claim names one it does not know, and shared with the notification
//! filter, which runs on the listening connection's task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_postgres::Client;

use super::mapping::MappingCatalog;
use crate::db::DbError;

/// How often the mappings are read again.
const CATALOG_REFRESH: Duration = Duration::from_secs(2);

pub struct CatalogRefresher {
    schema: String,
    current: Arc<MappingCatalog>,
    /// The catalog as the listener's filter sees it.
    watch: watch::Sender<Arc<MappingCatalog>>,
    loaded_at: Option<Instant>,
}

impl CatalogRefresher {
    pub fn new(schema: String) -> Self {
        Self {
            schema,
            current: Arc::new(MappingCatalog::default()),
            watch: watch::Sender::new(Arc::new(MappingCatalog::default())),
            loaded_at: None,
        }
    }

    pub fn current(&self) -> &Arc<MappingCatalog> {
        &self.current
    }

    /// What the notification filter reads.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MappingCatalog>> {
        self.watch.subscribe()
    }

    pub fn due(&self) -> bool {
        self.loaded_at
            .is_none_or(|at| at.elapsed() >= CATALOG_REFRESH)
    }

    pub async fn reload(&mut self, client: &Client) -> Result<(), DbError> {
        self.current = Arc::new(MappingCatalog::load(client, &self.schema).await?);
        self.watch.send_replace(self.current.clone());
        self.loaded_at = Some(Instant::now());
        Ok(())
    }
}
