//! Durable append throughput: annal vs raw RocksDB, same bytes, same run.
//!
//! Four writer threads, each appending batches of B events (B = 1, 64, 1024)
//! to its own tenant with `Durability::Sync`. The baseline: four threads
//! writing the same stored-record bytes under the same 16-byte keys straight
//! into RocksDB, B per WriteBatch, with `sync = true`; and in the same
//! WriteBatch exactly the index entries annal writes for that batch
//! (`annal_engine::index::group_entries`: per distinct value of time, actor,
//! action and its prefixes, target, session, key and outcome among the
//! batch's rows, one posting listing them), into a second column family
//! named `index`. annal's side includes
//! everything an append costs: validation, canonical encoding, hashing, the
//! hand-off to the writer, chain linking, index entries, the batch write and
//! the fsync.
//!
//! Run: `cargo bench -p annal-benches --bench append`. The tables at the end
//! give events/s, MB/s (stored record bytes) and annal / baseline: first for
//! criterion's sequential runs, then for an interleaved measurement (both
//! stores open, a step of each side per round, order alternating) that the
//! verdicts come from.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_benches::{corpus_events, raw_rocksdb_with, Tally};
use annal_engine::index::group_entries;
use annal_engine::record::{encode_event, StoredRecord};
use annal_engine::{Durability, Engine, Event, Hash, Record};
use criterion::{BenchmarkId, Criterion, Throughput};

const WRITERS: usize = 4;
/// Each writer cycles through this many events. Small enough that the events
/// stay in CPU cache, as they are in a service that appends an event it has
/// just built; with 16k rotating serde_json trees the bench would mostly
/// measure DRAM latency of its own fixture. The baseline cycles through the
/// same events' bytes.
const EVENTS_PER_WRITER: usize = 1024;

/// Per (batch size, first event of the batch): the index entries of that batch.
type GroupEntries = HashMap<(usize, usize), Vec<(Vec<u8>, Vec<u8>)>>;

struct Fixture {
    /// Per writer: its events.
    events: Vec<Arc<Vec<Event>>>,
    /// Per writer: the stored-record bytes of the same events.
    values: Vec<Arc<Vec<Vec<u8>>>>,
    /// Per writer, per (batch size, first event of the batch): the index
    /// entries annal writes for that batch in the writer's tenant (numbers
    /// 1 to 4, as the record keys), as if its seqs were 1 to the batch size.
    /// Every key ends in a seq, which the baseline shifts to the real ones
    /// as it writes; the values (gaps between seqs) do not change.
    index: Vec<Arc<GroupEntries>>,
}

impl Fixture {
    /// Takes the next `n` events of every writer's rotation: returns where
    /// they start and their stored bytes summed over all writers (both sides
    /// store exactly these bytes).
    fn take(&self, cursor: &mut usize, n: usize) -> (usize, u64) {
        let start = *cursor;
        *cursor = (start + n) % EVENTS_PER_WRITER;
        let bytes =
            self.values.iter().map(|v| (0..n).map(|i| v[(start + i) % EVENTS_PER_WRITER].len() as u64).sum::<u64>()).sum();
        (start, bytes)
    }
}

fn fixture() -> Fixture {
    let mut events = Vec::new();
    let mut values = Vec::new();
    let mut index = Vec::new();
    for w in 0..WRITERS {
        let evs = corpus_events(&format!("ws_bench_{w}"), EVENTS_PER_WRITER);
        let mut vals = Vec::with_capacity(evs.len());
        let mut rows = Vec::with_capacity(evs.len());
        for e in &evs {
            let event = e.validate(&Default::default()).expect("valid");
            let enc = encode_event(&event);
            let (leaf, head) = (Hash([1; 32]), Hash([2; 32]));
            vals.push(StoredRecord { recorded_at: 1, leaf, head, event: enc }.encode());
            rows.push(Record { seq: 0, recorded_at: 1, leaf, head, event });
        }
        let mut groups = HashMap::new();
        for batch in BATCHES {
            for start in (0..EVENTS_PER_WRITER).step_by(batch) {
                let mut group: Vec<Record> = rows[start..start + batch].to_vec();
                for (i, r) in group.iter_mut().enumerate() {
                    r.seq = i as u64 + 1;
                }
                groups.insert((batch, start), group_entries(w as u64 + 1, &group));
            }
        }
        events.push(Arc::new(evs));
        values.push(Arc::new(vals));
        index.push(Arc::new(groups));
    }
    Fixture { events, values, index }
}

/// One timed step of annal's side: every writer appends `iters` batches of
/// `batch` events to its own tenant. Returns the time and the stored bytes.
fn annal_step(engine: &Engine, fx: &Fixture, cursor: &mut usize, iters: usize, batch: usize) -> (Duration, u64) {
    let (start_at, bytes) = fx.take(cursor, iters * batch);
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let engine = engine.clone();
            let events = Arc::clone(&fx.events[w]);
            s.spawn(move || {
                let tenant = format!("ws_bench_{w}");
                for it in 0..iters {
                    // Batches never wrap: EVENTS_PER_WRITER is a multiple of every batch size.
                    let at = (start_at + it * batch) % EVENTS_PER_WRITER;
                    engine.append(&tenant, &events[at..at + batch]).expect("append");
                }
            });
        }
    });
    (started.elapsed(), bytes)
}

/// One timed step of the baseline: every writer writes `iters` batches of
/// the same stored bytes and index keys straight into RocksDB, synced.
/// `seq` is the last seq written so far (the same for every writer).
fn raw_step(
    db: &Arc<rocksdb::DB>,
    fx: &Fixture,
    cursor: &mut usize,
    seq: &mut u64,
    iters: usize,
    batch: usize,
) -> (Duration, u64) {
    let (start_at, bytes) = fx.take(cursor, iters * batch);
    let base_seq = *seq;
    *seq += (iters * batch) as u64;
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let db = Arc::clone(db);
            let values = Arc::clone(&fx.values[w]);
            let index = Arc::clone(&fx.index[w]);
            s.spawn(move || {
                let index_cf = db.cf_handle("index").expect("index column family");
                let mut wo = rocksdb::WriteOptions::default();
                wo.set_sync(true);
                let mut ikey = Vec::with_capacity(64);
                for it in 0..iters {
                    let mut wb = rocksdb::WriteBatch::default();
                    // Seqs of this batch are `shift + 1 ..= shift + batch`.
                    let shift = base_seq + (it * batch) as u64;
                    for i in 0..batch {
                        let n = it * batch + i;
                        let seq = (shift + i as u64 + 1).to_be_bytes();
                        let mut key = [0u8; 16];
                        key[..8].copy_from_slice(&(w as u64 + 1).to_be_bytes());
                        key[8..].copy_from_slice(&seq);
                        let at = (start_at + n) % EVENTS_PER_WRITER;
                        wb.put(key, &values[at]);
                    }
                    let first = (start_at + it * batch) % EVENTS_PER_WRITER;
                    for (k, v) in &index[&(batch, first)] {
                        let (head, tail) = k.split_at(k.len() - 8);
                        let seq = u64::from_be_bytes(tail.try_into().expect("8 bytes")) + shift;
                        ikey.clear();
                        ikey.extend_from_slice(head);
                        ikey.extend_from_slice(&seq.to_be_bytes());
                        wb.put_cf(&index_cf, &ikey, v);
                    }
                    db.write_opt(wb, &wo).expect("write");
                }
            });
        }
    });
    (started.elapsed(), bytes)
}

const BATCHES: [usize; 3] = [1, 64, 1024];

fn bench(c: &mut Criterion, tally: &Tally, fx: &Fixture) {
    for batch in BATCHES {
        let group_name = format!("append/batch={batch}");
        let mut group = c.benchmark_group(&group_name);
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
        // One iteration: every writer appends one batch.
        group.throughput(Throughput::Elements((WRITERS * batch) as u64));

        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::builder(dir.path()).durability(Durability::Sync).open().expect("open");
        group.bench_function(BenchmarkId::new("annal", batch), |b| {
            let mut cursor = 0usize;
            b.iter_custom(|iters| {
                let (took, bytes) = annal_step(&engine, fx, &mut cursor, iters as usize, batch);
                tally.add(&group_name, "annal", iters * (WRITERS * batch) as u64, bytes, took);
                took
            })
        });
        drop(engine);

        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(raw_rocksdb_with(dir.path(), &["index"]));
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("rocksdb", batch), |b| {
            let mut cursor = 0usize;
            b.iter_custom(|iters| {
                let (took, bytes) = raw_step(&db, fx, &mut cursor, &mut seq, iters as usize, batch);
                tally.add(&group_name, "rocksdb", iters * (WRITERS * batch) as u64, bytes, took);
                took
            })
        });
        group.finish();
    }
}

/// Rounds of the interleaved measurement per batch size.
const ROUNDS: usize = 8;

/// The measurement the verdicts come from. Criterion times all of annal's
/// iterations and then all of the baseline's, and on a shared machine the
/// load of other processes changes over seconds, so one side can be measured
/// under load and the other idle. Here both stores are open at once and each
/// round times one step of each side (about half a second of work), first
/// one then the other, alternating, so both see the same load.
fn interleaved(tally: &Tally, fx: &Fixture, small: bool) {
    for batch in BATCHES {
        let group_name = format!("append/batch={batch}");
        // About half a second of work a step at this machine's rates.
        let iters = match (small, batch) {
            (true, _) => 1,
            (false, 1) => 256,
            (false, 64) => 96,
            _ => 8,
        };
        let a_dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::builder(a_dir.path()).durability(Durability::Sync).open().expect("open");
        let b_dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(raw_rocksdb_with(b_dir.path(), &["index"]));
        let (mut a_cursor, mut b_cursor, mut seq) = (0usize, 0usize, 0u64);
        let events = (iters * WRITERS * batch) as u64;
        for round in 0..if small { 2 } else { ROUNDS } {
            let mut annal = || {
                let (took, bytes) = annal_step(&engine, fx, &mut a_cursor, iters, batch);
                tally.add(&group_name, "annal", events, bytes, took);
            };
            let mut raw = || {
                let (took, bytes) = raw_step(&db, fx, &mut b_cursor, &mut seq, iters, batch);
                tally.add(&group_name, "rocksdb", events, bytes, took);
            };
            if round % 2 == 0 {
                annal();
                raw();
            } else {
                raw();
                annal();
            }
        }
    }
}

// A hand-written main instead of `criterion_main!`, so the ratio tables can
// be printed after criterion's own report.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    // criterion's rule: without `--bench` (or with `--test`) it only tests.
    let small = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
    let fx = fixture();
    for batch in BATCHES {
        let keys: usize =
            fx.index.iter().flat_map(|w| w.iter().filter(|((b, _), _)| *b == batch)).map(|(_, entries)| entries.len()).sum();
        println!(
            "index keys a row at batch {batch}, written by both sides: {:.2}",
            keys as f64 / (WRITERS * EVENTS_PER_WRITER) as f64
        );
    }
    let tally = Tally::default();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &tally, &fx);
    c.final_summary();
    println!("\nSequential (criterion's runs above, one side after the other):");
    tally.print_ratios("append/", "annal", "rocksdb", "ev", None);
    let paired = Tally::default();
    interleaved(&paired, &fx, small);
    println!("\nInterleaved (a step of each side per round, order alternating): the verdicts");
    paired.print_ratios("append/", "annal", "rocksdb", "ev", Some(0.75));
}
