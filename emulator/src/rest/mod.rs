//! Salesforce REST handlers (`/services/data/...`): thin adapters between HTTP and the store.
pub mod collections;
pub mod describe;
pub mod records;
pub mod versions;

use crate::http::error::ApiError;
use crate::store::Org;

/// Case-insensitive object lookup for URL segments; unknown objects are `NOT_FOUND`.
pub fn object_index(org: &Org, name: &str) -> Result<usize, ApiError> {
    org.object_index(name)
        .ok_or_else(|| ApiError::unknown_object(name))
}
