//! Retention: how fast a run deletes, and what it does to the latency of
//! appends made while it runs.
//!
//! One engine on a manual clock. Setup: 1,000,000 corpus events in tenant
//! `old` on the free tier (90 days), recorded at T0; then the clock moves to
//! T0 + 91 days, so all of them are due. Baseline: one thread appends single
//! events (`Durability::Sync`, the latency-sensitive case) to tenant `live`
//! for 4 s before the run and 4 s after it, recording each append's latency.
//! During the run (default options: batches, idling between them,
//! compaction of the deleted ranges), in the same process and store, the
//! same thread goes on appending and its latencies are recorded too.
//! Printed: rows deleted per second, p50/p99/max append latency without the
//! run, during it, and split into its deleting and compacting phases, and
//! the p99 ratio (goal: at most 2).
//!
//! Run: `cargo bench -p annal-benches --bench retention`. Without `--bench`
//! (as `cargo test --all-targets` runs it) it does the same with 20,000 rows
//! and a short baseline, as a check that it works.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_benches::corpus_events;
use annal_engine::{Actor, ActorType, Engine, ManualClock, Retention, RunOptions, Tier};

const DAY: u64 = 86_400 * 1_000_000_000;
const T0: u64 = 1_767_225_600_000_000_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Appends one event at a time until `stop`, returning when each append
/// started (from `t0`) and its latency.
fn append_until(engine: &Engine, stop: &AtomicBool, events: &[annal_engine::Event], t0: Instant) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        engine.append("live", std::slice::from_ref(&events[i % events.len()])).expect("append");
        out.push((started - t0, started.elapsed()));
        i += 1;
    }
    out
}

fn sorted(l: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut v: Vec<Duration> = l.collect();
    v.sort();
    v
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rows, baseline_for) = if full { (1_000_000u64, Duration::from_secs(8)) } else { (20_000, Duration::from_millis(300)) };
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(dir.path()).clock(clock.clone()).signing_key(annal_benches::bench_key()).open().expect("open");
    let ops = Actor { kind: ActorType::User, id: "u_ops".into(), name: None, email: None, on_behalf_of: None };
    engine.set_retention("old", Retention::Tier(Tier::Free), ops).expect("set");
    // Without idempotency keys: cycling through the corpus would otherwise
    // replay earlier rows instead of writing new ones.
    let unkeyed = |mut events: Vec<annal_engine::Event>| {
        events.iter_mut().for_each(|e| e.idempotency_key = None);
        events
    };
    let corpus = unkeyed(corpus_events("old", 10_000));
    let setup = Instant::now();
    let mut left = rows;
    while left > 0 {
        let n = left.min(corpus.len() as u64) as usize;
        for chunk in corpus[..n].chunks(5_000) {
            engine.append("old", chunk).expect("setup append");
        }
        left -= n as u64;
    }
    let live = unkeyed(corpus_events("live", 1_000));
    engine.append("live", &live[..10]).expect("live tenant");
    eprintln!("setup: {rows} rows in {:.1} s", setup.elapsed().as_secs_f64());
    // A store under the default checkpoint policy has a checkpoint at most
    // 10,000 rows behind; the run's own checkpoint before its first
    // deletion then verifies only the rows since, as here.
    engine.checkpoint("old").expect("checkpoint");
    clock.set(T0 + 91 * DAY);

    // Baseline: appends alone, before and after the run (the machine is
    // shared: load from elsewhere then weighs on both sides alike).
    let alone = || {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let h = s.spawn(|| append_until(&engine, &stop, &live, Instant::now()));
            std::thread::sleep(baseline_for / 2);
            stop.store(true, Ordering::SeqCst);
            h.join().expect("appender").into_iter().map(|(_, l)| l).collect::<Vec<_>>()
        })
    };
    let mut baseline = alone();

    // The same appends while a run deletes every due row.
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let (report, timed) = std::thread::scope(|s| {
        let h = s.spawn(|| append_until(&engine, &stop, &live, t0));
        let report = engine.run_retention(&RunOptions::default()).expect("run");
        stop.store(true, Ordering::SeqCst);
        (report, h.join().expect("appender"))
    });
    baseline.extend(alone());
    let baseline = sorted(baseline.into_iter());
    let deleting = report.elapsed - report.compaction;
    let during = sorted(timed.iter().map(|&(_, l)| l));
    let while_deleting = sorted(timed.iter().filter(|(at, _)| *at < deleting).map(|&(_, l)| l));
    let while_compacting = sorted(timed.iter().filter(|(at, _)| *at >= deleting).map(|&(_, l)| l));
    let deleted = report.rows;
    assert_eq!(deleted, rows + 1, "every event and the set row");
    assert!(engine.verify("old", ..).expect("verify").is_intact());
    assert!(engine.verify("live", ..).expect("verify").is_intact());

    let secs = report.elapsed.as_secs_f64();
    println!();
    println!(
        "retention run: {deleted} rows deleted in {secs:.2} s = {:.0} rows/s ({:.2} s of it compaction)",
        deleted as f64 / secs,
        report.compaction.as_secs_f64()
    );
    println!("| appends (1 event, sync) | count | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (name, l) in [
        ("without a run (before and after)", &baseline),
        ("during the run", &during),
        ("… while deleting", &while_deleting),
        ("… while compacting", &while_compacting),
    ] {
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            l.len(),
            percentile(l, 0.5).as_secs_f64() * 1e3,
            percentile(l, 0.99).as_secs_f64() * 1e3,
            l.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    }
    let ratio = percentile(&during, 0.99).as_secs_f64() / percentile(&baseline, 0.99).as_secs_f64().max(1e-9);
    println!("p99 during / without: {ratio:.2} (goal <= 2: {})", if ratio <= 2.0 { "met" } else { "NOT met" });
}
