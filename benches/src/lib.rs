//! Shared pieces of annal's benchmarks: realistic events, a raw-RocksDB
//! baseline, the query benchmark's generated store, and same-run ratio tables.
//!
//! Every benchmark measures annal beside a baseline that does the storage
//! part of the same work directly on RocksDB, in the same process and run, and
//! prints the ratio. Absolute numbers on a shared 2-core machine move from run
//! to run; the ratio is what the goals in docs/BENCHMARKS.md are stated in.

/// The allocator the `annal` binary ships with, so that every benchmark
/// measures annal as it runs there. RocksDB's own allocations are C++'s and
/// do not go through it, on either side.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use annal_engine::Event;

pub mod query_store;

/// The checkpoint signing key of every store the benches make (a bench's
/// stores are scratch; annal never makes a key up, so one is given).
pub const BENCH_SEED: [u8; 32] = [0xbe; 32];

/// [`BENCH_SEED`] as a key source.
pub fn bench_key() -> annal_engine::KeySource {
    annal_engine::KeySource::Seed(BENCH_SEED)
}

/// [`BENCH_SEED`] as `ANNAL_SIGNING_KEY` takes it, for `annal serve` in a child process.
pub fn bench_seed_hex() -> String {
    "be".repeat(32)
}

/// `n` events of the seeded corpus for `tenant`.
pub fn corpus_events(tenant: &str, n: usize) -> Vec<Event> {
    annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, tenant, n)
        .into_iter()
        .map(|v| Event::from_json_value(v).expect("corpus events are valid"))
        .collect()
}

/// A raw RocksDB with the same WAL and compression settings annal uses.
pub fn raw_rocksdb(path: &Path) -> rocksdb::DB {
    raw_rocksdb_with(path, &[])
}

/// [`raw_rocksdb`] with column families `cfs` besides the default one,
/// each LZ4-compressed as annal's are.
pub fn raw_rocksdb_with(path: &Path, cfs: &[&str]) -> rocksdb::DB {
    let mut o = rocksdb::Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    o.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
    o.set_max_background_jobs(2);
    let cfs: Vec<(&str, rocksdb::Options)> = cfs.iter().map(|&name| (name, o.clone())).collect();
    rocksdb::DB::open_cf_with_opts(&o, path, cfs).expect("open baseline rocksdb")
}

/// What one (group, measurement) did in total.
#[derive(Debug, Default, Clone, Copy)]
struct Total {
    /// Operations timed (queries, for latency tables).
    ops: u64,
    /// Elements handled (events, rows).
    elements: u64,
    /// Bytes handled.
    bytes: u64,
    took: Duration,
}

/// Totals per (group, measurement).
type Totals = BTreeMap<(String, String), Total>;

/// Totals recorded by `iter_custom` bodies, printed as a table at the end.
#[derive(Debug, Default)]
pub struct Tally {
    rows: Mutex<Totals>,
}

fn goal_verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

impl Tally {
    /// Adds `elements` and `bytes` done in `took` under (group, name).
    pub fn add(&self, group: &str, name: &str, elements: u64, bytes: u64, took: Duration) {
        self.add_ops(group, name, 0, elements, bytes, took);
    }

    /// Adds `ops` operations that handled `elements` and `bytes` in `took`.
    pub fn add_ops(&self, group: &str, name: &str, ops: u64, elements: u64, bytes: u64, took: Duration) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let e = rows.entry((group.to_string(), name.to_string())).or_default();
        e.ops += ops;
        e.elements += elements;
        e.bytes += bytes;
        e.took += took;
    }

    fn groups(rows: &Totals, prefix: &str) -> Vec<String> {
        let set: BTreeSet<&String> = rows.keys().map(|(g, _)| g).filter(|g| g.starts_with(prefix)).collect();
        set.into_iter().cloned().collect()
    }

    /// Prints, per group starting with `prefix`, each measurement's rate in
    /// `unit`/s and MB/s and `candidate / baseline` (higher is better), with
    /// the verdict against `goal` (the least acceptable ratio) if given.
    pub fn print_ratios(&self, prefix: &str, candidate: &str, baseline: &str, unit: &str, goal: Option<f64>) {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let (c_head, b_head) = (format!("annal {unit}/s"), format!("baseline {unit}/s"));
        let goal_head = goal.map(|g| format!("goal >= {g}")).unwrap_or_default();
        println!("\n{:<28} {:>16} {:>8} {:>16} {:>8} {:>7} {:>12}", "group", c_head, "MB/s", b_head, "MB/s", "ratio", goal_head);
        for g in Self::groups(&rows, prefix) {
            let rate = |name: &str| {
                rows.get(&(g.clone(), name.to_string())).map(|t| {
                    let s = t.took.as_secs_f64().max(1e-9);
                    (t.elements as f64 / s, t.bytes as f64 / s / 1e6)
                })
            };
            if let (Some(c), Some(b)) = (rate(candidate), rate(baseline)) {
                let ratio = c.0 / b.0;
                let verdict = goal.map(|goal| goal_verdict(ratio >= goal)).unwrap_or_default();
                println!("{:<28} {:>16.0} {:>8.1} {:>16.0} {:>8.1} {:>7.2} {:>12}", g, c.0, c.1, b.0, b.1, ratio, verdict);
            }
        }
    }

    /// Prints, per group starting with `prefix`, the mean time of one
    /// operation of `candidate` and `baseline`, the rows and kB each read per
    /// operation, and `candidate time / baseline time` (lower is better) with
    /// the verdict against `goal` (the largest acceptable ratio). `extra`, if
    /// given, is a further reference measurement shown beside them with the
    /// candidate's ratio to it.
    pub fn print_latencies(&self, prefix: &str, candidate: &str, baseline: &str, extra: Option<&str>, goal: Option<f64>) {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let per_op = |g: &String, name: &str| {
            rows.get(&(g.clone(), name.to_string())).filter(|t| t.ops > 0).map(|t| {
                let n = t.ops as f64;
                (t.took.as_secs_f64() * 1e6 / n, t.elements as f64 / n, t.bytes as f64 / n / 1e3)
            })
        };
        let extra_head = extra.map(|e| format!("{e} µs")).unwrap_or_default();
        println!(
            "\n{:<30} {:>9} {:>6} {:>7} {:>11} {:>6} {:>7} {:>7} {:>10} {:>14} {:>8}",
            "group",
            "annal µs",
            "rows",
            "kB",
            "baseline µs",
            "rows",
            "kB",
            "ratio",
            goal.map(|g| format!("goal <= {g}")).unwrap_or_default(),
            extra_head,
            if extra.is_some() { "ratio" } else { "" }
        );
        for g in Self::groups(&rows, prefix) {
            let (Some(c), Some(b)) = (per_op(&g, candidate), per_op(&g, baseline)) else { continue };
            let ratio = c.0 / b.0;
            let (x_us, x_ratio) = match extra.and_then(|e| per_op(&g, e)) {
                Some(x) => (format!("{:.1}", x.0), format!("{:.2}", c.0 / x.0)),
                None => (String::new(), String::new()),
            };
            println!(
                "{:<30} {:>9.1} {:>6.1} {:>7.1} {:>11.1} {:>6.1} {:>7.1} {:>7.2} {:>10} {:>14} {:>8}",
                g,
                c.0,
                c.1,
                c.2,
                b.0,
                b.1,
                b.2,
                ratio,
                goal.map(|g| goal_verdict(ratio <= g)).unwrap_or_default(),
                x_us,
                x_ratio
            );
        }
    }
}
