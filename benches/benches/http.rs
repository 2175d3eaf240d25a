//! The HTTP server beside the engine, same run: NDJSON bulk ingest over
//! loopback against in-process appends of the same events with the same
//! durability, and the rate and memory of a large CSV export.
//!
//! **Ingest.** The same seeded corpus events, 1,000 a request (or a batch),
//! from [`CONNECTIONS`] concurrent clients. In-process: that many threads
//! each calling `Engine::append` with `Vec<Event>` batches (parsing the
//! JSON is left out, to the in-process side's favour). HTTP: `annal serve`'s
//! router on 127.0.0.1 (in this process, on its own tokio runtime), that
//! many HTTP/1.1 keep-alive connections posting the corpus's NDJSON bytes.
//! Both `Durability::Sync` on their own fresh store. Each side runs
//! [`ROUNDS`] times alternately; the best round of each is reported with
//! the ratio HTTP / in-process.
//!
//! **Export.** A store of `EXPORT_ROWS` rows (1,000,000 under `cargo
//! bench`), then `GET /v1/export?format=csv` of all of it over loopback,
//! read and discarded by the client as it arrives. Reported: rows/s and the
//! process's peak resident memory during the export above what it was just
//! before, sampled every 5 ms, beside the same for an export a tenth the
//! size: constant memory means the two are alike.
//!
//! Run: `cargo bench -p annal-benches --bench http`. Under `cargo test`
//! (no `--bench` flag) it runs tiny sizes once, as a smoke test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_engine::{Actor, ActorType, Durability, Engine, Event, Scopes};
use annal_server::config::Config;
use annal_server::AppState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 4;
const BATCH: usize = 1000;
const ROUNDS: usize = 3;

fn actor() -> Actor {
    Actor { kind: ActorType::System, id: "bench".into(), name: None, email: None, on_behalf_of: None }
}

fn config() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit_per_sec: 0.0,
        tenant_rate_limit_per_sec: 0.0,
        ..Config::default()
    }
}

/// A fresh store with tenant `t` and an ingest+read key; returns the token.
fn store(dir: &std::path::Path) -> (Engine, String) {
    let engine =
        Engine::builder(dir).durability(Durability::Sync).signing_key(annal_engine::KeySource::Seed([0xbe; 32])).open().unwrap();
    engine.append_system("ws_bench", "annal.tenant.created", actor(), Default::default()).unwrap();
    let (_, token) = engine.create_api_key("ws_bench", Scopes::INGEST.union(Scopes::READ), "bench", actor()).unwrap();
    (engine, token)
}

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(engine: Engine) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let state = AppState::new(engine, config());
                annal_server::serve(listener, state, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        Server { addr: addr_rx.recv().unwrap(), stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn in_process(batches: &[Vec<Event>]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = store(dir.path());
    let next = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CONNECTIONS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(b) = batches.get(i) else { break };
                engine.append("ws_bench", b).unwrap();
            });
        }
    });
    (batches.len() * BATCH) as f64 / start.elapsed().as_secs_f64()
}

fn over_http(bodies: &[Bytes]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (engine, token) = store(dir.path());
    let server = Server::start(engine);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rate = rt.block_on(async {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let next = Arc::new(AtomicU64::new(0));
        let bodies = Arc::new(bodies.to_vec());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (client, next, bodies, token) = (client.clone(), next.clone(), bodies.clone(), token.clone());
            let uri = format!("http://{}/v1/events", server.addr);
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(b) = bodies.get(i) else { break };
                    let req = hyper::Request::post(&uri)
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/x-ndjson")
                        .body(Full::new(b.clone()))
                        .unwrap();
                    let res = client.request(req).await.unwrap();
                    assert_eq!(res.status(), 201);
                    res.into_body().collect().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        (bodies.len() * BATCH) as f64 / start.elapsed().as_secs_f64()
    });
    drop(server);
    rate
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Builds a store of `rows` corpus rows and exports it as CSV twice; per
/// pass returns (rows/s, peak RSS growth KiB, bytes). The first pass also
/// fills RocksDB's block cache (64 MiB, bounded); the second starts with it
/// full, so its growth is the export's own.
fn export(rows: usize) -> Vec<(f64, u64, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let (engine, token) = store(dir.path());
    let mut gen = annal_testdata::Generator::new(annal_testdata::DEFAULT_SEED, &["ws_bench"]);
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..rows.saturating_sub(2) {
        batch.push(Event::from_json_value(gen.next_event().1).unwrap());
        if batch.len() == BATCH {
            engine.append("ws_bench", &batch).unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        engine.append("ws_bench", &batch).unwrap();
    }
    drop(batch);
    let server = Server::start(engine);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let passes = (0..2).map(|_| export_pass(&rt, &server, &token, rows)).collect();
    drop(server);
    passes
}

fn export_pass(rt: &tokio::runtime::Runtime, server: &Server, token: &str, rows: usize) -> (f64, u64, u64) {
    let base = rss_kib();
    let peak = Arc::new(AtomicU64::new(base));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let start = Instant::now();
    let bytes = rt.block_on(async {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let req = hyper::Request::get(format!("http://{}/v1/export?format=csv", server.addr))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let mut body = res.into_body();
        let mut n = 0u64;
        let mut newlines = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                n += data.len() as u64;
                newlines += data.iter().filter(|b| **b == b'\n').count() as u64;
            }
        }
        assert!(newlines > rows as u64, "header + {rows} rows, got {newlines} lines");
        n
    });
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (rows as f64 / secs, peak.load(Ordering::Relaxed).saturating_sub(base), bytes)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (requests, export_rows, rounds) = if full { (200, 1_000_000, ROUNDS) } else { (4, 5_000, 1) };
    let events: Vec<serde_json::Value> =
        annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, "ws_bench", requests * BATCH);
    let batches: Vec<Vec<Event>> =
        events.chunks(BATCH).map(|c| c.iter().map(|v| Event::from_json_value(v.clone()).unwrap()).collect()).collect();
    let bodies: Vec<Bytes> =
        events.chunks(BATCH).map(|c| Bytes::from(c.iter().map(|v| v.to_string() + "\n").collect::<String>())).collect();
    drop(events);
    let (mut best_in, mut best_http) = (0f64, 0f64);
    for _ in 0..rounds {
        best_in = best_in.max(in_process(&batches));
        best_http = best_http.max(over_http(&bodies));
    }
    println!(
        "ingest, {} events, {BATCH} a request, {CONNECTIONS} connections, Durability::Sync, best of {rounds}:",
        requests * BATCH
    );
    println!("  in-process Engine::append  {:>10.0} events/s", best_in);
    println!("  HTTP POST /v1/events       {:>10.0} events/s", best_http);
    println!("  HTTP / in-process          {:>10.2}", best_http / best_in);
    for rows in [export_rows / 10, export_rows] {
        for (pass, (rate, grown, bytes)) in export(rows).into_iter().enumerate() {
            println!(
                "export CSV {rows:>8} rows, pass {}: {rate:>9.0} rows/s, {:.0} MB, peak RSS growth during export {:.1} MiB",
                pass + 1,
                bytes as f64 / 1e6,
                grown as f64 / 1024.0
            );
        }
    }
}
