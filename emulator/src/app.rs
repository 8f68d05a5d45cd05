//! Shared server state: the org behind its lock, sessions, limits, faults, statistics and configuration.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::auth::jwt::JwtVerifier;
use crate::auth::sessions::SessionStore;
use crate::config::Config;
use crate::faults::Faults;
use crate::limits::OrgLimits;
use crate::store::Org;

/// Everything handlers share. Cloned cheaply as `Arc<AppState>`.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    /// `http(s)://HOST:PORT`, also the `instance_url` of every token response.
    pub base_url: String,
    pub org: RwLock<Org>,
    pub sessions: Mutex<SessionStore>,
    pub limits: OrgLimits,
    pub faults: Faults,
    /// API calls by `METHOD route-template`.
    pub stats: Mutex<BTreeMap<String, u64>>,
    /// Objects with CDC on; `None` = all (`--cdc-objects`, `PUT /__emulator/cdc`).
    pub cdc_objects: Mutex<Option<Vec<String>>>,
    pub jwt: Option<JwtVerifier>,
    /// Bulk API 2.0 ingest and query jobs.
    pub bulk: crate::bulk::BulkJobs,
    /// Open SOQL query cursors (`nextRecordsUrl` locators).
    pub query_locators: crate::query::locators::QueryLocators,
    /// Change Data Capture over CometD: clients, gap events.
    pub cdc: crate::cdc::CdcState,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(
        config: Config,
        base_url: String,
        mut org: Org,
        jwt: Option<JwtVerifier>,
    ) -> AppState {
        org.change_log.retention_ms = crate::cdc::retention_ms(&config);
        let cdc = crate::cdc::CdcState::new(&config);
        let sessions = SessionStore::new(Duration::from_secs(config.session_seconds), org.org_id);
        let limits = OrgLimits::new(config.daily_api_limit);
        let cdc_objects = Mutex::new(config.cdc_object_list());
        AppState {
            config,
            base_url,
            org: RwLock::new(org),
            sessions: Mutex::new(sessions),
            limits,
            faults: Faults::default(),
            stats: Mutex::new(BTreeMap::new()),
            cdc_objects,
            jwt,
            bulk: crate::bulk::BulkJobs::default(),
            query_locators: crate::query::locators::QueryLocators::default(),
            cdc,
        }
    }

    /// The identity URL `{base}/id/{orgId}/{userId}`.
    pub fn identity_url(&self, user: &str) -> String {
        let org_id = self.org.read().org_id;
        format!("{}/id/{}/{}", self.base_url, org_id, user)
    }

    pub fn count_call(&self, key: String) {
        *self.stats.lock().entry(key).or_insert(0) += 1;
    }
}
