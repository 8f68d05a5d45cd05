//! A small pool of Postgres connections for tasks that run side by side (the writer completes
//! several Salesforce calls at once). Closed connections are dropped and replaced on demand; new ones
//! are prepared for the queue protocol (`queue::prepare_session`).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

use super::{Database, DbError};

/// At most `size` connections exist at once; idle ones are kept for reuse.
pub struct ClientPool {
    database: Database,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
}

/// A connection borrowed from the pool; returned when dropped (unless it was closed).
pub struct PooledClient {
    client: Option<Client>,
    pool: Arc<ClientPool>,
    _permit: OwnedSemaphorePermit,
}

impl ClientPool {
    pub fn new(database: Database, size: usize) -> Arc<Self> {
        Arc::new(Self {
            database,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size.max(1))),
        })
    }

    /// Waits for a free slot, then hands out an idle connection or opens a new one.
    pub async fn get(self: &Arc<Self>) -> Result<PooledClient, DbError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        let reusable = loop {
            let candidate = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match candidate {
                Some(client) if client.is_closed() => continue,
                other => break other,
            }
        };
        let client = match reusable {
            Some(client) => client,
            None => {
                let client = self.database.connect().await?;
                super::queue::prepare_session(&client).await?;
                client
            }
        };
        Ok(PooledClient {
            client: Some(client),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

impl std::ops::Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a pooled client is present until it is dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                self.pool
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(client);
            }
        }
    }
}
