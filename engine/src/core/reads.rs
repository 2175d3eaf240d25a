//! The reads every feature shares: a tenant's durable head, one row, its
//! rows in order, the retention values stored beside a chain, the time
//! index's first seq at or after an instant, a tenant's name by number.
//! They go straight to the store and never wait for the writer.

use super::Core;
use crate::error::{Error, Result};
use crate::format::chain;
use crate::format::index::{key_seq, time_key};
use crate::format::keys;
use crate::format::record::{ChainHead, DecodeError, Envelope, Record};
use crate::format::retention::{LegalHold, PendingDeletion, Retention, RetentionAnchor};
use crate::storage::{Cf, ReadMode, Store};

fn corrupt(what: &str, n: u64, e: DecodeError) -> Error {
    Error::Corrupt(format!("{what} of tenant number {n}: {e}"))
}

/// Tenant `n`'s chain head as durably stored; the genesis of `tenant` when
/// it has no row yet.
pub(crate) fn head(store: &Store, n: u64, tenant: &str) -> Result<ChainHead> {
    match store.get(Cf::Heads, &keys::head(n))? {
        Some(v) => ChainHead::decode(&v).map_err(|e| corrupt("chain head", n, e)),
        None => Ok(ChainHead { seq: 0, recorded_at: 0, head: chain::genesis(tenant) }),
    }
}

/// The seq of tenant `n`'s last durable row (0 for none). Rows at or below
/// it are complete, index entries included.
pub(crate) fn head_seq(store: &Store, n: u64) -> Result<u64> {
    match store.get(Cf::Heads, &keys::head(n))? {
        Some(v) => Ok(ChainHead::decode(&v).map_err(|e| corrupt("chain head", n, e))?.seq),
        None => Ok(0),
    }
}

/// Tenant `n`'s retention anchor, if retention ever deleted from its chain.
pub(crate) fn anchor(store: &Store, n: u64) -> Result<Option<RetentionAnchor>> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_ANCHOR, n))? {
        None => Ok(None),
        Some(v) => RetentionAnchor::decode(&v).map(Some).map_err(|e| corrupt("retention anchor", n, e)),
    }
}

/// Whether retention deleted tenant `n`'s row `seq`.
pub(crate) fn deleted(store: &Store, n: u64, seq: u64) -> Result<bool> {
    Ok(anchor(store, n)?.is_some_and(|a| seq <= a.seq))
}

/// Tenant `n`'s retention: the stored one, or the default.
pub(crate) fn retention(store: &Store, n: u64) -> Result<Retention> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_RETENTION, n))? {
        None => Ok(Retention::default()),
        Some(v) => Retention::decode(&v).map_err(|e| corrupt("retention policy", n, e)),
    }
}

/// Tenant `n`'s legal hold, if one is on.
pub(crate) fn hold(store: &Store, n: u64) -> Result<Option<LegalHold>> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_HOLD, n))? {
        None => Ok(None),
        Some(v) => LegalHold::decode(&v).map(Some).map_err(|e| corrupt("legal hold", n, e)),
    }
}

/// The first seq of tenant `n` whose `recorded_at` is at least `at`, or
/// `None` if every row is older.
pub(crate) fn first_seq_at_or_after(store: &Store, n: u64, at: u64) -> Result<Option<u64>> {
    let from = time_key(n, at, 0);
    let to = time_key(n, u64::MAX, u64::MAX);
    let mut it = store.iter(Cf::Index, &from, &to, false, ReadMode::Interactive);
    Ok(it.next()?.and_then(|(k, _)| key_seq(k)))
}

/// The name of tenant number `n`, from the registry.
/// Tenant number `n`'s scheduled deletion, if any.
pub(crate) fn pending_deletion(store: &Store, n: u64) -> Result<Option<PendingDeletion>> {
    store
        .get(Cf::Tenants, &keys::tenant_meta(keys::TAG_DELETION, n))?
        .map(|v| PendingDeletion::decode(&v).map_err(|e| Error::Corrupt(format!("scheduled deletion of tenant {n}: {e}"))))
        .transpose()
}

pub(crate) fn tenant_name(store: &Store, n: u64) -> Result<Option<String>> {
    match store.get(Cf::Tenants, &keys::tenant_by_number(n))? {
        None => Ok(None),
        Some(v) => String::from_utf8(v).map(Some).map_err(|_| Error::Corrupt("tenant name is not UTF-8".into())),
    }
}

impl Core {
    /// The latest row of `tenant`'s chain as durably stored.
    pub fn head(&self, tenant: &str) -> Result<ChainHead> {
        head(&self.store, self.number(tenant)?, tenant)
    }

    /// One row of `tenant` by seq.
    pub fn get(&self, tenant: &str, seq: u64) -> Result<Option<Record>> {
        self.rows.record(self.number(tenant)?, seq)
    }

    /// Row `seq`'s stored head, read without opening its content (the
    /// chain needs no key).
    pub fn stored_head(&self, tenant: &str, seq: u64) -> Result<Option<crate::format::chain::Hash>> {
        let n = self.number(tenant)?;
        match self.store.get(Cf::Records, &keys::record(n, seq))? {
            None => Ok(None),
            Some(v) => Envelope::decode(&v).map(|e| Some(e.head)).map_err(|e| Error::Corrupt(format!("record {seq}: {e}"))),
        }
    }

    /// The seqs of `tenant`'s rows with `from <= recorded_at < to` (ns), as
    /// an inclusive range; `None` when no row is in it.
    pub fn seqs_recorded_in(&self, tenant: &str, from: u64, to: u64) -> Result<Option<(u64, u64)>> {
        let n = self.number(tenant)?;
        let end = head_seq(&self.store, n)? + 1;
        let lo = first_seq_at_or_after(&self.store, n, from)?.unwrap_or(end);
        let hi = first_seq_at_or_after(&self.store, n, to)?.unwrap_or(end);
        Ok((lo < hi).then(|| (lo, hi - 1)))
    }

    /// The tenant's rows in seq order, from `from_seq`.
    pub fn iter(&self, tenant: &str, from_seq: u64) -> Result<RecordIter> {
        let number = self.number(tenant)?;
        Ok(RecordIter { rows: self.rows.clone(), number, next: from_seq.max(1), buf: Vec::new().into_iter(), done: false })
    }
}

/// Iterator over a tenant's rows in seq order, read in bounded chunks
/// (constant memory however long the chain); see `Engine::iter`.
#[derive(Debug)]
pub struct RecordIter {
    rows: super::sealing::Rows,
    number: u64,
    next: u64,
    buf: std::vec::IntoIter<Result<Record>>,
    done: bool,
}

const ITER_CHUNK: usize = 256;

impl Iterator for RecordIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(item) = self.buf.next() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let from = keys::record(self.number, self.next);
            let to = keys::record(self.number + 1, 0);
            let rows = match self.rows.scan(Cf::Records, &from, &to, false, ITER_CHUNK, ReadMode::Bulk) {
                Ok(rows) => rows,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.done = rows.len() < ITER_CHUNK;
            let mut out = Vec::with_capacity(rows.len());
            for (k, v) in rows {
                let seq = keys::record_seq(&k).unwrap_or(0);
                self.next = seq.saturating_add(1);
                let record = self
                    .rows
                    .open(self.number, seq, &v)
                    .and_then(|o| o.record(seq).map_err(|e| Error::Corrupt(format!("record {seq}: {e}"))));
                out.push(record);
            }
            self.buf = out.into_iter();
        }
    }
}
