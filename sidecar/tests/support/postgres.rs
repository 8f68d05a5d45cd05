//! A throw-away Postgres 15 cluster (initdb + pg_ctl on a free port), stopped when dropped.

use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

/// The Postgres 15 binaries: those of `$PG_CONFIG` (the Makefile exports it), else Debian's.
fn bin_dir() -> String {
    let pg_config = std::env::var("PG_CONFIG")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_config".into());
    let output = Command::new(&pg_config)
        .arg("--bindir")
        .output()
        .unwrap_or_else(|error| panic!("{pg_config} --bindir: {error}"));
    assert!(output.status.success(), "{pg_config} --bindir failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

pub struct PgCluster {
    pub port: u16,
    dir: TempDir,
    as_postgres: bool,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn id_of(flag: &str) -> u32 {
    let output = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("id postgres");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("numeric id of the postgres user")
}

impl PgCluster {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A cluster with `ssl=on`, serving the fixture certificate for 127.0.0.1.
    pub fn start_with_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        // Postgres refuses to run as root: as root, the cluster belongs to the `postgres` user.
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("sfsync-sidecar-pg-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        if as_postgres {
            std::os::unix::fs::chown(dir.path(), Some(id_of("-u")), Some(id_of("-g")))
                .expect("chown the cluster directory");
        }
        let cluster = Self {
            port: super::free_port(),
            dir,
            as_postgres,
        };
        let data = cluster.data_dir();
        cluster.pg(
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            cluster.port,
            cluster.dir.path().display()
        );
        if tls {
            cluster.install_certificate();
            options.push_str(" -c ssl=on");
        }
        let log = cluster.dir.path().join("postgres.log");
        cluster.pg(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-o",
                &options,
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        cluster
    }

    /// Postgres wants its key owned by the server's user and private.
    fn install_certificate(&self) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data_dir();
        for (fixture, name) in [
            ("pg-server-cert.pem", "server.crt"),
            ("pg-server-key.pem", "server.key"),
        ] {
            let target = data.join(name);
            std::fs::copy(super::fixture(fixture), &target).expect("copy certificate");
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            if self.as_postgres {
                std::os::unix::fs::chown(&target, Some(id_of("-u")), Some(id_of("-g")))
                    .expect("chown");
            }
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg(&self, program: &str, args: &[&str]) -> Output {
        let binary = format!("{}/{program}", bin_dir());
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--", &binary])
                .args(args)
                .output()
        } else {
            Command::new(&binary).args(args).output()
        }
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// A URL for `database` as the `postgres` superuser, without TLS.
    pub fn url(&self, database: &str) -> String {
        self.url_with(database, "sslmode=disable")
    }

    /// A URL for `database` with the given query string.
    pub fn url_with(&self, database: &str, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?{query}",
            self.port
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let binary = format!("{}/pg_ctl", bin_dir());
        let args = [
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--", &binary])
                .args(args)
                .output()
        } else {
            Command::new(&binary).args(args).output()
        };
    }
}
