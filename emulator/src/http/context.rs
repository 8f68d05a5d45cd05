//! What the API middleware learned about a `/services/data` call: API version, user, and calling client.

use crate::store::{ApiKind, RecordId, WriteContext};

/// API versions served: 20.0 (Winter '11) through 64.0 (Summer '25).
pub const MIN_VERSION: u32 = 20;
pub const MAX_VERSION: u32 = 64;

/// Inserted into request extensions for every authenticated `/services/data/vXX.X/...` call.
#[derive(Clone, Debug)]
pub struct ApiContext {
    /// `62.0`
    pub version: String,
    pub version_number: f64,
    pub user: RecordId,
    /// `client=` of `Sforce-Call-Options`.
    pub client: Option<String>,
}

impl ApiContext {
    /// The write context for a REST write by this caller.
    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            user: self.user,
            origin_client: self.client.clone(),
            api: Some(ApiKind::Rest),
            api_version: Some(self.version.clone()),
        }
    }

    /// `/services/data/v62.0`
    pub fn base(&self) -> String {
        format!("/services/data/v{}", self.version)
    }
}

/// `v62.0` → `62.0` when served.
pub fn parse_version(segment: &str) -> Option<(String, f64)> {
    let number = segment.strip_prefix('v')?;
    let (major, minor) = number.split_once('.')?;
    let major: u32 = major.parse().ok()?;
    if minor != "0" || !(MIN_VERSION..=MAX_VERSION).contains(&major) {
        return None;
    }
    Some((format!("{major}.0"), major as f64))
}

/// The release label of a version: 20.0 = Winter '11, then Spring, Summer, Winter...
pub fn version_label(major: u32) -> String {
    let k = major - MIN_VERSION;
    let season = ["Winter", "Spring", "Summer"][(k % 3) as usize];
    format!("{season} '{:02}", 11 + k / 3)
}

/// `client=sfsync-abc, other=x` → `sfsync-abc`.
pub fn call_options_client(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("client")
            .then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_labels() {
        assert_eq!(version_label(46), "Summer '19");
        assert_eq!(version_label(50), "Winter '21");
        assert_eq!(version_label(62), "Winter '25");
        assert_eq!(version_label(64), "Summer '25");
        assert_eq!(
            parse_version("v62.0").map(|v| v.0),
            Some("62.0".to_string())
        );
        assert_eq!(parse_version("v99.0"), None);
        assert_eq!(
            call_options_client("client=sfsync-1, defaultNamespace=x"),
            Some("sfsync-1".into())
        );
    }
}
