//! The third-party clients under test: installs them once per test run (a no-op when `make client-tools`
//! already did), and runs `sf` commands and jsforce scenarios as child processes isolated from the user's own
//! configuration, trusting exactly the emulator's CA.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value as Json;

use crate::common::{fixtures, Emulator, TempDir, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME};

/// Where the clients are installed: `$SFSYNC_CLIENT_TOOLS`, else `target/client-tools` of the repository.
fn tools_dir() -> PathBuf {
    match std::env::var_os("SFSYNC_CLIENT_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/client-tools"),
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The install directory, after running the installer once for this test process.
pub fn installed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tools_dir();
        let output = Command::new(clients_dir().join("install.sh"))
            .arg(&dir)
            .output()
            .expect("run tests/clients/install.sh");
        assert!(
            output.status.success(),
            "installing the client tools failed (run `make client-tools` to see why):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

fn bin(name: &str) -> PathBuf {
    installed().join("node_modules/.bin").join(name)
}

/// PATH with the installed Node.js 22 first, so `#!/usr/bin/env node` scripts run on it.
fn path_with_node() -> String {
    let mut path = installed().join("node_modules/.bin").display().to_string();
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(':');
        path.push_str(&rest.to_string_lossy());
    }
    path
}

/// An emulator over HTTPS with the fixture objects and the JWT test certificate, its CA written to a file.
pub struct TlsEmulator {
    pub emulator: Emulator,
    pub ca: PathBuf,
    _dir: TempDir,
}

impl TlsEmulator {
    pub fn start(extra: &[&str]) -> TlsEmulator {
        let dir = TempDir::new("clients");
        let ca = dir.0.join("ca.pem");
        let cert = fixtures().join("jwt_test_cert.pem");
        let mut args = vec![
            "--tls",
            "--cert-out",
            ca.to_str().expect("utf-8 path"),
            "--jwt-cert",
            cert.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        let emulator = Emulator::start(&args);
        TlsEmulator {
            emulator,
            ca,
            _dir: dir,
        }
    }

    pub fn base(&self) -> &str {
        &self.emulator.base
    }

    /// A password-flow access token (reqwest trusting exactly the emulator's CA).
    pub async fn access_token(&self) -> String {
        let pem = std::fs::read(&self.ca).expect("CA file");
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"))
            .build()
            .expect("client");
        crate::common::password_login(&http, self.base()).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}

/// A result of a child process whose stdout is one JSON document.
#[derive(Debug)]
pub struct JsonRun {
    pub success: bool,
    pub json: Json,
    pub stderr: String,
}

fn json_run(output: Output, what: &str) -> JsonRun {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("{what}: stdout is not JSON ({error}):\n{stdout}\nstderr:\n{stderr}")
    });
    JsonRun {
        success: output.status.success(),
        json,
        stderr,
    }
}

/// One isolated Salesforce CLI: its own HOME (so its own auth files, config and caches), no telemetry and no
/// update checks, trusting the emulator's CA.
pub struct SfCli {
    home: TempDir,
    ca: PathBuf,
}

impl SfCli {
    pub fn new(emulator: &TlsEmulator) -> SfCli {
        SfCli {
            home: TempDir::new("sf-home"),
            ca: emulator.ca.clone(),
        }
    }

    /// A scratch directory inside this CLI's home, for input and output files.
    pub fn dir(&self) -> &Path {
        &self.home.0
    }

    fn command(&self) -> Command {
        let home = &self.home.0;
        let mut command = Command::new(bin("sf"));
        command
            .current_dir(home)
            .env_clear()
            .env("PATH", path_with_node())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("NODE_EXTRA_CA_CERTS", &self.ca)
            .env("SF_DISABLE_TELEMETRY", "true")
            .env("SFDX_DISABLE_TELEMETRY", "true")
            .env("SF_AUTOUPDATE_DISABLE", "true")
            .env("SFDX_AUTOUPDATE_DISABLE", "true")
            .env("SF_SKIP_NEW_VERSION_CHECK", "true")
            .env("SF_USE_GENERIC_UNIX_KEYCHAIN", "true")
            .env("SF_LOG_LEVEL", "fatal")
            .env("SF_HIDE_RELEASE_NOTES", "true");
        command
    }

    /// Runs `sf <args> --json` and returns its parsed output; `env` adds variables (such as `SF_ACCESS_TOKEN`).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> JsonRun {
        let mut command = self.command();
        command.args(args).arg("--json");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("run sf");
        json_run(output, &format!("sf {}", args.join(" ")))
    }

    pub fn run(&self, args: &[&str]) -> JsonRun {
        self.run_env(args, &[])
    }

    /// Runs and insists on success (`status: 0`), returning `result`.
    pub fn ok(&self, args: &[&str]) -> Json {
        let run = self.run(args);
        assert!(
            run.success && run.json["status"] == 0,
            "sf {} failed: {}\n{}",
            args.join(" "),
            run.json,
            run.stderr
        );
        run.json["result"].clone()
    }
}

/// Runs one scenario of `jsforce_scenarios.js` against `emulator` and returns what it printed.
pub fn jsforce(emulator: &TlsEmulator, scenario: &str) -> Json {
    let key = fixtures().join("jwt_test_key.pem");
    let output = Command::new(bin("node"))
        .arg(clients_dir().join("jsforce_scenarios.js"))
        .arg(scenario)
        .env_clear()
        .env("PATH", path_with_node())
        .env("NODE_PATH", installed().join("node_modules"))
        .env("NODE_EXTRA_CA_CERTS", &emulator.ca)
        .env("NODE_NO_WARNINGS", "1")
        .env("EMULATOR_URL", emulator.base())
        .env("EMULATOR_USERNAME", USERNAME)
        .env("EMULATOR_PASSWORD", PASSWORD)
        .env("EMULATOR_CLIENT_ID", CLIENT_ID)
        .env("EMULATOR_CLIENT_SECRET", CLIENT_SECRET)
        .env("JWT_KEY_FILE", key)
        .output()
        .expect("run node");
    let run = json_run(output, &format!("jsforce scenario {scenario}"));
    assert!(
        run.success,
        "jsforce scenario {scenario} failed:\n{}",
        run.stderr
    );
    run.json
}
