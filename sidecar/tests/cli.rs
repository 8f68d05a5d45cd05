//! The `sfsync-sidecar` binary as a process: `check` failures with clear messages and exit codes,
//! configuration errors (exit 2), and `run` serving /metrics and /healthz until SIGTERM (exit 0).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sfsync_tests::Cluster;
use sfsync_tests::Emulator;
use support as emulator;

fn sidecar(args: &[&str], environment: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfsync-sidecar"));
    // Nothing from the test runner's environment may leak into the configuration.
    command.env_clear().args(args);
    for (key, value) in environment {
        command.env(key, value);
    }
    command
}

fn run_to_end(args: &[&str], environment: &[(&str, String)]) -> Output {
    let mut child = sidecar(args, environment)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sfsync-sidecar");
    // Read both pipes while waiting so a chatty child cannot block on a full pipe.
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read_all(Box::new(stdout));
    let stderr = read_all(Box::new(stderr));
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("poll") {
            break status;
        }
        if Instant::now() > deadline {
            panic!("sfsync-sidecar {args:?} did not finish within 90s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Kills the process if the test panics before it ended (no process may outlive the tests).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Configuration pointing at `emulator` with the password flow.
fn emulator_environment(
    emulator: &Emulator,
    password: &str,
    database_url: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_string()),
        ("SFSYNC_LOGIN_URL", emulator.url.clone()),
        ("SFSYNC_CA_FILE", emulator.ca_file.display().to_string()),
        ("SFSYNC_AUTH", "password".to_string()),
        ("SFSYNC_CLIENT_ID", emulator::CLIENT_ID.to_string()),
        ("SFSYNC_CLIENT_SECRET", emulator::CLIENT_SECRET.to_string()),
        ("SFSYNC_USERNAME", emulator::USERNAME.to_string()),
        ("SFSYNC_PASSWORD", password.to_string()),
    ]
}

/// A closed port on loopback: nothing listens on port 1 without root services.
const UNREACHABLE_DATABASE: &str = "postgres://sfsync@127.0.0.1:1/app?sslmode=disable";

#[test]
fn check_reports_a_wrong_password_in_salesforces_words() {
    let emulator = emulator::start(&[]);
    let output = run_to_end(
        &["check"],
        &emulator_environment(&emulator, "not-the-password", UNREACHABLE_DATABASE),
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|line| line.starts_with("FAIL  salesforce"))
        .unwrap_or_else(|| panic!("no salesforce line in {stdout}"));
    assert!(line.contains("authentication failure"), "{line}");
    assert!(!stdout.contains("not-the-password") && !stderr.contains("not-the-password"));
}

#[test]
fn check_reports_an_unreachable_database_and_a_good_login() {
    let emulator = emulator::start(&[]);
    let output = run_to_end(
        &["check"],
        &emulator_environment(&emulator, emulator::PASSWORD, UNREACHABLE_DATABASE),
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let database = stdout
        .lines()
        .find(|line| line.starts_with("FAIL  database"))
        .unwrap_or_else(|| panic!("no database line in {stdout}"));
    assert!(
        database.contains("cannot connect to database app at 127.0.0.1:1"),
        "{database}"
    );
    let salesforce = stdout
        .lines()
        .find(|line| line.starts_with("ok    salesforce"))
        .unwrap_or_else(|| panic!("login should work: {stdout}"));
    assert!(salesforce.contains("org 00D"), "{salesforce}");
    let api = stdout
        .lines()
        .find(|line| line.starts_with("ok    api"))
        .unwrap_or_else(|| panic!("no api line: {stdout}"));
    assert!(api.contains("daily API calls used"), "{api}");
    assert!(
        stderr.contains("check failed: database: cannot connect"),
        "{stderr}"
    );
    assert!(!stdout.contains(emulator::PASSWORD) && !stderr.contains(emulator::PASSWORD));
}

#[test]
fn check_and_status_report_a_missing_extension() {
    let cluster = Cluster::start(false);
    let emulator = emulator::start(&[]);
    let environment = emulator_environment(
        &emulator,
        emulator::PASSWORD,
        &cluster.url_with("postgres", "sslmode=disable"),
    );
    let output = run_to_end(&["check"], &environment);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains(
            "FAIL  database    extension sfsync is not installed in database postgres: run CREATE EXTENSION sfsync"
        ),
        "{stdout}"
    );

    let output = run_to_end(&["status"], &environment);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("extension sfsync is not installed in database postgres"),
        "{stderr}"
    );
}

#[test]
fn configuration_errors_exit_2_naming_the_key() {
    let output = run_to_end(
        &["check"],
        &[
            ("DATABASE_URL", "postgres://localhost/app".to_string()),
            ("SFSYNC_AUTH", "jwt".to_string()),
            ("SFSYNC_CLIENT_ID", "id".to_string()),
            ("SFSYNC_USERNAME", "u@example.com".to_string()),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr).trim(),
        "sfsync-sidecar: configuration error: SFSYNC_AUTH=jwt needs SFSYNC_JWT_KEY_FILE"
    );

    let output = run_to_end(&["status"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("DATABASE_URL is not set"));

    let output = run_to_end(&["--config", "/nonexistent/sfsync.toml", "run"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot read configuration file /nonexistent/sfsync.toml")
    );
}

fn run_environment() -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", UNREACHABLE_DATABASE.to_string()),
        ("SFSYNC_AUTH", "client_credentials".to_string()),
        ("SFSYNC_CLIENT_ID", "id".to_string()),
        ("SFSYNC_CLIENT_SECRET", "secret".to_string()),
        ("SFSYNC_HTTP_LISTEN", "127.0.0.1:0".to_string()),
    ]
}

/// Starts `run`, returns it, the metrics base URL and a thread collecting its log lines; with
/// `keep_reading` false the log pipe is closed as soon as the address is known.
fn start_run(keep_reading: bool) -> (KillOnDrop, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = KillOnDrop(
        sidecar(&["run"], &run_environment())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sfsync-sidecar run"),
    );
    let stderr = child.0.stderr.take().expect("piped stderr");
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(start) = line.find("on http://") {
                let address = line[start + 3..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default();
                let _ = sender.send(address.to_string());
                if !keep_reading {
                    return lines;
                }
            }
            lines.push(line);
        }
        lines
    });
    let Ok(base) = receiver.recv_timeout(Duration::from_secs(30)) else {
        drop(child);
        panic!("no metrics address logged: {:?}", reader.join());
    };
    (child, base, reader)
}

fn terminate_and_wait(child: &mut KillOnDrop) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(exit) = child.0.try_wait().expect("poll") {
            return exit;
        }
        if Instant::now() > deadline {
            panic!("sfsync-sidecar did not stop within 30s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_serves_metrics_and_health_and_stops_on_sigterm() {
    let (mut child, base, reader) = start_run(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (health, metrics) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let health = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        let health = (health.status().as_u16(), health.text().await.expect("body"));
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics");
        let metrics = (
            metrics.status().as_u16(),
            metrics.text().await.expect("body"),
        );
        (health, metrics)
    });
    assert_eq!(health, (200, "ok\n".to_string()));
    assert_eq!(metrics.0, 200);
    assert!(
        metrics
            .1
            .lines()
            .any(|line| line.starts_with("sfsync_build_info{version=")
                && line.contains("schema=\"salesforce\"")),
        "{}",
        metrics.1
    );
    assert!(
        metrics
            .1
            .contains("# TYPE sfsync_salesforce_api_calls_used gauge"),
        "{}",
        metrics.1
    );
    assert!(
        metrics
            .1
            .contains("sfsync_salesforce_api_calls_remaining{schema=\"salesforce\"} 0"),
        "{}",
        metrics.1
    );

    let exit = terminate_and_wait(&mut child);
    let lines = reader.join().expect("reader");
    assert_eq!(exit.code(), Some(0), "{lines:#?}");
    assert!(
        lines.iter().any(|line| line.contains("SIGTERM")),
        "{lines:#?}"
    );
}

#[test]
fn run_stops_cleanly_when_nobody_reads_its_logs() {
    // A supervisor that went away closes the log pipe: logging must neither panic nor keep the
    // process from stopping.
    let (mut child, _base, reader) = start_run(false);
    reader.join().expect("reader");
    let exit = terminate_and_wait(&mut child);
    assert_eq!(exit.code(), Some(0));
}
