//! The seeded store the query benchmark reads: many tenants, realistic
//! events, `recorded_at` spread over a long period, built through the real
//! engine and cached under `target/bench-stores/` between runs.
//!
//! **What the store holds.** Tenant `i` is `ws_tenant{i:03}`; its events are
//! the first `events / tenants` of its stream in the seeded corpus generator
//! ([`annal_testdata`]), so actors, sessions, API keys, actions and outcomes
//! are those of a real multi-tenant audit trail. Each tenant's events are
//! appended in chunks of [`CHUNK`]; chunk `k` of tenant `t` is recorded at
//! `T0 + (k·tenants + t)·span / (chunks·tenants)`, which is the time it
//! would get if chunks arrived round-robin over all tenants during `span`
//! (400 days by default). Every tenant therefore has rows across the whole
//! period, interleaved in time with every other tenant's.
//!
//! **Why it is written tenant by tenant.** Stored bytes depend only on each
//! tenant's own sequence of events and times (seqs, chain links and index
//! keys are per tenant), so the logical content is exactly that of a
//! round-robin ingest whatever order the tenants are written in. Writing one
//! tenant after another makes each memtable flush cover a narrow key range
//! instead of every tenant's, which leaves compactions less to merge on two
//! cores. The build ends by flushing every memtable and waiting for
//! compactions, so the benchmark reads a settled LSM tree and nothing is
//! rewritten while it runs.
//!
//! **How it is fast enough.** Generating, validating, encoding and hashing
//! events is most of the work and is spread over worker threads
//! ([`Engine::prepare`]); one thread sets the clock and submits the prepared
//! chunks in a fixed order ([`Engine::append_prepared`]), so every build
//! writes the same rows at the same times. A 10-million-event build takes
//! about 4 minutes on two cores (docs/BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use annal_engine::{Durability, Engine, Event, ManualClock, PreparedEvent};

/// Events in one append. One submitter waits for each append's round trip
/// through the writer, so larger appends build faster: 25 events an append
/// built about 45,000 events/s, 50 about 69,000, 100 no more (1M events, two
/// cores). With 50, a tenant still gets about five appends, so five
/// distinct times, a day.
pub const CHUNK: u64 = 50;
/// 2026-01-01T00:00:00Z in ns: the first chunk's `recorded_at`.
pub const T0_NS: u64 = annal_testdata::START_UNIX_MS as u64 * 1_000_000;
/// One day in ns.
pub const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// The size and seed of a generated store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSpec {
    /// Events in total (rounded down to a multiple of `tenants`).
    pub events: u64,
    /// Tenants.
    pub tenants: u64,
    /// Seed of the corpus generator.
    pub seed: u64,
    /// Days the `recorded_at` times cover.
    pub span_days: u64,
}

impl StoreSpec {
    /// `events` over `tenants` with the default seed and a 400-day span,
    /// unless `ANNAL_BENCH_EVENTS` / `ANNAL_BENCH_TENANTS` override the size.
    pub fn from_env_or(events: u64, tenants: u64) -> StoreSpec {
        let var = |name: &str, default: u64| match std::env::var(name) {
            Ok(v) => v.replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")),
            Err(_) => default,
        };
        let tenants = var("ANNAL_BENCH_TENANTS", tenants).max(1);
        StoreSpec { events: var("ANNAL_BENCH_EVENTS", events), tenants, seed: annal_testdata::DEFAULT_SEED, span_days: 400 }
    }

    /// Events per tenant.
    pub fn per_tenant(&self) -> u64 {
        self.events / self.tenants
    }

    /// Appends per tenant.
    pub fn chunks(&self) -> u64 {
        self.per_tenant().div_ceil(CHUNK)
    }

    /// Name of tenant `t`.
    pub fn tenant(&self, t: u64) -> String {
        format!("ws_tenant{t:03}")
    }

    /// Every tenant's name, in build order (tenant `t` gets internal number `t + 1`).
    pub fn tenant_names(&self) -> Vec<String> {
        (0..self.tenants).map(|t| self.tenant(t)).collect()
    }

    /// `recorded_at` of chunk `k` of tenant `t`.
    pub fn instant(&self, t: u64, k: u64) -> u64 {
        let slots = u128::from(self.chunks() * self.tenants).max(1);
        let span = u128::from(self.span_days * DAY_NS);
        T0_NS + (u128::from(k * self.tenants + t) * span / slots) as u64
    }

    /// Directory name under the cache root.
    pub fn dir_name(&self) -> String {
        format!("query-{}-{}-{:x}", self.per_tenant() * self.tenants, self.tenants, self.seed)
    }
}

/// What a build cost.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Events written.
    pub events: u64,
    /// Generating, preparing and appending every event.
    pub append: Duration,
    /// Flushing memtables and waiting for compactions afterwards.
    pub settle: Duration,
    /// Bytes of the store's files once settled.
    pub bytes_on_disk: u64,
}

impl std::fmt::Display for BuildReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events; append {:.1} s ({:.0} events/s), settle {:.1} s, {:.2} GiB on disk",
            self.events,
            self.append.as_secs_f64(),
            self.events as f64 / self.append.as_secs_f64().max(1e-9),
            self.settle.as_secs_f64(),
            self.bytes_on_disk as f64 / (1u64 << 30) as f64
        )
    }
}

/// Where cached stores live: `<target dir>/bench-stores`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("bench-stores");
    }
    // A bench binary runs from `<target>/<profile>/deps/`.
    let exe = std::env::current_exe().expect("current exe");
    match exe.ancestors().nth(3) {
        Some(target) if exe.parent().is_some_and(|d| d.ends_with("deps")) => target.join("bench-stores"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-stores"),
    }
}

/// A cached store: the database directory, and how it was built (read back
/// from the marker of an earlier build, or measured now).
#[derive(Debug)]
pub struct CachedStore {
    /// The RocksDB directory to open.
    pub db: PathBuf,
    /// The build's figures.
    pub report: String,
}

/// The store for `spec` under `root`, built first unless a completed build
/// is there. A directory without the marker (an interrupted build) is
/// removed and built again, and so is one of another store format version.
pub fn cached(spec: &StoreSpec, root: &Path) -> CachedStore {
    let dir = root.join(spec.dir_name());
    let (db, marker) = (dir.join("db"), dir.join("complete"));
    // The marker names the store format it was built in: a store from
    // another format version is built again rather than upgraded on open.
    let format = format!("format {}", annal_engine::STORE_FORMAT_VERSION);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        if let Some(report) = text.strip_prefix(&format).and_then(|r| r.strip_prefix('\n')) {
            return CachedStore { db, report: report.trim().to_string() };
        }
        eprintln!("the cached query store is of another format; building it again");
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove incomplete store");
    }
    std::fs::create_dir_all(&dir).expect("create store dir");
    eprintln!("building the query store in {} (cached for later runs)", dir.display());
    let report = build(spec, &db, true).to_string();
    // Written last: its presence means the build finished and settled.
    std::fs::write(&marker, format!("{format}\n{report}\n")).expect("write marker");
    CachedStore { db, report }
}

/// A working copy of a cached store in `from` at `to`, for a bench that
/// writes to it: SST files hard-linked (RocksDB never changes one in place,
/// so the cache stays as it was), the rest (manifest, WAL, options,
/// CURRENT) copied, since RocksDB appends to those.
pub fn link_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for e in std::fs::read_dir(from).expect("read the cached store") {
        let p = e.expect("a directory entry").path();
        let Some(name) = p.file_name() else { continue };
        let dst = to.join(name);
        if p.extension().is_some_and(|x| x == "sst") {
            std::fs::hard_link(&p, &dst).expect("link an SST file");
        } else if p.is_file() {
            std::fs::copy(&p, &dst).expect("copy a store file");
        }
    }
}

/// One prepared chunk.
type Chunk = Vec<PreparedEvent>;

/// Builds the store for `spec` in `path`, which must not hold a store yet.
pub fn build(spec: &StoreSpec, path: &Path, progress: bool) -> BuildReport {
    let started = Instant::now();
    let clock = Arc::new(ManualClock::new(T0_NS));
    let engine = Engine::builder(path)
        .clock(clock.clone())
        .durability(Durability::Buffered)
        .signing_key(crate::bench_key())
        .open()
        .expect("open store for building");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1) as u64;
    let per_tenant = spec.per_tenant();
    let chunks = spec.chunks();
    let total = per_tenant * spec.tenants;
    std::thread::scope(|s| {
        // Worker w prepares tenants w, w + workers, …, each in order; the
        // submitter takes the tenants in order, so a channel holds up to one
        // tenant's chunks while the submitter is still on the tenant before.
        let mut inboxes = Vec::new();
        for w in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Chunk>(chunks as usize + 1);
            inboxes.push(rx);
            let engine = engine.clone();
            s.spawn(move || {
                for t in (w..spec.tenants).step_by(workers as usize) {
                    let name = spec.tenant(t);
                    let mut stream = annal_testdata::Generator::new(spec.seed, &[name.as_str()]);
                    for k in 0..chunks {
                        let chunk: Chunk = (0..(per_tenant - k * CHUNK).min(CHUNK))
                            .map(|_| {
                                let event = Event::from_json_value(stream.next_event().1).expect("corpus events are valid");
                                engine.prepare(&name, &event).expect("corpus events are valid")
                            })
                            .collect();
                        if tx.send(chunk).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        // The one submitter: each append's time is set just before it, and
        // the order is fixed, so every build writes the same rows.
        let mut done = 0u64;
        let mut last_report = Instant::now();
        for t in 0..spec.tenants {
            let name = spec.tenant(t);
            let inbox = &inboxes[(t % workers) as usize];
            for k in 0..chunks {
                let chunk = inbox.recv().expect("worker ended early");
                done += chunk.len() as u64;
                clock.set(spec.instant(t, k));
                engine.append_prepared(&name, chunk).expect("append");
            }
            if progress && (last_report.elapsed() >= Duration::from_secs(15) || t + 1 == spec.tenants) {
                last_report = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                let rate = done as f64 / secs.max(1e-9);
                eprintln!(
                    "  {done}/{total} events ({} of {} tenants), {secs:.0} s, {rate:.0} events/s, about {:.0} s left",
                    t + 1,
                    spec.tenants,
                    (total - done) as f64 / rate.max(1e-9)
                );
            }
        }
    });
    drop(engine);
    let append = started.elapsed();
    let settle_started = Instant::now();
    if progress {
        eprintln!("  flushing memtables and waiting for compactions");
    }
    settle(path);
    let settle = settle_started.elapsed();
    let report = BuildReport { events: total, append, settle, bytes_on_disk: dir_bytes(path) };
    if progress {
        eprintln!("  built: {report}");
    }
    report
}

/// The column families of an annal store, as named on disk.
pub const COLUMN_FAMILIES: [&str; 8] = ["meta", "tenants", "heads", "records", "idempotency", "index", "apikeys", "checkpoints"];

/// annal's block cache size (`StoreOptions::default` in engine/src/storage).
pub const BLOCK_CACHE_BYTES: usize = 64 << 20;

/// Database options as annal's `Store::open` (engine/src/storage) sets them.
pub fn annal_db_options() -> rocksdb::Options {
    let mut o = rocksdb::Options::default();
    o.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
    o.set_max_background_jobs(2);
    o.set_keep_log_file_num(4);
    o
}

/// annal's column families with the options its `Store::open` gives them
/// (LZ4, bloom filters, index and filter blocks of `records` in the cache),
/// sharing `cache`. Files this writes or reads are laid out and cached as
/// annal's own, so a raw handle with these options is a fair baseline.
pub fn annal_column_families(cache: &rocksdb::Cache) -> Vec<rocksdb::ColumnFamilyDescriptor> {
    COLUMN_FAMILIES
        .iter()
        .map(|&name| {
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(cache);
            if name != "index" && name != "checkpoints" {
                table.set_bloom_filter(10.0, false);
            }
            if name == "records" {
                table.set_cache_index_and_filter_blocks(true);
                table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            }
            let mut o = rocksdb::Options::default();
            o.set_block_based_table_factory(&table);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            rocksdb::ColumnFamilyDescriptor::new(name, o)
        })
        .collect()
}

/// Flushes every memtable to SST files and waits until no compaction is
/// pending, so that later opens neither replay a WAL nor rewrite files. It
/// opens the store with annal's own options, so the files it writes are
/// like every other (compressed, with filters).
fn settle(path: &Path) {
    let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
    let db = rocksdb::DB::open_cf_descriptors(&annal_db_options(), path, annal_column_families(&cache))
        .expect("open store to settle it");
    for name in COLUMN_FAMILIES {
        db.flush_cf(&db.cf_handle(name).expect("column family")).expect("flush");
    }
    let mut wait = rocksdb::WaitForCompactOptions::default();
    wait.set_flush(true);
    db.wait_for_compact(&wait).expect("wait for compactions");
}

/// Total size of the regular files under `path`.
pub fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    /// A raw open must name every column family the engine creates.
    #[test]
    fn column_families_are_the_engines() {
        let engine: Vec<&str> = annal_engine::Cf::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(super::COLUMN_FAMILIES.to_vec(), engine);
    }
}
