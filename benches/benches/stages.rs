//! Where the CPU time of an append goes: µs of CPU per event for each stage
//! of the ingest path, measured one stage at a time over the same events.
//!
//! The events are the seeded corpus of one tenant as NDJSON lines, what a
//! `POST /v1/events` body holds. Stages that run on the caller's thread
//! (JSON parse, validation and canonical JSON, redaction, encoding, the
//! leaf hash, index entries) are timed with that thread's CPU clock; stages
//! that run on the engine's threads and RocksDB's (the writer and the
//! batch write, the WAL sync, flushing and compacting afterwards) with the
//! whole process's CPU clock, while nothing else runs in it. Appends go in
//! batches of [`BATCH`] from one thread, so the figures are the work per
//! event, not a throughput under concurrency.
//!
//! - **parse**: `Event::from_json_slice` of every line;
//! - **prepare, redaction off**: `Engine::prepare` under `Policy::off`:
//!   validation, canonical JSON of diff and metadata, encoding, leaf hash,
//!   index template — with **encoding** and **leaf hash** also timed alone;
//! - **index entries, alone**: the index keys and values of the events as
//!   the writer lays them out (template and keys: part of prepare and of the
//!   writer, so not summed);
//! - **redaction**: `Engine::prepare` under the default policy, minus the above;
//! - **writer and RocksDB write**: `Engine::append_prepared` with
//!   `Durability::Buffered` (seqs, links, the batch, the WAL write, the
//!   memtable inserts);
//! - **WAL sync**: the same with `Durability::Sync`, minus the above (the
//!   CPU of `fsync`; its wall time is printed beside);
//! - **flush and compaction afterwards**: writing the memtables to SST files
//!   and compacting every column family to the last level, once (timed from
//!   reopening the store, so replaying its WAL is counted too).
//!
//! Last, **in-process ingest as a service would do it**: [`WRITERS`]
//! threads, each appending the corpus to its own tenant with
//! `Engine::append` in batches of [`BATCH`], `Durability::Sync`: events/s,
//! and the process's CPU (user and system, every thread, RocksDB's
//! background work included) per event. Run it under `taskset -c 0` and
//! `taskset -c 0,1` to see how it scales from one core to two.
//!
//! The HTTP layer (reading the body, routing, the response) is measured by
//! `benches/peer` as the server process's CPU per event.
//!
//! Run: `cargo bench -p annal-benches --bench stages` (100,000 events;
//! `ANNAL_STAGE_EVENTS` changes it). Under `cargo test` it runs 2,000 once.
//! 100,000 events are a third of a second of in-process ingest, over before
//! compaction has much to do, so its CPU an event is the short-run figure;
//! `ANNAL_STAGE_EVENTS=2000000` (about two and a half minutes) gives the
//! steady state, compaction included as it runs (docs/BENCHMARKS.md).
//! `ANNAL_STAGE_ONLY_INGEST=1` runs the in-process ingest alone (about 25 s
//! at 2,000,000 events), and prints `ingest starts` on stderr when the
//! timed part begins, for a profiler to attach; `ANNAL_STAGE_KEEP=1` keeps
//! its store and prints where.

use std::time::{Duration, Instant};

use annal_engine::index::group_entries;
use annal_engine::record::encode_event;
use annal_engine::{chain, Durability, Engine, Event, Policy, RawStore, Record};
use rustix::time::{clock_gettime, ClockId};

// The benches' shared library (named below, so linked in) sets the
// allocator the `annal` binary ships with, mimalloc.

/// Events per append.
const BATCH: usize = 1024;
/// Appending threads of the in-process ingest.
const WRITERS: usize = 4;

fn cpu(clock: ClockId) -> Duration {
    let t = clock_gettime(clock);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f`, returning its result and the CPU time `clock` counted meanwhile.
fn timed<T>(clock: ClockId, f: impl FnOnce() -> T) -> (T, Duration) {
    let start = cpu(clock);
    let out = f();
    (out, cpu(clock) - start)
}

/// [`timed`] on this thread's clock, the least of three runs: a shared
/// machine only ever adds time (caches, other processes).
fn least<T>(mut f: impl FnMut() -> T) -> (T, Duration) {
    let (mut out, mut best) = timed(ClockId::ThreadCPUTime, &mut f);
    for _ in 0..2 {
        let (o, t) = timed(ClockId::ThreadCPUTime, &mut f);
        if t < best {
            (out, best) = (o, t);
        }
    }
    (out, best)
}

struct Stage {
    name: &'static str,
    cpu: Duration,
    note: String,
    /// Counted in the total (false for a breakdown of another stage).
    summed: bool,
}

impl Stage {
    fn new(name: &'static str, cpu: Duration, note: impl Into<String>) -> Stage {
        Stage { name, cpu, note: note.into(), summed: true }
    }

    fn part(name: &'static str, cpu: Duration, note: impl Into<String>) -> Stage {
        Stage { name, cpu, note: note.into(), summed: false }
    }
}

fn engine(dir: &std::path::Path, durability: Durability, policy: Policy) -> Engine {
    Engine::builder(dir).durability(durability).default_policy(policy).open().expect("open store")
}

/// Appends `events` to a fresh store in batches of [`BATCH`], the events
/// prepared beforehand; returns the process CPU and wall time of the appends.
fn write_all(events: &[Event], durability: Durability) -> (Duration, Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = engine(dir.path(), durability, Policy::default());
    let prepared: Vec<_> = events.iter().map(|ev| e.prepare("ws_stage", ev).expect("valid")).collect();
    let mut batches = Vec::new();
    let mut it = prepared.into_iter().peekable();
    while it.peek().is_some() {
        batches.push(it.by_ref().take(BATCH).collect::<Vec<_>>());
    }
    let wall = Instant::now();
    let (_, cpu) = timed(ClockId::ProcessCPUTime, || {
        for b in batches {
            e.append_prepared("ws_stage", b).expect("append");
        }
    });
    let wall = wall.elapsed();
    drop(e);
    (cpu, wall, dir)
}

/// [`WRITERS`] threads appending `n` events in all, each to its own tenant,
/// in batches of [`BATCH`]: events/s and process CPU µs an event.
fn ingest(n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), Durability::Sync, Policy::default());
    let streams: Vec<Vec<Event>> =
        (0..WRITERS).map(|w| annal_benches::corpus_events(&format!("ws_ingest_{w}"), n / WRITERS)).collect();
    // A profiler attaches after this line: the corpus is built by then.
    eprintln!("ingest starts");
    let wall = Instant::now();
    let (_, cpu) = timed(ClockId::ProcessCPUTime, || {
        std::thread::scope(|s| {
            for (w, events) in streams.iter().enumerate() {
                let engine = engine.clone();
                s.spawn(move || {
                    for batch in events.chunks(BATCH) {
                        engine.append(&format!("ws_ingest_{w}"), batch).expect("append");
                    }
                });
            }
        });
    });
    let wall = wall.elapsed();
    drop(engine);
    // The store's files and RocksDB's LOG (its compaction statistics), to read afterwards.
    if std::env::var("ANNAL_STAGE_KEEP").is_ok() {
        eprintln!("kept {}", dir.keep().display());
    }
    let events = (n / WRITERS * WRITERS) as f64;
    (events / wall.as_secs_f64(), cpu.as_secs_f64() * 1e6 / events)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize =
        std::env::var("ANNAL_STAGE_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(if full { 100_000 } else { 2_000 });
    if std::env::var("ANNAL_STAGE_ONLY_INGEST").is_ok() {
        let (rate, cpu) = ingest(n);
        println!("in-process ingest: {rate:.0} events/s, {cpu:.2} µs of CPU an event");
        return;
    }
    let lines: Vec<Vec<u8>> = annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, "ws_stage", n)
        .into_iter()
        .map(|v| v.to_string().into_bytes())
        .collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut stages = Vec::new();

    let (events, parse) = least(|| lines.iter().map(|l| Event::from_json_slice(l).expect("valid")).collect::<Vec<_>>());
    stages.push(Stage::new("JSON parse", parse, format!("{:.0} bytes of NDJSON an event", bytes as f64 / n as f64)));

    let dir = tempfile::tempdir().expect("tempdir");
    let (prepared_off, off) = {
        let e = engine(dir.path(), Durability::Sync, Policy::off());
        least(|| events.iter().map(|ev| e.prepare("ws_stage", ev).expect("valid")).collect::<Vec<_>>().len())
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, on) = {
        let e = engine(dir.path(), Durability::Sync, Policy::default());
        least(|| events.iter().map(|ev| e.prepare("ws_stage", ev).expect("valid")).collect::<Vec<_>>().len())
    };
    assert_eq!(prepared_off, n);
    let limits = annal_engine::Limits::default();
    let records: Vec<_> = events.iter().map(|e| e.validate(&limits).expect("valid")).collect();
    let (encoded, encode) = least(|| records.iter().map(encode_event).collect::<Vec<_>>());
    let (_, hash) = least(|| encoded.iter().map(|b| chain::leaf_hash(b)).collect::<Vec<_>>().len());
    let rows: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, event)| Record { seq: i as u64 + 1, recorded_at: 1, leaf: Default::default(), head: Default::default(), event })
        .collect();
    let (keys, index) = least(|| rows.chunks(BATCH).map(|c| group_entries(1, c).len()).sum::<usize>());
    stages.push(Stage::new("prepare (redaction off)", off, "validation, canonical JSON, encoding, hash, index template"));
    stages.push(Stage::part("  of which encoding (bincode)", encode, ""));
    stages.push(Stage::part("  of which leaf hash (BLAKE3)", hash, ""));
    stages.push(Stage::new("redaction (default policy)", on.saturating_sub(off), "prepare under it, minus the above"));
    stages.push(Stage::part(
        "index entries, alone",
        index,
        format!("{:.2} keys an event at {BATCH} a group", keys as f64 / n as f64),
    ));
    let (buffered, buffered_wall, _d1) = write_all(&events, Durability::Buffered);
    let (synced, synced_wall, store) = write_all(&events, Durability::Sync);
    stages.push(Stage::new(
        "writer and RocksDB write",
        buffered,
        format!("all threads; {:.0} events/s wall", n as f64 / buffered_wall.as_secs_f64()),
    ));
    stages.push(Stage::new(
        "WAL sync",
        synced.saturating_sub(buffered),
        format!("{:.0} events/s wall with it", n as f64 / synced_wall.as_secs_f64()),
    ));
    // Opening replays the WAL into memtables and writes them to L0 files
    // (RocksDB flushes what it recovered): the flush a running store does
    // when its write buffer fills, plus the replay.
    let (raw, compaction) = timed(ClockId::ProcessCPUTime, || {
        let raw = RawStore::open(store.path()).expect("reopen");
        raw.flush().expect("flush");
        raw.compact().expect("compact");
        raw
    });
    drop(raw);
    stages.push(Stage::new(
        "flush and compaction afterwards",
        compaction,
        "all threads: WAL replay, flush, compaction to the last level, once",
    ));

    let (rate, cpu_per_event) = ingest(n);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!("CPU per event, {n} events of the seeded corpus, {BATCH} an append, one appending thread:");
    println!("{:<34} {:>9}  note", "stage", "µs/event");
    let mut total = Duration::ZERO;
    for s in &stages {
        if s.summed {
            total += s.cpu;
        }
        println!("{:<34} {:>9.2}  {}", s.name, per(s.cpu), s.note);
    }
    println!("{:<34} {:>9.2}  sum of the stages above", "total (engine side)", per(total));
    println!();
    println!(
        "in-process ingest, {WRITERS} threads x {BATCH} an append, Durability::Sync, {} cores: {rate:.0} events/s, {cpu_per_event:.2} µs of CPU an event",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
