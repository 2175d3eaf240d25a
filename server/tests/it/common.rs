//! Fixtures shared by the HTTP tests.

use std::net::SocketAddr;

use annal_engine::{Actor, ActorType, Engine, Scopes};
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

/// A store in a temporary directory with the router state over it.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub engine: Engine,
    pub state: AppState,
}

pub fn config() -> Config {
    Config { listen: SocketAddr::from(([127, 0, 0, 1], 0)), rate_limit_per_sec: 0.0, ..Config::default() }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with(config())
    }

    pub fn with(config: Config) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder(dir.path().join("data")).max_batch_events(config.max_batch_events).open().unwrap();
        let state = AppState::new(engine.clone(), config);
        Fixture { _dir: dir, engine, state }
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
        let mut b = Request::builder().method(req.method.clone()).uri(req.uri);
        if let Some(t) = req.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = req.content_type {
            b = b.header("content-type", ct);
        }
        for (k, v) in req.headers {
            b = b.header(*k, *v);
        }
        let res = annal_server::app(self.state.clone()).oneshot(b.body(Body::from(req.body.to_vec())).unwrap()).await.unwrap();
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
        let mut b = hyper::Request::builder().method(req.method.clone()).uri(format!("{}{}", self.base, req.uri));
        if let Some(t) = req.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = req.content_type {
            b = b.header("content-type", ct);
        }
        for (k, v) in req.headers {
            b = b.header(*k, *v);
        }
        let res =
            self.client.request(b.body(Full::new(Bytes::copy_from_slice(req.body))).unwrap()).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Resp { status, headers, body })
    }
}
