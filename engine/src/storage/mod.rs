//! The storage seam: the only module that imports `rocksdb`.
//!
//! The rest of the engine sees column families ([`Cf`]), byte keys and values,
//! atomic batches ([`Batch`]) and bounded scans ([`Store::scan`]). Nothing
//! above this module knows about RocksDB options, handles or iterators, so the
//! choice of backend, its tuning and any fault injection live here alone.
//!
//! **Invariant:** every write the engine makes for one group of appends is a
//! single [`Batch`], written with one call to [`Store::write`]. RocksDB writes
//! a batch to its WAL as one record, and on recovery replays only whole
//! records up to the first torn one (`PointInTime` recovery), so after a crash
//! the store holds a prefix of the acknowledged batches, never half of one.

pub(crate) mod backup;

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBRawIteratorWithThreadMode, DBRecoveryMode,
    Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions, DB,
};

use crate::error::{Error, Result};

pub use backup::BackupInfo;

/// Memtable size of the column families of small, scattered entries (see
/// `Store::open`); the others keep RocksDB's 64 MB.
const SMALL_WRITE_BUFFER: usize = 8 << 20;

/// The WAL files kept alive before RocksDB flushes the column families
/// that still need the oldest of them (see `Store::open`).
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

/// The column families annal keeps. docs/FORMAT.md gives each one's key and value layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cf {
    /// Store-wide metadata: format version, tenant number counter.
    Meta,
    /// Tenant registry: name → number and number → name.
    Tenants,
    /// Latest chain head per tenant.
    Heads,
    /// The records themselves, keyed by (tenant number, seq).
    Records,
    /// Idempotency keys per tenant → the receipt first returned.
    Idempotency,
    /// Secondary indexes: time, actor, action, target, session, key, outcome.
    Index,
    /// API keys: entries per tenant and the id → tenant lookup.
    ApiKeys,
    /// Signed checkpoints, keyed by (tenant number, seq).
    Checkpoints,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 8] =
        [Cf::Meta, Cf::Tenants, Cf::Heads, Cf::Records, Cf::Idempotency, Cf::Index, Cf::ApiKeys, Cf::Checkpoints];

    /// Name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Tenants => "tenants",
            Cf::Heads => "heads",
            Cf::Records => "records",
            Cf::Idempotency => "idempotency",
            Cf::Index => "index",
            Cf::ApiKeys => "apikeys",
            Cf::Checkpoints => "checkpoints",
        }
    }
}

/// How a read uses the block cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Blocks read are kept in the cache: pages, point reads, planning.
    Interactive,
    /// Blocks read are not added to the cache: exports, checks and rebuilds
    /// that read a whole window once. Such a read would otherwise evict the
    /// blocks interactive queries keep reusing, and the inserting and
    /// evicting itself costs about a tenth of a scan.
    Bulk,
}

/// Tuning that reaches RocksDB.
#[derive(Debug, Clone)]
pub(crate) struct StoreOptions {
    /// Compress SST blocks with LZ4 (default on). Off makes every stored byte
    /// appear verbatim in the files, which forensic tests rely on.
    pub compression: bool,
    /// Block cache size in bytes.
    pub block_cache_bytes: usize,
    /// Create the store when the directory holds none (default on). Off,
    /// opening a directory without a store fails with [`Error::NoStore`].
    pub create_if_missing: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { compression: true, block_cache_bytes: 64 << 20, create_if_missing: true }
    }
}

/// RocksDB's error as annal's. A full disk is told apart (RocksDB reports
/// ENOSPC as an I/O error whose text is the system's `strerror`, or as its
/// own `NoSpace` subcode): the server answers it with 507, not 500.
fn map_err(e: rocksdb::Error) -> Error {
    let text = e.into_string();
    if text.contains("No space left on device") || text.contains("No space") {
        Error::NoSpace(text)
    } else {
        Error::Storage(text)
    }
}

/// An open RocksDB database with annal's column families. Cloning is
/// cheap (a reference count): the writer thread, each feature and each
/// export stream hold their own handle, and the database closes when the
/// last one goes.
#[derive(Clone)]
pub(crate) struct Store {
    db: std::sync::Arc<DB>,
}

/// Whether files in `dir` can be opened with O_DIRECT: tried on a probe
/// file, removed at once. Some file systems (tmpfs before Linux 6.6, some
/// FUSE and network ones) refuse the flag with EINVAL.
#[cfg(target_os = "linux")]
fn direct_io_supported(dir: &Path) -> bool {
    use rustix::fs::{Mode, OFlags};
    let probe = dir.join(".direct-io-probe");
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::DIRECT | OFlags::CLOEXEC;
    let ok = rustix::fs::open(&probe, flags, Mode::from_bits_truncate(0o600)).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[cfg(not(target_os = "linux"))]
fn direct_io_supported(_dir: &Path) -> bool {
    false
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.db.path()).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `path`.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Store> {
        // RocksDB's own marker of a database: the file naming its manifest.
        if !opts.create_if_missing && !path.join("CURRENT").is_file() {
            return Err(Error::NoStore(path.to_path_buf()));
        }
        std::fs::create_dir_all(path)?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // Replay the WAL up to the first incomplete record and stop there: a
        // crash mid-write loses only batches that were never acknowledged.
        db_opts.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
        db_opts.set_max_background_jobs(2);
        db_opts.set_keep_log_file_num(4);
        // Reuse WAL files instead of creating new ones: a write then
        // overwrites blocks the file already has, so the fsync after it
        // (fdatasync) does not also have to update the file's size and
        // block map, which every durable append otherwise waits for.
        // RocksDB recovers recycled WALs in PointInTime mode exactly (a
        // recyclable record carries its log number, so an old record left
        // in a reused file ends the replay); the crash tests kill writers
        // mid-write against it.
        db_opts.set_recycle_log_file_num(4);
        // Background writes (flushes, compactions) sync every megabyte as
        // they go, rather than a whole file at its end: one large sync
        // stalls the WAL's small ones behind it.
        db_opts.set_bytes_per_sync(1 << 20);
        // A WAL file can be deleted or reused only once every column family
        // with writes in it has flushed them. The small families (heads,
        // tenants, meta) fill their memtables rarely, so by RocksDB's default
        // (four times the sum of every memtable) about a gigabyte of WAL
        // stayed alive after 2,000,000 events: every new WAL was a new file
        // instead of a recycled one, and opening the store replayed all of
        // it (1.0 s against 0.3 s at this bound, docs/BENCHMARKS.md). Past
        // this bound RocksDB flushes the families holding the oldest WAL.
        db_opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        // Flushes and compactions write their files with O_DIRECT: a
        // buffered write copies every byte into the page cache first, and
        // that copy was a fifth of an ingesting process's CPU once
        // compaction ran (docs/BENCHMARKS.md). Reads stay buffered. Only
        // where the file system takes O_DIRECT: on one that refuses it,
        // every flush would fail and the store would stop taking writes.
        db_opts.set_use_direct_io_for_flush_and_compaction(direct_io_supported(path));
        let cache = rocksdb::Cache::new_lru_cache(opts.block_cache_bytes);
        let cfs = Cf::ALL.iter().map(|cf| {
            let mut o = Options::default();
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            // Point lookups (heads, tenants, idempotency keys) mostly miss or
            // hit once; bloom filters keep the misses off the disk.
            if matches!(cf, Cf::Idempotency | Cf::Heads | Cf::Tenants | Cf::Meta | Cf::ApiKeys) {
                table.set_bloom_filter(10.0, false);
            }
            // Queries fetch the rows an index names by point reads; a filter
            // lets each read skip the SST files that cannot hold its key.
            if matches!(cf, Cf::Records) {
                table.set_bloom_filter(10.0, false);
                table.set_cache_index_and_filter_blocks(true);
                table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            }
            o.set_block_based_table_factory(&table);
            // Index postings, idempotency keys and chain heads are small
            // entries, each inserted at its own place in the key space (a
            // record goes right after its tenant's previous one, which the
            // skip list finds at once). In a 64 MB memtable of them the skip
            // list holds most of a million entries, and an insert's search
            // misses the CPU's cache at every level: a sixth of the server's
            // CPU at batch 64 (docs/BENCHMARKS.md). 8 MB keeps an eighth of the
            // entries and halved the search's cost; the flushes are small.
            if matches!(cf, Cf::Index | Cf::Idempotency | Cf::Heads) {
                o.set_write_buffer_size(SMALL_WRITE_BUFFER);
            }
            // The writer looks up every idempotency key it is given, and
            // almost every one is new: a bloom filter over the memtable's
            // keys answers those misses without searching its skip list
            // (7% of the writer thread's CPU at batch 64).
            if *cf == Cf::Idempotency {
                o.set_memtable_prefix_bloom_ratio(0.1);
                o.set_memtable_whole_key_filtering(true);
            }
            // The newest rows, in L0 and L1, are rewritten soon: compaction
            // merges them down. Compressing them would cost CPU on every
            // flush for bytes that do not stay; the levels below hold the
            // bulk, LZ4-compressed.
            let deep = if opts.compression { DBCompressionType::Lz4 } else { DBCompressionType::None };
            let none = DBCompressionType::None;
            o.set_compression_per_level(&[none, none, deep, deep, deep, deep, deep]);
            ColumnFamilyDescriptor::new(cf.name(), o)
        });
        let db = DB::open_cf_descriptors(&db_opts, path, cfs).map_err(map_err)?;
        Ok(Store { db: std::sync::Arc::new(db) })
    }

    fn cf(&self, cf: Cf) -> &ColumnFamily {
        match self.db.cf_handle(cf.name()) {
            Some(h) => h,
            // open() creates every family in Cf::ALL, so a missing one is a bug.
            None => unreachable!("column family {} not opened", cf.name()),
        }
    }

    /// Point read.
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(cf), key).map_err(map_err)
    }

    /// A new, empty batch.
    pub fn batch(&self) -> Batch<'_> {
        Batch { store: self, inner: WriteBatch::default() }
    }

    /// A new, empty batch with room for about `bytes` of keys and values:
    /// a group commit's batch grows to hundreds of kilobytes, and growing
    /// it by doubling copies all of it again each time.
    pub fn batch_with_capacity(&self, bytes: usize) -> Batch<'_> {
        Batch { store: self, inner: WriteBatch::with_capacity_bytes(bytes) }
    }

    /// Writes `batch` atomically. With `sync`, returns only once the WAL is
    /// on stable storage; without, once it is in the OS (survives a process
    /// crash, not a power loss).
    pub fn write(&self, batch: Batch<'_>, sync: bool) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch.inner, &wo).map_err(map_err)
    }

    /// Up to `limit` entries with `from <= key < to` (forward) or, with
    /// `reverse`, entries with `from <= key < to` from the top down.
    ///
    /// Scans are bounded and return owned data: callers page through large
    /// ranges by re-scanning from the last key seen. Rows are immutable once
    /// written, so a re-seek sees exactly what a held iterator would have.
    pub fn scan(
        &self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
        reverse: bool,
        limit: usize,
        mode: ReadMode,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut ro = ReadOptions::default();
        ro.fill_cache(mode == ReadMode::Interactive);
        ro.set_iterate_lower_bound(from.to_vec());
        ro.set_iterate_upper_bound(to.to_vec());
        let mode = if reverse { IteratorMode::End } else { IteratorMode::From(from, Direction::Forward) };
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.db.iterator_cf_opt(self.cf(cf), ro, mode) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(map_err)?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// A streaming iterator over `from <= key < to`, ascending, or descending
    /// with `reverse`. It reads a consistent view: rows written after it was
    /// created are not seen.
    pub fn iter(&self, cf: Cf, from: &[u8], to: &[u8], reverse: bool, mode: ReadMode) -> StoreIter<'_> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(from.to_vec());
        ro.set_iterate_upper_bound(to.to_vec());
        ro.fill_cache(mode == ReadMode::Interactive);
        StoreIter { inner: self.db.raw_iterator_cf_opt(self.cf(cf), ro), reverse, started: false, sought: false }
    }

    /// Point reads of many keys at once (RocksDB's batched MultiGet, which
    /// shares index and filter lookups between keys of one file). `keys`
    /// must be sorted ascending.
    pub fn multi_get(&self, cf: Cf, keys: &[Vec<u8>], mode: ReadMode) -> Result<Vec<Option<Vec<u8>>>> {
        let mut ro = ReadOptions::default();
        ro.fill_cache(mode == ReadMode::Interactive);
        self.db
            .batched_multi_get_cf_opt(self.cf(cf), keys.iter().map(|k| k.as_slice()), true, &ro)
            .into_iter()
            .map(|r| r.map(|v| v.map(|s| s.to_vec())).map_err(map_err))
            .collect()
    }

    /// Forces the WAL to stable storage (used on close in `Buffered` mode).
    pub fn sync_wal(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(map_err)
    }

    /// Writes every column family's memtable to SST files. A WAL file is
    /// removed only once every family has flushed past it, so this is what
    /// lets the WAL copies of deleted rows go.
    pub fn flush_all(&self) -> Result<()> {
        for cf in Cf::ALL {
            self.db.flush_cf(self.cf(cf)).map_err(map_err)?;
        }
        Ok(())
    }

    /// Compacts `from <= key < to` of `cf` down to the last level, where
    /// deletion tombstones and the values they shadow are finally dropped
    /// from the files: deleted data leaves the disk and its space comes back.
    pub fn compact_range(&self, cf: Cf, from: &[u8], to: &[u8]) {
        let mut o = rocksdb::CompactOptions::default();
        // Without this, files already in the last level are left as they
        // are, and so are the deleted values in them.
        o.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        o.set_exclusive_manual_compaction(false);
        self.db.compact_range_cf_opt(self.cf(cf), Some(from), Some(to), &o);
    }
}

/// See [`Store::iter`]: a lending iterator, each entry borrowed until the next call.
pub(crate) struct StoreIter<'s> {
    inner: DBRawIteratorWithThreadMode<'s, DB>,
    reverse: bool,
    started: bool,
    /// Positioned by [`StoreIter::seek`]: the next call returns that entry.
    sought: bool,
}

impl StoreIter<'_> {
    /// The next entry, or `None` at the end of the range.
    pub fn next(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        match (self.sought, self.started, self.reverse) {
            (true, _, _) => self.sought = false,
            (false, false, false) => self.inner.seek_to_first(),
            (false, false, true) => self.inner.seek_to_last(),
            (false, true, false) => self.inner.next(),
            (false, true, true) => self.inner.prev(),
        }
        self.started = true;
        if !self.inner.valid() {
            self.inner.status().map_err(map_err)?;
            return Ok(None);
        }
        Ok(self.inner.item())
    }

    /// Moves to the first entry at or after `key` (descending: at or
    /// before), within the iterator's range; the next call to
    /// [`StoreIter::next`] returns it. One iterator sought twice costs less
    /// than two iterators: creating one allocates and sets up a child
    /// iterator for every memtable and level, and the second seek often
    /// lands in a block the first one already holds.
    pub fn seek(&mut self, key: &[u8]) {
        if self.reverse {
            self.inner.seek_for_prev(key);
        } else {
            self.inner.seek(key);
        }
        self.sought = true;
    }
}

/// An atomic group of writes, applied by [`Store::write`].
pub(crate) struct Batch<'s> {
    store: &'s Store,
    inner: WriteBatch,
}

impl Batch<'_> {
    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.inner.put_cf(self.store.cf(cf), key, value);
    }

    /// Adds a delete of one key.
    pub fn delete(&mut self, cf: Cf, key: &[u8]) {
        self.inner.delete_cf(self.store.cf(cf), key);
    }

    /// Adds a delete of every key with `from <= key < to` (one range
    /// tombstone, however many keys it covers).
    pub fn delete_range(&mut self, cf: Cf, from: &[u8], to: &[u8]) {
        self.inner.delete_range_cf(self.store.cf(cf), from, to);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.inner.len()
    }
}

/// Raw, invariant-free access to a closed store's column families, for
/// forensics and tests: reading every byte that is on disk, and deliberately
/// damaging a store to prove that verification notices.
///
/// It bypasses every rule the engine keeps. Never open it on a store an
/// [`Engine`](crate::Engine) has open (RocksDB's lock file prevents it anyway).
pub struct RawStore {
    store: Store,
}

impl std::fmt::Debug for RawStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

impl RawStore {
    /// Opens the store in `path` without compression changes or recovery of heads.
    pub fn open(path: &Path) -> Result<RawStore> {
        Ok(RawStore { store: Store::open(path, &StoreOptions::default())? })
    }

    /// Every (key, value) of a column family, in key order.
    pub fn entries(&self, cf: Cf) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.store.db.iterator_cf(self.store.cf(cf), IteratorMode::Start) {
            let (k, v) = item.map_err(map_err)?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Writes one value (synchronously).
    pub fn put(&self, cf: Cf, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = self.store.batch();
        b.put(cf, key, value);
        self.store.write(b, true)
    }

    /// Writes every column family's memtable to SST files, so that what was
    /// only in the WAL is also in the table files (forensic scans of both).
    pub fn flush(&self) -> Result<()> {
        self.store.flush_all()
    }

    /// Compacts every column family completely, down to the last level:
    /// what background compaction does to every byte eventually, at once,
    /// for benchmarks that count its cost.
    pub fn compact(&self) -> Result<()> {
        for cf in Cf::ALL {
            self.store.db.compact_range_cf(self.store.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Deletes one key (synchronously).
    pub fn delete(&self, cf: Cf, key: &[u8]) -> Result<()> {
        let mut wb = WriteBatch::default();
        wb.delete_cf(self.store.cf(cf), key);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.store.db.write_opt(wb, &wo).map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The idempotency family's memtable bloom filter answers look-ups of
    /// keys it never saw; a key it did see and a range deletion then hid
    /// (tenant deletion's `DeleteRange`) must still read as gone, from the
    /// memtable and after a flush.
    #[test]
    fn idempotency_keys_deleted_by_range_stay_deleted_under_the_memtable_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let key = |tenant: u64, k: &str| [&tenant.to_be_bytes()[..], k.as_bytes()].concat();
        let mut b = store.batch();
        b.put(Cf::Idempotency, &key(7, "retry-1"), b"receipt");
        b.put(Cf::Idempotency, &key(8, "retry-1"), b"other");
        store.write(b, true).unwrap();
        assert_eq!(store.get(Cf::Idempotency, &key(7, "retry-1")).unwrap().as_deref(), Some(&b"receipt"[..]));
        assert_eq!(store.get(Cf::Idempotency, &key(7, "never-written")).unwrap(), None);
        let mut b = store.batch();
        b.delete_range(Cf::Idempotency, &7u64.to_be_bytes(), &8u64.to_be_bytes());
        store.write(b, true).unwrap();
        for flushed in [false, true] {
            assert_eq!(store.get(Cf::Idempotency, &key(7, "retry-1")).unwrap(), None, "flushed: {flushed}");
            assert_eq!(store.get(Cf::Idempotency, &key(8, "retry-1")).unwrap().as_deref(), Some(&b"other"[..]));
            store.flush_all().unwrap();
        }
    }

    /// Flushes and compactions write with O_DIRECT only where the data
    /// directory's file system takes it, and either way every row written
    /// comes back after a flush, a compaction to the last level and a
    /// reopen. Run on the temporary directory's file system and, where the
    /// machine has one, on the tmpfs of `/dev/shm` (which refuses O_DIRECT
    /// before Linux 6.6). The probe leaves no file behind.
    #[test]
    fn flushed_and_compacted_rows_read_back_whether_or_not_the_file_system_takes_o_direct() {
        let mut dirs = vec![tempfile::tempdir().unwrap()];
        if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
            dirs.push(shm);
        }
        assert!(!direct_io_supported(Path::new("/nonexistent/annal-store")), "a probe that fails reads as refused");
        let value = |i: u32| vec![(i % 251) as u8; 4096];
        for dir in &dirs {
            let direct = {
                let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
                for chunk in (0..2_000u32).collect::<Vec<_>>().chunks(500) {
                    let mut b = store.batch();
                    for &i in chunk {
                        b.put(Cf::Records, &crate::format::keys::record(1, u64::from(i)), &value(i));
                    }
                    store.write(b, false).unwrap();
                }
                store.flush_all().unwrap();
                store.compact_range(Cf::Records, &[0; 16], &[0xff; 16]);
                // What RocksDB took, from the options file it writes at open.
                let options = std::fs::read_dir(dir.path())
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("OPTIONS-"))
                    .max()
                    .unwrap();
                let text = std::fs::read_to_string(options).unwrap();
                text.contains("use_direct_io_for_flush_and_compaction=true")
            };
            assert_eq!(direct, direct_io_supported(dir.path()), "{}", dir.path().display());
            assert!(!dir.path().join(".direct-io-probe").exists());
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            for i in 0..2_000u32 {
                let got = store.get(Cf::Records, &crate::format::keys::record(1, u64::from(i))).unwrap();
                assert_eq!(got, Some(value(i)), "row {i} in {} (direct I/O: {direct})", dir.path().display());
            }
        }
    }
}
