//! Encryption at rest through the server: in-process (a destroyed KEK
//! answers `key-unavailable`, naming nothing secret, while the chain still
//! verifies) and as the real `annal` process with `--keyring`, over a real
//! socket.

use std::sync::Arc;
use std::time::Duration;

use annal_engine::keyring::KeyringFile;
use annal_engine::{Engine, KeySource};

use crate::common::*;

const JSON: &str = "application/json";

#[tokio::test]
async fn an_encrypted_tenant_reads_back_over_http_and_a_destroyed_kek_is_a_503_naming_nothing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let ring_path = dir.path().join("keyring.json");
    let (ring, kek) = KeyringFile::init(&ring_path, 1).unwrap();
    let engine = Engine::builder(dir.path().join("data"))
        .signing_key(KeySource::Seed(TEST_SEED))
        .key_provider(Arc::new(ring.clone()))
        .key_cache_ttl(Duration::ZERO)
        .open()
        .unwrap();
    let f = Fixture::over(dir, engine, config());
    let t = f.key("ws_a", &["ingest", "read"]);
    let r = f.call(post("/v1/events", &t, "application/x-ndjson", corpus("ws_a", 50).as_bytes())).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let page = f.call(get("/v1/events?limit=100", &t)).await;
    assert_eq!(page.status, 200);
    let rows = page.json()["records"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 52, "the tenant's and key's rows, then the 50");
    let sent: serde_json::Value = serde_json::from_str(corpus("ws_a", 50).lines().next().unwrap()).unwrap();
    assert_eq!(rows[2]["event"]["actor"]["id"], sent["actor"]["id"]);
    let v = f.call(get("/v1/verify", &t)).await.json();
    assert_eq!((v["intact"].as_bool(), v["content_unchecked"].as_u64()), (Some(true), Some(0)), "{v}");

    ring.destroy_key(&kek, 2).unwrap();
    for uri in ["/v1/events?limit=10", "/v1/events/3", "/v1/export?format=csv"] {
        let r = f.call(get(uri, &t)).await;
        assert_eq!(r.status, 503, "{uri}: {}", String::from_utf8_lossy(&r.body));
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains("key-unavailable"), "{uri}: {body}");
        assert!(!body.contains(&kek) && !body.contains("keyring.json"), "{uri}: the answer names a secret: {body}");
    }
    let r = f.call(post("/v1/events", &t, JSON, event("auth.login", "u1").as_bytes())).await;
    assert_eq!(r.status, 503, "an append under a destroyed KEK: {}", String::from_utf8_lossy(&r.body));
    let v = f.call(get("/v1/verify", &t)).await.json();
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["content_unchecked"], v["count"], "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annal_serve_with_a_keyring_stores_new_tenants_encrypted_and_serves_them() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data").display().to_string();
    let ring = d.path().join("keys/keyring.json").display().to_string();
    annal_ok(&["keyring", "init", &ring]);
    annal_ok(&["tenants", "create", "--data-dir", &dir, "--keyring", &ring, "ws_enc"]);
    let token =
        annal_ok(&["keys", "create", "--data-dir", &dir, "--keyring", &ring, "--tenant", "ws_enc", "--scope", "ingest,read"])
            .trim()
            .to_string();
    let (mut child, addr) = spawn_server(&dir, &["--keyring", &ring]);
    let client = HttpClient::new(addr);
    let body = corpus("ws_enc", 40);
    let r = client.send(post("/v1/events", &token, "application/x-ndjson", body.as_bytes())).await.unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let page = client.send(get("/v1/events?limit=100&order=desc", &token)).await.unwrap().json();
    assert_eq!(page["records"].as_array().unwrap().len(), 42);
    let export = client.send(get("/v1/export?format=ndjson", &token)).await.unwrap();
    assert_eq!(export.status, 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // The rows are sealed: a search of the store for an actor's id finds
    // nothing, and without the keyring a command reads nothing but verifies.
    let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    let name = first["actor"]["name"].as_str().or(first["actor"]["id"].as_str()).unwrap().to_string();
    for f in files_under(&d.path().join("data")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(name.len()).any(|w| w == name.as_bytes()), "{name} in {}", f.display());
    }
    let out = annal(&["query", "--data-dir", &dir, "--tenant", "ws_enc"]);
    assert!(!out.status.success() && text(&out.stderr).contains("keyring"), "{}", text(&out.stderr));
    let verified = annal_ok(&["verify", "--data-dir", &dir, "--tenant", "ws_enc"]);
    assert!(verified.contains("intact") && verified.contains("not checked"), "{verified}");
    let with_key = annal_ok(&["query", "--data-dir", &dir, "--keyring", &ring, "--tenant", "ws_enc"]);
    assert_eq!(with_key.lines().count(), 43, "every row, and the export's own");
}

#[tokio::test]
async fn a_tenant_admin_names_its_own_kek_over_http_and_every_bad_request_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = KeyringFile::init(&dir.path().join("keyring.json"), 1).unwrap();
    // The customer's key: another KEK of the server's keyring here (with a
    // KMS, a key in the customer's account).
    let customer = ring.add_key(2).unwrap();
    let engine = Engine::builder(dir.path().join("data"))
        .signing_key(KeySource::Seed(TEST_SEED))
        .key_provider(Arc::new(ring.clone()))
        .open()
        .unwrap();
    let f = Fixture::over(dir, engine, config());
    let admin = f.key("ws_a", &["admin", "read"]);
    let reader = f.key("ws_a", &["read"]);
    let before = f.call(get("/v1/encryption", &admin)).await;
    assert_eq!(before.status, 200);
    assert_eq!(before.json(), serde_json::json!({"encrypted": true, "kek": null, "data_keys": 2}));
    assert_eq!(f.call(get("/v1/encryption", &reader)).await.status, 403);

    let body = format!(r#"{{"kek":"{customer}"}}"#);
    let r = f.call(Req { method: axum::http::Method::PUT, ..post("/v1/encryption", &admin, JSON, body.as_bytes()) }).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data_keys_rewrapped"], 2);
    let seq = r.json()["seq"].as_u64().unwrap();
    let row = f.call(get(&format!("/v1/events/{seq}"), &admin)).await.json();
    assert_eq!(row["event"]["action"], "annal.encryption.kek_set");
    assert_eq!(f.call(get("/v1/encryption", &admin)).await.json()["kek"], customer.as_str());

    let put =
        |body: &'static str| Req { method: axum::http::Method::PUT, ..post("/v1/encryption", &admin, JSON, body.as_bytes()) };
    let r = f.call(put(r#"{"kek":"has space"}"#)).await;
    assert_eq!((r.status.as_u16(), r.json()["field"].as_str()), (422, Some("kek")), "{}", String::from_utf8_lossy(&r.body));
    let r = f.call(put(r#"{"kek":"kek-not-in-the-keyring"}"#)).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(!String::from_utf8_lossy(&r.body).contains("keyring.json"));
    let r = f.call(put(r#"{"kek":1}"#)).await;
    assert_eq!(r.status, 422);
    assert_eq!(f.call(get("/v1/encryption", &admin)).await.json()["kek"], customer.as_str(), "a refusal changed it");

    // A workspace made before the server had a keyring is not encrypted.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = Engine::builder(plain_dir.path().join("data")).signing_key(KeySource::Seed(TEST_SEED)).open().unwrap();
    let g = Fixture::over(plain_dir, plain, config());
    let admin = g.key("ws_p", &["admin"]);
    let r = g.call(Req { method: axum::http::Method::PUT, ..post("/v1/encryption", &admin, JSON, br#"{"kek":"k"}"#) }).await;
    assert_eq!(r.status, 409);
    assert!(String::from_utf8_lossy(&r.body).contains("not-encrypted"));
    assert_eq!(g.call(get("/v1/encryption", &admin)).await.json()["encrypted"], false);
}

#[tokio::test]
async fn an_admin_erases_a_person_over_http_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = KeyringFile::init(&dir.path().join("keyring.json"), 1).unwrap();
    let engine = Engine::builder(dir.path().join("data"))
        .signing_key(KeySource::Seed(TEST_SEED))
        .key_provider(Arc::new(ring))
        .open()
        .unwrap();
    let f = Fixture::over(dir, engine, config());
    let admin = f.key("ws_a", &["admin", "ingest", "read"]);
    let reader = f.key("ws_a", &["ingest", "read"]);
    let body = [event("auth.login", "u_sam"), event("auth.login", "u_ann"), event("auth.logout", "u_sam")].join("\n");
    assert_eq!(f.call(post("/v1/events", &admin, "application/x-ndjson", body.as_bytes())).await.status, 201);
    assert_eq!(f.call(post("/v1/subjects/u_sam/erase", &reader, JSON, b"")).await.status, 403);
    let r = f.call(post("/v1/subjects/u_sam/erase", &admin, JSON, b"")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["rows_erased"], 2);
    let page = f.call(get("/v1/events?limit=100", &admin)).await;
    let text = String::from_utf8_lossy(&page.body).into_owned();
    assert!(!text.contains("u_sam"), "{text}");
    assert!(text.contains(r#""how":"erased""#) && text.contains("u_ann"), "{text}");
    assert!(text.contains("annal.subject.erased"));
    let v = f.call(get("/v1/verify", &admin)).await.json();
    assert_eq!((v["intact"].as_bool(), v["content_unchecked"].as_u64()), (Some(true), Some(0)), "{v}");
    let csv = f.call(get("/v1/export?format=csv", &admin)).await;
    assert!(!String::from_utf8_lossy(&csv.body).contains("u_sam"));
}
