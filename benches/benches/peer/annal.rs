//! annal's side: `annal serve` in a process of its own, and a keep-alive
//! HTTP/1.1 client.
//!
//! **The server** is this bench binary executed again with
//! [`SERVE_ENV`] naming a data directory: it then runs nothing but
//! `annal_server::cli::serve::run`, the code behind `annal serve`, so the
//! server's CPU time and memory are its own process's (its peak RSS is read
//! from `/proc/<pid>/status`), as PostgreSQL's are. Its settings are the
//! defaults (`Durability::Sync`, checkpoint and retention daemons) except
//! a free loopback port and no rate limit.
//!
//! **The store** is prepared before the server starts: each tenant's
//! `annal.tenant.created` row and an API key (the server takes the tenant
//! from the key).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_engine::{Actor, ActorType, Engine, ManualClock, Scopes};
use annal_server::config::Config;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Set to a data directory, the bench binary runs `annal serve` on it.
pub const SERVE_ENV: &str = "ANNAL_PEER_SERVE_DIR";
/// Set (to anything) beside [`SERVE_ENV`], the server runs no retention daemon.
const NO_RETENTION_ENV: &str = "ANNAL_PEER_SERVE_NO_RETENTION";

/// The child's side: serve `dir` until SIGTERM, then exit.
pub fn serve_child(dir: PathBuf) -> ! {
    let mut config = Config {
        data_dir: dir,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit_per_sec: 0.0,
        tenant_rate_limit_per_sec: 0.0,
        ..Config::default()
    };
    if std::env::var_os(NO_RETENTION_ENV).is_some() {
        config.retention_interval_secs = 0;
    }
    match annal_server::cli::serve::run(config) {
        Ok(code) => std::process::exit(i32::from(code)),
        Err(e) => {
            eprintln!("annal serve: {e:#}");
            std::process::exit(1)
        }
    }
}

fn admin() -> Actor {
    Actor { kind: ActorType::System, id: "peer-bench".into(), name: None, email: None, on_behalf_of: None }
}

/// Creates each tenant's chain and an ingest+read key in the store at
/// `dir` (created if missing); returns the tokens, in `tenants` order.
/// `clock`, when given, is the engine's clock for these rows.
pub fn prepare_store(dir: &Path, tenants: &[String], clock: Option<u64>) -> Vec<String> {
    let mut builder = Engine::builder(dir).signing_key(annal_benches::bench_key());
    if let Some(ns) = clock {
        builder = builder.clock(Arc::new(ManualClock::new(ns)));
    }
    let engine = builder.open().expect("open the annal store");
    let tokens = tenants
        .iter()
        .map(|t| {
            // A built store already has the tenant; a new one needs its first row.
            if !engine.head(t).is_ok_and(|h| h.seq > 0) {
                engine.append_system(t, "annal.tenant.created", admin(), Default::default()).expect("create the tenant");
            }
            let (_, token) =
                engine.create_api_key(t, Scopes::INGEST.union(Scopes::READ), "peer-bench", admin()).expect("create a key");
            // Checkpointed now, the server's checkpoint daemon finds nothing
            // due before the rows the bench sends.
            engine.checkpoint(t).expect("checkpoint the tenant");
            token
        })
        .collect();
    drop(engine);
    tokens
}

/// Each tenant's head seq in the (stopped) store at `dir`.
pub fn head_seqs(dir: &Path, tenants: &[String]) -> Vec<u64> {
    let engine = Engine::builder(dir).create_if_missing(false).open().expect("open the annal store");
    tenants.iter().map(|t| engine.head(t).expect("tenant head").seq).collect()
}

/// `annal serve` running in a child process; stopped on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    _stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

impl Server {
    /// Starts serving `dir` (logging to `log`) and waits until it listens.
    pub fn start(dir: &Path, log: &Path, retention: bool) -> Server {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let mut cmd = Command::new(exe);
        cmd.env(SERVE_ENV, dir).stdin(Stdio::null()).stdout(Stdio::piped());
        cmd.env_remove("ANNAL_SIGNING_KEY_FILE").env("ANNAL_SIGNING_KEY", annal_benches::bench_seed_hex());
        cmd.stderr(std::fs::File::create(log).expect("create the server log"));
        if !retention {
            cmd.env(NO_RETENTION_ENV, "1");
        }
        let mut child = cmd.spawn().expect("start annal serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let addr = line.trim().strip_prefix("annal listening on http://").and_then(|a| a.parse().ok());
        let mut server =
            Server { child: Some(child), addr: SocketAddr::from(([127, 0, 0, 1], 0)), _stdout: stdout, log: log.into() };
        match addr {
            Some(a) => server.addr = a,
            None => panic!("annal serve did not start ({line:?}); its log:\n{}", server.log_text()),
        }
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server process's peak resident memory so far (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().map_or(0, Child::id);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the server process has used so far, user and system, all
    /// threads (`/proc/<pid>/stat`), in seconds.
    pub fn cpu_secs(&self) -> f64 {
        let pid = self.child.as_ref().map_or(0, Child::id);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        ticks as f64 / rustix::param::clock_ticks_per_second() as f64
    }

    /// SIGTERM, as a service manager stops it: the server drains, stops its
    /// daemons and closes the store. Panics if it does not exit cleanly.
    pub fn stop(mut self) {
        let clean = self.terminate();
        assert!(clean, "annal serve did not stop cleanly; its log:\n{}", self.log_text());
    }

    /// Returns whether the server exited with status 0 within a minute.
    fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// One keep-alive HTTP/1.1 connection with a bearer token, used
/// synchronously like `postgres::Client` (which also runs its connection on
/// a tokio runtime of its own).
#[derive(Debug)]
pub struct Http {
    rt: tokio::runtime::Runtime,
    sender: SendRequest<Full<Bytes>>,
    authorization: String,
    host: String,
}

impl Http {
    /// Connects to `addr` (TCP_NODELAY, as PostgreSQL's client sets too).
    pub fn connect(addr: SocketAddr, token: &str) -> Http {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let sender = rt.block_on(async {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect to annal serve");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("HTTP handshake");
            tokio::spawn(conn);
            sender
        });
        Http { rt, sender, authorization: format!("Bearer {token}"), host: addr.to_string() }
    }

    /// Sends `body` (empty for a GET) to `path_and_query`; returns the status
    /// and the whole response body.
    pub fn request(&mut self, method: hyper::Method, path_and_query: &str, content_type: &str, body: Bytes) -> (u16, Bytes) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", &self.host)
            .header("authorization", &self.authorization)
            .header("content-type", content_type)
            .body(Full::new(body))
            .expect("a valid request");
        let sender = &mut self.sender;
        self.rt.block_on(async {
            sender.ready().await.expect("connection ready");
            let res = sender.send_request(req).await.expect("send the request");
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.expect("read the response").to_bytes();
            (status, body)
        })
    }

    /// `GET path_and_query`, expecting 200; returns the body.
    pub fn get(&mut self, path_and_query: &str) -> Bytes {
        let (status, body) = self.request(hyper::Method::GET, path_and_query, "application/json", Bytes::new());
        assert_eq!(status, 200, "GET {path_and_query}: {}", String::from_utf8_lossy(&body));
        body
    }
}
