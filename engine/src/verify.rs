//! Chain verification: recompute every leaf and link from the stored bytes.
//!
//! Verification trusts nothing stored about the chain except the bytes of
//! each event: leaves are rehashed, links recomputed from the previous
//! *recomputed* head, seqs checked for gaps, and at the end the tenant's head
//! entry is compared with the last row so a cut-off tail is noticed too.
//! It reports the first bad seq and why; later damage may hide behind it.
//!
//! **After retention.** A chain whose prefix retention deleted starts from
//! its [`RetentionAnchor`]: the first remaining row must link to the
//! anchor's head, at the anchor's seq + 1. Without an anchor the chain
//! starts at the genesis and seq 1, so a prefix that vanished otherwise is a
//! gap. Every `annal.retention.purged` row met on the way is checked against
//! the anchor: a deletion the chain records must not reach past it, and one
//! that ends at it must name its head.
//!
//! **The index.** [`check_index`] proves that a tenant's index holds exactly
//! the entries its rows call for (see `crate::index`).
//!
//! Verification needs only the store: it reads nothing the writer holds
//! in memory, so it checks what is on disk, not what annal believes.

use std::collections::HashMap;
use std::ops::{Bound, RangeBounds};

use crate::core::sealing::Rows;
use crate::error::{Error, Result};
use crate::format::chain::{self, Hash};
use crate::format::content::{ClearRef, ContentRef, RECORD_FORMAT_V2};
use crate::format::index::{decode_posting, key_seq, pseudonyms_of, time_key, with_seq, IndexKind, IndexTemplate, Indexed};
use crate::format::keys;
use crate::format::record::{event_action, ChainHead, DecodeError, Envelope, EventRef, StoredRecord};
use crate::format::retention::{RetentionAnchor, PURGED_ACTION};
use crate::storage::{Cf, ReadMode, Store};

/// A successfully verified stretch of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// First seq verified (0 when the range held no rows).
    pub first_seq: u64,
    /// Last seq verified (0 when the range held no rows).
    pub last_seq: u64,
    /// Rows verified.
    pub count: u64,
    /// Head after `last_seq` (the genesis or starting head when no rows).
    pub head: Hash,
    /// Where the chain begins when retention deleted its prefix.
    pub anchor: Option<RetentionAnchor>,
    /// Rows of event format 3 whose content was not checked against the
    /// commitment their leaf covers: sealed under a key this engine could
    /// not unwrap (no key provider, or the tenant's key destroyed), or a
    /// verification asked to check the chain alone. Their chain verified.
    pub content_unchecked: u64,
}

impl VerifyReport {
    /// A range that held no rows, ending at `head`.
    fn empty(head: Hash, anchor: Option<RetentionAnchor>) -> VerifyReport {
        VerifyReport { first_seq: 0, last_seq: 0, count: 0, head, anchor, content_unchecked: 0 }
    }
}

/// Why a chain is broken at some seq.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakReason {
    /// The stored value could not be decoded (checksum, format, body).
    Undecodable(String),
    /// The event's bytes do not hash to the stored leaf.
    LeafMismatch,
    /// The recomputed link differs from the stored head.
    LinkMismatch,
    /// A seq is missing: the next row found has this seq.
    Gap {
        /// The seq found where the expected one should be.
        found: u64,
    },
    /// `recorded_at` is earlier than the previous row's.
    TimeWentBackwards,
    /// Rows are missing at the end: the head entry says the chain is longer.
    MissingTail {
        /// The last seq the head entry records.
        head_seq: u64,
    },
    /// The tenant's head entry disagrees with its last row.
    HeadEntryMismatch,
    /// An `annal.retention.purged` row disagrees with the retention anchor:
    /// it records a deletion beyond the anchor, or ending at it with another head.
    AnchorMismatch,
    /// The row at a signed checkpoint's seq is gone or no longer holds the
    /// head the checkpoint signed (a verification resumed from it,
    /// `Engine::verify_since_checkpoint`).
    CheckpointMismatch,
    /// A row's content (event format 3) does not open under its tenant's
    /// key, or does not hash to the commitment its leaf covers.
    ContentMismatch,
}

impl std::fmt::Display for BreakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakReason::Undecodable(why) => write!(f, "undecodable record: {why}"),
            BreakReason::LeafMismatch => write!(f, "leaf mismatch: the event's bytes do not hash to the stored leaf"),
            BreakReason::LinkMismatch => write!(f, "broken link: the recomputed head differs from the stored head"),
            BreakReason::Gap { found } => write!(f, "gap: the next stored row is seq {found}"),
            BreakReason::TimeWentBackwards => write!(f, "recorded_at earlier than the previous row's"),
            BreakReason::MissingTail { head_seq } => write!(f, "missing rows: the chain head records seq {head_seq}"),
            BreakReason::HeadEntryMismatch => write!(f, "the chain head entry disagrees with the last row"),
            BreakReason::AnchorMismatch => {
                write!(f, "an annal.retention.purged row disagrees with the retention anchor")
            }
            BreakReason::CheckpointMismatch => {
                write!(f, "the row at the latest checkpoint's seq is gone or no longer holds the head the checkpoint signed")
            }
            BreakReason::ContentMismatch => {
                write!(f, "content mismatch: the row's content does not open, or does not hash to the commitment its leaf covers")
            }
        }
    }
}

/// The first point where a chain fails verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first bad seq.
    pub seq: u64,
    /// What is wrong there.
    pub reason: BreakReason,
    /// Rows verified before it.
    pub verified: u64,
}

/// Result of [`crate::Engine::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Every row in the range checked out.
    Intact(VerifyReport),
    /// The first problem found.
    Broken(ChainBreak),
}

impl VerifyOutcome {
    /// True for [`VerifyOutcome::Intact`].
    pub fn is_intact(&self) -> bool {
        matches!(self, VerifyOutcome::Intact(_))
    }
}

const CHUNK: usize = 1024;

/// Verifies `tenant`'s chain over `range` from the stored bytes; with
/// `content`, also each format 3 row's content against its commitment,
/// where the row opens (the chain alone needs no key).
pub(crate) fn verify(
    store: &Store,
    content: Option<&Rows>,
    tenant: &str,
    number: u64,
    range: impl RangeBounds<u64>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyOutcome> {
    let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
    let mut attempts = 0;
    loop {
        let before = anchor_for_verify(store, number).ok().flatten().map(|a| a.seq);
        let outcome = verify_once(store, content, tenant, number, bounds, progress)?;
        // A retention run deleting beside the walk makes rows vanish under
        // it, which looks like a gap or a cut-off tail: if the anchor moved
        // meanwhile, verify again from the new one.
        if let VerifyOutcome::Broken(b) = &outcome {
            let after = anchor_for_verify(store, number).ok().flatten().map(|a| a.seq);
            let vanished = matches!(b.reason, BreakReason::Gap { .. } | BreakReason::MissingTail { .. });
            if vanished && after != before && attempts < 64 {
                attempts += 1;
                continue;
            }
        }
        return Ok(outcome);
    }
}

fn verify_once(
    store: &Store,
    content: Option<&Rows>,
    tenant: &str,
    number: u64,
    range: (Bound<u64>, Bound<u64>),
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyOutcome> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s.max(1),
        Bound::Excluded(&s) => s.saturating_add(1).max(1),
        Bound::Unbounded => 1,
    };
    let (end, to_the_end) = match range.end_bound() {
        Bound::Included(&e) => (e, false),
        Bound::Excluded(&e) => (e.saturating_sub(1), false),
        Bound::Unbounded => (u64::MAX, true),
    };
    let broken = |seq, reason, verified| Ok(VerifyOutcome::Broken(ChainBreak { seq, reason, verified }));

    let anchor = match anchor_for_verify(store, number) {
        Ok(a) => a,
        Err(e) => return broken(1, BreakReason::Undecodable(format!("retention anchor: {e}")), 0),
    };
    let floor = anchor.map_or(0, |a| a.seq);
    if floor > 0 && end <= floor {
        // Every row of the range was deleted by retention.
        let head = anchor.map(|a| a.head).unwrap_or_default();
        return Ok(VerifyOutcome::Intact(VerifyReport::empty(head, anchor)));
    }
    let start = start.max(floor + 1);

    // The head to link from: genesis, or the stored head of the row before
    // the range (a partial verification trusts that one row's head).
    if start > 1 {
        // A range that starts past the recorded end holds no rows.
        if let Some(v) = store.get(Cf::Heads, &keys::head(number))? {
            if let Ok(h) = ChainHead::decode(&v) {
                if h.seq < start {
                    return Ok(VerifyOutcome::Intact(VerifyReport::empty(h.head, anchor)));
                }
            }
        }
    }
    let (mut prev_head, mut prev_ra) = if let Some(a) = anchor.filter(|a| a.seq + 1 == start) {
        (a.head, a.recorded_at)
    } else if start == 1 {
        (chain::genesis(tenant), 0)
    } else {
        match store.get(Cf::Records, &keys::record(number, start - 1))? {
            None => return broken(start - 1, BreakReason::Gap { found: start }, 0),
            Some(v) => match StoredRecord::decode(&v) {
                Ok(r) => (r.head, r.recorded_at),
                Err(e) => return broken(start - 1, BreakReason::Undecodable(e.to_string()), 0),
            },
        }
    };

    let mut expected = start;
    let mut count = 0u64;
    let mut content_unchecked = 0u64;
    let upper = if end == u64::MAX { keys::record(number + 1, 0) } else { keys::record(number, end + 1) };
    let mut from = keys::record(number, start);
    'scan: loop {
        let rows = store.scan(Cf::Records, &from, &upper, false, CHUNK, ReadMode::Bulk)?;
        let full = rows.len() == CHUNK;
        for (k, v) in &rows {
            let Some(seq) = keys::record_seq(k) else {
                return Err(Error::Corrupt("malformed record key".into()));
            };
            if seq != expected {
                return broken(expected, BreakReason::Gap { found: seq }, count);
            }
            // Read in place: verification copies nothing per row.
            let rec = match Envelope::decode(v) {
                Ok(r) => r,
                Err(e) => return broken(seq, BreakReason::Undecodable(e.to_string()), count),
            };
            if let Some(reason) = row_problem(&rec, v, seq, number, anchor.as_ref(), content, &mut content_unchecked) {
                return broken(seq, reason, count);
            }
            if rec.recorded_at < prev_ra {
                return broken(seq, BreakReason::TimeWentBackwards, count);
            }
            let link = chain::link_hash(&prev_head, seq, rec.recorded_at, &rec.leaf);
            if link != rec.head {
                return broken(seq, BreakReason::LinkMismatch, count);
            }
            prev_head = link;
            prev_ra = rec.recorded_at;
            expected = seq + 1;
            count += 1;
            if count.is_multiple_of(65_536) {
                progress(count);
            }
        }
        match rows.last() {
            Some((k, _)) if full => {
                from = keys::record(number, keys::record_seq(k).unwrap_or(u64::MAX).saturating_add(1));
                continue 'scan;
            }
            _ => break,
        }
    }
    progress(count);
    let last = expected - 1;

    // The tail: does the head entry agree with the last row seen?
    let head_entry = match store.get(Cf::Heads, &keys::head(number))? {
        None => None,
        Some(v) => match ChainHead::decode(&v) {
            Ok(h) => Some(h),
            Err(e) => return broken(last.max(1), BreakReason::Undecodable(format!("chain head entry: {e}")), count),
        },
    };
    let head_seq = head_entry.map_or(0, |h| h.seq);
    if head_seq > last && (to_the_end || end > last) {
        return broken(last + 1, BreakReason::MissingTail { head_seq }, count);
    }
    if to_the_end || end >= head_seq {
        match head_entry {
            Some(h) if h.seq < last => return broken(h.seq + 1, BreakReason::HeadEntryMismatch, count),
            Some(h) if h.seq == last && last > 0 && h.head != prev_head => {
                return broken(last, BreakReason::HeadEntryMismatch, count)
            }
            None if last > 0 => return broken(last, BreakReason::HeadEntryMismatch, count),
            _ => {}
        }
    }
    Ok(VerifyOutcome::Intact(VerifyReport {
        content_unchecked,
        first_seq: if count > 0 { start } else { 0 },
        last_seq: if count > 0 { last } else { 0 },
        count,
        head: prev_head,
        anchor,
    }))
}

/// What the anchor of tenant `n` says, for the verifier: a damaged anchor
/// is a break the report names, not an error.
fn anchor_for_verify(store: &Store, n: u64) -> std::result::Result<Option<RetentionAnchor>, DecodeError> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_ANCHOR, n)) {
        Ok(None) => Ok(None),
        Ok(Some(v)) => RetentionAnchor::decode(&v).map(Some),
        Err(e) => Err(DecodeError::Body(e.to_string())),
    }
}

/// What is wrong with one row on its own, if anything: its action, an
/// `annal.retention.purged` row against the anchor, its leaf, and (with
/// `content`, where the row opens) its content against its commitment;
/// counts a format 3 row whose content was not checked.
fn row_problem(
    rec: &Envelope<'_>,
    v: &[u8],
    seq: u64,
    number: u64,
    anchor: Option<&RetentionAnchor>,
    content: Option<&Rows>,
    content_unchecked: &mut u64,
) -> Option<BreakReason> {
    // Only `annal.retention.purged` rows are read beyond their action.
    match event_action(rec.event) {
        Ok(PURGED_ACTION) => {
            let metadata = EventRef::decode(rec.event).ok().and_then(|e| e.metadata);
            if !purge_agrees(metadata, anchor) {
                return Some(BreakReason::AnchorMismatch);
            }
        }
        Ok(_) => {}
        Err(e) => return Some(BreakReason::Undecodable(e.to_string())),
    }
    if chain::leaf_hash(rec.event) != rec.leaf {
        return Some(BreakReason::LeafMismatch);
    }
    if v.first() == Some(&RECORD_FORMAT_V2) {
        match content.map(|rows| content_agrees(rows, number, seq, v, rec.event)) {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return Some(BreakReason::ContentMismatch),
            Some(Err(_)) | None => *content_unchecked += 1,
        }
    }
    None
}

/// Whether row `seq`'s content (stored value `v`, clear part `clear`)
/// opens and hashes to the commitment `clear` ends in; an error when this
/// engine cannot open it (no key provider, the key destroyed), which
/// leaves the content unchecked.
fn content_agrees(rows: &Rows, n: u64, seq: u64, v: &[u8], clear: &[u8]) -> Result<bool> {
    let opened = match rows.open(n, seq, v) {
        Ok(o) => o,
        // Sealed bytes that do not authenticate under their key: changed.
        Err(Error::Corrupt(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let agrees = (|| -> std::result::Result<bool, DecodeError> {
        let commitment = ClearRef::decode(clear)?.content;
        Ok(ContentRef::decode(opened.content()?)?.commitment() == commitment)
    })();
    Ok(agrees.unwrap_or(false))
}

/// What `Engine::check_index` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexCheck {
    /// Rows whose entries were all present.
    pub rows: u64,
    /// Index entries the rows call for: one per row and indexed value, one
    /// per run of rows with the same `recorded_at`.
    pub expected_entries: u64,
    /// Index entries stored under the tenant: the rows its postings hold,
    /// its time entries that start a run, and any entry naming no such row.
    pub stored_entries: u64,
    /// Up to 16 seqs of rows with a missing entry.
    pub missing: Vec<u64>,
}

impl IndexCheck {
    /// Whether the index holds exactly the entries of the tenant's rows.
    pub fn is_consistent(&self) -> bool {
        self.missing.is_empty() && self.expected_entries == self.stored_entries
    }
}

/// Postings recently read by [`check_index`], by prefix: the rows of one
/// group share their postings, so each is read once, not once per row.
#[derive(Default)]
struct PostingCache(HashMap<Vec<u8>, (u64, Vec<u64>)>);

impl PostingCache {
    /// Whether the posting of `prefix` holding `seq` holds it.
    fn holds(&mut self, store: &Store, prefix: &[u8], seq: u64) -> Result<bool> {
        if let Some((last, seqs)) = self.0.get(prefix) {
            if seqs.first().is_some_and(|f| *f <= seq) && seq <= *last {
                return Ok(seqs.binary_search(&seq).is_ok());
            }
        }
        let mut it = store.iter(Cf::Index, &with_seq(prefix, seq), &with_seq(prefix, u64::MAX), false, ReadMode::Bulk);
        let Some((k, v)) = it.next()? else { return Ok(false) };
        let last = key_seq(k).ok_or_else(|| Error::Corrupt("malformed index key".into()))?;
        let seqs = decode_posting(last, v).map_err(|e| Error::Corrupt(format!("index posting of seq {last}: {e}")))?;
        let held = seqs.binary_search(&seq).is_ok();
        if self.0.len() >= 4096 {
            self.0.clear();
        }
        self.0.insert(prefix.to_vec(), (last, seqs));
        Ok(held)
    }
}

/// Checks that tenant `n`'s index holds exactly its rows' entries: every
/// row is in the posting of each of its values, the first row of every run
/// of equal `recorded_at` has its time entry, and the index holds nothing
/// else (the rows its postings hold and its run-starting time entries add
/// up to what the rows call for; a time entry naming no row of that time
/// counts as one too many). Memory stays bounded.
pub(crate) fn check_index(store: &Rows, n: u64) -> Result<IndexCheck> {
    let values = store.value_key(n)?;
    let mut report = IndexCheck::default();
    let mut cache = PostingCache::default();
    let (from, to) = (keys::record(n, 0), keys::record(n + 1, 0));
    let mut it = store.iter(Cf::Records, &from, &to, false, ReadMode::Bulk);
    let mut previous: Option<(u64, u64)> = None;
    while let Some((k, v)) = it.next()? {
        let seq = keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed record key".into()))?;
        let record = store.open(n, seq, v)?.record(seq).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        let mut whole = true;
        if previous.is_none_or(|(s, at)| s + 1 != seq || at != record.recorded_at) {
            report.expected_entries += 1;
            whole &= store.get(Cf::Index, &time_key(n, record.recorded_at, seq))?.is_some();
        }
        previous = Some((seq, record.recorded_at));
        let pseudonyms = pseudonyms_of(&record.event);
        for part in IndexTemplate::build(&Indexed::of_record(&record.event, &pseudonyms), values.as_ref()).parts() {
            report.expected_entries += 1;
            let mut prefix = n.to_be_bytes().to_vec();
            prefix.extend_from_slice(part);
            whole &= cache.holds(store, &prefix, seq)?;
        }
        if whole {
            report.rows += 1;
        } else if report.missing.len() < 16 {
            report.missing.push(seq);
        }
    }
    let (from, to) = (n.to_be_bytes(), (n + 1).to_be_bytes());
    let mut it = store.iter(Cf::Index, &from, &to, false, ReadMode::Bulk);
    while let Some((k, v)) = it.next()? {
        let seq = key_seq(k).ok_or_else(|| Error::Corrupt("malformed index key".into()))?;
        if k.get(8) == Some(&(IndexKind::Time as u8)) && k.len() == 25 {
            let at = k.get(9..17).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_be_bytes);
            let time_of = |s: u64| -> Result<Option<u64>> {
                Ok(store
                    .get(Cf::Records, &keys::record(n, s))?
                    .and_then(|v| StoredRecord::decode(&v).ok())
                    .map(|r| r.recorded_at))
            };
            match time_of(seq)? {
                // A run's first row, or a later one (a run spanning groups
                // has an entry per group): only the first is counted.
                Some(t) if t == at => report.stored_entries += u64::from(time_of(seq.wrapping_sub(1))? != Some(at)),
                _ => report.stored_entries += 1,
            }
        } else {
            let seqs = decode_posting(seq, v).map_err(|e| Error::Corrupt(format!("index posting of seq {seq}: {e}")))?;
            report.stored_entries += seqs.len() as u64;
        }
    }
    Ok(report)
}

/// Whether an `annal.retention.purged` row's metadata is consistent with
/// the anchor: the rows it says were deleted are at or below the anchor,
/// and a deletion ending at the anchor names the anchor's head.
fn purge_agrees(metadata: Option<&str>, anchor: Option<&RetentionAnchor>) -> bool {
    let Some(m) = metadata.and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok()) else { return false };
    let (Some(through), Some(head)) = (m["through_seq"].as_u64(), m["head"].as_str().and_then(Hash::from_hex)) else {
        return false;
    };
    match anchor {
        None => false,
        Some(a) if through > a.seq => false,
        Some(a) if through == a.seq => head == a.head,
        Some(_) => true,
    }
}
