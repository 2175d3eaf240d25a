//! Fixtures shared by the tests: the `annal` binary as a process, a store
//! with the router state over it, requests in-process and over a socket.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use annal_engine::{Actor, ActorType, Cf, Engine, Event, KeySource, RawStore, Scopes};
pub use annal_server::config::Config;
use annal_server::AppState;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tower::ServiceExt;

/// The checkpoint signing key of every store the tests make.
pub const TEST_SEED: [u8; 32] = [0x5e; 32];

/// [`TEST_SEED`] as `ANNAL_SIGNING_KEY` takes it.
pub fn test_seed_hex() -> String {
    "5e".repeat(32)
}

/// The `annal` binary in an environment of the tests' own: it signs with
/// [`TEST_SEED`] (through `ANNAL_SIGNING_KEY`), never with a key of the
/// machine running the tests (`ANNAL_SIGNING_KEY_FILE` and `ANNAL_KEYRING` removed, and
/// `XDG_CONFIG_HOME` pointing where no default key file is).
pub fn annal_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_annal"));
    c.env_remove("ANNAL_SIGNING_KEY_FILE")
        .env_remove("ANNAL_KEYRING")
        .env("ANNAL_SIGNING_KEY", test_seed_hex())
        .env("XDG_CONFIG_HOME", NO_CONFIG);
    c
}

/// A config directory that does not exist.
pub const NO_CONFIG: &str = "/nonexistent/annal-tests-config";

/// Runs the `annal` binary ([`annal_command`]) with `args`, `stdin` as its input.
pub fn annal_with_input(args: &[&str], stdin: &[u8]) -> Output {
    let mut child =
        annal_command().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs the `annal` binary with `args` and no input.
pub fn annal(args: &[&str]) -> Output {
    annal_with_input(args, b"")
}

/// Runs the `annal` binary with `args`, which must succeed; returns its stdout.
pub fn annal_ok(args: &[&str]) -> String {
    let out = annal(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The data directory of a test: `data` under its temporary directory.
pub fn data_dir(d: &Path) -> String {
    d.join("data").display().to_string()
}

/// A store in a temporary directory with the router state over it.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub engine: Engine,
    pub state: AppState,
}

pub fn config() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit_per_sec: 0.0,
        tenant_rate_limit_per_sec: 0.0,
        ..Config::default()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with(config())
    }

    pub fn with(config: Config) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder(dir.path().join("data"))
            .max_batch_events(config.max_batch_events)
            .signing_key(KeySource::Seed(TEST_SEED))
            .open()
            .unwrap();
        let state = AppState::new(engine.clone(), config);
        Fixture { _dir: dir, engine, state }
    }

    /// A fixture over an engine of the caller's (another clock, say), in `dir`.
    pub fn over(dir: tempfile::TempDir, engine: Engine, config: Config) -> Fixture {
        let state = AppState::new(engine.clone(), config);
        Fixture { _dir: dir, engine, state }
    }

    /// A platform key's token.
    pub fn platform_key(&self) -> String {
        self.engine.create_platform_key("test", actor()).unwrap().1
    }

    /// Creates `tenant` (if needed) and a key with `scopes`; returns its token.
    pub fn key(&self, tenant: &str, scopes: &[&str]) -> String {
        if !self.engine.tenants().iter().any(|t| t == tenant) {
            self.engine.append_system(tenant, "annal.tenant.created", actor(), Default::default()).unwrap();
        }
        let scopes = Scopes::from_names(scopes).unwrap();
        self.engine.create_api_key(tenant, scopes, "test", actor()).unwrap().1
    }

    /// One request through the router, in-process.
    pub async fn call(&self, req: Req<'_>) -> Resp {
        let request = req.build(req.uri.to_string(), Body::from(req.body.to_vec()));
        let res = annal_server::app(self.state.clone()).oneshot(request).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body }
    }
}

pub fn actor() -> Actor {
    Actor { kind: ActorType::System, id: "test".into(), name: None, email: None, on_behalf_of: None }
}

/// A request to make.
pub struct Req<'a> {
    pub method: Method,
    pub uri: &'a str,
    pub token: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Req<'_> {
    /// The request to `uri` (the path, or a whole URL) with `body`.
    fn build<B>(&self, uri: String, body: B) -> Request<B> {
        let mut b = Request::builder().method(self.method.clone()).uri(uri);
        if let Some(t) = self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = self.content_type {
            b = b.header("content-type", ct);
        }
        for (k, v) in self.headers {
            b = b.header(*k, *v);
        }
        b.body(body).unwrap()
    }
}

pub fn get<'a>(uri: &'a str, token: &'a str) -> Req<'a> {
    Req { method: Method::GET, uri, token: Some(token), content_type: None, headers: &[], body: b"" }
}

pub fn post<'a>(uri: &'a str, token: &'a str, content_type: &'a str, body: &'a [u8]) -> Req<'a> {
    Req { method: Method::POST, uri, token: Some(token), content_type: Some(content_type), headers: &[], body }
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a problem+json answer with `status` and `slug`; returns it.
    pub fn problem(&self, status: u16, slug: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.headers["content-type"], "application/problem+json");
        let v = self.json();
        assert_eq!(v["type"], format!("urn:annal:problem:{slug}"), "{v}");
        assert_eq!(v["status"], status);
        v
    }
}

/// A store whose tenant `ws_a` holds `events` and a key with the `read`
/// scope, with the stored record at position `nth` (from 0) changed by
/// `damage`, opened again under the router state; and the key's token.
pub fn tampered(events: &[Event], nth: usize, damage: impl FnOnce(&mut Vec<u8>)) -> (Fixture, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let token = {
        let engine = Engine::open(&path).unwrap();
        engine.append_system("ws_a", "annal.tenant.created", actor(), Default::default()).unwrap();
        let (_, token) = engine.create_api_key("ws_a", Scopes::READ, "", actor()).unwrap();
        engine.append("ws_a", events).unwrap();
        token
    };
    {
        let raw = RawStore::open(&path).unwrap();
        let (k, mut v) = raw.entries(Cf::Records).unwrap().into_iter().nth(nth).unwrap();
        damage(&mut v);
        raw.put(Cf::Records, &k, &v).unwrap();
    }
    let engine = Engine::open(&path).unwrap();
    let state = AppState::new(engine.clone(), config());
    (Fixture { _dir: dir, engine, state }, token)
}

/// A seeded event as JSON text.
pub fn event(action: &str, actor: &str) -> String {
    serde_json::json!({"action": action, "actor": {"type": "user", "id": actor}}).to_string()
}

/// `n` seeded corpus events of `tenant` as NDJSON.
pub fn corpus(tenant: &str, n: usize) -> String {
    annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, tenant, n).iter().map(|v| v.to_string() + "\n").collect()
}

/// A real HTTP/1.1 client over loopback.
pub struct HttpClient {
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> HttpClient {
        HttpClient { base: format!("http://{addr}"), client: Client::builder(TokioExecutor::new()).build_http() }
    }

    pub async fn send(&self, req: Req<'_>) -> Result<Resp, String> {
        let request = req.build(format!("{}{}", self.base, req.uri), Full::new(Bytes::copy_from_slice(req.body)));
        let res = self.client.request(request).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Resp { status, headers, body })
    }
}

pub use annal_testdata::files_under;

/// A key of `tenant` with `scopes`, made by `annal keys create`; its token.
pub fn cli_key(dir: &str, tenant: &str, scopes: &str) -> String {
    annal_ok(&["keys", "create", "--data-dir", dir, "--tenant", tenant, "--scope", scopes]).trim().to_string()
}

/// `tenant` made by `annal tenants create`, and a key of it.
pub fn tenant_with_key(dir: &str, tenant: &str, scopes: &str) -> String {
    annal_ok(&["tenants", "create", "--data-dir", dir, tenant]);
    cli_key(dir, tenant, scopes)
}

/// `annal serve` on `dir` (a free port, no rate limit, warnings only, and
/// `extra` flags); returns the child and the address it printed.
pub fn spawn_server(dir: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = annal_command()
        .args([
            "serve",
            "--data-dir",
            dir,
            "--listen",
            "127.0.0.1:0",
            "--rate-limit-per-sec",
            "0",
            "--tenant-rate-limit-per-sec",
            "0",
            "--log",
            "warn",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
    (child, addr)
}

/// The binary with no signing key anywhere in its environment, and the
/// default key file looked for under `config_home`.
pub fn keyless(config_home: &Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = annal_command()
        .env_remove("ANNAL_SIGNING_KEY")
        .env("XDG_CONFIG_HOME", config_home)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}
