//! What a reader sees beside the rows themselves: the tenant's distinct
//! action names (the console offers them as it types) and how many rows a
//! window holds per hour or day, split by outcome (its chart).
//!
//! **Action names** come from the `action` index alone, one seek per name:
//! every posting of a name shares the key prefix `tenant ‖ 0x04 ‖ name ‖
//! 0x00`, so after reading a name's first key the walk seeks past
//! `name ‖ 0x01` (validation keeps control characters out of action names,
//! docs/FORMAT.md "Index keys"). A tenant with a few hundred actions and
//! millions of rows costs a few hundred seeks, never a row read.
//!
//! **Counts** are taken from the rows: a window's rows are walked exactly as
//! an export walks them ([`query::scan`], the same planner, filters and
//! bulk reads that do not evict the cache pages use), and each row's
//! `recorded_at` and outcome counted. That costs one read per row, so a
//! histogram stops after `max_rows` rows and says so (`complete: false`)
//! instead of holding a reader's thread for as long as the window is big.

use std::ops::ControlFlow;

use crate::core::sealing::Rows;
use crate::error::{Error, FieldError, Result};
use crate::event::{Limits, Outcome};
use crate::format::index::IndexKind;
use crate::query::{self, Query};
use crate::storage::{Cf, ReadMode, Store};

/// Most buckets one histogram may have (a year by the day is 366; a month
/// by the hour 744).
pub const MAX_BUCKETS: u64 = 2000;

/// A bucket's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
}

impl Bucket {
    /// The width in ns.
    pub fn ns(self) -> u64 {
        match self {
            Bucket::Hour => 3_600 * 1_000_000_000,
            Bucket::Day => 86_400 * 1_000_000_000,
        }
    }

    /// `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    /// Parses `hour` or `day`; the error names `field`.
    pub fn parse(field: &str, v: &str) -> Result<Bucket> {
        match v {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            _ => Err(Error::InvalidQuery(FieldError::new(field, "must be `hour` or `day`"))),
        }
    }
}

/// Rows of one bucket by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// `outcome: success`.
    pub success: u64,
    /// `outcome: failure`.
    pub failure: u64,
    /// `outcome: denied`.
    pub denied: u64,
    /// No outcome given.
    pub none: u64,
}

impl Counts {
    /// Every row of the bucket.
    pub fn total(&self) -> u64 {
        self.success + self.failure + self.denied + self.none
    }

    fn add(&mut self, outcome: Option<Outcome>) {
        match outcome {
            Some(Outcome::Success) => self.success += 1,
            Some(Outcome::Failure) => self.failure += 1,
            Some(Outcome::Denied) => self.denied += 1,
            None => self.none += 1,
        }
    }
}

/// Rows of a window per bucket; see [`crate::Engine::histogram`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// The bucket width.
    pub bucket: Bucket,
    /// Start of the first bucket, ns since the Unix epoch: the window's
    /// start rounded down to a whole hour or day (UTC).
    pub start: u64,
    /// Every bucket of the window in time order, empty ones included;
    /// bucket `i` covers `[start + i·width, start + (i+1)·width)`.
    pub buckets: Vec<Counts>,
    /// Rows counted.
    pub rows: u64,
    /// Every row of the window was counted (not stopped at `max_rows`).
    pub complete: bool,
}

impl Histogram {
    /// `query`'s window in `bucket`s with nothing counted yet (a tenant
    /// without rows has this one). The window is required and may hold at
    /// most [`MAX_BUCKETS`]; the errors name `from`, `to` or `bucket`.
    pub fn empty(query: &Query, bucket: Bucket) -> Result<Histogram> {
        let (Some(from), Some(to)) = (query.from, query.to) else {
            let missing = if query.from.is_none() { "from" } else { "to" };
            return Err(Error::InvalidQuery(FieldError::new(missing, "a histogram needs a window: give `from` and `to`")));
        };
        let width = bucket.ns();
        let start = from - from % width;
        let count = to.saturating_sub(start).div_ceil(width);
        if count > MAX_BUCKETS {
            return Err(Error::InvalidQuery(FieldError::new(
                "bucket",
                format!("the window holds {count} buckets of a {}; at most {MAX_BUCKETS}", bucket.as_str()),
            )));
        }
        let buckets = vec![Counts::default(); usize::try_from(count).unwrap_or(0)];
        Ok(Histogram { bucket, start, buckets, rows: 0, complete: true })
    }
}

/// Counts `query`'s rows of tenant `n` per bucket; see [`crate::Engine::histogram`].
pub(crate) fn histogram(
    store: &Rows,
    limits: &Limits,
    n: u64,
    query: &Query,
    bucket: Bucket,
    max_rows: u64,
) -> Result<Histogram> {
    let mut h = Histogram::empty(query, bucket)?;
    let (start, width) = (h.start, bucket.ns());
    let mut full = false;
    query::scan(store, limits, n, query, &mut |r| {
        if h.rows == max_rows {
            full = true;
            return ControlFlow::Break(());
        }
        h.rows += 1;
        // The walk keeps to the window, so the index is in range; a row
        // outside it would be a planner bug, not a reason to panic.
        let i = r.recorded_at.checked_sub(start).and_then(|d| usize::try_from(d / width).ok()).unwrap_or(usize::MAX);
        if let Some(b) = h.buckets.get_mut(i) {
            b.add(r.event.outcome);
        }
        ControlFlow::Continue(())
    })?;
    h.complete = !full;
    Ok(h)
}

/// Tenant `n`'s distinct action names that start with `prefix`, sorted, at
/// most `limit` of them, and whether that is all; see
/// [`crate::Engine::action_names`].
pub(crate) fn action_names(store: &Store, n: u64, prefix: &str, limit: usize) -> Result<(Vec<String>, bool)> {
    let kind = IndexKind::Action as u8;
    let mut lo = n.to_be_bytes().to_vec();
    lo.push(kind);
    lo.extend_from_slice(prefix.as_bytes());
    let mut hi = n.to_be_bytes().to_vec();
    hi.push(kind + 1);
    let mut it = store.iter(Cf::Index, &lo, &hi, false, ReadMode::Interactive);
    let mut names = Vec::new();
    while let Some((key, _)) = it.next()? {
        // tenant(8) ‖ kind(1) ‖ name ‖ 0x00 ‖ last seq(8)
        let name = key
            .get(9..key.len().saturating_sub(8))
            .and_then(|v| v.strip_suffix(&[0]))
            .ok_or_else(|| Error::Corrupt(format!("action index key of {} bytes", key.len())))?;
        if !name.starts_with(prefix.as_bytes()) {
            break;
        }
        if names.len() == limit {
            return Ok((names, false));
        }
        names.push(String::from_utf8_lossy(name).into_owned());
        let mut past = key[..9 + name.len()].to_vec();
        past.push(1);
        it.seek(&past);
    }
    Ok((names, true))
}
