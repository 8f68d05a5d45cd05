//! Configuration loading and validation tests (no process environment is touched).

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::*;

const JWT_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jwt-test-key.pem"
);

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn load(file: Option<&Path>, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let variables = env(pairs);
    Config::load_with(file, &|name| variables.get(name).cloned())
}

const MINIMAL: &[(&str, &str)] = &[
    ("DATABASE_URL", "postgres://sfsync:secret@localhost/app"),
    ("SFSYNC_AUTH", "client_credentials"),
    ("SFSYNC_CLIENT_ID", "3MVG9-id"),
    ("SFSYNC_CLIENT_SECRET", "very-secret"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs: Vec<(&str, &str)> = MINIMAL.to_vec();
    for (key, value) in extra {
        pairs.retain(|(existing, _)| existing != key);
        pairs.push((key, value));
    }
    pairs
}

#[test]
fn defaults_apply() {
    let config = load(None, MINIMAL).expect("valid");
    assert_eq!(config.schema, "salesforce");
    assert_eq!(
        config.salesforce.login_url.as_str(),
        "https://login.salesforce.com/"
    );
    assert_eq!(config.salesforce.api_version.as_str(), "62.0");
    assert_eq!(config.http_listen, None);
    let tuning = &config.tuning;
    assert_eq!(tuning.api_reserve, ApiReserve::Percent(10.0));
    assert_eq!(tuning.write_batch, 200);
    assert_eq!(tuning.write_concurrency, 4);
    assert_eq!(tuning.bulk_threshold, 10_000);
    assert_eq!(tuning.poll_interval, Duration::from_millis(50));
    assert_eq!(tuning.archive_retention_days, 31);
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let config = load(
        None,
        &with(&[
            ("SFSYNC_AUTH", "password"),
            ("SFSYNC_USERNAME", "u@example.com"),
            ("SFSYNC_PASSWORD", "hunter2"),
        ]),
    )
    .expect("valid");
    let printed = format!("{config:?}");
    assert!(!printed.contains("very-secret"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains(":secret@"), "{printed}");
}

#[test]
fn missing_auth_keys_are_named() {
    let error = load(
        None,
        &with(&[("SFSYNC_AUTH", "jwt"), ("SFSYNC_USERNAME", "u@example.com")]),
    )
    .expect_err("no key file");
    assert_eq!(
        error.to_string(),
        "SFSYNC_AUTH=jwt needs SFSYNC_JWT_KEY_FILE"
    );

    let error = load(None, &with(&[("SFSYNC_AUTH", "refresh_token")])).expect_err("no token");
    assert_eq!(
        error.to_string(),
        "SFSYNC_AUTH=refresh_token needs SFSYNC_REFRESH_TOKEN"
    );

    let error = load(None, &with(&[("SFSYNC_AUTH", "password")])).expect_err("no username");
    assert_eq!(
        error.to_string(),
        "SFSYNC_AUTH=password needs SFSYNC_USERNAME"
    );

    let error = load(None, &with(&[("SFSYNC_AUTH", "oauth")])).expect_err("unknown flow");
    assert!(
        error
            .to_string()
            .starts_with("SFSYNC_AUTH=oauth is invalid"),
        "{error}"
    );

    let no_auth: Vec<_> = MINIMAL
        .iter()
        .copied()
        .filter(|(key, _)| *key != "SFSYNC_AUTH")
        .collect();
    let error = load(None, &no_auth).expect_err("no flow");
    assert!(
        error.to_string().starts_with("SFSYNC_AUTH is not set"),
        "{error}"
    );

    let error = load(None, &[]).expect_err("nothing set");
    assert!(
        error.to_string().starts_with("DATABASE_URL is not set"),
        "{error}"
    );
}

#[test]
fn jwt_settings_load_the_key_and_default_the_audience() {
    let config = load(
        None,
        &with(&[
            ("SFSYNC_AUTH", "jwt"),
            ("SFSYNC_USERNAME", "integration@example.com"),
            ("SFSYNC_JWT_KEY_FILE", JWT_KEY),
            ("SFSYNC_LOGIN_URL", "https://test.salesforce.com/"),
        ]),
    )
    .expect("valid");
    match &config.salesforce.auth {
        AuthSettings::Jwt {
            audience, username, ..
        } => {
            assert_eq!(audience, "https://test.salesforce.com");
            assert_eq!(username, "integration@example.com");
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut bad_key = tempfile::NamedTempFile::new().expect("temp file");
    bad_key.write_all(b"not a key").expect("write");
    let path = bad_key.path().to_string_lossy().to_string();
    let pairs = vec![
        ("DATABASE_URL", "postgres://localhost/app"),
        ("SFSYNC_AUTH", "jwt"),
        ("SFSYNC_CLIENT_ID", "id"),
        ("SFSYNC_USERNAME", "u"),
        ("SFSYNC_JWT_KEY_FILE", path.as_str()),
    ];
    let error = load(None, &pairs).expect_err("bad key");
    let text = crate::error_chain(&error);
    assert!(
        text.starts_with("SFSYNC_JWT_KEY_FILE: cannot use the JWT signing key"),
        "{text}"
    );
    assert!(text.contains("not an RSA private key"), "{text}");
}

#[test]
fn numbers_and_ranges_are_checked() {
    let error = load(None, &with(&[("SFSYNC_WRITE_BATCH", "500")])).expect_err("too big");
    assert_eq!(
        error.to_string(),
        "SFSYNC_WRITE_BATCH=500 is invalid: expected a whole number from 1 to 200"
    );
    let error = load(None, &with(&[("SFSYNC_POLL_MS", "fast")])).expect_err("not a number");
    assert!(
        error
            .to_string()
            .starts_with("SFSYNC_POLL_MS=fast is invalid"),
        "{error}"
    );
    let error = load(None, &with(&[("SFSYNC_API_RESERVE", "120%")])).expect_err("over 100%");
    assert!(error.to_string().contains("between 0% and 100%"), "{error}");
    let error = load(None, &with(&[("SFSYNC_API_VERSION", "v62")])).expect_err("bad version");
    assert!(
        error
            .to_string()
            .starts_with("SFSYNC_API_VERSION=v62 is invalid"),
        "{error}"
    );
    let error = load(None, &with(&[("SFSYNC_API_VERSION", "40.0")])).expect_err("too old");
    assert!(error.to_string().contains("46.0 or later"), "{error}");
    let error =
        load(None, &with(&[("SFSYNC_HTTP_LISTEN", "everywhere")])).expect_err("bad address");
    assert!(
        error
            .to_string()
            .starts_with("SFSYNC_HTTP_LISTEN=everywhere is invalid"),
        "{error}"
    );

    let config = load(
        None,
        &with(&[
            ("SFSYNC_API_RESERVE", "2500"),
            ("SFSYNC_WRITE_CONCURRENCY", "8"),
            ("SFSYNC_BULK_THRESHOLD", "50_000"),
            ("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.tuning.api_reserve, ApiReserve::Calls(2500));
    assert_eq!(config.tuning.write_concurrency, 8);
    assert_eq!(config.tuning.bulk_threshold, 50_000);
    assert_eq!(config.http_listen.map(|a| a.port()), Some(9187));
}

#[test]
fn login_url_must_be_https_unless_loopback() {
    let error = load(
        None,
        &with(&[("SFSYNC_LOGIN_URL", "http://login.example.com")]),
    )
    .expect_err("plain http");
    assert!(
        error.to_string().contains("only allowed for a loopback"),
        "{error}"
    );
    let config = load(
        None,
        &with(&[("SFSYNC_LOGIN_URL", "http://127.0.0.1:8443")]),
    )
    .expect("loopback");
    assert_eq!(
        config.salesforce.login_url.as_str(),
        "http://127.0.0.1:8443/"
    );
}

#[test]
fn file_values_are_overridden_by_the_environment() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "database_url = \"postgres://localhost/fromfile\"\nschema = \"sf\"\nauth = \"client_credentials\"\nclient_id = \"file-id\"\nclient_secret = \"file-secret\"\nwrite_batch = 50\napi_reserve = \"5%\""
    )
    .expect("write");
    let config = load(Some(file.path()), &[("SFSYNC_SCHEMA", "override")]).expect("valid");
    assert_eq!(config.schema, "override");
    assert_eq!(config.tuning.write_batch, 50);
    assert_eq!(config.tuning.api_reserve, ApiReserve::Percent(5.0));
    assert_eq!(config.database.database_name(), "fromfile");
    assert_eq!(config.salesforce.auth.client_id(), "file-id");
}

#[test]
fn file_errors_name_the_file_and_key() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "databse_url = \"postgres://localhost/app\"").expect("write");
    let error = load(Some(file.path()), &[]).expect_err("typo");
    assert!(
        error
            .to_string()
            .starts_with("unknown key `databse_url` in"),
        "{error}"
    );

    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "{}\nwrite_batch = 0", MINIMAL_TOML).expect("write");
    let error = load(Some(file.path()), &[]).expect_err("zero");
    let text = error.to_string();
    let expected = format!(
        "`write_batch` = \"0\" in {} is invalid: expected a whole number from 1 to 200",
        file.path().display()
    );
    assert_eq!(text, expected);

    let error = load(Some(Path::new("/nonexistent/sfsync.toml")), &[]).expect_err("missing file");
    assert!(error
        .to_string()
        .starts_with("cannot read configuration file /nonexistent/sfsync.toml"));
}

const MINIMAL_TOML: &str = "database_url = \"postgres://localhost/app\"\nauth = \"client_credentials\"\nclient_id = \"id\"\nclient_secret = \"s\"";

#[test]
fn the_example_file_is_valid_and_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sfsync.example.toml");
    let text = std::fs::read_to_string(&path).expect("example file exists");
    for spec in sources::ALL_KEYS {
        assert!(text.contains(spec.file), "{} is not documented", spec.file);
        assert!(text.contains(spec.env), "{} is not documented", spec.env);
    }
    let config = load(Some(&path), &[]).expect("the example loads");
    assert_eq!(config.tuning.write_batch, 200);
}

#[test]
fn alerts_are_off_without_a_webhook_url() {
    let config = load(None, MINIMAL).expect("valid");
    assert!(config.alerts.is_none());
}

#[test]
fn an_alert_webhook_url_enables_alerts_with_the_default_lag() {
    let config = load(
        None,
        &with(&[(
            "SFSYNC_ALERT_WEBHOOK_URL",
            "https://hooks.example.com/services/T000/SECRETTOKEN",
        )]),
    )
    .expect("valid");
    let alerts = config.alerts.as_ref().expect("alerts on");
    assert_eq!(
        alerts.webhook_url.expose().as_str(),
        "https://hooks.example.com/services/T000/SECRETTOKEN"
    );
    assert_eq!(alerts.lag_threshold, Duration::from_secs(900));
    let printed = format!("{config:?}");
    assert!(!printed.contains("SECRETTOKEN"), "{printed}");

    let loopback = load(
        None,
        &with(&[
            ("SFSYNC_ALERT_WEBHOOK_URL", "http://127.0.0.1:8080/hook"),
            ("SFSYNC_ALERT_LAG_SECONDS", "2"),
        ]),
    )
    .expect("plain http to loopback");
    assert_eq!(
        loopback.alerts.expect("alerts on").lag_threshold,
        Duration::from_secs(2)
    );
}

#[test]
fn a_bad_alert_webhook_url_is_refused_without_printing_it() {
    for (url, reason) in [
        (
            "http://hooks.example.com/services/SECRETTOKEN",
            "plain http is only allowed for a loopback address",
        ),
        (
            "ftp://hooks.example.com/SECRETTOKEN",
            "expected an https:// URL",
        ),
        ("not a url SECRETTOKEN", "not a URL"),
    ] {
        let error = load(None, &with(&[("SFSYNC_ALERT_WEBHOOK_URL", url)])).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("SFSYNC_ALERT_WEBHOOK_URL=***"), "{text}");
        assert!(text.contains(reason), "{text}");
        assert!(!text.contains("SECRETTOKEN"), "{text}");
    }
    let error = load(
        None,
        &with(&[
            ("SFSYNC_ALERT_WEBHOOK_URL", "https://hooks.example.com/x"),
            ("SFSYNC_ALERT_LAG_SECONDS", "0"),
        ]),
    )
    .expect_err("zero lag");
    assert_eq!(
        error.to_string(),
        "SFSYNC_ALERT_LAG_SECONDS=0 is invalid: expected a whole number from 1 to 604800"
    );
}

#[test]
fn alerts_can_be_configured_in_the_file() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "{MINIMAL_TOML}\nalert_webhook_url = \"https://hooks.example.com/SECRETTOKEN\"\nalert_lag_seconds = 60"
    )
    .expect("write");
    let config = load(Some(file.path()), &[]).expect("valid");
    let alerts = config.alerts.expect("alerts on");
    assert_eq!(alerts.lag_threshold, Duration::from_secs(60));

    let mut bad = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        bad,
        "{MINIMAL_TOML}\nalert_webhook_url = \"http://hooks.example.com/SECRETTOKEN\""
    )
    .expect("write");
    let text = load(Some(bad.path()), &[])
        .expect_err("refused")
        .to_string();
    assert!(text.contains("`alert_webhook_url` = \"***\""), "{text}");
    assert!(!text.contains("SECRETTOKEN"), "{text}");
}

#[test]
fn the_dashboard_is_off_without_a_token() {
    let config = load(None, &with(&[("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187")])).expect("valid");
    assert!(config.dashboard.is_none());
}

#[test]
fn a_dashboard_token_turns_it_on_read_only_unless_an_admin_url_is_given() {
    const TOKEN: &str = "0123456789abcdef0123";
    let config = load(
        None,
        &with(&[
            ("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187"),
            ("SFSYNC_DASHBOARD_TOKEN", TOKEN),
        ]),
    )
    .expect("valid");
    let dashboard = config.dashboard.expect("on");
    assert_eq!(dashboard.token.expose(), TOKEN);
    assert!(dashboard.admin_database.is_none());
    assert!(!format!("{dashboard:?}").contains(TOKEN));

    let config = load(
        None,
        &with(&[
            ("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187"),
            ("SFSYNC_DASHBOARD_TOKEN", TOKEN),
            (
                "SFSYNC_DASHBOARD_DATABASE_URL",
                "postgres://dash:hunter2@localhost/app",
            ),
        ]),
    )
    .expect("valid");
    let admin = config.dashboard.expect("on").admin_database.expect("admin");
    assert_eq!(admin.config.get_user(), Some("dash"));
}

#[test]
fn the_dashboard_token_can_come_from_a_file() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "  token-from-a-file-0123  ").expect("write");
    let path = file.path().to_str().unwrap().to_string();
    let variables = env(&with(&[("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187")]));
    let config = Config::load_with(None, &|name| {
        if name == "SFSYNC_DASHBOARD_TOKEN_FILE" {
            Some(path.clone())
        } else {
            variables.get(name).cloned()
        }
    })
    .expect("valid");
    assert_eq!(
        config.dashboard.expect("on").token.expose(),
        "token-from-a-file-0123"
    );
}

#[test]
fn bad_dashboard_settings_are_refused_without_showing_the_token() {
    let short = load(
        None,
        &with(&[
            ("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187"),
            ("SFSYNC_DASHBOARD_TOKEN", "short"),
        ]),
    )
    .expect_err("too short");
    let message = short.to_string();
    assert!(message.contains("at least 16 characters"), "{message}");
    assert!(
        !message.contains("short\n") && !message.contains("=short"),
        "{message}"
    );

    let no_listen = load(
        None,
        &with(&[("SFSYNC_DASHBOARD_TOKEN", "0123456789abcdef0123")]),
    )
    .expect_err("needs a listen address")
    .to_string();
    assert!(no_listen.contains("SFSYNC_HTTP_LISTEN"), "{no_listen}");
    assert!(!no_listen.contains("0123456789abcdef0123"), "{no_listen}");

    let admin_alone = load(
        None,
        &with(&[
            ("SFSYNC_HTTP_LISTEN", "127.0.0.1:9187"),
            (
                "SFSYNC_DASHBOARD_DATABASE_URL",
                "postgres://dash:hunter2@localhost/app",
            ),
        ]),
    )
    .expect_err("an admin URL without a token")
    .to_string();
    assert!(
        admin_alone.contains("SFSYNC_DASHBOARD_TOKEN"),
        "{admin_alone}"
    );
    assert!(!admin_alone.contains("hunter2"), "{admin_alone}");
}
