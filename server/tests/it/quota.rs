//! Quotas: per key and per tenant, requests a second, a UTC minute and a
//! UTC month; keys' own limits; usage readable; month counts that survive a
//! restart. The windows follow an injected clock.

use std::sync::Arc;

use annal_engine::{Engine, KeySource, ManualClock, Scopes};
use annal_server::AppState;
use serde_json::{json, Value};

use crate::common::*;

/// 2026-12-31T23:58:30Z: ninety seconds before a month (and a year) turns.
const NEAR_NEW_YEAR: u64 = 1_798_761_510_000_000_000;
const SECOND: u64 = 1_000_000_000;

/// A store, a manual clock at `at`, and router state over them with `config`.
struct Clocked {
    dir: tempfile::TempDir,
    engine: Engine,
    clock: Arc<ManualClock>,
    state: AppState,
}

impl Clocked {
    fn new(at: u64, config: Config) -> Clocked {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(at));
        let engine =
            Engine::builder(dir.path().join("data")).clock(clock.clone()).signing_key(KeySource::Seed(TEST_SEED)).open().unwrap();
        let state = AppState::with_clock(engine.clone(), config, clock.clone());
        Clocked { dir, engine, clock, state }
    }

    /// The server restarted: new state over the same store and clock.
    fn restart(self, config: Config) -> Clocked {
        self.state.quotas.flush().unwrap();
        let state = AppState::with_clock(self.engine.clone(), config, self.clock.clone());
        Clocked { state, ..self }
    }

    fn key(&self, tenant: &str, scopes: &[&str]) -> String {
        if !self.engine.tenants().iter().any(|t| t == tenant) {
            self.engine.append_system(tenant, "annal.tenant.created", actor(), Default::default()).unwrap();
        }
        self.engine.create_api_key(tenant, Scopes::from_names(scopes).unwrap(), "test", actor()).unwrap().1
    }

    async fn call(&self, req: Req<'_>) -> Resp {
        let f = Fixture { _dir: tempfile::tempdir().unwrap(), engine: self.engine.clone(), state: self.state.clone() };
        f.call(req).await
    }
}

fn header(r: &Resp, name: &str) -> Option<u64> {
    r.headers.get(name).map(|v| v.to_str().unwrap().parse().unwrap())
}

#[tokio::test]
async fn a_keys_minute_cap_refuses_with_retry_after_and_ratelimit_headers_until_the_minute_turns() {
    let c = Clocked::new(NEAR_NEW_YEAR - 30 * SECOND, Config { key_requests_per_minute: 3, ..config() });
    let t = c.key("ws_a", &["read"]);
    for remaining in [2, 1, 0] {
        let r = c.call(get("/v1/events", &t)).await;
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "ratelimit-limit"), Some(3));
        assert_eq!(header(&r, "ratelimit-remaining"), Some(remaining));
        assert_eq!(header(&r, "ratelimit-reset"), Some(60), "the clock stands at a whole minute");
    }
    c.clock.advance(15 * SECOND);
    let r = c.call(get("/v1/events", &t)).await;
    let p = r.problem(429, "quota-exceeded");
    assert!(p["detail"].as_str().unwrap().contains("this api key's per-minute quota of 3 requests"), "{p}");
    assert_eq!(r.headers["retry-after"], "45");
    assert_eq!(header(&r, "ratelimit-remaining"), Some(0));
    // The refused request counted against no window: the next minute has all 3.
    c.clock.advance(45 * SECOND);
    for _ in 0..3 {
        assert_eq!(c.call(get("/v1/events", &t)).await.status, 200);
    }
    c.call(get("/v1/events", &t)).await.problem(429, "quota-exceeded");
    // Routes without a key carry no quota headers.
    assert!(c.call(Req { token: None, ..get("/healthz", "") }).await.headers.get("ratelimit-limit").is_none());
}

#[tokio::test]
async fn a_tenants_limits_hold_over_all_its_keys_so_minting_keys_multiplies_nothing() {
    let c = Clocked::new(NEAR_NEW_YEAR - 30 * SECOND, Config { tenant_requests_per_minute: 4, ..config() });
    let (a, b) = (c.key("ws_a", &["read"]), c.key("ws_a", &["read"]));
    let other = c.key("ws_b", &["read"]);
    for t in [&a, &b, &a, &b] {
        assert_eq!(c.call(get("/v1/events", t)).await.status, 200);
    }
    for t in [&a, &b] {
        let p = c.call(get("/v1/events", t)).await.problem(429, "quota-exceeded");
        assert!(p["detail"].as_str().unwrap().contains("the tenant's per-minute quota of 4"), "{p}");
    }
    assert_eq!(c.call(get("/v1/events", &other)).await.status, 200, "another tenant has its own");

    // The tenant's requests a second, likewise over all its keys.
    let c = Clocked::new(NEAR_NEW_YEAR, Config { tenant_rate_limit_per_sec: 1.0, tenant_rate_limit_burst: 2.0, ..config() });
    let (a, b) = (c.key("ws_a", &["read"]), c.key("ws_a", &["read"]));
    assert_eq!(c.call(get("/v1/events", &a)).await.status, 200);
    assert_eq!(c.call(get("/v1/events", &b)).await.status, 200);
    let r = c.call(get("/v1/events", &b)).await;
    let p = r.problem(429, "rate-limited");
    assert!(p["detail"].as_str().unwrap().contains("the tenant's rate limit"), "{p}");
    assert_eq!(r.headers["retry-after"], "1");
}

#[tokio::test]
async fn a_keys_own_limits_are_kept_recorded_and_shown_with_its_usage() {
    let c = Clocked::new(NEAR_NEW_YEAR, Config { key_requests_per_month: 1000, ..config() });
    let admin = c.key("ws_a", &["admin"]);
    let body = json!({"scopes": ["read"], "label": "auditor", "limits": {"per_minute": 2, "per_month": 3}}).to_string();
    let created = c.call(post("/v1/keys", &admin, "application/json", body.as_bytes())).await;
    assert_eq!(created.status, 201, "{}", text(&created.body));
    let created = created.json();
    let (id, token) = (created["id"].as_str().unwrap().to_string(), created["token"].as_str().unwrap().to_string());
    // The creation row names the limits.
    let row = c.engine.get("ws_a", c.engine.head("ws_a").unwrap().seq).unwrap().unwrap();
    assert!(row.event.metadata.unwrap().contains(r#""limits":{"burst":0,"per_minute":2,"per_month":3,"per_second":0}"#));
    assert_eq!(c.call(get("/v1/events", &token)).await.status, 200);
    let r = c.call(get("/v1/events", &token)).await;
    assert_eq!((header(&r, "ratelimit-limit"), header(&r, "ratelimit-remaining")), (Some(2), Some(0)));
    c.call(get("/v1/events", &token)).await.problem(429, "quota-exceeded");

    let shown = c.call(get(&format!("/v1/keys/{id}"), &admin)).await.json();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["usage"]["minute"], json!({"requests": 2, "limit": 2, "resets_at": "2026-12-31T23:59:00Z"}));
    assert_eq!(shown["usage"]["month"]["requests"], 2);
    assert_eq!(shown["usage"]["month"]["limit"], 3);
    assert_eq!(shown["usage"]["month"]["resets_at"], "2027-01-01T00:00:00Z");
    assert_eq!(shown["usage"]["per_second"], Value::Null, "no rate limit in these tests' config: {shown}");
    // The tenant's usage: the key's two and the admin's own requests.
    assert_eq!(shown["tenant_usage"]["month"]["requests"], 2 + 2);
    assert_eq!(shown["tenant_usage"]["month"]["limit"], Value::Null);
    assert!(!shown.to_string().contains(&token[20..]), "no secret");

    // A key of another tenant, or none, is 404; bad limits name their field.
    let other = c.key("ws_b", &["admin"]);
    c.call(get(&format!("/v1/keys/{id}"), &other)).await.problem(404, "not-found");
    let p = c
        .call(post("/v1/keys", &admin, "application/json", br#"{"scopes":["read"],"limits":{"per_second":2000000}}"#))
        .await
        .problem(422, "invalid-key-request");
    assert_eq!(p["field"], "limits.per_second");
    let r = c.call(post("/v1/keys", &admin, "application/json", br#"{"scopes":["read"],"limits":{"per_hour":5}}"#)).await;
    assert!(r.status.is_client_error() && text(&r.body).contains("per_hour"), "{}", text(&r.body));
}

#[tokio::test]
async fn a_month_survives_a_restart_and_turns_with_the_utc_month() {
    let cfg = || Config { key_requests_per_month: 5, tenant_requests_per_month: 100, ..config() };
    let c = Clocked::new(NEAR_NEW_YEAR, cfg());
    let t = c.key("ws_a", &["read"]);
    for _ in 0..3 {
        assert_eq!(c.call(get("/v1/events", &t)).await.status, 200);
    }
    // Restarted: the month's three requests are still counted.
    let c = c.restart(cfg());
    let saved = c.engine.usage(annal_engine::apikeys::utc_month(NEAR_NEW_YEAR)).unwrap();
    let mut counts: Vec<(Option<String>, u64)> = saved.iter().map(|u| (u.key.clone(), u.requests)).collect();
    counts.sort();
    assert_eq!(counts, [(None, 3), (Some(t[3..19].to_string()), 3)]);
    for _ in 0..2 {
        assert_eq!(c.call(get("/v1/events", &t)).await.status, 200);
    }
    let r = c.call(get("/v1/events", &t)).await;
    let p = r.problem(429, "quota-exceeded");
    assert!(p["detail"].as_str().unwrap().contains("monthly quota of 5"), "{p}");
    assert_eq!(r.headers["retry-after"], "90", "until 2027-01-01T00:00:00Z");
    // A new UTC month, a new count; the old month's count was kept apart.
    c.clock.advance(90 * SECOND);
    assert_eq!(c.call(get("/v1/events", &t)).await.status, 200);
    let c = c.restart(cfg());
    let january = annal_engine::apikeys::utc_month(NEAR_NEW_YEAR + 90 * SECOND);
    assert_eq!(january, annal_engine::apikeys::utc_month(NEAR_NEW_YEAR) + 1);
    let jan: Vec<u64> = c.engine.usage(january).unwrap().iter().map(|u| u.requests).collect();
    assert_eq!(jan, [1, 1]);
    let dec: Vec<u64> = c.engine.usage(january - 1).unwrap().iter().map(|u| u.requests).collect();
    assert_eq!(dec, [5, 5], "December's final counts, saved when the month turned");
    drop(c.dir);
}

#[test]
fn annal_keys_create_takes_the_keys_own_limits() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    annal_ok(&["tenants", "create", "--data-dir", &data, "ws_a"]);
    let token = annal_ok(&[
        "keys",
        "create",
        "--data-dir",
        &data,
        "--tenant",
        "ws_a",
        "--scope",
        "ingest",
        "--per-second",
        "5",
        "--per-minute",
        "100",
        "--per-month",
        "100000",
    ]);
    let engine = Engine::builder(dir.path().join("data")).create_if_missing(false).open().unwrap();
    let limits = engine.api_key_limits("ws_a", &token.trim()[3..19]).unwrap();
    assert_eq!(limits, annal_engine::KeyLimits { per_second: 5, burst: 0, per_minute: 100, per_month: 100_000 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_requests_in_flight_are_bounded_and_given_back() {
    use axum::body::{Body, Bytes};
    use tower::ServiceExt;
    let f = Fixture::with(Config { max_requests_in_flight_per_tenant: 2, ..config() });
    let (a, other) = (f.key("ws_a", &["ingest", "read"]), f.key("ws_b", &["read"]));
    // Two appends whose bodies never finish arriving hold the tenant's two places.
    let mut senders = Vec::new();
    let mut held = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = Body::from_stream(tokio_stream_from(rx));
        let req = axum::http::Request::post("/v1/events")
            .header("authorization", format!("Bearer {a}"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .unwrap();
        let app = annal_server::app(f.state.clone());
        held.push(tokio::spawn(async move { app.oneshot(req).await.unwrap().status() }));
        tx.send(Ok(Bytes::from_static(b"{\"action\":\"a.b\","))).await.unwrap();
        senders.push(tx);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = f.call(get("/v1/events", &a)).await;
    let p = r.problem(429, "concurrency-limited");
    assert!(p["detail"].as_str().unwrap().contains("already has 2 requests"), "{p}");
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(f.call(get("/v1/events", &other)).await.status, 200, "another tenant is served");
    // The bodies end (malformed): their places come back.
    drop(senders);
    for h in held {
        assert!(h.await.unwrap().is_client_error());
    }
    for _ in 0..3 {
        assert_eq!(f.call(get("/v1/events", &a)).await.status, 200);
    }
}

/// A stream of what `rx` receives.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
