//! Workspaces created and deleted, and backups taken, while the server runs:
//! over a real socket, with platform keys, an injected clock for the grace
//! period, and cross-scope refusals both ways.

use std::net::SocketAddr;
use std::sync::Arc;

use annal_engine::backup::open_scratch;
use annal_engine::{Backups, Clock, Engine, KeySource, LedgerKind, ManualClock};
use axum::http::Method;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::common::*;

const JSON: &str = "application/json";
/// 2026-01-01T00:00:00Z in ns.
const T0: u64 = 1_767_225_600_000_000_000;
const DAY_NS: u64 = 86_400 * 1_000_000_000;

async fn start(f: &Fixture) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(annal_server::serve(listener, f.state.clone(), async {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

fn delete<'a>(uri: &'a str, token: &'a str) -> Req<'a> {
    Req { method: Method::DELETE, ..get(uri, token) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_is_created_used_deleted_cancelled_and_purged_over_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(dir.path().join("data")).clock(clock.clone()).open().unwrap();
    let config = Config { backup_dir: Some(backup_dir.path().to_path_buf()), ..config() };
    let f = Fixture::over(dir, engine, config);
    let platform = f.platform_key();
    let (addr, stop, task) = start(&f).await;
    let c = HttpClient::new(addr);

    let r = c
        .send(post("/v1/tenants", &platform, JSON, br#"{"tenant":"acme","label":"svc","scopes":["ingest","read"]}"#))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", text(&r.body));
    let created = r.json();
    assert_eq!(created["tenant"]["state"], "active");
    let token = created["key"]["token"].as_str().unwrap().to_string();
    let r = c.send(post("/v1/events", &token, JSON, event("doc.read", "u_1").as_bytes())).await.unwrap();
    assert_eq!(r.status, 201);
    c.send(post("/v1/tenants", &platform, JSON, br#"{"tenant":"acme"}"#)).await.unwrap().problem(409, "tenant-exists");
    let p = c.send(post("/v1/tenants", &platform, JSON, br#"{"tenant":"annal.x"}"#)).await.unwrap();
    assert_eq!(p.problem(422, "invalid-body")["field"], "tenant");
    c.send(post("/v1/tenants", &platform, JSON, br#"{"tenant":"b","scopes":["platform"]}"#))
        .await
        .unwrap()
        .problem(422, "invalid-key-request");

    // Cross-scope refusals, both ways.
    c.send(get("/v1/events", &platform)).await.unwrap().problem(403, "insufficient-scope");
    c.send(get("/v1/export", &platform)).await.unwrap().problem(403, "insufficient-scope");
    c.send(post("/v1/events", &platform, JSON, event("a.b", "u").as_bytes())).await.unwrap().problem(403, "insufficient-scope");
    let admin = f.key("acme", &["admin", "read", "ingest"]);
    c.send(get("/v1/tenants", &admin)).await.unwrap().problem(403, "insufficient-scope");
    c.send(delete("/v1/tenants/acme", &admin)).await.unwrap().problem(403, "insufficient-scope");
    c.send(post("/v1/admin/backups", &admin, JSON, b"")).await.unwrap().problem(403, "insufficient-scope");

    // Deletion closes the workspace at once.
    let r = c.send(delete("/v1/tenants/acme?reason=churned", &platform)).await.unwrap();
    assert_eq!(r.status, 202, "{}", text(&r.body));
    let t = r.json();
    assert_eq!(t["state"], "deletion_scheduled");
    assert_eq!(t["deletion"]["purge_after"], annal_engine::event::format_rfc3339_nanos((T0 + 30 * DAY_NS) as i64));
    c.send(get("/v1/events", &token)).await.unwrap().problem(401, "unauthorized");
    c.send(get("/v1/keys", &admin)).await.unwrap().problem(401, "unauthorized");
    let list = c.send(get("/v1/tenants", &platform)).await.unwrap().json();
    assert_eq!(list["tenants"][0]["state"], "deletion_scheduled");

    // Cancelled: served again, with its keys and rows.
    let r = c.send(post("/v1/tenants/acme/cancel-deletion", &platform, JSON, b"")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.json()["state"].clone()), (200, Value::from("active")));
    assert_eq!(c.send(get("/v1/events", &token)).await.unwrap().json()["records"].as_array().unwrap().len(), 3);
    c.send(post("/v1/tenants/acme/cancel-deletion", &platform, JSON, b"")).await.unwrap().problem(409, "no-pending-deletion");

    // Deleted again, and purged once the grace period is over.
    assert_eq!(c.send(delete("/v1/tenants/acme", &platform)).await.unwrap().status, 202);
    clock.advance(29 * DAY_NS);
    assert!(f.engine.purge_due_deletions().0.is_empty(), "not due yet");
    clock.advance(DAY_NS);
    let (purged, failed) = f.engine.purge_due_deletions();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(purged.len(), 1);
    let p = c.send(get("/v1/tenants/acme", &platform)).await.unwrap();
    assert_eq!(p.problem(404, "not-found")["field"], "id");
    c.send(delete("/v1/tenants/nobody", &platform)).await.unwrap().problem(404, "not-found");
    c.send(delete("/v1/tenants/acme?colour=red", &platform)).await.unwrap().problem(400, "invalid-parameter");
    assert_eq!(clock.now_ns(), T0 + 30 * DAY_NS);

    // Every step is in the platform chain, and the handlers kept the ledger.
    let actions: Vec<String> =
        f.engine.iter(annal_engine::PLATFORM_TENANT, 1).unwrap().map(|r| r.unwrap().event.action).collect();
    assert_eq!(
        actions,
        [
            "annal.key.created",
            "annal.tenant.created",
            "annal.tenant.deletion_scheduled",
            "annal.tenant.deletion_cancelled",
            "annal.tenant.deletion_scheduled",
            "annal.tenant.deleted",
        ]
    );
    let kinds: Vec<LedgerKind> = Backups::new(backup_dir.path()).ledger().entries().unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LedgerKind::Scheduled, LedgerKind::Cancelled, LedgerKind::Scheduled]);

    // A backup on demand, then listed with its status.
    let r = c.send(post("/v1/admin/backups", &platform, JSON, b"")).await.unwrap();
    assert_eq!(r.status, 201, "{}", text(&r.body));
    assert_eq!(r.json()["backup"]["id"], 1);
    let listed = c.send(get("/v1/admin/backups", &platform)).await.unwrap().json();
    assert_eq!(listed["backups"].as_array().unwrap().len(), 1);
    assert_eq!(listed["status"]["last_backup"]["ok"], true);
    let kinds: Vec<LedgerKind> = Backups::new(backup_dir.path()).ledger().entries().unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last(), Some(&LedgerKind::Deleted), "the backup added the purge");
    let metrics = text(&c.send(Req { token: None, ..get("/metrics", "") }).await.unwrap().body);
    assert!(metrics.contains("annal_backup_last_run_success 1"), "{metrics}");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_backup_directory_says_so() {
    let f = Fixture::new();
    let platform = f.platform_key();
    f.call(post("/v1/admin/backups", &platform, JSON, b"")).await.problem(409, "backups-not-configured");
    f.call(get("/v1/admin/backups", &platform)).await.problem(409, "backups-not-configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_four_clients_ingest_restores_every_row_acknowledged_before_it() {
    let backup_dir = tempfile::tempdir().unwrap();
    let f = Fixture::with(Config { backup_dir: Some(backup_dir.path().to_path_buf()), ..config() });
    let platform = f.platform_key();
    let (addr, stop, task) = start(&f).await;
    let client = Arc::new(HttpClient::new(addr));
    let tenants = ["ws_a", "ws_b", "ws_c", "ws_d"];
    let go = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut writers = Vec::new();
    for t in tenants {
        let (client, go, token) = (client.clone(), go.clone(), f.key(t, &["ingest"]));
        let body = corpus(t, 64);
        writers.push(tokio::spawn(async move {
            // (seq, head) of every row acknowledged, in order.
            let mut acked: Vec<(u64, String)> = Vec::new();
            while go.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client.send(post("/v1/events", &token, "application/x-ndjson", body.as_bytes())).await.unwrap();
                assert_eq!(r.status, 201);
                let last = r.json()["receipts"].as_array().unwrap().last().cloned().unwrap();
                acked.push((last["seq"].as_u64().unwrap(), last["head"].as_str().unwrap().to_string()));
            }
            acked
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Everything acknowledged before the backup request is sent.
    let before: Vec<(String, u64)> = tenants.iter().map(|t| (t.to_string(), f.engine.head(t).unwrap().seq)).collect();
    let r = client.send(post("/v1/admin/backups", &platform, JSON, b"")).await.unwrap();
    assert_eq!(r.status, 201, "{}", text(&r.body));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    go.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut acks = Vec::new();
    for w in writers {
        acks.push(w.await.unwrap());
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let backups = Backups::new(backup_dir.path());
    let key = f.engine.checkpoint_public_key().unwrap().0;
    let check = tokio::task::spawn_blocking(move || backups.verify(None, Some(&key), &open_scratch)).await.unwrap().unwrap();
    assert!(check.is_good(), "{:?}", check.chains);
    let restored_root = tempfile::tempdir().unwrap();
    let target = restored_root.path().join("store");
    let b = Backups::new(backup_dir.path());
    let t2 = target.clone();
    let keyed = |p: &std::path::Path| Engine::builder(p).signing_key(KeySource::Seed(TEST_SEED)).open();
    tokio::task::spawn_blocking(move || b.restore(None, &t2, &keyed)).await.unwrap().unwrap();
    let restored = keyed(&target).unwrap();
    for ((tenant, head_before), acked) in before.iter().zip(&acks) {
        let c = check.chains.iter().find(|c| c.tenant == *tenant).unwrap();
        assert!(c.checkpoint_seq.unwrap() >= *head_before, "{tenant}: the backup's checkpoint covers what was acknowledged");
        for (seq, head) in acked.iter().filter(|(s, _)| s <= head_before) {
            let row = restored.get(tenant, *seq).unwrap().unwrap_or_else(|| panic!("{tenant} seq {seq} lost"));
            assert_eq!(row.head.to_hex(), *head);
        }
        assert!(restored.verify(tenant, ..).unwrap().is_intact());
    }
}
