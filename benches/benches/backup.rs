//! Backups of a large store: how long a full backup takes and how many
//! bytes it writes, the incremental backup after more rows, the restore,
//! and what a backup does to the latency of appends made while it runs.
//!
//! The store is the query bench's 10M-event, 100-tenant store
//! (`annal_benches::query_store`, built once and cached), used through a
//! copy whose SST files are hard links (RocksDB never changes an SST file
//! in place, so the cache stays as it was). Printed:
//!
//! 1. backup 1 of the store: seconds and bytes written to the backup directory;
//! 2. 1,000,000 more events (10,000 a tenant), then backup 2: seconds and the
//!    bytes it added to the directory (the incremental part);
//! 3. restore of backup 2 into a new directory (`Backups::restore`: copy,
//!    checksums, ledger, retention run, rename): seconds;
//! 4. append latency: one thread appends single events (`Durability::Sync`)
//!    to tenant `live`, in rounds that alternate between no backup and a
//!    full backup into a fresh directory running beside it (its checkpoints
//!    made first and timed apart); p50/p99 of each and the p99 ratio (goal:
//!    at most 2). `ANNAL_BENCH_BACKUP_DIR` puts those backups elsewhere
//!    (another disk, a tmpfs), to tell the copy's writes from its reads.
//!
//! Run: `cargo bench -p annal-benches --bench backup` (the first run builds
//! the 10M store, about four minutes). `ANNAL_BENCH_EVENTS` and
//! `ANNAL_BENCH_TENANTS` change the store's size. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does the same on 20,000 events in
//! a temporary directory, as a check that it works.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_benches::corpus_events;
use annal_benches::query_store::{self, StoreSpec};
use annal_engine::{Backups, Engine};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn open(path: &Path) -> annal_engine::Result<Engine> {
    Engine::builder(path).signing_key(annal_benches::bench_key()).upgrade_without_backup().open()
}

/// Appends single events to `live` until `stop`, returning each latency.
fn append_until(engine: &Engine, stop: &AtomicBool, events: &[annal_engine::Event]) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        engine.append("live", std::slice::from_ref(&events[i % events.len()])).expect("append");
        out.push(started.elapsed());
        i += 1;
    }
    out
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scratch = tempfile::tempdir().expect("temp dir");
    let (store_dir, spec) = if full {
        let spec = StoreSpec::from_env_or(10_000_000, 100);
        let cached = query_store::cached(&spec, &query_store::cache_root());
        let copy = scratch.path().join("store");
        query_store::link_copy(&cached.db, &copy);
        (copy, spec)
    } else {
        let spec = StoreSpec { events: 20_000, tenants: 4, ..StoreSpec::from_env_or(20_000, 4) };
        let db = scratch.path().join("store");
        query_store::build(&spec, &db, false);
        (db, spec)
    };
    let engine = open(&store_dir).expect("open store");
    println!(
        "store: {} events in {} tenants, {:.0} MB on disk",
        spec.events,
        spec.tenants,
        mb(query_store::dir_bytes(&store_dir))
    );

    // A backup checkpoints every chain first, which verifies the rows since
    // its last checkpoint: the whole store the first time. Timed apart.
    let started = Instant::now();
    for t in engine.tenants() {
        engine.checkpoint(&t).expect("checkpoint");
    }
    println!("checkpoints of every chain first (every row verified): {:.2} s", started.elapsed().as_secs_f64());

    // 1. The first, full backup.
    let dir = scratch.path().join("backups");
    let backups = Backups::new(&dir);
    let started = Instant::now();
    let first = backups.create(&engine, None).expect("backup 1");
    let first_secs = started.elapsed().as_secs_f64();
    let first_bytes = query_store::dir_bytes(&dir);
    println!("backup 1: {first_secs:.2} s, {:.0} MB written ({} files)", mb(first_bytes), first.backup.files);

    // 2. More rows, then the incremental backup.
    let more_per_tenant = if full { 10_000 } else { 500 };
    let started = Instant::now();
    for t in spec.tenant_names() {
        for chunk in corpus_events(&t, more_per_tenant).chunks(1000) {
            engine.append(&t, chunk).expect("append");
        }
    }
    let added = more_per_tenant * spec.tenants as usize;
    println!("appended {added} more events in {:.1} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let second = backups.create(&engine, None).expect("backup 2");
    let second_secs = started.elapsed().as_secs_f64();
    let grown = query_store::dir_bytes(&dir) - first_bytes;
    println!(
        "backup 2 (incremental): {second_secs:.2} s, {:.0} MB added to the directory for a backup of {:.0} MB",
        mb(grown),
        mb(second.backup.bytes)
    );

    // 3. Restore of backup 2.
    let target = scratch.path().join("restored");
    let started = Instant::now();
    let restored = backups.restore(None, &target, &|p: &Path| open(p)).expect("restore");
    println!(
        "restore of backup {}: {:.2} s ({:.0} MB)",
        restored.backup.id,
        started.elapsed().as_secs_f64(),
        mb(query_store::dir_bytes(&target))
    );
    std::fs::remove_dir_all(&target).unwrap();

    // 4. Append latency with and without a backup beside it, interleaved.
    // A backup first checkpoints every chain (verifying the rows since the
    // last checkpoint), then copies; the checkpoints are made apart here so
    // that their share of each backup's time is printed.
    let events = corpus_events("live", 1000);
    let rounds = if full { 3 } else { 1 };
    let quiet_for = Duration::from_secs_f64(if full { 10.0 } else { 0.3 });
    let backup_root = std::env::var_os("ANNAL_BENCH_BACKUP_DIR").map_or_else(|| scratch.path().to_path_buf(), Into::into);
    let mut quiet = Vec::new();
    let mut during = Beside::default();
    for round in 0..rounds {
        quiet.extend(appends_while(&engine, &events, || std::thread::sleep(quiet_for)));
        let fresh = Backups::new(backup_root.join(format!("round{round}")));
        let started = Instant::now();
        let mut copy_from = started;
        during.latencies.extend(appends_while(&engine, &events, || {
            for t in engine.tenants() {
                engine.checkpoint(&t).expect("checkpoint");
            }
            copy_from = Instant::now();
            fresh.create(&engine, None).expect("backup during appends");
            during.secs.push(started.elapsed().as_secs_f64());
        }));
        during.checkpointing.push(copy_from - started);
        std::fs::remove_dir_all(fresh.dir()).unwrap();
    }
    quiet.sort();
    during.latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (qp99, dp99) = (percentile(&quiet, 0.99), percentile(&during.latencies, 0.99));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let checkpointing: Vec<f64> = during.checkpointing.iter().map(Duration::as_secs_f64).collect();
    println!("appends without a backup: {} at p50 {:.2} ms, p99 {:.2} ms", quiet.len(), ms(percentile(&quiet, 0.5)), ms(qp99));
    println!(
        "appends during {rounds} full backups ({:.1} s each, {:.1} s of it checkpointing): {} at p50 {:.2} ms, p99 {:.2} ms",
        mean(&during.secs),
        mean(&checkpointing),
        during.latencies.len(),
        ms(percentile(&during.latencies, 0.5)),
        ms(dp99)
    );
    println!("p99 during / without: {:.2} (goal <= 2)", dp99.as_secs_f64() / qp99.as_secs_f64().max(1e-9));
}

/// The appends measured beside backups, and the backups' times.
#[derive(Default)]
struct Beside {
    latencies: Vec<Duration>,
    /// Each backup's seconds, checkpoints included.
    secs: Vec<f64>,
    /// How long each backup's checkpoints took, before its copy.
    checkpointing: Vec<Duration>,
}

/// Single appends to `live` on another thread for as long as `work` runs
/// here, returning each append's latency.
fn appends_while(engine: &Engine, events: &[annal_engine::Event], work: impl FnOnce()) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let (e, s) = (engine.clone(), Arc::clone(&stop));
    let ev = events.to_vec();
    let writer = std::thread::spawn(move || append_until(&e, &s, &ev));
    work();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap()
}
