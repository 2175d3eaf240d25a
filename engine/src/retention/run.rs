//! One retention run: delete every tenant's expired prefix in bounded,
//! anchored batches, record it in the chain, compact the deleted ranges.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Map;

use super::{retention_actor, rfc3339, LegalHold, Retainer, Retention, RetentionAnchor, PURGED_ACTION};
use crate::core::append::OwnRow;
use crate::core::periodic::lower_priority;
use crate::core::reads::{self, anchor};
use crate::core::sealing::Rows;
use crate::core::writer::SideWrite;
use crate::error::{Error, FieldError, Result};
use crate::format::index::{self, IndexTemplate, Indexed};
use crate::format::keys;
use crate::format::record::{Receipt, Record};
use crate::format::tenant::RESERVED_TENANT_PREFIX;
use crate::storage::{Batch, Cf, ReadMode};

/// Rows one deletion batch takes by default: small enough that a batch is a
/// few milliseconds of work and one modest write, so appends beside it keep
/// their latency.
pub const DEFAULT_BATCH_ROWS: usize = 100;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The time to age rows against, ns since the Unix epoch; default the
    /// engine's clock. A run that deletes may not be ahead of the clock:
    /// looking ahead is for dry runs only, as deleting by a future date is
    /// deleting early.
    pub now: Option<u64>,
    /// Count what would be deleted and change nothing.
    pub dry_run: bool,
    /// Most rows one deletion batch takes; default [`DEFAULT_BATCH_ROWS`].
    pub batch_rows: usize,
    /// Compact the deleted key ranges afterwards, so the disk space and the
    /// deleted bytes really go; default on.
    pub compact: bool,
    /// After each deletion batch, wait this many times as long as the batch
    /// took; default [`DEFAULT_IDLE_RATIO`]. A run is CPU work (decoding
    /// rows to find their index keys) and a stream of tombstones RocksDB
    /// must flush and compact: idling between batches leaves the cores and
    /// the disk to the appends beside it. 0 deletes as fast as it can.
    pub idle_ratio: f64,
}

/// See [`RunOptions::idle_ratio`]: the run takes at most a seventh of one core.
pub const DEFAULT_IDLE_RATIO: f64 = 6.0;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { now: None, dry_run: false, batch_rows: DEFAULT_BATCH_ROWS, compact: true, idle_ratio: DEFAULT_IDLE_RATIO }
    }
}

/// What a run did to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRun {
    /// The tenant.
    pub tenant: String,
    /// The policy applied.
    pub retention: Retention,
    /// Rows recorded before this were due (ns).
    pub cutoff: u64,
    /// The hold that kept the tenant's rows, if any.
    pub hold: Option<LegalHold>,
    /// Rows deleted (in a dry run: that would be deleted).
    pub rows: u64,
    /// Deletion batches written.
    pub batches: u64,
    /// The anchor after the run, if the chain has one.
    pub anchor: Option<RetentionAnchor>,
    /// The `annal.retention.purged` row this run appended.
    pub purged: Option<Receipt>,
    /// Why the run could not finish this tenant (the others went on).
    pub error: Option<String>,
    /// The checkpoint made after this tenant's deletion (docs/FORMAT.md, "Checkpoints").
    pub checkpoint: Option<crate::checkpoint::Checkpoint>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The time rows were aged against (ns).
    pub now: u64,
    /// Nothing was changed.
    pub dry_run: bool,
    /// One entry per tenant, in name order (annal's own chains excluded).
    pub tenants: Vec<TenantRun>,
    /// Rows deleted over all tenants (in a dry run: that would be).
    pub rows: u64,
    /// Wall time of the run, compaction included.
    pub elapsed: Duration,
    /// Wall time of the compaction at its end.
    pub compaction: Duration,
    /// The run was asked to stop before it was done; the next run goes on.
    pub stopped: bool,
}

/// The nice value of the thread a run deletes on (Linux; 0 is normal, 19
/// the lowest). A run's CPU work is background work: on a busy machine
/// the scheduler should hand a core to an append's writer, committer and
/// caller threads the moment they wake, not after the run's time slice.
/// Not 19: under a machine saturated for hours, a run must still progress
/// (rows kept past their retention are a liability too); at 10 it gets
/// about a tenth of a core against each busy normal thread.
pub const RUN_NICE: i32 = 10;

/// Runs [`run_here`] on a thread of its own at [`RUN_NICE`], so that the
/// caller's thread keeps its priority (lowering a thread's priority cannot
/// be undone without privileges).
pub(super) fn run(r: &Retainer, opts: &RunOptions, stop: Option<&AtomicBool>) -> Result<RunReport> {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new().name("annal-retention-run".into()).spawn_scoped(s, || {
            lower_priority(RUN_NICE);
            run_here(r, opts, stop)
        })?;
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn run_here(r: &Retainer, opts: &RunOptions, stop: Option<&AtomicBool>) -> Result<RunReport> {
    let started = Instant::now();
    let clock_now = r.core.now();
    let now = opts.now.unwrap_or(clock_now);
    if now > clock_now && !opts.dry_run {
        return Err(Error::InvalidRetention(FieldError::new(
            "now",
            "is later than the engine's clock: deleting by a future date deletes rows early; use a dry run to look ahead",
        )));
    }
    if opts.batch_rows == 0 {
        return Err(Error::InvalidOption { option: "batch_rows", message: "must be at least 1".into() });
    }
    let stopping = || stop.is_some_and(|s| s.load(Ordering::SeqCst));
    let mut report = RunReport {
        now,
        dry_run: opts.dry_run,
        tenants: Vec::new(),
        rows: 0,
        elapsed: Duration::ZERO,
        compaction: Duration::ZERO,
        stopped: false,
    };
    let mut to_compact = Vec::new();
    for name in r.core.tenants.list() {
        if name.starts_with(RESERVED_TENANT_PREFIX) {
            continue;
        }
        if stopping() {
            report.stopped = true;
            break;
        }
        let mut t = TenantRun {
            tenant: name.clone(),
            retention: Retention::default(),
            cutoff: 0,
            hold: None,
            rows: 0,
            batches: 0,
            anchor: None,
            purged: None,
            error: None,
            checkpoint: None,
        };
        let result = if opts.dry_run { count(r, &name, now, &mut t) } else { purge(r, &name, now, opts, stop, &mut t) };
        match result {
            Ok(Some(n)) if t.rows > 0 || t.purged.is_some() => {
                to_compact.push((n, t.anchor.map_or(0, |a| a.seq)));
                // Signs the chain as it now begins, linked to the checkpoint
                // made before the first batch: what connects checkpoints
                // auditors kept of deleted rows to the remaining chain.
                match r.checkpoints.checkpoint(&name) {
                    Ok(cp) => t.checkpoint = Some(cp),
                    Err(e) => t.error = Some(format!("checkpoint after the run: {e}")),
                }
            }
            Ok(_) => {}
            // A tenant gone meanwhile (deleted) is simply not reported.
            Err(Error::UnknownTenant) => continue,
            Err(e) => {
                t.error = Some(e.to_string());
                // What was deleted before the error is still recorded.
                if !opts.dry_run {
                    if let Ok(Some(receipt)) = r.core.number(&name).and_then(|n| announce(r, &name, n)) {
                        t.purged = Some(receipt);
                    }
                }
            }
        }
        report.rows += t.rows;
        report.tenants.push(t);
    }
    if stopping() {
        report.stopped = true;
    }
    if opts.compact && !report.stopped && !to_compact.is_empty() {
        let started = Instant::now();
        compact(r, &to_compact)?;
        report.compaction = started.elapsed();
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Dry run of one tenant: how many rows are due, from the time index.
fn count(r: &Retainer, name: &str, now: u64, t: &mut TenantRun) -> Result<Option<u64>> {
    let store = &r.core.store;
    let n = r.core.number(name)?;
    t.retention = reads::retention(store, n)?;
    t.cutoff = t.retention.cutoff(now);
    t.hold = reads::hold(store, n)?;
    t.anchor = anchor(store, n)?;
    if t.hold.is_some() {
        return Ok(None);
    }
    let start = t.anchor.map_or(1, |a| a.seq + 1);
    let end = reads::head_seq(store, n)? + 1;
    let boundary = reads::first_seq_at_or_after(store, n, t.cutoff)?.unwrap_or(end).min(end);
    t.rows = boundary.saturating_sub(start);
    Ok(None)
}

/// Deletes one tenant's due rows batch by batch, then records the deletion.
/// Returns the tenant's number.
fn purge(
    r: &Retainer,
    name: &str,
    now: u64,
    opts: &RunOptions,
    stop: Option<&AtomicBool>,
    t: &mut TenantRun,
) -> Result<Option<u64>> {
    let store = &r.core.store;
    let n = r.core.number(name)?;
    let mut bridged = false;
    let idle = if opts.idle_ratio.is_finite() { opts.idle_ratio.clamp(0.0, 100.0) } else { DEFAULT_IDLE_RATIO };
    loop {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            break;
        }
        let batch_started = Instant::now();
        // Everything a batch decides on is read under the lock, so a hold
        // or policy change that returned before it is respected by it.
        let _guard = r.lock.lock();
        if r.core.number(name)? != n {
            return Err(Error::UnknownTenant);
        }
        t.retention = reads::retention(store, n)?;
        t.cutoff = t.retention.cutoff(now);
        t.hold = reads::hold(store, n)?;
        let previous = anchor(store, n)?;
        t.anchor = previous;
        if t.hold.is_some() {
            break;
        }
        let start = previous.map_or(1, |a| a.seq + 1);
        let end = reads::head_seq(store, n)? + 1;
        if start >= end {
            break;
        }
        let Some(taken) = take_batch(&r.core.rows, n, start, end, t.cutoff, opts.batch_rows)? else { break };
        let Taken { mut batch, count, last } = taken;
        let a = RetentionAnchor {
            seq: last.seq,
            recorded_at: last.recorded_at,
            head: last.head,
            rows_deleted: previous.map_or(0, |a| a.rows_deleted) + count,
            retention_days: t.retention.days(),
            cutoff: t.cutoff,
            deleted_at: now,
            announced_seq: previous.map_or(0, |a| a.announced_seq),
        };
        batch.put(Cf::Tenants, &keys::tenant_meta(keys::TAG_ANCHOR, n), &a.encode());
        if !bridged {
            // A checkpoint of the chain while every row about to go is
            // still there to be verified: the next checkpoint links to it.
            r.checkpoints.checkpoint(name)?;
            bridged = true;
        }
        // Not synced: an append's fsync would queue behind this one. Losing
        // unsynced batches to a power cut leaves the store before them,
        // which is consistent; the `purged` row's synced write makes every
        // batch before it durable.
        store.write(batch, false)?;
        t.anchor = Some(a);
        t.rows += count;
        t.batches += 1;
        if count < opts.batch_rows as u64 {
            break;
        }
        drop(_guard);
        std::thread::sleep(batch_started.elapsed().mul_f64(idle));
    }
    // Also finishes the record of a run that died before writing it.
    t.purged = announce(r, name, n)?;
    if t.purged.is_some() {
        t.anchor = anchor(store, n)?;
    }
    Ok(Some(n))
}

/// One deletion batch: the rows it deletes and everything that goes with
/// them, not yet written.
struct Taken<'s> {
    batch: Batch<'s>,
    /// Rows deleted.
    count: u64,
    /// The last of them: the new anchor.
    last: Record,
}

/// Builds the batch that deletes tenant `n`'s rows from `start` (below
/// `end`, the durable head + 1) recorded before `cutoff`, at most `limit`
/// of them: the records, their index postings and time entries, and their
/// idempotency entries. `None` when no row is due.
fn take_batch<'s>(store: &'s Rows, n: u64, start: u64, end: u64, cutoff: u64, limit: usize) -> Result<Option<Taken<'s>>> {
    // An encrypted tenant's personal index values and idempotency keys are
    // stored as keyed hashes: found again through its value key.
    let values = store.value_key(n)?;
    // One row more than the batch takes: the first one kept, whose time
    // entry the batch must leave (or put back) for windows starting there.
    let rows = store.scan(Cf::Records, &keys::record(n, start), &keys::record(n, end), false, limit + 1, ReadMode::Bulk)?;
    let mut batch = store.batch();
    let mut first: Option<(u64, u64)> = None;
    let mut last: Option<Record> = None;
    let mut next: Option<(u64, u64)> = None;
    let mut removals: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
    for (k, v) in &rows {
        let seq = keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed record key".into()))?;
        let expected = last.as_ref().map_or(start, |r| r.seq + 1);
        if seq != expected {
            // The anchor must say exactly what was deleted: never delete
            // across a hole in the chain (verify reports it).
            return Err(Error::Corrupt(format!("seq {expected} is missing; retention stops before it")));
        }
        let record = store.open(n, seq, v)?.record(seq).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        if record.recorded_at >= cutoff || seq - start == limit as u64 {
            next = Some((seq, record.recorded_at));
            break;
        }
        // Each value's postings are scattered over the index; the records
        // and the time entries of a batch are each one contiguous range,
        // deleted below with one range tombstone.
        let pseudonyms = index::pseudonyms_of(&record.event);
        for part in IndexTemplate::build(&Indexed::of_record(&record.event, &pseudonyms), values.as_ref()).parts() {
            let mut prefix = n.to_be_bytes().to_vec();
            prefix.extend_from_slice(part);
            removals.entry(prefix).or_default().push(seq);
        }
        first.get_or_insert((seq, record.recorded_at));
        if let Some(key) = &record.event.idempotency_key {
            let key = values.as_ref().map_or_else(|| key.clone(), |v| v.idempotency_key(key));
            let ikey = keys::idempotency(n, &key);
            // A key reused after its window points at the later row: keep that.
            if let Some(v) = store.get(Cf::Idempotency, &ikey)? {
                if Receipt::decode(&v).is_ok_and(|r| r.seq == seq) {
                    batch.delete(Cf::Idempotency, &ikey);
                }
            }
        }
        last = Some(record);
    }
    let (Some(last), Some((first_seq, first_at))) = (last, first) else { return Ok(None) };
    crate::core::postings::unindex(store, &removals, &mut batch)?;
    // No other row has a key in these ranges: seqs are contiguous, and
    // time keys sort by (recorded_at, seq), both non-decreasing along the chain.
    batch.delete_range(Cf::Records, &keys::record(n, first_seq), &keys::record(n, last.seq + 1));
    batch.delete_range(Cf::Index, &index::time_key(n, first_at, first_seq), &index::time_key(n, last.recorded_at, last.seq + 1));
    if let Some((seq, at)) = next {
        // The first kept row's run may have begun among the deleted rows,
        // whose time entry just went: it starts at this row now.
        batch.put(Cf::Index, &index::time_key(n, at, seq), &[]);
    }
    Ok(Some(Taken { batch, count: last.seq - first_seq + 1, last }))
}

/// Appends `annal.retention.purged` for the deletions the chain does not
/// record yet, in the batch that moves the anchor's `announced_seq` up.
fn announce(r: &Retainer, name: &str, n: u64) -> Result<Option<Receipt>> {
    let _guard = r.lock.lock();
    if r.core.number(name)? != n {
        return Err(Error::UnknownTenant);
    }
    let Some(a) = anchor(&r.core.store, n)? else { return Ok(None) };
    if a.announced_seq >= a.seq {
        return Ok(None);
    }
    let policy = reads::retention(&r.core.store, n)?;
    let mut m = Map::new();
    m.insert("from_seq".into(), (a.announced_seq + 1).into());
    m.insert("through_seq".into(), a.seq.into());
    m.insert("rows".into(), (a.seq - a.announced_seq).into());
    m.insert("head".into(), a.head.to_hex().into());
    m.insert("recorded_at".into(), a.recorded_at.into());
    m.insert("rows_deleted_total".into(), a.rows_deleted.into());
    m.insert("retention_days".into(), a.retention_days.into());
    m.insert("tier".into(), if policy.days() == a.retention_days { policy.tier_name() } else { "custom" }.into());
    m.insert("cutoff".into(), rfc3339(a.cutoff));
    m.insert("deleted_at".into(), rfc3339(a.deleted_at));
    let announced = RetentionAnchor { announced_seq: a.seq, ..a };
    let side = vec![SideWrite::TenantMeta { tag: keys::TAG_ANCHOR, value: Some(announced.encode()) }];
    r.core.append_own(name, PURGED_ACTION, &retention_actor(), &m, OwnRow { side, ..OwnRow::default() }).map(Some)
}

/// Flushes, so no WAL file keeps deleted rows, then compacts each tenant's
/// deleted ranges to the last level, where the tombstones drop them.
fn compact(r: &Retainer, tenants: &[(u64, u64)]) -> Result<()> {
    let store = &r.core.store;
    store.flush_all()?;
    for &(n, through) in tenants {
        store.compact_range(Cf::Records, &keys::record(n, 0), &keys::record(n, through.saturating_add(1)));
        // A row's index entries are spread over all of the tenant's values.
        store.compact_range(Cf::Index, &n.to_be_bytes(), &(n + 1).to_be_bytes());
        store.compact_range(Cf::Idempotency, &n.to_be_bytes(), &(n + 1).to_be_bytes());
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_run_thread_lowers_its_own_priority_and_no_other() {
        let before = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let inside = std::thread::spawn(|| {
            lower_priority(RUN_NICE);
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(inside, RUN_NICE.max(before));
        assert_eq!(rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap(), before);
    }
}
