//! Command line of `sfsync-emulator` (documented in emulator/README.md).

use std::path::PathBuf;

use clap::Parser;

use crate::store::RecordId;

/// A Salesforce org on loopback for sfsync's tests, demos and offline development.
#[derive(Parser, Clone, Debug)]
#[command(name = "sfsync-emulator", version, about)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Serve HTTPS with a certificate generated at start (for `localhost` and `127.0.0.1`).
    #[arg(long)]
    pub tls: bool,
    /// Where to write the PEM certificate (the CA) clients must trust; needs `--tls`.
    #[arg(long, requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// Directory of describe-format JSON object files (one custom object each) to load at start.
    #[arg(long)]
    pub objects: Option<PathBuf>,
    /// State file: loaded at start if it exists, saved on SIGTERM/SIGINT.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Daily API request allowance (`DailyApiRequests.Max`).
    #[arg(long, default_value_t = 1_000_000)]
    pub daily_api_limit: u64,
    /// Connected app consumer key.
    #[arg(long, default_value = "sfsync-emulator")]
    pub client_id: String,
    /// Connected app consumer secret.
    #[arg(long, default_value = "emulator-secret")]
    pub client_secret: String,
    /// The org's login user.
    #[arg(long, default_value = "admin@sfsync.emulator")]
    pub username: String,
    /// The login user's password.
    #[arg(long, default_value = "emulator-password")]
    pub password: String,
    /// The organization id (15 or 18 characters, key prefix `00D`); shown in the identity URL, access tokens,
    /// `Organization.Id` and userinfo. Default: the emulator's built-in org id.
    #[arg(long, value_parser = parse_org_id, default_value_t = crate::store::default_org_id())]
    pub org_id: RecordId,
    /// PEM certificate (or public key) that verifies JWT bearer assertions (RS256); without it the JWT flow is refused.
    #[arg(long)]
    pub jwt_cert: Option<PathBuf>,
    /// Lifetime of access tokens.
    #[arg(long, default_value_t = 7200)]
    pub session_seconds: u64,
    /// Objects with Change Data Capture on (comma-separated, `*` = all).
    #[arg(long, default_value = "*")]
    pub cdc_objects: String,
    /// CometD long-poll timeout.
    #[arg(long, default_value_t = 110)]
    pub cometd_timeout_seconds: u64,
    /// How long change events stay replayable, in hours of org time.
    #[arg(long, default_value_t = 72)]
    pub cdc_retention_hours: u64,
    /// A CometD client that does not reconnect within this many seconds expires (Salesforce: 40); for tests.
    #[arg(long, default_value_t = 40, hide = true)]
    pub cometd_client_expiry_seconds: u64,
    /// Each refresh returns a new refresh token; reusing an old one revokes it and its access tokens.
    #[arg(long)]
    pub refresh_token_rotation: bool,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `sfsync_emulator=debug`.
    #[arg(long, env = "SFSYNC_EMULATOR_LOG", default_value = "warn")]
    pub log: String,
}

impl Config {
    /// The `--cdc-objects` list; `None` means every object.
    pub fn cdc_object_list(&self) -> Option<Vec<String>> {
        parse_cdc_objects(&self.cdc_objects)
    }
}

/// `*` → all objects (`None`), else the comma-separated names.
pub fn parse_cdc_objects(text: &str) -> Option<Vec<String>> {
    if text.trim() == "*" {
        return None;
    }
    Some(
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// `--org-id`: a 15- or 18-character id of an Organization (key prefix `00D`), widened to 18 characters.
pub fn parse_org_id(text: &str) -> Result<RecordId, String> {
    let id = RecordId::parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not a Salesforce id: give 15 case-sensitive letters and digits, or 18 with the \
             3-character checksum of the first 15"
        )
    })?;
    if id.key_prefix() != "00D" {
        return Err(format!(
            "'{text}' is not an organization id: organization ids start with 00D, this one with {}",
            id.key_prefix()
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_are_checked_and_widened() {
        let long = parse_org_id("00D8E0000000001").expect("15-character id");
        assert_eq!(long.as_str(), "00D8E0000000001UAA");
        assert_eq!(parse_org_id("00D8E0000000001UAA"), Ok(long));
        assert!(parse_org_id("00D8E0000000001XXX")
            .unwrap_err()
            .contains("checksum"));
        assert!(parse_org_id("0018E0000000001")
            .unwrap_err()
            .contains("start with 00D"));
        assert!(parse_org_id("00D-").is_err());
    }
}
