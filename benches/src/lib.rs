//! Shared pieces of annal's benchmarks: realistic events, a raw-RocksDB
//! baseline, and a same-run ratio table.
//!
//! Every benchmark measures annal beside a baseline that does the storage
//! part of the same work directly on RocksDB, in the same process and run, and
//! prints the ratio. Absolute numbers on a shared 2-core machine move from run
//! to run; the ratio is what the goals in docs/BENCHMARKS.md are stated in.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use std::sync::Mutex;

use annal_engine::Event;

/// `n` events of the seeded corpus for `tenant`.
pub fn corpus_events(tenant: &str, n: usize) -> Vec<Event> {
    annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, tenant, n)
        .into_iter()
        .map(|v| Event::from_json_value(v).expect("corpus events are valid"))
        .collect()
}

/// A raw RocksDB with the same WAL and compression settings annal uses.
pub fn raw_rocksdb(path: &Path) -> rocksdb::DB {
    let mut o = rocksdb::Options::default();
    o.create_if_missing(true);
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    o.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
    o.set_max_background_jobs(2);
    rocksdb::DB::open(&o, path).expect("open baseline rocksdb")
}

/// (elements, bytes, time) summed per (group, measurement).
type Totals = BTreeMap<(String, String), (u64, u64, Duration)>;

/// Totals recorded by `iter_custom` bodies, printed as a table at the end.
#[derive(Debug, Default)]
pub struct Tally {
    rows: Mutex<Totals>,
}

impl Tally {
    /// Adds `elements` and `bytes` done in `took` under (group, name).
    pub fn add(&self, group: &str, name: &str, elements: u64, bytes: u64, took: Duration) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let e = rows.entry((group.to_string(), name.to_string())).or_default();
        e.0 += elements;
        e.1 += bytes;
        e.2 += took;
    }

    /// Prints, per group, each measurement's rate and `candidate / baseline`.
    pub fn print_ratios(&self, candidate: &str, baseline: &str) {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        println!("\n{:<28} {:>14} {:>10} {:>14} {:>10} {:>7}", "group", "annal ev/s", "MB/s", "baseline ev/s", "MB/s", "ratio");
        let groups: std::collections::BTreeSet<&String> = rows.keys().map(|(g, _)| g).collect();
        for g in groups {
            let rate = |name: &str| {
                rows.get(&(g.clone(), name.to_string())).map(|(n, b, d)| {
                    let s = d.as_secs_f64().max(1e-9);
                    (*n as f64 / s, *b as f64 / s / 1e6)
                })
            };
            if let (Some(c), Some(b)) = (rate(candidate), rate(baseline)) {
                println!("{:<28} {:>14.0} {:>10.1} {:>14.0} {:>10.1} {:>7.2}", g, c.0, c.1, b.0, b.1, c.0 / b.0);
            }
        }
    }
}
