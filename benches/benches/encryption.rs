//! What encryption at rest costs (issue 15): the same work on an encrypted
//! and an unencrypted store, in the same process and run, interleaved, the
//! ratio printed.
//!
//! Two stores, one opened with a keyring (every tenant encrypted), one
//! without; both with the default redaction policy and `Durability::Sync`.
//!
//! 1. **Durable append**: 4 threads, one tenant each, appending batches of
//!    1,024 seeded corpus events; rounds of 40,960 events alternate between
//!    the stores (which goes first alternates too). Events/s of each, and
//!    the ratio encrypted / clear (goal ≥ 0.85).
//! 2. **Full-chain scan** with every row's content opened: `Engine::scan`
//!    of each tenant's whole chain, rows/s, alternating (goal ≥ 0.7).
//! 3. **First page of a filtered window**: 100 rows of one actor over the
//!    whole window, and of an action prefix, p50 over alternating repeats
//!    (goal ≤ 1.2).
//!
//! Run: `cargo bench -p annal-benches --bench encryption` (about a minute;
//! `ANNAL_ENC_ROUNDS`, default 8 rounds a store). Without `--bench` (as
//! `cargo test --all-targets` runs it) it does one small round of each, as
//! a check that it works.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_benches::corpus_events;
use annal_engine::keyring::KeyringFile;
use annal_engine::{Engine, Event, Query};

const THREADS: usize = 4;
const BATCH: usize = 1024;

fn open(dir: &Path, keyring: Option<&Arc<KeyringFile>>) -> Engine {
    let mut b = Engine::builder(dir).signing_key(annal_benches::bench_key());
    if let Some(k) = keyring {
        b = b.key_provider(k.clone());
    }
    b.open().expect("open store")
}

/// One round: each thread appends `batches` batches to its tenant. Seconds.
fn append_round(engine: &Engine, events: &[Vec<Event>], round: usize, batches: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for (t, evs) in events.iter().enumerate() {
            let engine = engine.clone();
            s.spawn(move || {
                let tenant = format!("t{t}");
                for b in 0..batches {
                    let at = ((round * batches + b) * BATCH) % (evs.len() - BATCH);
                    engine.append(&tenant, &evs[at..at + BATCH]).expect("append");
                }
            });
        }
    });
    started.elapsed().as_secs_f64()
}

fn scan_all(engine: &Engine) -> (u64, f64) {
    let started = Instant::now();
    let mut rows = 0u64;
    for t in 0..THREADS {
        engine
            .scan(&format!("t{t}"), &Query::default(), |r| {
                rows += 1;
                std::hint::black_box(r.event.actor_id.len());
                ControlFlow::Continue(())
            })
            .expect("scan");
    }
    (rows, started.elapsed().as_secs_f64())
}

fn first_page(engine: &Engine, q: &Query) -> Duration {
    let started = Instant::now();
    let page = engine.query("t0", q, 100, None).expect("query");
    std::hint::black_box(page.records.len());
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds: usize = if full { std::env::var("ANNAL_ENC_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(8) } else { 1 };
    let batches = if full { 10 } else { 1 };
    let scratch = tempfile::tempdir().expect("temp dir");
    let (ring, _) = KeyringFile::init(&scratch.path().join("keyring.json"), 1).expect("keyring");
    let ring = Arc::new(ring);
    let sealed = open(&scratch.path().join("sealed"), Some(&ring));
    let clear = open(&scratch.path().join("clear"), None);
    let events: Vec<Vec<Event>> = (0..THREADS).map(|t| corpus_events(&format!("t{t}"), 20_000)).collect();
    let per_round = (THREADS * batches * BATCH) as f64;

    let (mut s_secs, mut c_secs) = (0.0, 0.0);
    for round in 0..rounds {
        // Who goes first alternates: the second runs beside the first's compactions.
        if round % 2 == 0 {
            s_secs += append_round(&sealed, &events, round, batches);
            c_secs += append_round(&clear, &events, round, batches);
        } else {
            c_secs += append_round(&clear, &events, round, batches);
            s_secs += append_round(&sealed, &events, round, batches);
        }
    }
    let (s_rate, c_rate) = (per_round * rounds as f64 / s_secs, per_round * rounds as f64 / c_secs);
    println!("| measurement | encrypted | clear | encrypted / clear | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| durable append, {THREADS} threads × batches of {BATCH}, events/s | {s_rate:.0} | {c_rate:.0} | {:.2} | ≥ 0.85 |",
        s_rate / c_rate
    );

    let (mut s_scan, mut c_scan) = ((0u64, 0.0), (0u64, 0.0));
    for round in 0..rounds.min(4) {
        let (a, b) = if round % 2 == 0 {
            (scan_all(&sealed), scan_all(&clear))
        } else {
            let b = scan_all(&clear);
            (scan_all(&sealed), b)
        };
        s_scan = (s_scan.0 + a.0, s_scan.1 + a.1);
        c_scan = (c_scan.0 + b.0, c_scan.1 + b.1);
    }
    let (s_rows, c_rows) = (s_scan.0 as f64 / s_scan.1, c_scan.0 as f64 / c_scan.1);
    println!("| full-chain scan, rows/s | {s_rows:.0} | {c_rows:.0} | {:.2} | ≥ 0.7 |", s_rows / c_rows);

    let actor = events[0][0].actor.id.clone();
    let prefix = events[0][0].action.split('.').next().unwrap_or("auth").to_string();
    for (name, q) in [
        ("first page of 100, one actor", Query { actor: Some(actor), ..Query::default() }),
        ("first page of 100, an action prefix", Query { action_prefix: Some(prefix), ..Query::default() }),
    ] {
        let reps = if full { 300 } else { 5 };
        let (mut s, mut c) = (Vec::new(), Vec::new());
        for i in 0..reps {
            if i % 2 == 0 {
                s.push(first_page(&sealed, &q));
                c.push(first_page(&clear, &q));
            } else {
                c.push(first_page(&clear, &q));
                s.push(first_page(&sealed, &q));
            }
        }
        let (s, c) = (median(s), median(c));
        println!(
            "| {name}, p50 ms | {:.3} | {:.3} | {:.2} | ≤ 1.2 |",
            s.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3,
            s.as_secs_f64() / c.as_secs_f64()
        );
    }
}
