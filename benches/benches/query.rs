//! Query latency and scan rate: annal vs raw RocksDB over the same store,
//! same run.
//!
//! **The store.** 10,000,000 events over 100 tenants (100,000 each) of the
//! seeded corpus, `recorded_at` spread over 400 days with every tenant's rows
//! interleaved in time; built through the engine on the first run and cached
//! under `target/bench-stores/` (see `annal_benches::query_store`).
//! `ANNAL_BENCH_EVENTS` and `ANNAL_BENCH_TENANTS` change the size. Without
//! `--bench` (as `cargo test --all-targets` runs it) it builds a tiny store of
//! 20,000 events over 10 tenants in a temporary directory and runs every
//! query once, checking each answer.
//!
//! **annal's side.** The latency of the first page of 100
//! (`Engine::query(tenant, &q, 100, None)`, decoded `Record`s included) for
//! (a) a one-day window, (b) one actor over a 365-day window, (c) the action
//! prefix `iam` over a 30-day window, (d) one rare `key_ref` over the whole
//! chain (no window); and the row rate of `Engine::scan` (the export path:
//! each row decoded in place and lent to a visitor that reads every field)
//! over a window holding a tenant's whole chain, with the owned
//! `Engine::query_stream` beside it as a diagnostic (`annal_owned`). Each query kind rotates through up
//! to 400 cases (four per tenant, all tenants), in a fixed order, so that
//! most pages are not served from blocks the previous iteration left in the
//! block cache. Parameters are taken from the stored rows, so that every
//! case returns rows: the day of a row, a user actor of a row with the year
//! that starts on that row's day, the month that starts on the day of an
//! `iam.*` row, the `key_ref` of an `api.key.create` row (such a key occurs
//! once). Before the runs, each kind's `page.explain` is printed (which index
//! drove the walk, rows examined and returned).
//!
//! **The baseline.** The same store's files opened a second time, read-only,
//! with the raw `rocksdb` crate (`DB::open_cf_descriptors_read_only`) and the
//! same block-cache size and table options annal's storage layer sets, while
//! the engine keeps the store open (the build settles the LSM tree, so nothing
//! rewrites files under the read-only handle). For each case it creates a
//! bounded raw iterator on the `records` column family, seeks to the key
//! (tenant number, seq of the first row annal's page returned) and reads as
//! many consecutive keys as that page held, touching every value: the same
//! number of stored rows, of about the same size, from the same part of the
//! tenant's chain, without index, planning or decoding. For the scan it reads
//! the tenant's whole `records` range, as many keys as the stream returned.
//! Ratios: first page, annal time / baseline time (goal at most 3); scan,
//! annal rows/s / baseline rows/s (goal at least 0.5).
//!
//! A third, diagnostic measurement for the index-driven kinds (b, c, d):
//! `rocksdb_get` fetches exactly the rows annal returned by one batched
//! MultiGet on the raw handle. The rows an index names are scattered over the
//! chain, each usually in its own data block; this shows how much of annal's
//! time that alone costs.
//!
//! Run: `cargo bench -p annal-benches --bench query`. The tables at the end
//! give the figures recorded in docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use annal_benches::query_store::{self, annal_column_families, annal_db_options, StoreSpec, BLOCK_CACHE_BYTES, DAY_NS, T0_NS};
use annal_benches::Tally;
use annal_engine::record::TenantEntry;
use annal_engine::{ActorType, Engine, Query, Record, RecordRef};
use criterion::{BenchmarkId, Criterion, Throughput};

/// Rows in a page.
const PAGE: usize = 100;
/// Cases per tenant for each first-page query kind.
const PER_TENANT: u64 = 4;
/// Tenants whose whole chains the scan rotates through.
const SCAN_TENANTS: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Day,
    ActorYear,
    PrefixMonth,
    RareKey,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Day, Kind::ActorYear, Kind::PrefixMonth, Kind::RareKey];

    fn group(self) -> &'static str {
        match self {
            Kind::Day => "first_page/a_day",
            Kind::ActorYear => "first_page/b_actor_year",
            Kind::PrefixMonth => "first_page/c_prefix_month",
            Kind::RareKey => "first_page/d_rare_key_ref",
        }
    }
}

/// One query of the rotation, with what annal answered when it was chosen.
#[derive(Debug, Clone)]
struct Case {
    tenant: String,
    /// The tenant's internal number (the first 8 bytes of its keys).
    number: u64,
    query: Query,
    /// Seqs of the rows on the first page.
    seqs: Vec<u64>,
    /// Stored bytes of those rows.
    bytes: u64,
}

fn record_key(number: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&number.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The store's files opened read-only with the options annal's storage
/// layer sets (block cache size, bloom filters, index and filter blocks in
/// the cache for `records`), so both sides read through equal caches.
fn open_baseline(path: &Path) -> rocksdb::DB {
    let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
    rocksdb::DB::open_cf_descriptors_read_only(&annal_db_options(), path, annal_column_families(&cache), false)
        .expect("open the store read-only for the baseline")
}

fn records_cf(db: &rocksdb::DB) -> &rocksdb::ColumnFamily {
    db.cf_handle("records").expect("records column family")
}

/// The baseline's read: `n` consecutive records from (tenant, seq); returns rows and bytes.
fn raw_scan(db: &rocksdb::DB, number: u64, seq: u64, n: usize) -> (u64, u64) {
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_lower_bound(record_key(number, seq).to_vec());
    ro.set_iterate_upper_bound(record_key(number + 1, 0).to_vec());
    let mut it = db.raw_iterator_cf_opt(records_cf(db), ro);
    it.seek_to_first();
    let (mut rows, mut bytes) = (0u64, 0u64);
    while rows < n as u64 && it.valid() {
        let (k, v) = it.item().expect("valid iterator has an item");
        black_box(k);
        bytes += black_box(v).len() as u64;
        rows += 1;
        it.next();
    }
    it.status().expect("baseline iterator");
    (rows, bytes)
}

/// The diagnostic read: exactly the page's rows by one batched MultiGet.
fn raw_multi_get(db: &rocksdb::DB, case: &Case) -> (u64, u64) {
    let mut keys: Vec<[u8; 16]> = case.seqs.iter().map(|&s| record_key(case.number, s)).collect();
    keys.sort_unstable();
    let mut bytes = 0u64;
    for v in db.batched_multi_get_cf(records_cf(db), keys.iter(), true) {
        bytes += black_box(v.expect("multi_get").expect("row exists")).len() as u64;
    }
    (keys.len() as u64, bytes)
}

fn day_of(ns: u64) -> u64 {
    T0_NS + (ns.saturating_sub(T0_NS) / DAY_NS) * DAY_NS
}

fn tenant_numbers(db: &rocksdb::DB) -> BTreeMap<String, u64> {
    let cf = db.cf_handle("tenants").expect("tenants column family");
    let mut out = BTreeMap::new();
    for item in db.prefix_iterator_cf(&cf, b"n") {
        let (k, v) = item.expect("tenants");
        if k.first() != Some(&b'n') {
            break;
        }
        let name = String::from_utf8(k[1..].to_vec()).expect("tenant names are UTF-8");
        out.insert(name, TenantEntry::decode(&v).expect("tenant entry").number);
    }
    out
}

/// Runs `query` once and, if it returns rows, makes it a case.
fn case(engine: &Engine, db: &rocksdb::DB, tenant: &str, number: u64, query: Query) -> Option<Case> {
    let page = engine.query(tenant, &query, PAGE, None).expect("query");
    if page.records.is_empty() {
        return None;
    }
    let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
    let mut c = Case { tenant: tenant.to_string(), number, query, seqs, bytes: 0 };
    c.bytes = raw_multi_get(db, &c).1;
    Some(c)
}

/// Picks every kind's cases from the stored rows; deterministic for a store.
fn choose_cases(engine: &Engine, db: &rocksdb::DB, spec: &StoreSpec) -> BTreeMap<Kind, Vec<Case>> {
    let numbers = tenant_numbers(db);
    let mut out: BTreeMap<Kind, Vec<Case>> = BTreeMap::new();
    let row = |tenant: &str, seq: u64| -> Record { engine.get(tenant, seq).expect("get").expect("row exists") };
    for t in 0..spec.tenants {
        let tenant = spec.tenant(t);
        let number = numbers[&tenant];
        let head = engine.head(&tenant).expect("head").seq;
        // Rare keys: each created API key occurs in its creation event only
        // (a denied creation names no key).
        let created: Vec<String> = engine
            .query(&tenant, &Query { action: Some("api.key.create".into()), ..Query::default() }, PAGE, None)
            .expect("query")
            .records
            .into_iter()
            .filter_map(|r| r.event.key_ref)
            .collect();
        for j in 0..PER_TENANT {
            // (a) The day of a row spread over the chain.
            let at = row(&tenant, 1 + head * (2 * j + 1) / (2 * PER_TENANT)).recorded_at;
            let from = day_of(at);
            let q = Query { from: Some(from), to: Some(from + DAY_NS), ..Query::default() };
            out.entry(Kind::Day).or_default().extend(case(engine, db, &tenant, number, q));

            // (b) A user actor, over the year from the day of one of its rows
            // in the first tenth of the chain (so the year lies inside it).
            let start = 1 + head * j / (10 * PER_TENANT);
            let user = engine
                .iter(&tenant, start)
                .expect("iter")
                .map(|r| r.expect("row"))
                .find(|r| r.event.actor_type == ActorType::User)
                .expect("a tenant has user rows");
            let from = day_of(user.recorded_at);
            let q = Query {
                from: Some(from),
                to: Some(from + 365 * DAY_NS),
                actor: Some(user.event.actor_id.clone()),
                ..Query::default()
            };
            out.entry(Kind::ActorYear).or_default().extend(case(engine, db, &tenant, number, q));

            // (c) `iam`, over the month from the day of an `iam.*` row.
            let after = row(&tenant, 1 + head * j * 9 / (10 * PER_TENANT)).recorded_at;
            let iam = Query { action_prefix: Some("iam".into()), from: Some(after), ..Query::default() };
            if let Some(r) = engine.query(&tenant, &iam, 1, None).expect("query").records.first() {
                let from = day_of(r.recorded_at);
                let q = Query { from: Some(from), to: Some(from + 30 * DAY_NS), ..iam };
                out.entry(Kind::PrefixMonth).or_default().extend(case(engine, db, &tenant, number, q));
            }

            // (d) A key created in this tenant, over the whole chain.
            if let Some(key) = created.get(j as usize * created.len().div_ceil(PER_TENANT as usize)) {
                let q = Query { key_ref: Some(key.clone()), ..Query::default() };
                out.entry(Kind::RareKey).or_default().extend(case(engine, db, &tenant, number, q));
            }
        }
    }
    out
}

/// Prints what the planner did for a kind: the first case's explain and totals over all cases.
fn print_explains(engine: &Engine, kind: Kind, cases: &[Case]) {
    let mut by_index: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut examined, mut returned, mut full) = (0u64, 0u64, 0u64);
    let mut first = None;
    for c in cases {
        let p = engine.query(&c.tenant, &c.query, PAGE, None).expect("query");
        *by_index.entry(p.explain.index).or_default() += 1;
        examined += p.explain.examined;
        returned += p.explain.returned;
        full += u64::from(p.records.len() == PAGE);
        first.get_or_insert(p.explain);
    }
    let n = cases.len().max(1) as f64;
    println!(
        "{}: {} cases, driven by {:?}, mean examined {:.1}, mean returned {:.1}, {} full pages",
        kind.group(),
        cases.len(),
        by_index,
        examined as f64 / n,
        returned as f64 / n,
        full
    );
    if let Some(e) = first {
        println!("  first case: {}", e.to_json());
    }
}

/// Reads each case once on both sides, so that both start from the same cache state.
fn warm(engine: &Engine, db: &rocksdb::DB, cases: &[Case]) {
    for c in cases {
        black_box(engine.query(&c.tenant, &c.query, PAGE, None).expect("query"));
        black_box(raw_scan(db, c.number, c.seqs[0], c.seqs.len()));
    }
}

fn first_pages(c: &mut Criterion, tally: &Tally, engine: &Engine, db: &rocksdb::DB, cases: &BTreeMap<Kind, Vec<Case>>) {
    for kind in Kind::ALL {
        let Some(cases) = cases.get(&kind).filter(|c| !c.is_empty()) else {
            println!("{}: no cases in this store", kind.group());
            continue;
        };
        warm(engine, db, cases);
        let group_name = kind.group();
        let mut group = c.benchmark_group(group_name);
        group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6));
        group.throughput(Throughput::Elements(1));

        let mut at = 0usize;
        group.bench_function(BenchmarkId::from_parameter("annal"), |b| {
            b.iter_custom(|iters| {
                let (mut rows, mut bytes) = (0u64, 0u64);
                let started = Instant::now();
                for _ in 0..iters {
                    let case = &cases[at % cases.len()];
                    at += 1;
                    let page = engine.query(&case.tenant, &case.query, PAGE, None).expect("query");
                    assert_eq!(page.records.len(), case.seqs.len(), "{:?}", case.query);
                    rows += page.records.len() as u64;
                    bytes += case.bytes;
                    drop(black_box(page));
                }
                let took = started.elapsed();
                tally.add_ops(group_name, "annal", iters, rows, bytes, took);
                took
            })
        });

        let mut at = 0usize;
        group.bench_function(BenchmarkId::from_parameter("rocksdb"), |b| {
            b.iter_custom(|iters| {
                let (mut rows, mut bytes) = (0u64, 0u64);
                let started = Instant::now();
                for _ in 0..iters {
                    let case = &cases[at % cases.len()];
                    at += 1;
                    let (r, by) = raw_scan(db, case.number, case.seqs[0], case.seqs.len());
                    rows += r;
                    bytes += by;
                }
                let took = started.elapsed();
                tally.add_ops(group_name, "rocksdb", iters, rows, bytes, took);
                took
            })
        });

        if kind != Kind::Day {
            let mut at = 0usize;
            group.bench_function(BenchmarkId::from_parameter("rocksdb_get"), |b| {
                b.iter_custom(|iters| {
                    let (mut rows, mut bytes) = (0u64, 0u64);
                    let started = Instant::now();
                    for _ in 0..iters {
                        let case = &cases[at % cases.len()];
                        at += 1;
                        let (r, by) = raw_multi_get(db, case);
                        rows += r;
                        bytes += by;
                    }
                    let took = started.elapsed();
                    tally.add_ops(group_name, "rocksdb_get", iters, rows, bytes, took);
                    took
                })
            });
        }
        group.finish();
    }
}

/// Reads every field of a borrowed row, as an export writing it would.
fn touch(r: &RecordRef<'_>) -> usize {
    let e = &r.event;
    let opt = |s: Option<&str>| s.map_or(0, str::len);
    r.seq as usize
        + r.leaf.0[0] as usize
        + r.head.0[0] as usize
        + e.action.len()
        + e.actor_id.len()
        + opt(e.actor_name)
        + opt(e.actor_email)
        + opt(e.on_behalf_of)
        + opt(e.session_id)
        + e.target.map_or(0, |(k, i, n)| k.len() + i.len() + opt(n))
        + opt(e.ip)
        + opt(e.user_agent)
        + opt(e.input_hash)
        + opt(e.output_hash)
        + opt(e.key_ref)
        + opt(e.diff)
        + opt(e.metadata)
        + e.redactions.len()
}

fn scans(c: &mut Criterion, tally: &Tally, engine: &Engine, db: &rocksdb::DB, spec: &StoreSpec) {
    let numbers = tenant_numbers(db);
    let n = SCAN_TENANTS.min(spec.tenants);
    let tenants: Vec<String> = (0..n).map(|i| spec.tenant(i * spec.tenants / n)).collect();
    // A window holding the whole chain: every row, read through the window's seq range.
    let window = Query { from: Some(T0_NS), to: Some(spec.instant(0, spec.chunks()) + DAY_NS), ..Query::default() };
    let rows_per_scan = spec.per_tenant();
    // Stored bytes of each tenant's rows, for annal's MB/s (the baseline counts its own).
    let bytes: Vec<u64> = tenants.iter().map(|t| raw_scan(db, numbers[t], 1, rows_per_scan as usize).1).collect();
    let group_name = "scan/whole_chain_window";
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(rows_per_scan));

    // annal's export path: every row decoded in place and handed to a
    // visitor, which touches every field an export writes.
    let mut at = 0usize;
    group.bench_function(BenchmarkId::from_parameter("annal"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let i = at % tenants.len();
                let tenant = &tenants[i];
                at += 1;
                let started = Instant::now();
                let mut rows = 0u64;
                engine
                    .scan(tenant, &window, |r| {
                        black_box(touch(r));
                        rows += 1;
                        ControlFlow::Continue(())
                    })
                    .expect("scan");
                let t = started.elapsed();
                assert_eq!(rows, rows_per_scan, "{tenant}");
                took += t;
                tally.add(group_name, "annal", rows, bytes[i], t);
            }
            took
        })
    });

    // Diagnostic: the same rows as owned `Record`s through `query_stream`.
    let mut at = 0usize;
    group.bench_function(BenchmarkId::from_parameter("annal_owned"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let i = at % tenants.len();
                let tenant = &tenants[i];
                at += 1;
                let started = Instant::now();
                let mut rows = 0u64;
                for r in engine.query_stream(tenant, &window).expect("query_stream") {
                    black_box(r.expect("row"));
                    rows += 1;
                }
                let t = started.elapsed();
                assert_eq!(rows, rows_per_scan, "{tenant}");
                took += t;
                tally.add(group_name, "annal_owned", rows, bytes[i], t);
            }
            took
        })
    });

    let mut at = 0usize;
    group.bench_function(BenchmarkId::from_parameter("rocksdb"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let tenant = &tenants[at % tenants.len()];
                at += 1;
                let started = Instant::now();
                let (rows, bytes) = raw_scan(db, numbers[tenant], 1, rows_per_scan as usize);
                let t = started.elapsed();
                assert_eq!(rows, rows_per_scan, "{tenant}");
                took += t;
                tally.add(group_name, "rocksdb", rows, bytes, t);
            }
            took
        })
    });
    group.finish();
}

/// Passes of the interleaved measurement over every case (and, for the scan,
/// over every scanned tenant).
const PAIRED_ROUNDS: usize = 5;

/// The measurement the verdicts come from. This machine is shared: the load
/// of other processes changes over seconds, so criterion's sequential runs
/// (all of annal's iterations, then all of the baseline's) can compare one
/// side measured under load with the other measured idle. Here every annal
/// operation is timed beside a baseline operation, first one then the other,
/// alternating, so both sides see the same load. The baseline read paired
/// with a case is that of the case half the list away (another tenant), so
/// neither side reads blocks the other has just brought into the cache.
fn interleaved(
    tally: &Tally,
    engine: &Engine,
    db: &rocksdb::DB,
    cases: &BTreeMap<Kind, Vec<Case>>,
    spec: &StoreSpec,
    rounds: usize,
) {
    for kind in Kind::ALL {
        let Some(cases) = cases.get(&kind).filter(|c| !c.is_empty()) else { continue };
        let group = kind.group();
        let n = cases.len();
        for round in 0..rounds {
            for (i, case) in cases.iter().enumerate() {
                let other = &cases[(i + n / 2) % n];
                let annal = || {
                    let started = Instant::now();
                    let page = engine.query(&case.tenant, &case.query, PAGE, None).expect("query");
                    let took = started.elapsed();
                    assert_eq!(page.records.len(), case.seqs.len(), "{:?}", case.query);
                    drop(black_box(page));
                    tally.add_ops(group, "annal", 1, case.seqs.len() as u64, case.bytes, took);
                };
                let baseline = || {
                    let started = Instant::now();
                    let (rows, bytes) = raw_scan(db, other.number, other.seqs[0], other.seqs.len());
                    tally.add_ops(group, "rocksdb", 1, rows, bytes, started.elapsed());
                    if kind != Kind::Day {
                        let started = Instant::now();
                        let (rows, bytes) = raw_multi_get(db, other);
                        tally.add_ops(group, "rocksdb_get", 1, rows, bytes, started.elapsed());
                    }
                };
                if (round + i) % 2 == 0 {
                    annal();
                    baseline();
                } else {
                    baseline();
                    annal();
                }
            }
        }
    }

    let numbers = tenant_numbers(db);
    let t = SCAN_TENANTS.min(spec.tenants);
    let tenants: Vec<String> = (0..t).map(|i| spec.tenant(i * spec.tenants / t)).collect();
    let window = Query { from: Some(T0_NS), to: Some(spec.instant(0, spec.chunks()) + DAY_NS), ..Query::default() };
    let group = "scan/whole_chain_window";
    // Stored bytes of each tenant's rows, for annal's MB/s, read before the timed walks.
    let bytes: BTreeMap<&String, u64> = tenants.iter().map(|t| (t, raw_scan(db, numbers[t], 1, usize::MAX).1)).collect();
    for round in 0..rounds {
        for (i, tenant) in tenants.iter().enumerate() {
            let other = &tenants[(i + tenants.len() / 2) % tenants.len()];
            let annal = || {
                let mut rows = 0u64;
                let started = Instant::now();
                engine
                    .scan(tenant, &window, |r| {
                        black_box(touch(r));
                        rows += 1;
                        ControlFlow::Continue(())
                    })
                    .expect("scan");
                tally.add(group, "annal", rows, bytes[tenant], started.elapsed());
                let started = Instant::now();
                let mut rows = 0u64;
                for r in engine.query_stream(tenant, &window).expect("query_stream") {
                    black_box(r.expect("row"));
                    rows += 1;
                }
                tally.add(group, "annal_owned", rows, bytes[tenant], started.elapsed());
            };
            let baseline = || {
                let started = Instant::now();
                let (rows, bytes) = raw_scan(db, numbers[other], 1, usize::MAX);
                tally.add(group, "rocksdb", rows, bytes, started.elapsed());
            };
            if (round + i) % 2 == 0 {
                annal();
                baseline();
            } else {
                baseline();
                annal();
            }
        }
    }
}

// A hand-written main instead of `criterion_main!`, so that the store is
// built or found first and the ratio tables are printed after criterion's
// own report.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    // criterion's rule: without `--bench` (or with `--test`) it only tests.
    let small = !has("--bench") || has("--test") || has("--list");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (spec, path) = if small {
        let spec = StoreSpec { events: 20_000, tenants: 10, seed: annal_testdata::DEFAULT_SEED, span_days: 400 };
        let path = tmp.path().join("db");
        query_store::build(&spec, &path, false);
        (spec, path)
    } else {
        let spec = StoreSpec::from_env_or(10_000_000, 100);
        let store = query_store::cached(&spec, &query_store::cache_root());
        println!("query store: {} ({})", store.db.display(), store.report);
        (spec, store.db)
    };

    let engine = Engine::builder(&path).signing_key(annal_benches::bench_key()).open().expect("open store");
    let db = open_baseline(&path);
    let chose = Instant::now();
    let cases = choose_cases(&engine, &db, &spec);
    println!("chose {} cases in {:.1} s", cases.values().map(Vec::len).sum::<usize>(), chose.elapsed().as_secs_f64());
    for kind in Kind::ALL {
        let cs = cases.get(&kind).map(Vec::as_slice).unwrap_or_default();
        print_explains(&engine, kind, cs);
        // Every tenant has days, user actors and `iam` actions; only keys may be absent.
        if kind != Kind::RareKey {
            assert_eq!(cs.len() as u64, spec.tenants * PER_TENANT, "{kind:?}: every case returns rows");
        }
        assert!(!cs.is_empty(), "{kind:?}: no case");
    }

    let tally = Tally::default();
    let mut c = Criterion::default().configure_from_args();
    first_pages(&mut c, &tally, &engine, &db, &cases);
    scans(&mut c, &tally, &engine, &db, &spec);
    c.final_summary();
    println!("\nSequential (criterion's runs above, one side after the other):");
    tally.print_latencies("first_page/", "annal", "rocksdb", Some("rocksdb_get"), None);
    tally.print_ratios("scan/", "annal", "rocksdb", "rows", None);
    tally.print_ratios("scan/", "annal_owned", "rocksdb", "rows", None);

    let paired = Tally::default();
    interleaved(&paired, &engine, &db, &cases, &spec, if small { 1 } else { PAIRED_ROUNDS });
    println!("\nInterleaved (each annal measurement beside a baseline one, order alternating): the verdicts");
    paired.print_latencies("first_page/", "annal", "rocksdb", Some("rocksdb_get"), Some(3.0));
    paired.print_ratios("scan/", "annal", "rocksdb", "rows", Some(0.5));
    paired.print_ratios("scan/", "annal_owned", "rocksdb", "rows", None);
}
