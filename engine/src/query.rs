//! Queries: one tenant's rows in a `recorded_at` window, filtered by indexed
//! fields, in pages that resume exactly where the last one ended.
//!
//! **Planning.** A window `[from, to)` becomes a seq range `[lo, hi)` with two
//! seeks on the time index (seq order is time order within a chain). Each
//! filter names an index whose entries for its value are that value's rows in
//! seq order (see [`crate::index`]). The planner probes every candidate (the
//! chain itself, whose cost is `hi - lo`, and each filter's index) by reading
//! up to [`PROBE`] entries from where the walk starts, and estimates its rows
//! in the range from how many seqs those entries span. The cheapest drives the
//! walk; every other filter is checked on the rows it yields. So no query
//! reads the whole chain when a window or an indexed filter narrows it, and
//! [`Explain`] says what was chosen and how many rows were examined.
//!
//! **Paging.** A cursor holds the seq of the last row returned, the
//! tenant and a fingerprint of the query. Seqs only grow and rows are
//! immutable, so resuming after a seq is exact: nothing is skipped or
//! repeated, also after a restart. Rows appended while a walk goes on have
//! larger seqs than any row already seen, so an ascending walk may meet them
//! at its end and never in its middle; a descending walk never does.
//!
//! **Exports.** Pages, [`QueryStream`] (owned [`Record`]s) and
//! [`crate::Engine::scan`] (each row lent to a visitor as a [`RecordRef`]
//! borrowing the bytes just read) share one walk, `Planned::visit`. A
//! stream or scan fixes the head when it starts, so it is a snapshot, and
//! re-plans every few thousand rows from the last seq it returned, so no
//! RocksDB iterator lives for a whole export. Their reads are
//! `ReadMode::Bulk`: a window read once must not evict the blocks that
//! interactive pages reuse.

use std::fmt::Write as _;
use std::ops::ControlFlow;

use crate::core::reads;
use crate::core::sealing::Rows;
use crate::error::{Error, FieldError, Result};
use crate::event::{self, Limits, Outcome};
use crate::format::index::{self, IndexKind, ValueKey};
use crate::format::keys;
use crate::format::record::{Record, RecordRef};
use crate::redact::{self, Redactor, Strategy};
use crate::storage::{Cf, ReadMode, Store, StoreIter};

/// Rows a page holds when no limit is given.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most rows a page may hold.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Index entries the planner reads per candidate to estimate its size.
pub const PROBE: usize = 64;

/// Walk direction, in seq (= `recorded_at`) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first. The default.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

/// A filter on `target`: both its type and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFilter {
    /// `target.type`.
    pub kind: String,
    /// `target.id`.
    pub id: String,
}

/// What to read from a tenant's chain. Every filter given must match (AND).
///
/// Build it with struct update syntax or [`Query::set`], which parses the
/// textual form the command line and the HTTP API take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Window start on `recorded_at`, ns since the Unix epoch, inclusive.
    pub from: Option<u64>,
    /// Window end on `recorded_at`, ns since the Unix epoch, exclusive.
    pub to: Option<u64>,
    /// `actor.id` equals.
    pub actor: Option<String>,
    /// `actor.on_behalf_of` equals.
    pub on_behalf_of: Option<String>,
    /// `action` equals.
    pub action: Option<String>,
    /// `action` is this dotted prefix or lies below it: `iam` and `iam.`
    /// both match `iam`, `iam.role.grant`, not `iamx.login`.
    pub action_prefix: Option<String>,
    /// `target` type and id equal.
    pub target: Option<TargetFilter>,
    /// `session_id` equals.
    pub session: Option<String>,
    /// `key_ref` equals.
    pub key_ref: Option<String>,
    /// `outcome` equals.
    pub outcome: Option<Outcome>,
    /// Some field's value was pseudonymized from this raw value (or is this
    /// `pii_…` token). [`crate::Engine::query`] turns a raw value into the
    /// tenant's token; the raw value itself is stored nowhere.
    pub pseudonym: Option<String>,
    /// Walk direction.
    pub order: Order,
}

/// The names [`Query::set`] takes.
pub const FILTER_NAMES: [&str; 12] = [
    "from",
    "to",
    "actor",
    "on_behalf_of",
    "action",
    "action_prefix",
    "target",
    "session",
    "key_ref",
    "outcome",
    "pseudonym",
    "order",
];

fn bad(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidQuery(FieldError::new(field, message))
}

/// Parses a window bound: RFC 3339 (any offset) or integer ns since the epoch.
pub fn parse_instant(field: &str, v: &str) -> Result<u64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().map_err(|_| bad(field, "out of range"));
    }
    let ns = event::parse_rfc3339_nanos(v).map_err(|m| bad(field, m))?;
    u64::try_from(ns).map_err(|_| bad(field, "before 1970"))
}

impl Query {
    /// Sets one filter from its textual form, as the command line and the
    /// HTTP API receive it. An unknown `name` is an error that lists the known
    /// ones; so is a malformed value.
    ///
    /// `from`/`to`: RFC 3339 or ns since the epoch; `target`: `type:id`
    /// (split at the first `:`); `outcome`: `success`, `failure`, `denied`;
    /// `order`: `asc` or `desc`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let s = || Some(value.to_string());
        match name {
            "from" => self.from = Some(parse_instant(name, value)?),
            "to" => self.to = Some(parse_instant(name, value)?),
            "actor" => self.actor = s(),
            "on_behalf_of" => self.on_behalf_of = s(),
            "action" => self.action = s(),
            "action_prefix" => self.action_prefix = s(),
            "target" => {
                let (kind, id) = value.split_once(':').ok_or_else(|| bad(name, "expected `type:id`"))?;
                self.target = Some(TargetFilter { kind: kind.to_string(), id: id.to_string() });
            }
            "session" => self.session = s(),
            "key_ref" => self.key_ref = s(),
            "pseudonym" => self.pseudonym = s(),
            "outcome" => {
                self.outcome = Some(match value {
                    "success" => Outcome::Success,
                    "failure" => Outcome::Failure,
                    "denied" => Outcome::Denied,
                    _ => return Err(bad(name, "expected one of `success`, `failure`, `denied`")),
                })
            }
            "order" => {
                self.order = match value {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    _ => return Err(bad(name, "expected `asc` or `desc`")),
                }
            }
            _ => return Err(bad(name, format!("unknown filter; expected one of {}", FILTER_NAMES.join(", ")))),
        }
        Ok(())
    }

    /// Checks every filter; returns the action prefix without its trailing dot.
    fn check(&self, limits: &Limits) -> Result<Option<String>> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if to <= from {
                return Err(bad("to", "must be later than `from` (the window is [from, to))"));
            }
        }
        let ids = [
            ("actor", &self.actor),
            ("on_behalf_of", &self.on_behalf_of),
            ("session", &self.session),
            ("key_ref", &self.key_ref),
            ("pseudonym", &self.pseudonym),
            ("target.type", &self.target.as_ref().map(|t| t.kind.clone())),
            ("target.id", &self.target.as_ref().map(|t| t.id.clone())),
        ];
        for (field, v) in ids {
            if let Some(v) = v {
                event::ident(v, field, limits.max_id_bytes).map_err(Error::InvalidQuery)?;
            }
        }
        if let Some(a) = &self.action {
            event::validate_action(a, "action", limits).map_err(Error::InvalidQuery)?;
        }
        match &self.action_prefix {
            None => Ok(None),
            Some(p) => {
                let p = p.strip_suffix('.').unwrap_or(p);
                event::validate_action(p, "action_prefix", limits).map_err(Error::InvalidQuery)?;
                Ok(Some(p.to_string()))
            }
        }
    }

    /// Bytes that identify the query's rows and order (not its page size):
    /// a cursor carries their hash, so it resumes only the query it came from.
    fn fingerprint(&self, tenant: &str, prefix: Option<&str>) -> [u8; 8] {
        let mut h = blake3::Hasher::new();
        h.update(b"annal/v1/query\0");
        h.update(&(tenant.len() as u32).to_be_bytes());
        h.update(tenant.as_bytes());
        let mut field = |tag: u8, v: Option<&[u8]>| {
            h.update(&[tag]);
            if let Some(v) = v {
                h.update(&[1]);
                h.update(&(v.len() as u32).to_be_bytes());
                h.update(v);
            } else {
                h.update(&[0]);
            }
        };
        let from = self.from.map(u64::to_be_bytes);
        let to = self.to.map(u64::to_be_bytes);
        field(1, from.as_ref().map(|b| &b[..]));
        field(2, to.as_ref().map(|b| &b[..]));
        field(3, self.actor.as_deref().map(str::as_bytes));
        field(4, self.on_behalf_of.as_deref().map(str::as_bytes));
        field(5, self.action.as_deref().map(str::as_bytes));
        field(6, prefix.map(str::as_bytes));
        field(7, self.target.as_ref().map(|t| t.kind.as_bytes()));
        field(8, self.target.as_ref().map(|t| t.id.as_bytes()));
        field(9, self.session.as_deref().map(str::as_bytes));
        field(10, self.key_ref.as_deref().map(str::as_bytes));
        field(11, self.outcome.map(|o| o.as_str().as_bytes()));
        field(12, Some(if self.order == Order::Asc { b"asc" } else { b"desc" }));
        field(13, self.pseudonym.as_deref().map(str::as_bytes));
        let mut out = [0u8; 8];
        out.copy_from_slice(&h.finalize().as_bytes()[..8]);
        out
    }

    /// Whether a row passes every filter and the window.
    fn matches(&self, prefix: Option<&str>, r: &RecordRef<'_>) -> bool {
        let e = &r.event;
        let eq = |want: &Option<String>, got: Option<&str>| want.as_deref().is_none_or(|w| got == Some(w));
        self.from.is_none_or(|f| r.recorded_at >= f)
            && self.to.is_none_or(|t| r.recorded_at < t)
            && eq(&self.actor, Some(e.actor_id))
            && eq(&self.on_behalf_of, e.on_behalf_of)
            && eq(&self.action, Some(e.action))
            && prefix.is_none_or(|p| e.action.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
            && self.target.as_ref().is_none_or(|t| e.target.is_some_and(|(kind, id, _)| kind == t.kind && id == t.id))
            && eq(&self.session, e.session_id)
            && eq(&self.key_ref, e.key_ref)
            && self.outcome.is_none_or(|o| e.outcome == Some(o))
            // Rare: the pseudonym index drives such walks, so this check only
            // confirms what it named, and may take the slow way.
            && self.pseudonym.as_ref().is_none_or(|t| index::pseudonyms_of(&e.to_owned()).contains(t))
    }

    /// The index of each filter given, as (kind, key prefix).
    /// With `key` (an encrypted tenant's value key), personal values are
    /// looked up by their keyed hash, as they were indexed.
    fn candidates(&self, n: u64, prefix: Option<&str>, key: Option<&ValueKey>) -> Vec<(IndexKind, Vec<u8>)> {
        let mut out = Vec::new();
        let mut add = |kind, values: &[&str]| out.push((kind, index::value_prefix(n, kind, values, key)));
        // Listed from the usually rarest to the usually commonest: ties go to the first.
        if let Some(v) = &self.pseudonym {
            add(IndexKind::Pseudonym, &[v]);
        }
        if let Some(v) = &self.key_ref {
            add(IndexKind::KeyRef, &[v]);
        }
        if let Some(v) = &self.session {
            add(IndexKind::Session, &[v]);
        }
        if let Some(t) = &self.target {
            add(IndexKind::Target, &[&t.kind, &t.id]);
        }
        if let Some(v) = &self.actor {
            add(IndexKind::Actor, &[v]);
        }
        if let Some(v) = &self.on_behalf_of {
            add(IndexKind::OnBehalfOf, &[v]);
        }
        if let Some(v) = &self.action {
            add(IndexKind::Action, &[v]);
        }
        if let Some(p) = prefix {
            add(IndexKind::ActionPrefix, &[&format!("{p}.")]);
        }
        if let Some(o) = self.outcome {
            add(IndexKind::Outcome, &[o.as_str()]);
        }
        out
    }
}

/// Where a walk stands: the opaque token a page hands back.
///
/// Text form: 50 lowercase hex digits of `version:u8 ‖ tenant tag:8 ‖ query
/// fingerprint:8 ‖ last seq:u64` (docs/FORMAT.md, "Cursors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    tenant_tag: [u8; 8],
    fingerprint: [u8; 8],
    last_seq: u64,
}

const CURSOR_VERSION: u8 = 1;

fn tenant_tag(tenant: &str) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(b"annal/v1/cursor-tenant\0");
    h.update(tenant.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

impl Cursor {
    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(25);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.tenant_tag);
        bytes.extend_from_slice(&self.fingerprint);
        bytes.extend_from_slice(&self.last_seq.to_be_bytes());
        let mut s = String::with_capacity(50);
        for b in bytes {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    fn decode(s: &str) -> Result<Cursor> {
        let malformed = || Error::InvalidCursor("malformed: not a cursor returned by a query".into());
        if s.len() != 50 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        let bytes: Vec<u8> =
            (0..25).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16)).collect::<Result<_, _>>().map_err(|_| malformed())?;
        if bytes[0] != CURSOR_VERSION {
            return Err(malformed());
        }
        let mut c = Cursor { tenant_tag: [0; 8], fingerprint: [0; 8], last_seq: 0 };
        c.tenant_tag.copy_from_slice(&bytes[1..9]);
        c.fingerprint.copy_from_slice(&bytes[9..17]);
        c.last_seq = u64::from_be_bytes(bytes[17..25].try_into().map_err(|_| malformed())?);
        if c.last_seq == 0 {
            return Err(malformed());
        }
        Ok(c)
    }
}

/// One candidate the planner weighed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// `chain` (the records themselves) or an index name ([`IndexKind::name`]).
    pub index: &'static str,
    /// Rows the candidate yields in the seq range, estimated from the probe.
    pub rows: u64,
    /// Whether `rows` is exact (the probe reached the end of the range).
    pub exact: bool,
}

/// How a page was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain {
    /// What drove the walk: `chain` or an index name.
    pub index: &'static str,
    /// The window (and cursor) as seqs: `[lo, hi)`.
    pub seq_range: (u64, u64),
    /// Every candidate with its estimate; the chosen one is the smallest.
    pub candidates: Vec<Estimate>,
    /// Rows read and checked against the filters.
    pub examined: u64,
    /// Rows returned.
    pub returned: u64,
}

impl Explain {
    /// As JSON, the shape `annal query --explain` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "index": self.index,
            "seq_range": [self.seq_range.0, self.seq_range.1],
            "candidates": self.candidates.iter().map(|c| serde_json::json!({
                "index": c.index, "rows": c.rows, "exact": c.exact,
            })).collect::<Vec<_>>(),
            "examined": self.examined,
            "returned": self.returned,
        })
    }
}

/// One page of a query's answer.
#[derive(Debug, Clone)]
pub struct Page {
    /// The rows, in the query's order.
    pub records: Vec<Record>,
    /// Resumes the walk right after the last row returned (or where the
    /// request's cursor stood, if this page is empty). `None` only when no
    /// row has been returned yet.
    pub cursor: Option<String>,
    /// The walk reached the end of the window as it stood when the page was
    /// read. An ascending walk without `to` may still find rows appended later.
    pub complete: bool,
    /// How the page was answered.
    pub explain: Explain,
}

/// A page as [`crate::Engine::query_visit`] hands it out: everything of a
/// [`Page`] but its rows, which went to the visitor.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// As [`Page::cursor`].
    pub cursor: Option<String>,
    /// As [`Page::complete`].
    pub complete: bool,
    /// As [`Page::explain`]; `returned` counts the rows handed to the visitor.
    pub explain: Explain,
}

/// What drives a walk.
enum Driver<'s> {
    Chain,
    /// Boxed: a probe holds two store iterators, and a plan moves.
    Index(IndexKind, Box<Probed<'s>>),
}

/// What the planner's probe read of an index: the seqs of its first entries
/// in walk order, and the stream just after them. The walk of the chosen
/// index starts from these instead of seeking again (for a rare value, the
/// probe has often read every entry there is).
struct Probed<'s> {
    it: Seqs<'s>,
    seqs: Vec<u64>,
    exhausted: bool,
}

/// The seqs one value's postings hold in `[lo, hi)`, in walk order, read a
/// posting at a time (see `crate::index`: a posting's key ends in its
/// largest seq, its value lists the others).
///
/// Ascending, the first posting with a last seq at or after `lo` is the
/// first that can hold a seq of the range; the walk ends at the first seq
/// at or past `hi`. Descending, the one posting whose last seq is at or
/// past `hi` may still hold seqs below it, so it is read first (`straddler`);
/// then the postings whose last seq is in `[lo, hi)`, from the top.
struct Seqs<'s> {
    it: StoreIter<'s>,
    straddler: Option<StoreIter<'s>>,
    lo: u64,
    hi: u64,
    desc: bool,
    /// Seqs of the current posting not yet returned, in walk order reversed
    /// (the next one is popped from the end).
    buf: Vec<u64>,
    done: bool,
}

impl<'s> Seqs<'s> {
    fn new(store: &'s Store, key_prefix: &[u8], lo: u64, hi: u64, order: Order, mode: ReadMode) -> Seqs<'s> {
        let end = index::with_seq(key_prefix, u64::MAX);
        let desc = order == Order::Desc;
        let (it, straddler) = if desc {
            let straddler = store.iter(Cf::Index, &index::with_seq(key_prefix, hi), &end, false, mode);
            (
                store.iter(Cf::Index, &index::with_seq(key_prefix, lo), &index::with_seq(key_prefix, hi), true, mode),
                Some(straddler),
            )
        } else {
            (store.iter(Cf::Index, &index::with_seq(key_prefix, lo), &end, false, mode), None)
        };
        Seqs { it, straddler, lo, hi, desc, buf: Vec::new(), done: false }
    }

    fn next(&mut self) -> Result<Option<u64>> {
        loop {
            if let Some(s) = self.buf.pop() {
                return Ok(Some(s));
            }
            if self.done {
                return Ok(None);
            }
            let entry = match self.straddler.as_mut() {
                Some(first) => {
                    let e = first.next()?.map(|(k, v)| (k.to_vec(), v.to_vec()));
                    self.straddler = None;
                    match e {
                        Some(e) => Some(e),
                        None => continue,
                    }
                }
                None => self.it.next()?.map(|(k, v)| (k.to_vec(), v.to_vec())),
            };
            let Some((k, v)) = entry else {
                self.done = true;
                return Ok(None);
            };
            let last = index::key_seq(&k).ok_or_else(|| Error::Corrupt("malformed index key".into()))?;
            let seqs =
                index::decode_posting(last, &v).map_err(|e| Error::Corrupt(format!("index posting of seq {last}: {e}")))?;
            // Every later posting lies past the range in walk order too.
            let past = if self.desc { seqs[0] < self.lo } else { seqs[0] >= self.hi };
            self.done |= past;
            let in_range = seqs.into_iter().filter(|s| (self.lo..self.hi).contains(s));
            if self.desc {
                self.buf.extend(in_range);
            } else {
                self.buf.extend(in_range.rev());
            }
        }
    }
}

/// A resolved query: checked, planned, bounded. Walked once, by
/// [`Planned::visit`] or [`Planned::run`].
pub(crate) struct Planned<'q, 's> {
    query: &'q Query,
    prefix: Option<String>,
    n: u64,
    lo: u64,
    hi: u64,
    mode: ReadMode,
    driver: Driver<'s>,
    candidates: Vec<Estimate>,
}

/// Checks `query`, resolves its window to seqs, applies the position
/// `after` (the last seq already returned) and picks the driver.
/// `hi_cap` bounds the range from above (exports fix it when they start);
/// `mode` is how the walk will read.
pub(crate) fn plan<'q, 's>(
    store: &'s Rows,
    limits: &Limits,
    n: u64,
    query: &'q Query,
    after: Option<u64>,
    hi_cap: Option<u64>,
    mode: ReadMode,
) -> Result<Planned<'q, 's>> {
    let prefix = query.check(limits)?;
    // Rows at or below the head are durable and complete (index entries
    // included): read it first, so the range never reaches a row whose batch
    // lands while the page is read.
    let head = reads::head_seq(store, n)?;
    let end = head + 1;
    let (mut lo, mut hi) = window_seqs(store, n, query.from, query.to, end)?;
    if let Some(cap) = hi_cap {
        hi = hi.min(cap);
    }
    match (after, query.order) {
        (Some(a), Order::Asc) => lo = lo.max(a.saturating_add(1)),
        (Some(a), Order::Desc) => hi = hi.min(a),
        (None, _) => {}
    }
    let span = hi.saturating_sub(lo);
    let mut candidates = vec![Estimate { index: "chain", rows: span, exact: true }];
    let mut driver = Driver::Chain;
    let mut best = span;
    if span > 0 {
        let values = store.value_key(n)?;
        for (kind, key_prefix) in query.candidates(n, prefix.as_deref(), values.as_ref()) {
            let (est, probed) = probe(store, &key_prefix, lo, hi, query.order, mode)?;
            if est.rows < best {
                best = est.rows;
                driver = Driver::Index(kind, Box::new(probed));
            }
            candidates.push(Estimate { index: kind.name(), ..est });
        }
    }
    Ok(Planned { query, prefix, n, lo, hi, mode, driver, candidates })
}

/// The seqs `[lo, hi)` of the window `[from, to)` in a chain whose rows end
/// before `end`: the first seq recorded at or after `from` and the first at
/// or after `to`. With both bounds, one iterator over the time index serves
/// both seeks (it is on the path of every windowed page).
fn window_seqs(store: &Store, n: u64, from: Option<u64>, to: Option<u64>, end: u64) -> Result<(u64, u64)> {
    let seq = |entry: Option<(&[u8], &[u8])>| entry.and_then(|(k, _)| index::key_seq(k));
    match (from, to) {
        (None, None) => Ok((1, end)),
        (Some(f), None) => Ok((reads::first_seq_at_or_after(store, n, f)?.unwrap_or(end).max(1), end)),
        (None, Some(t)) => Ok((1, reads::first_seq_at_or_after(store, n, t)?.unwrap_or(end).min(end))),
        (Some(f), Some(t)) => {
            let mut it = store.iter(
                Cf::Index,
                &index::time_key(n, f, 0),
                &index::time_key(n, u64::MAX, u64::MAX),
                false,
                ReadMode::Interactive,
            );
            let lo = seq(it.next()?).unwrap_or(end).max(1);
            // `check` made `to` later than `from`: this seek moves forward.
            it.seek(&index::time_key(n, t, 0));
            let hi = seq(it.next()?).unwrap_or(end).min(end);
            Ok((lo, hi))
        }
    }
}

/// Estimates an index's rows in `[lo, hi)` from up to [`PROBE`] entries read
/// from the end the walk starts at; returns what it read for the walk.
fn probe<'s>(
    store: &'s Store,
    key_prefix: &[u8],
    lo: u64,
    hi: u64,
    order: Order,
    mode: ReadMode,
) -> Result<(Estimate, Probed<'s>)> {
    let mut it = Seqs::new(store, key_prefix, lo, hi, order, mode);
    let mut seqs = Vec::with_capacity(PROBE);
    while seqs.len() < PROBE {
        match it.next()? {
            Some(seq) => seqs.push(seq),
            None => {
                let est = Estimate { index: "", rows: seqs.len() as u64, exact: true };
                return Ok((est, Probed { it, seqs, exhausted: true }));
            }
        }
    }
    let seen = seqs.len() as u64;
    let covered = match (seqs.last(), order) {
        (Some(&s), Order::Asc) => s.saturating_sub(lo) + 1,
        (Some(&s), Order::Desc) => hi.saturating_sub(s),
        (None, _) => 1,
    };
    let range = hi - lo;
    let rows = ((seen as u128 * range as u128) / covered.max(1) as u128) as u64;
    let est = Estimate { index: "", rows: rows.clamp(seen, range), exact: false };
    Ok((est, Probed { it, seqs, exhausted: false }))
}

/// Rows fetched per round trip to the store.
const FETCH_CHUNK: usize = 256;

/// What a [`Planned::visit`] did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Visited {
    /// Rows read and checked against the filters.
    pub examined: u64,
    /// Rows that matched and were handed to the visitor.
    pub returned: u64,
    /// Seq of the last row handed to the visitor.
    pub last_seq: Option<u64>,
    /// The range is exhausted: no matching row is left after the last one.
    pub complete: bool,
    /// The visitor asked to stop.
    pub stopped: bool,
}

impl Planned<'_, '_> {
    /// Reads up to `limit` matching rows into owned [`Record`]s; returns them,
    /// the rows examined and whether the range is exhausted.
    pub(crate) fn run(self, store: &Rows, limit: usize) -> Result<(Vec<Record>, u64, bool)> {
        let mut out = Vec::with_capacity(limit.min(MAX_PAGE_SIZE));
        let v = self.visit(store, limit, &mut |r| {
            out.push(r.to_owned());
            ControlFlow::Continue(())
        })?;
        Ok((out, v.examined, v.complete))
    }

    /// Hands up to `limit` matching rows, in order, to `f`, each borrowed from
    /// the bytes just read (nothing is copied per row). `f` may stop the walk.
    pub(crate) fn visit(
        self,
        store: &Rows,
        limit: usize,
        f: &mut dyn FnMut(&RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<Visited> {
        let mode = self.mode;
        let mut v = Visited::default();
        if self.lo >= self.hi || limit == 0 {
            v.complete = self.lo >= self.hi;
            return Ok(v);
        }
        let reverse = self.query.order == Order::Desc;
        let prefix = self.prefix.as_deref();
        // Checks one stored row; true when the walk must end here (page full
        // or the visitor stopped).
        let mut offer = |v: &mut Visited, seq: u64, bytes: &[u8]| -> Result<bool> {
            v.examined += 1;
            let opened = store.open(self.n, seq, bytes)?;
            let r = opened.record_ref(seq).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
            if self.query.matches(prefix, &r) {
                v.returned += 1;
                v.last_seq = Some(seq);
                if f(&r).is_break() {
                    v.stopped = true;
                    return Ok(true);
                }
            }
            Ok(v.returned as usize == limit)
        };
        match self.driver {
            Driver::Chain => {
                let (from, to) = (keys::record(self.n, self.lo), keys::record(self.n, self.hi));
                let mut it = store.iter(Cf::Records, &from, &to, reverse, mode);
                while let Some((k, bytes)) = it.next()? {
                    let seq = keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed record key".into()))?;
                    if offer(&mut v, seq, bytes)? {
                        // A full page at the very end of the range is complete.
                        v.complete = !v.stopped && it.next()?.is_none();
                        return Ok(v);
                    }
                }
                v.complete = true;
                Ok(v)
            }
            Driver::Index(_, probed) => {
                let Probed { mut it, seqs: probed, mut exhausted } = *probed;
                // `probed[..used]` have been fetched.
                let mut used = 0;
                let mut seqs = Vec::with_capacity(FETCH_CHUNK);
                let mut keys: Vec<Vec<u8>> = Vec::with_capacity(FETCH_CHUNK);
                loop {
                    // Enough entries for the rows still wanted (more when the
                    // other filters reject some), fetched in one MultiGet:
                    // first those the probe read, then from its iterator.
                    let want = (limit - v.returned as usize).clamp(16, FETCH_CHUNK);
                    seqs.clear();
                    let from_probe = probed.get(used..).unwrap_or_default();
                    let take = from_probe.len().min(want);
                    seqs.extend_from_slice(&from_probe[..take]);
                    used += take;
                    while seqs.len() < want && !exhausted {
                        match it.next()? {
                            Some(seq) => seqs.push(seq),
                            None => exhausted = true,
                        }
                    }
                    if seqs.is_empty() {
                        break;
                    }
                    keys.clear();
                    keys.extend(seqs.iter().map(|&s| keys::record(self.n, s).to_vec()));
                    if reverse {
                        keys.reverse();
                    }
                    let mut values = store.multi_get(Cf::Records, &keys, mode)?;
                    if reverse {
                        values.reverse();
                    }
                    for (i, (&seq, value)) in seqs.iter().zip(values).enumerate() {
                        let value = match value {
                            Some(value) => value,
                            // Retention deleted the row after the index was read.
                            None if reads::deleted(store, self.n, seq)? => continue,
                            None => return Err(Error::Corrupt(format!("index names seq {seq}, which has no record"))),
                        };
                        if offer(&mut v, seq, &value)? {
                            // Peek: a full page at the very end of the range is complete.
                            let last = i + 1 == seqs.len() && used == probed.len();
                            v.complete = !v.stopped && last && (exhausted || it.next()?.is_none());
                            return Ok(v);
                        }
                    }
                }
                v.complete = true;
                Ok(v)
            }
        }
    }

    fn explain(&self, examined: u64, returned: u64) -> Explain {
        let index = match &self.driver {
            Driver::Chain => "chain",
            Driver::Index(kind, _) => kind.name(),
        };
        Explain { index, seq_range: (self.lo, self.hi), candidates: self.candidates.clone(), examined, returned }
    }
}

impl Page {
    /// The page `visit` gave out, with the rows it lent, owned.
    pub(crate) fn owned(
        visit: impl FnOnce(&mut dyn FnMut(&RecordRef<'_>) -> ControlFlow<()>) -> Result<PageInfo>,
    ) -> Result<Page> {
        let mut records = Vec::new();
        let info = visit(&mut |r| {
            records.push(r.to_owned());
            ControlFlow::Continue(())
        })?;
        Ok(Page { records, cursor: info.cursor, complete: info.complete, explain: info.explain })
    }
}

/// One page of `query` over tenant `n`, each row lent to `f`; see
/// [`crate::Engine::query_visit`] (and [`crate::Engine::query`], which
/// keeps the rows).
#[allow(clippy::too_many_arguments)]
pub(crate) fn page_visit(
    store: &Rows,
    limits: &Limits,
    tenant: &str,
    n: u64,
    query: &Query,
    limit: usize,
    cursor: Option<&str>,
    f: &mut dyn FnMut(&RecordRef<'_>) -> ControlFlow<()>,
) -> Result<PageInfo> {
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(bad("limit", format!("must be 1 to {MAX_PAGE_SIZE}")));
    }
    let prefix = query.check(limits)?;
    let fingerprint = query.fingerprint(tenant, prefix.as_deref());
    let tag = tenant_tag(tenant);
    let after = match cursor {
        None => None,
        Some(s) => {
            let c = Cursor::decode(s)?;
            if c.tenant_tag != tag {
                return Err(Error::InvalidCursor("belongs to another tenant".into()));
            }
            if c.fingerprint != fingerprint {
                return Err(Error::InvalidCursor(
                    "belongs to another query: window, filters and order must be those of the first page".into(),
                ));
            }
            Some(c.last_seq)
        }
    };
    let planned = plan(store, limits, n, query, after, None, ReadMode::Interactive)?;
    let mut explain = planned.explain(0, 0);
    let v = planned.visit(store, limit, f)?;
    (explain.examined, explain.returned) = (v.examined, v.returned);
    let last = v.last_seq.or(after);
    let cursor = last.map(|last_seq| Cursor { tenant_tag: tag, fingerprint, last_seq }.encode());
    Ok(PageInfo { cursor, complete: v.complete && !v.stopped, explain })
}

/// What [`crate::Engine::scan`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scanned {
    /// Rows read and checked against the filters.
    pub examined: u64,
    /// Rows handed to the visitor.
    pub returned: u64,
    /// The visitor stopped the walk before its end.
    pub stopped: bool,
}

/// Rows one plan of a scan covers before it is planned again from where it
/// stopped: bounds how long one RocksDB iterator (and the files it pins)
/// lives, at the cost of one plan per chunk.
const SCAN_CHUNK: usize = 4096;

/// Every row of `query` over tenant `n` up to the head as it stands now,
/// handed to `f`; see [`crate::Engine::scan`].
pub(crate) fn scan(
    store: &Rows,
    limits: &Limits,
    n: u64,
    query: &Query,
    f: &mut dyn FnMut(&RecordRef<'_>) -> ControlFlow<()>,
) -> Result<Scanned> {
    let head = reads::head_seq(store, n)?;
    let mut out = Scanned::default();
    let mut after = None;
    loop {
        let planned = plan(store, limits, n, query, after, Some(head + 1), ReadMode::Bulk)?;
        let v = planned.visit(store, SCAN_CHUNK, f)?;
        out.examined += v.examined;
        out.returned += v.returned;
        if v.stopped {
            out.stopped = true;
            return Ok(out);
        }
        if v.complete || v.last_seq.is_none() {
            return Ok(out);
        }
        after = v.last_seq;
    }
}

/// `query` with raw values turned into the tenant's tokens where its
/// current policy (`redactor`) pseudonymizes the filtered field, and for
/// the `pseudonym` filter: the index holds tokens only. A value that
/// already is a token is kept.
pub(crate) fn resolve_pseudonyms(r: &Redactor, query: &Query) -> Query {
    let mut q = query.clone();
    let token = |v: &mut String| {
        if !redact::is_pseudonym(v) {
            *v = r.pseudonym(v);
        }
    };
    let by_policy = |f: usize, v: &mut Option<String>| {
        if r.field_strategy(f) == Some(Strategy::Pseudonymize) {
            if let Some(v) = v {
                token(v);
            }
        }
    };
    by_policy(redact::field::ACTOR_ID, &mut q.actor);
    by_policy(redact::field::ON_BEHALF_OF, &mut q.on_behalf_of);
    by_policy(redact::field::SESSION, &mut q.session);
    if let Some(t) = &mut q.target {
        if r.field_strategy(redact::field::TARGET_TYPE) == Some(Strategy::Pseudonymize) {
            token(&mut t.kind);
        }
        if r.field_strategy(redact::field::TARGET_ID) == Some(Strategy::Pseudonymize) {
            token(&mut t.id);
        }
    }
    if let Some(v) = &mut q.pseudonym {
        token(v);
    }
    q
}

/// Every row of a query in order, read page by page; see [`crate::Engine::query_stream`].
#[derive(Debug)]
pub struct QueryStream {
    store: Rows,
    limits: Limits,
    n: u64,
    query: Query,
    hi_cap: u64,
    after: Option<u64>,
    buf: std::vec::IntoIter<Record>,
    done: bool,
    examined: u64,
}

/// Rows a [`QueryStream`] holds at a time.
const STREAM_CHUNK: usize = 512;

impl QueryStream {
    /// A stream of tenant `n`'s rows of `query` up to the head as it stands
    /// now; checks the query first, so that a bad one fails here, not
    /// mid-export.
    pub(crate) fn new(store: &Rows, limits: &Limits, n: u64, query: Query) -> Result<QueryStream> {
        plan(store, limits, n, &query, None, None, ReadMode::Bulk)?;
        let hi_cap = reads::head_seq(store, n)? + 1;
        Ok(QueryStream {
            store: store.clone(),
            limits: limits.clone(),
            n,
            query,
            hi_cap,
            after: None,
            buf: Vec::new().into_iter(),
            done: false,
            examined: 0,
        })
    }

    /// Rows read and checked so far (returned ones included).
    pub fn examined(&self) -> u64 {
        self.examined
    }

    fn refill(&mut self) -> Result<()> {
        let planned = plan(&self.store, &self.limits, self.n, &self.query, self.after, Some(self.hi_cap), ReadMode::Bulk)?;
        let (records, examined, complete) = planned.run(&self.store, STREAM_CHUNK)?;
        self.examined += examined;
        self.done = complete;
        if let Some(r) = records.last() {
            self.after = Some(r.seq);
        }
        self.buf = records.into_iter();
        Ok(())
    }
}

impl Iterator for QueryStream {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(r) = self.buf.next() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.refill() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor { tenant_tag: [1; 8], fingerprint: [2; 8], last_seq: 77 };
        let s = c.encode();
        assert_eq!(s.len(), 50);
        assert_eq!(Cursor::decode(&s).unwrap(), c);
        for bad in ["", "zz", &s[..48], &format!("{s}00"), &s.replace("01", "zz"), &format!("02{}", &s[2..])] {
            assert!(matches!(Cursor::decode(bad), Err(Error::InvalidCursor(_))), "{bad}");
        }
    }

    #[test]
    fn set_parses_and_names_the_field() {
        let mut q = Query::default();
        q.set("from", "2026-01-01T00:00:00Z").unwrap();
        q.set("to", "1767225600000000001").unwrap();
        q.set("target", "user:u:1").unwrap();
        q.set("outcome", "denied").unwrap();
        q.set("order", "desc").unwrap();
        assert_eq!(q.from, Some(1_767_225_600_000_000_000));
        assert_eq!(q.target, Some(TargetFilter { kind: "user".into(), id: "u:1".into() }));
        for (name, value, field) in [
            ("colour", "red", "colour"),
            ("from", "yesterday", "from"),
            ("target", "user", "target"),
            ("outcome", "ok", "outcome"),
            ("order", "up", "order"),
        ] {
            match Query::default().set(name, value) {
                Err(Error::InvalidQuery(fe)) => assert_eq!(fe.field, field),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn fingerprint_ignores_trailing_dot_of_prefix_but_not_order() {
        let q = Query { action_prefix: Some("iam.".into()), ..Query::default() };
        let p = q.check(&Limits::default()).unwrap();
        assert_eq!(p.as_deref(), Some("iam"));
        let d = Query { order: Order::Desc, ..q.clone() };
        assert_ne!(q.fingerprint("t", p.as_deref()), d.fingerprint("t", p.as_deref()));
        assert_ne!(q.fingerprint("t", p.as_deref()), q.fingerprint("u", p.as_deref()));
    }
}
