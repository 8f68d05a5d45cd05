//! A throw-away Postgres 15 cluster with the installed `sfsync` extension, one database per test.
//!
//! Clusters live under `$SFSYNC_TMP` (default `/var/tmp/sfsync`), a directory the `postgres` user can
//! reach; as root, `initdb` and `pg_ctl` run as `postgres`. The release extension must be installed
//! (`make install`) before these tests run.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio_postgres::{Client, NoTls};

/// The Postgres 15 binaries: those of `$PG_CONFIG` (the Makefile exports it), else Debian's.
pub fn pg_bin_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let pg_config = std::env::var("PG_CONFIG")
            .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_config".into());
        let output = Command::new(&pg_config)
            .arg("--bindir")
            .output()
            .unwrap_or_else(|error| panic!("{pg_config} --bindir: {error}"));
        assert!(output.status.success(), "{pg_config} --bindir failed");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// As root, hands `path` to the `postgres` user: the server runs as that user and refuses root.
fn give_to_postgres(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown postgres {}", path.display());
    }
}

/// Runs a Postgres binary (`initdb`, `pg_dump`...), as `postgres` when we are root.
pub fn pg_command(binary: &str) -> Command {
    let path = format!("{}/{binary}", pg_bin_dir());
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(path)
    }
}

/// A running cluster; stopped and removed when dropped.
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// Starts a new cluster (initdb + pg_ctl start), fsync off unless `durable`.
    pub fn start(durable: bool) -> Cluster {
        Cluster::start_with(durable, false)
    }

    /// A cluster with `ssl=on` serving the fixture certificate for `127.0.0.1`
    /// ([`tls_certificate`]), for the sidecar's `sslmode` tests (fsync off).
    pub fn start_tls() -> Cluster {
        Cluster::start_with(false, true)
    }

    fn start_with(durable: bool, tls: bool) -> Cluster {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let root =
            PathBuf::from(std::env::var("SFSYNC_TMP").unwrap_or_else(|_| "/var/tmp/sfsync".into()));
        std::fs::create_dir_all(&root).expect("create SFSYNC_TMP");
        let _ = Command::new("chmod").arg("1777").arg(&root).status();
        let dir = root.join(format!(
            "cluster-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        give_to_postgres(&dir);
        let data = dir.join("data");
        let out = pg_command("initdb")
            .args([
                "-D",
                data.to_str().unwrap(),
                "--no-locale",
                "-E",
                "UTF8",
                "-U",
                "postgres",
                "-A",
                "trust",
            ])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c synchronous_commit={} -c max_connections=200 -c shared_buffers=256MB",
            dir.display(),
            if durable { "on" } else { "off" },
            if durable { "on" } else { "off" },
        );
        if tls {
            install_certificate(&data);
            options.push_str(" -c ssl=on");
        }
        let out = pg_command("pg_ctl")
            .args([
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                dir.join("log").to_str().unwrap(),
                "-w",
                "start",
            ])
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        Cluster { dir, port }
    }

    /// The cluster shared by all tests of this test binary (fsync off: tests need speed, not durability).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = Cluster::start(false);
            // the shared cluster outlives every test: stop it when the test binary exits
            let data = cluster.dir.join("data");
            let dir = cluster.dir.clone();
            register_exit_cleanup(data, dir);
            cluster
        })
    }

    /// `database` as the superuser `postgres` (the cluster trusts local connections).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// As [`Cluster::url`], with a query string (`sslmode=require`...).
    pub fn url_with(&self, database: &str, query: &str) -> String {
        format!("{}?{query}", self.url(database))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Creates a fresh database with the extension installed.
    pub async fn database(&self) -> TestDb {
        self.database_at(None).await
    }

    /// Creates a fresh database with the extension installed at `version` (`None`: the default
    /// version, the one the sources build; `Some("0.1.0")`: a frozen install script of a release).
    pub async fn database_at(&self, version: Option<&str>) -> TestDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin = connect(&self.url("postgres")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let db = TestDb {
            url: self.url(&name),
            name,
        };
        let client = db.connect().await;
        let create = match version {
            Some(version) => format!("CREATE EXTENSION sfsync VERSION '{version}'"),
            None => "CREATE EXTENSION sfsync".to_string(),
        };
        client
            .batch_execute(&create)
            .await
            .unwrap_or_else(|e| panic!("{create} (run `make install` first): {e}"));
        // the sidecar's login role, as in production: a member of sfsync_agent and nothing else
        // (roles are cluster-wide; tests create databases concurrently)
        client
            .batch_execute(&format!(
                "DO $$ BEGIN
                     CREATE ROLE {SIDECAR_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE sfsync_agent;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END $$"
            ))
            .await
            .expect("create the sidecar's login role");
        db
    }
}

/// The certificate a [`Cluster::start_tls`] cluster serves (self-signed, for `127.0.0.1` and
/// `localhost`): the root a client verifying the server trusts.
pub fn tls_certificate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls/pg-server-cert.pem")
}

/// Copies the fixture certificate and key into the data directory: Postgres wants its key owned by
/// the server's user and private.
fn install_certificate(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let fixtures = tls_certificate();
    let fixtures = fixtures.parent().expect("fixtures/tls");
    for (fixture, name) in [
        ("pg-server-cert.pem", "server.crt"),
        ("pg-server-key.pem", "server.key"),
    ] {
        let target = data.join(name);
        std::fs::copy(fixtures.join(fixture), &target).expect("copy the certificate");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        give_to_postgres(&target);
    }
}

fn stop(data: &Path) {
    let _ = pg_command("pg_ctl")
        .args([
            "-D",
            data.to_str().unwrap(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ])
        .output();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop(&self.dir.join("data"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn register_exit_cleanup(data: PathBuf, dir: PathBuf) {
    static TARGET: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let _ = TARGET.set((data, dir));
    extern "C" fn cleanup() {
        if let Some((data, dir)) = TARGET.get() {
            stop(data);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    extern "C" {
        fn atexit(f: extern "C" fn()) -> i32;
    }
    // SAFETY: registers a plain function to run at process exit.
    unsafe {
        atexit(cleanup);
    }
}

/// The login role every test runs the sidecar as: only a member of `sfsync_agent`, never superuser.
pub const SIDECAR_ROLE: &str = "sfsync_sidecar";

/// A database of a test cluster.
pub struct TestDb {
    pub name: String,
    /// As the superuser `postgres`: for set-up and inspection.
    pub url: String,
}

impl TestDb {
    pub async fn connect(&self) -> Client {
        connect(&self.url).await
    }

    /// The sidecar's `DATABASE_URL`: the database as [`SIDECAR_ROLE`].
    pub fn sidecar_url(&self) -> String {
        format!("{}?sslmode=disable", self.url_as(SIDECAR_ROLE))
    }

    /// The database as another login role (the test cluster trusts local connections).
    pub fn url_as(&self, role: &str) -> String {
        self.url
            .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1)
    }
}

/// Connects and drives the connection on a background task.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The describe fixtures used by the extension's own tests.
pub fn describe_fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/describe")
        .join(format!("{name}.json"));
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("fixture JSON")
}
