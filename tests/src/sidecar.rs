//! The sidecar as a real process: started with an environment, stopped with SIGTERM or killed with -9.

use crate::binaries::binary;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `sfsync-sidecar run`; killed when dropped.
pub struct Sidecar {
    child: Option<Child>,
    env: Vec<(String, String)>,
    /// Where stdout and stderr go when captured (`start_capturing`), appended across restarts.
    capture: Option<PathBuf>,
}

impl Sidecar {
    /// Starts `sfsync-sidecar run` with `env` (plus `RUST_LOG` from `env`, else ours, default `warn`).
    pub fn start(env: &[(String, String)]) -> Sidecar {
        let mut sidecar = Sidecar {
            child: None,
            env: env.to_vec(),
            capture: None,
        };
        sidecar.restart();
        sidecar
    }

    /// As [`Sidecar::start`], but stdout and stderr go to a file that [`Sidecar::output`] reads
    /// (a test that inspects what the process printed).
    pub fn start_capturing(env: &[(String, String)]) -> Sidecar {
        let root =
            PathBuf::from(std::env::var("SFSYNC_TMP").unwrap_or_else(|_| "/var/tmp/sfsync".into()));
        std::fs::create_dir_all(&root).expect("SFSYNC_TMP");
        let file = root.join(format!(
            "sidecar-{}-{}.out",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut sidecar = Sidecar {
            child: None,
            env: env.to_vec(),
            capture: Some(file),
        };
        sidecar.restart();
        sidecar
    }

    /// Everything the process printed so far (stdout and stderr), when started capturing.
    pub fn output(&self) -> String {
        self.capture
            .as_ref()
            .map(|file| std::fs::read_to_string(file).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Starts the process again (after `kill9` or `terminate`).
    pub fn restart(&mut self) {
        let mut command = Command::new(binary("sfsync-sidecar"));
        command.arg("run").envs(self.env.iter().cloned());
        // the test's own RUST_LOG (in `env`) wins over ours
        let env_sets_log = self.env.iter().any(|(key, _)| key == "RUST_LOG");
        if std::env::var("RUST_LOG").is_err() && !env_sets_log {
            command.env("RUST_LOG", "warn");
        }
        command.stdin(Stdio::null());
        match &self.capture {
            Some(file) => {
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .expect("capture file");
                let err = out.try_clone().expect("capture file");
                command.stdout(Stdio::from(out)).stderr(Stdio::from(err));
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::inherit());
            }
        }
        self.child = Some(command.spawn().expect("start sfsync-sidecar"));
    }

    /// Runs a one-shot subcommand (`check`, `status`) with the same environment.
    pub fn command(env: &[(String, String)], subcommand: &str) -> std::process::Output {
        Command::new(binary("sfsync-sidecar"))
            .arg(subcommand)
            .envs(env.iter().cloned())
            .output()
            .expect("run sfsync-sidecar")
    }

    /// Runs a subcommand that should end by itself (`run` refusing to start, say), killing it after
    /// `timeout`. Returns its exit status (None when it had to be killed), stdout and stderr.
    pub fn command_with_timeout(
        env: &[(String, String)],
        subcommand: &str,
        timeout: Duration,
    ) -> (Option<ExitStatus>, String, String) {
        let mut child = Command::new(binary("sfsync-sidecar"))
            .arg(subcommand)
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sfsync-sidecar");
        // the pipes are drained on threads so a chatty process never blocks on a full pipe
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (
            status,
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default(),
        )
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to clean up (what a crash looks like).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.kill9();
        if let Some(file) = &self.capture {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Polls `check` until it returns true or `timeout` passes; panics with `what` on time-out.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
