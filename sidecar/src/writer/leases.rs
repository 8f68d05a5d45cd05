//! The leases the writer holds: how many unfinished writes (waiting or in flight) each claim's token
//! still covers, so that renewal stops with the last of them and a lapsed lease drops its writes.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::schedule::{Scheduler, Waiting};
use crate::db::queue::{self, retry_conflicts};
use crate::db::DbError;

#[derive(Default)]
pub struct Leases {
    unfinished: HashMap<String, usize>,
}

impl Leases {
    /// One more write under `token`.
    pub fn hold(&mut self, token: &str) {
        *self.unfinished.entry(token.to_string()).or_default() += 1;
    }

    /// One write under `token` is finished (sent, or given back).
    pub fn finish(&mut self, token: &str) {
        if let Some(count) = self.unfinished.get_mut(token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.unfinished.remove(token);
            }
        }
    }

    pub fn forget(&mut self, writes: &[Waiting]) {
        for entry in writes {
            self.finish(&entry.operation.token);
        }
    }

    /// Renews every held lease; the writes of one that lapsed are dropped from `scheduler` (another
    /// sidecar may hold them now).
    pub async fn renew(
        &mut self,
        client: &Client,
        lease_seconds: i32,
        scheduler: &mut Scheduler,
    ) -> Result<(), DbError> {
        if self.unfinished.is_empty() {
            return Ok(());
        }
        let tokens: Vec<String> = self.unfinished.keys().cloned().collect();
        let mut lost = Vec::new();
        for token in tokens {
            let held =
                retry_conflicts(5, || queue::renew_leases(client, &token, lease_seconds)).await?;
            if held == 0 {
                lost.push(token);
            }
        }
        for token in lost {
            let dropped = scheduler.remove_token(&token);
            if !dropped.is_empty() {
                tracing::warn!(writes = dropped.len(), "a lease lapsed before its changes were sent; another sidecar may hold them now");
            }
            self.unfinished.remove(&token);
        }
        Ok(())
    }
}
