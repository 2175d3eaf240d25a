//! SIGKILL the `annal serve` process while several clients ingest: every
//! row answered 201 is there after a restart, and the chain verifies.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use annal_engine::Engine;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_clients_ingest_loses_no_acknowledged_row() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data").display().to_string();
    let token = tenant_with_key(&dir, "ws_crash", "ingest");
    // (seq, marker) of every acknowledged row, over all rounds.
    let mut acked: Vec<(u64, String)> = Vec::new();
    for round in 0..3 {
        let (mut child, addr) = spawn_server(&dir, &[]);
        let client = Arc::new(HttpClient::new(addr));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..4 {
            let (client, stop, token) = (client.clone(), stop.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..400 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let markers: Vec<String> = (0..20).map(|j| format!("r{round}c{c}i{i}j{j}")).collect();
                    let body: String = markers.iter().map(|m| event("crash.test", m) + "\n").collect();
                    match client.send(post("/v1/events", &token, "application/x-ndjson", body.as_bytes())).await {
                        Ok(r) if r.status == 201 => {
                            let receipts = r.json()["receipts"].as_array().unwrap().clone();
                            for (rc, m) in receipts.iter().zip(markers) {
                                mine.push((rc["seq"].as_u64().unwrap(), m));
                            }
                        }
                        Ok(r) => panic!("unexpected answer {}: {}", r.status, String::from_utf8_lossy(&r.body)),
                        Err(_) => break, // killed mid-request: not acknowledged
                    }
                }
                mine
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        let before = acked.len();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        assert!(acked.len() > before, "round {round} acknowledged some rows");
    }
    let engine = Engine::open(&dir).unwrap();
    for (seq, marker) in &acked {
        let row = engine.get("ws_crash", *seq).unwrap().unwrap_or_else(|| panic!("acknowledged seq {seq} lost"));
        assert_eq!(&row.event.actor_id, marker, "seq {seq}");
    }
    assert!(engine.verify("ws_crash", ..).unwrap().is_intact());
    assert!(engine.check_index("ws_crash").unwrap().is_consistent());
}

/// SIGTERM: the server finishes, exits 0, and its log (at debug level)
/// holds neither event values nor tokens nor query strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_logs_hold_no_values() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data").display().to_string();
    let token = tenant_with_key(&dir, "ws_t", "ingest,read");
    let log = d.path().join("server.log");
    let mut child = annal_command()
        .args(["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0", "--log", "debug", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().rsplit("http://").next().unwrap().parse().unwrap();
    let client = HttpClient::new(addr);
    let secret = "value-that-must-not-be-logged-8231";
    let r = client.send(post("/v1/events", &token, "application/json", event("auth.login", secret).as_bytes())).await.unwrap();
    assert_eq!(r.status, 201);
    let bad = format!("{{\"action\":\"auth.login\",\"actor\":{{\"type\":\"robot\",\"id\":\"{secret}\"}}}}");
    client.send(post("/v1/events", &token, "application/json", bad.as_bytes())).await.unwrap().problem(422, "invalid-batch");
    let q = format!("/v1/events?actor={secret}");
    assert_eq!(client.send(get(&q, &token)).await.unwrap().status, 200);
    drop(client);
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean stop");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/v1/events"), "requests are logged: {text}");
    for l in text.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    assert!(!text.contains(secret), "no event value or query string in the log: {text}");
    assert!(!text.contains(&token[20..]), "no token in the log");
    let engine = Engine::open(&dir).unwrap();
    assert_eq!(engine.get("ws_t", 3).unwrap().unwrap().event.actor_id, secret);
}

/// `annal serve` runs retention at start and then on its interval: rows
/// recorded (by a manual clock) 500 days ago, beyond the default tier's 400,
/// are gone soon after the server starts, the deletion is a row of the
/// chain, and a SIGTERM stops the daemon with the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_retention_on_its_interval() {
    use annal_engine::{ActorType, Event, ManualClock};
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data").display().to_string();
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    {
        let clock = Arc::new(ManualClock::new(now_ns - 500 * 86_400 * 1_000_000_000));
        let engine = Engine::builder(&dir).clock(clock).open().unwrap();
        let old: Vec<Event> = (0..20).map(|i| Event::new("auth.login", ActorType::User, format!("u{i}"))).collect();
        engine.append("ws_t", &old).unwrap();
    }
    let token = cli_key(&dir, "ws_t", "admin,read");
    let (mut child, addr) = spawn_server(&dir, &["--retention-interval-secs", "1"]);
    let client = HttpClient::new(addr);
    // The run deletes in batches, then appends its `annal.retention.purged` row.
    let mut purged = serde_json::Value::Null;
    for _ in 0..100 {
        purged = client.send(get("/v1/events?action=annal.retention.purged", &token)).await.unwrap().json();
        if !purged["records"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(purged["records"][0]["event"]["action"], "annal.retention.purged", "{purged}");
    let anchor = client.send(get("/v1/retention", &token)).await.unwrap().json()["anchor"].clone();
    assert_eq!(anchor["seq"], 20, "the 20 expired rows were deleted: {anchor}");
    client.send(get("/v1/events/5", &token)).await.unwrap().problem(404, "not-found");
    // The run signed a checkpoint after its `purged` row, with the key the
    // server made in the data directory.
    let cp = client.send(get("/v1/checkpoints/latest", &token)).await.unwrap().json();
    assert!(cp["seq"].as_u64().unwrap() > 20, "{cp}");
    let pk = client.send(get("/v1/checkpoints/public-key", &token)).await.unwrap().json();
    assert_eq!(cp["public_key"], pk["public_key"]);
    let v = client.send(get("/v1/verify", &token)).await.unwrap().json();
    assert_eq!(v["intact"], true, "{v}");
    drop(client);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert_eq!(exit.code(), Some(0));
}
