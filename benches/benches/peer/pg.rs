//! A real PostgreSQL server for one run, and the table a team would create.
//!
//! The server is Debian's `postgresql` package (`scripts/setup.sh` installs
//! it), initialised with `initdb` in a temporary directory and started on
//! 127.0.0.1 on a free port, with `fsync`, `synchronous_commit` and
//! `full_page_writes` on (checked with `SHOW` once it is up); every other
//! setting is the package's default. PostgreSQL refuses to run as root, so
//! when the bench is root its programs run as the `postgres` system user the
//! package creates, in a directory that user owns. [`Postgres`]'s `Drop`
//! stops the server and removes the directory, also when the bench panics.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::row::{sql_type, EVENT_COLUMNS};

/// Overrides where `initdb` and `postgres` are looked for.
pub const BIN_ENV: &str = "ANNAL_PEER_PG_BIN";

/// A running PostgreSQL server; stopped and removed on drop.
#[derive(Debug)]
pub struct Postgres {
    child: Option<Child>,
    port: u16,
    /// `postgres --version`.
    pub version: String,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Initialises a cluster in a new temporary directory and starts it.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("annal-peer-pg-").tempdir().expect("create a temporary directory");
        let root = is_root();
        if root {
            let ok = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().is_ok_and(|s| s.success());
            assert!(ok, "cannot give {} to the postgres user (is Debian's postgresql package installed?)", dir.path().display());
        }
        let data = dir.path().join("data");
        let out = as_owner(&bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let version = Command::new(bin.join("postgres")).arg("--version").output().expect("run postgres --version");
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        let port = free_port();
        let log = File::create(dir.path().join("server.log")).expect("create the server log");
        let child = as_owner(&bin.join("postgres"), root)
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let mut pg = Postgres { child: Some(child), port, version, dir };
        pg.wait_ready();
        pg
    }

    /// A new connection over loopback TCP.
    pub fn connect(&self) -> Client {
        Client::connect(&self.conninfo(), NoTls).expect("connect to PostgreSQL")
    }

    fn conninfo(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        let mut client = loop {
            if let Ok(c) = Client::connect(&self.conninfo(), NoTls) {
                break c;
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                panic!("PostgreSQL did not start ({exited:?}); its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
            let value: String = client.query_one(&format!("SHOW {setting}"), &[]).expect("SHOW").get(0);
            assert_eq!(value, "on", "PostgreSQL's {setting}");
        }
    }

    /// Drops and creates `audit_log` with its four indexes, then
    /// checkpoints, so each round starts from an empty table and a clean WAL
    /// as annal's starts from a new store.
    pub fn recreate_table(&self, client: &mut Client) {
        let mut columns = vec![
            "tenant text NOT NULL".to_string(),
            "seq bigint NOT NULL".to_string(),
            "recorded_at timestamptz NOT NULL DEFAULT now()".to_string(),
        ];
        columns.extend(EVENT_COLUMNS.iter().map(|c| format!("{c} {}", sql_type(c))));
        columns.extend(["prev_hash bytea NOT NULL".to_string(), "hash bytea NOT NULL".to_string()]);
        let sql = format!(
            "DROP TABLE IF EXISTS audit_log;
             CREATE TABLE audit_log ({});
             CREATE INDEX audit_log_time ON audit_log (tenant, recorded_at);
             CREATE INDEX audit_log_actor ON audit_log (tenant, actor_id, recorded_at);
             CREATE INDEX audit_log_action ON audit_log (tenant, action text_pattern_ops, recorded_at);
             CREATE INDEX audit_log_key_ref ON audit_log (tenant, key_ref, recorded_at);
             CHECKPOINT;",
            columns.join(", ")
        );
        client.batch_execute(&sql).expect("create audit_log");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SIGINT is PostgreSQL's fast shutdown: sessions are ended, the
        // server checkpoints and exits.
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `ANNAL_PEER_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin`
/// (where Debian puts `initdb` and `postgres`), else the directory on `PATH`
/// that holds `initdb`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        return PathBuf::from(dir);
    }
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return d;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| has_both(d))
        .unwrap_or_else(|| {
            panic!("PostgreSQL's initdb and postgres were not found: run scripts/setup.sh (installs Debian's postgresql) or set {BIN_ENV}")
        })
}

/// Whether this process runs as root (uid 0), from `/proc/self/status`.
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().next()) == Some("0")
}

/// `program`, run as the `postgres` user when we are root (initdb and
/// postgres refuse root). `setpriv` execs the program in place, so the
/// child's pid is the program's own and signals reach it directly.
fn as_owner(program: &Path, root: bool) -> Command {
    if !root {
        return Command::new(program);
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]).arg(program);
    c
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}
