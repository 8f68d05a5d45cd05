//! Access and refresh tokens: lifetimes, expiry on demand, and refresh-token rotation with reuse detection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};

use crate::store::RecordId;

#[derive(Clone, Debug)]
struct Session {
    user: RecordId,
    expires_at: Instant,
    /// The refresh-token family that minted this token, if any.
    family: Option<u64>,
}

#[derive(Clone, Debug)]
struct RefreshToken {
    user: RecordId,
    family: u64,
    /// False once rotated out; presenting it again revokes the whole family.
    current: bool,
}

/// Why a refresh token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshRefusal {
    Unknown,
    /// A rotated-out token was reused: the family was revoked.
    Reused,
}

/// Every token the org has issued.
#[derive(Debug)]
pub struct SessionStore {
    access: HashMap<String, Session>,
    refresh: HashMap<String, RefreshToken>,
    next_family: u64,
    lifetime: Duration,
    org_id: RecordId,
}

impl SessionStore {
    pub fn new(lifetime: Duration, org_id: RecordId) -> SessionStore {
        SessionStore {
            access: HashMap::new(),
            refresh: HashMap::new(),
            next_family: 1,
            lifetime,
            org_id,
        }
    }

    /// A new access token shaped like Salesforce's (`<org id>!<opaque>`).
    pub fn issue_access_token(&mut self, user: RecordId, family: Option<u64>) -> String {
        let token = format!(
            "{}!AR{}",
            self.org_id.short(),
            Alphanumeric.sample_string(&mut rand::rng(), 94)
        );
        self.access.insert(
            token.clone(),
            Session {
                user,
                expires_at: Instant::now() + self.lifetime,
                family,
            },
        );
        // Keep the table from growing without bound in long benchmarks.
        if self.access.len() > 100_000 {
            let now = Instant::now();
            self.access.retain(|_, s| s.expires_at > now);
        }
        token
    }

    /// A new refresh token in a new family.
    pub fn issue_refresh_token(&mut self, user: RecordId) -> String {
        let family = self.next_family;
        self.next_family += 1;
        self.mint_refresh(user, family)
    }

    fn mint_refresh(&mut self, user: RecordId, family: u64) -> String {
        let token = format!("5Aep{}", Alphanumeric.sample_string(&mut rand::rng(), 83));
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                user,
                family,
                current: true,
            },
        );
        token
    }

    /// The user of a valid, unexpired access token.
    pub fn authenticate(&self, token: &str) -> Option<RecordId> {
        self.access
            .get(token)
            .filter(|s| s.expires_at > Instant::now())
            .map(|s| s.user)
    }

    /// Uses a refresh token. Returns the user, the family, and (with rotation) the replacement refresh token.
    pub fn use_refresh_token(
        &mut self,
        token: &str,
        rotate: bool,
    ) -> Result<(RecordId, u64, Option<String>), RefreshRefusal> {
        let entry = self
            .refresh
            .get(token)
            .cloned()
            .ok_or(RefreshRefusal::Unknown)?;
        if !entry.current {
            self.revoke_family(entry.family);
            return Err(RefreshRefusal::Reused);
        }
        if !rotate {
            return Ok((entry.user, entry.family, None));
        }
        if let Some(old) = self.refresh.get_mut(token) {
            old.current = false;
        }
        let replacement = self.mint_refresh(entry.user, entry.family);
        Ok((entry.user, entry.family, Some(replacement)))
    }

    fn revoke_family(&mut self, family: u64) {
        self.refresh.retain(|_, r| r.family != family);
        self.access.retain(|_, s| s.family != Some(family));
    }

    /// Every access token becomes invalid (refresh tokens stay usable).
    pub fn expire_all(&mut self) {
        self.access.clear();
    }
}
