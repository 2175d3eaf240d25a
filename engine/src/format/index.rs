//! Secondary indexes: which rows of a tenant have a given actor, action,
//! target, session, API key or outcome, and which seqs a time window covers.
//!
//! Every entry lives in the `index` column family (docs/FORMAT.md, "Index
//! keys"):
//!
//! ```text
//! time:    tenant:u64 ‖ 0x01 ‖ recorded_at:u64 ‖ seq:u64            → (empty)
//! posting: tenant:u64 ‖ kind:u8 ‖ value ‖ 0x00 ‖ last:u64           → gaps
//! target:  tenant:u64 ‖ 0x06 ‖ type ‖ 0x00 ‖ id ‖ 0x00 ‖ last:u64   → gaps
//! ```
//!
//! Indexed values are identifiers or enum names, which validation keeps free
//! of control characters, so `0x00` cannot occur inside them: it ends the
//! value unambiguously, and `iam` never shares a key prefix with `iam2`.
//!
//! Because `recorded_at` never decreases along a chain, seq order *is* time
//! order. So a time window is translated once into a seq range through the
//! time index, and every other index is keyed by seq alone: one value's
//! postings are that value's rows in chain order, and a window bounds an
//! index scan by two seqs. Action prefixes (`iam.` for `iam.role.grant`) get
//! their own postings, one per dotted prefix, so a prefix query is one
//! bounded scan.
//!
//! **The batch, not the row** (store format 3). A group commit writes, per
//! tenant, one *posting* per distinct indexed value among its rows: the
//! key ends in the largest seq it holds (`last`), the value lists the
//! others as LEB128 gaps, each the distance to the next seq up. A posting
//! of one row has an empty value and is exactly the per-row entry of
//! format 2, so a format 2 store is a valid format 3 store. The time index
//! gets one entry per run of rows with one `recorded_at` in a group (a
//! group gives all rows of a tenant one time), naming the run's first seq:
//! "the first seq at or after an instant" is still one seek. Ten keys a row
//! become about one key per distinct value per group.
//!
//! **Invariant:** a record's index entries are written in the same batch as
//! the record (see `core::writer`), so across crashes too, a record and its
//! entries are both present or both absent. `Engine::check_index` proves it
//! for a tenant.

use rustc_hash::FxHashMap;

use crate::event::{EventRecord, EventRecordView, Outcome};
use crate::format::record::{DecodeError, Record};

/// What an index entry indexes. The discriminant is the kind byte on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IndexKind {
    /// `recorded_at` → seq.
    Time = 1,
    /// `actor.id`.
    Actor = 2,
    /// `actor.on_behalf_of`.
    OnBehalfOf = 3,
    /// `action`, exactly.
    Action = 4,
    /// Each dotted prefix of `action`, with its trailing dot.
    ActionPrefix = 5,
    /// `target.type` and `target.id`.
    Target = 6,
    /// `session_id`.
    Session = 7,
    /// `key_ref`.
    KeyRef = 8,
    /// `outcome`.
    Outcome = 9,
    /// The token of every value redaction pseudonymized, in any field.
    Pseudonym = 10,
}

impl IndexKind {
    /// Whether the kind's values may name a person, and are stored as
    /// keyed hashes for an encrypted tenant ([`ValueKey`]).
    pub fn is_personal(self) -> bool {
        matches!(self, IndexKind::Actor | IndexKind::OnBehalfOf | IndexKind::Target | IndexKind::Session | IndexKind::KeyRef)
    }

    /// Name used by `explain` and the documentation.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Time => "time",
            IndexKind::Actor => "actor",
            IndexKind::OnBehalfOf => "on_behalf_of",
            IndexKind::Action => "action",
            IndexKind::ActionPrefix => "action_prefix",
            IndexKind::Target => "target",
            IndexKind::Session => "session",
            IndexKind::KeyRef => "key_ref",
            IndexKind::Outcome => "outcome",
            IndexKind::Pseudonym => "pseudonym",
        }
    }
}

/// The indexed fields of one event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Indexed<'a> {
    pub action: &'a str,
    pub actor_id: &'a str,
    pub on_behalf_of: Option<&'a str>,
    pub target: Option<(&'a str, &'a str)>,
    pub session: Option<&'a str>,
    pub key_ref: Option<&'a str>,
    pub outcome: Option<Outcome>,
    /// Tokens of pseudonymized values, without duplicates.
    pub pseudonyms: &'a [String],
}

impl<'a> Indexed<'a> {
    pub fn of_view(v: &'a EventRecordView<'_>, pseudonyms: &'a [String]) -> Self {
        Indexed {
            action: v.action,
            actor_id: &v.actor_id,
            on_behalf_of: v.on_behalf_of.as_deref(),
            target: v.target.as_ref().map(|t| (t.kind.as_ref(), t.id.as_ref())),
            session: v.session_id.as_deref(),
            key_ref: v.key_ref,
            outcome: v.outcome,
            pseudonyms,
        }
    }

    /// The indexed fields of a stored event; `pseudonyms` must be the
    /// tokens its redactions produced ([`pseudonyms_of`]).
    pub fn of_record(e: &'a EventRecord, pseudonyms: &'a [String]) -> Self {
        Indexed {
            action: &e.action,
            actor_id: &e.actor_id,
            on_behalf_of: e.on_behalf_of.as_deref(),
            target: e.target.as_ref().map(|t| (t.kind.as_str(), t.id.as_str())),
            session: e.session_id.as_deref(),
            key_ref: e.key_ref.as_deref(),
            outcome: e.outcome,
            pseudonyms,
        }
    }
}

/// The pseudonym tokens of a stored event: the values at the paths its
/// redactions list as `pseudonymize`, in order, without duplicates (as the
/// append path collected them).
pub(crate) fn pseudonyms_of(e: &EventRecord) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Most rows have no pseudonym: parse their JSON only when one may be in it.
    if !e.redactions.iter().any(|r| r.how == "pseudonymize") {
        return out;
    }
    let json = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let (diff, metadata) = (json(&e.diff), json(&e.metadata));
    for r in e.redactions.iter().filter(|r| r.how == "pseudonymize") {
        let mut segs = r.path.split('.');
        let root = segs.next().unwrap_or("");
        let found: Option<String> = match root {
            "diff" | "metadata" => {
                let mut v = if root == "diff" { diff.as_ref() } else { metadata.as_ref() };
                for s in segs {
                    v = v.and_then(|v| match v {
                        serde_json::Value::Object(m) => m.get(s),
                        serde_json::Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
                        _ => None,
                    });
                }
                v.and_then(|v| v.as_str()).map(str::to_string)
            }
            _ => match r.path.as_str() {
                "actor.id" => Some(e.actor_id.clone()),
                "actor.name" => e.actor_name.clone(),
                "actor.email" => e.actor_email.clone(),
                "actor.on_behalf_of" => e.on_behalf_of.clone(),
                "session_id" => e.session_id.clone(),
                "target.type" => e.target.as_ref().map(|t| t.kind.clone()),
                "target.id" => e.target.as_ref().map(|t| t.id.clone()),
                "target.name" => e.target.as_ref().and_then(|t| t.name.clone()),
                "ip" => e.ip.clone(),
                "user_agent" => e.user_agent.clone(),
                "input_hash" => e.input_hash.clone(),
                "output_hash" => e.output_hash.clone(),
                _ => None,
            },
        };
        if let Some(t) = found {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// Appends `kind ‖ v₁ ‖ 0x00 ‖ v₂ ‖ 0x00 …`: the part of a value key
/// between the tenant and the seq.
pub(crate) fn push_part(out: &mut Vec<u8>, kind: IndexKind, values: &[&str]) {
    out.push(kind as u8);
    for v in values {
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
}

/// `tenant ‖ part`: every key of one indexed value starts with this; with
/// `key`, an encrypted tenant's value key, the part of a value that may be
/// personal is its keyed hash ([`ValueKey`]).
pub(crate) fn value_prefix(tenant: u64, kind: IndexKind, values: &[&str], key: Option<&ValueKey>) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + 1 + values.iter().map(|v| v.len() + 1).sum::<usize>() + 8);
    k.extend_from_slice(&tenant.to_be_bytes());
    push_keyed_part(&mut k, kind, values, key);
    k
}

/// [`push_part`], the values of a personal kind replaced by their keyed
/// hash when `key` is given.
fn push_keyed_part(out: &mut Vec<u8>, kind: IndexKind, values: &[&str], key: Option<&ValueKey>) {
    match key {
        Some(key) if kind.is_personal() => push_part(out, kind, &[&key.hash(kind as u8, values)]),
        _ => push_part(out, kind, values),
    }
}

/// Domain of a value key's hashes.
pub const VALUE_HASH_DOMAIN: &[u8] = b"annal/v3/index-value\0";

/// An encrypted tenant's value key: the values of its index entries that
/// may name a person (actor, on-behalf-of, target, session, key_ref) and
/// its idempotency keys are stored as keyed hashes under it, so equality
/// lookups still work and the key order still gives seq order within a
/// value, but the store holds no such value in the clear (docs/FORMAT.md,
/// "Event format 3"). Action names, outcomes and pseudonym tokens (already
/// keyed) stay as they are: prefix search needs the action's text.
#[derive(Debug, Clone)]
pub struct ValueKey(crate::format::cipher::SecretKey);

impl ValueKey {
    /// The value key of these bytes.
    pub fn new(key: crate::format::cipher::SecretKey) -> ValueKey {
        ValueKey(key)
    }

    /// `hex(BLAKE3-keyed(key, VALUE_HASH_DOMAIN ‖ u8(kind) ‖ v₁ ‖ 0x00 ‖ v₂ ‖ 0x00 …)[..16])`:
    /// 32 lower-case hex digits, which never hold `0x00`. `kind` 0 is an
    /// idempotency key's.
    pub fn hash(&self, kind: u8, values: &[&str]) -> String {
        // One-shot over a stack buffer when it fits (a short value is one
        // compression): every row hashes up to five.
        let mut buf = [0u8; 192];
        let n = VALUE_HASH_DOMAIN.len() + 1 + values.iter().map(|v| v.len() + 1).sum::<usize>();
        let digest = if n <= buf.len() {
            buf[..VALUE_HASH_DOMAIN.len()].copy_from_slice(VALUE_HASH_DOMAIN);
            buf[VALUE_HASH_DOMAIN.len()] = kind;
            let mut at = VALUE_HASH_DOMAIN.len() + 1;
            for v in values {
                buf[at..at + v.len()].copy_from_slice(v.as_bytes());
                at += v.len() + 1;
            }
            blake3::keyed_hash(self.0.as_bytes(), &buf[..n])
        } else {
            let mut h = blake3::Hasher::new_keyed(self.0.as_bytes());
            h.update(VALUE_HASH_DOMAIN);
            h.update(&[kind]);
            for v in values {
                h.update(v.as_bytes());
                h.update(&[0]);
            }
            h.finalize()
        };
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for &b in &digest.as_bytes()[..16] {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 15)]));
        }
        out
    }

    /// `BLAKE3-keyed(key, parts…)`.
    pub(crate) fn keyed(&self, parts: &[&[u8]]) -> crate::format::chain::Hash {
        let mut h = blake3::Hasher::new_keyed(self.0.as_bytes());
        for p in parts {
            h.update(p);
        }
        crate::format::chain::Hash(*h.finalize().as_bytes())
    }

    /// An idempotency key as an encrypted tenant stores it (kind 0).
    pub fn idempotency_key(&self, key: &str) -> String {
        self.hash(0, &[key])
    }
}

/// `prefix ‖ seq`.
pub(crate) fn with_seq(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The seq at the end of any index key.
pub(crate) fn key_seq(key: &[u8]) -> Option<u64> {
    let at = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[at..].try_into().ok()?))
}

/// `tenant ‖ 0x01 ‖ recorded_at ‖ seq`.
pub(crate) fn time_key(tenant: u64, recorded_at: u64, seq: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[..8].copy_from_slice(&tenant.to_be_bytes());
    k[8] = IndexKind::Time as u8;
    k[9..17].copy_from_slice(&recorded_at.to_be_bytes());
    k[17..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Every dotted prefix of `action` with its trailing dot: `iam.`,
/// `iam.role.`, `iam.role.grant.` for `iam.role.grant`. The action itself is
/// included (as `iam.role.grant.`), so the prefix query `iam.role.grant`
/// matches that action and every action below it.
pub(crate) fn action_prefixes(action: &str) -> impl Iterator<Item = &str> {
    action.match_indices('.').map(|(i, _)| &action[..=i]).chain(std::iter::once(action))
}

/// The value parts of one event's index entries, built on the caller's
/// thread; the writer only adds tenant, seq and recorded_at.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexTemplate {
    parts: Vec<u8>,
    ends: Vec<u32>,
    key: Option<ValueKey>,
}

impl IndexTemplate {
    /// The row's parts; with `key` (an encrypted tenant's), personal values hashed.
    pub fn build(ix: &Indexed<'_>, key: Option<&ValueKey>) -> IndexTemplate {
        let mut t = IndexTemplate { parts: Vec::with_capacity(192), ends: Vec::with_capacity(10), key: key.cloned() };
        // Validation never lets an actor id be empty: only an erased one is.
        if !ix.actor_id.is_empty() {
            t.add(IndexKind::Actor, &[ix.actor_id]);
        }
        if let Some(v) = ix.on_behalf_of {
            t.add(IndexKind::OnBehalfOf, &[v]);
        }
        t.add(IndexKind::Action, &[ix.action]);
        for p in action_prefixes(ix.action) {
            // The full action gets its trailing dot like every other prefix.
            if p.len() == ix.action.len() {
                t.parts.push(IndexKind::ActionPrefix as u8);
                t.parts.extend_from_slice(p.as_bytes());
                t.parts.extend_from_slice(b".\0");
                t.ends.push(t.parts.len() as u32);
            } else {
                t.add(IndexKind::ActionPrefix, &[p]);
            }
        }
        if let Some((kind, id)) = ix.target {
            t.add(IndexKind::Target, &[kind, id]);
        }
        if let Some(v) = ix.session {
            t.add(IndexKind::Session, &[v]);
        }
        if let Some(v) = ix.key_ref {
            t.add(IndexKind::KeyRef, &[v]);
        }
        if let Some(o) = ix.outcome {
            t.add(IndexKind::Outcome, &[o.as_str()]);
        }
        for p in ix.pseudonyms {
            t.add(IndexKind::Pseudonym, &[p]);
        }
        t
    }

    fn add(&mut self, kind: IndexKind, values: &[&str]) {
        push_keyed_part(&mut self.parts, kind, values, self.key.as_ref());
        // Parts are bounded by the event limits, far below 4 GiB.
        self.ends.push(self.parts.len() as u32);
    }

    /// Number of entries one row gets, the time entry included.
    pub fn len(&self) -> usize {
        self.ends.len() + 1
    }

    /// The row's value parts (`kind ‖ value ‖ 0x00 …`), in template order.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let part = &self.parts[start..end as usize];
            start = end as usize;
            part
        })
    }

    /// Calls `f` with every index key of the row `(tenant, seq, recorded_at)`
    /// written alone (a group of one row).
    pub fn for_each_key(&self, tenant: u64, seq: u64, recorded_at: u64, mut f: impl FnMut(&[u8])) {
        f(&time_key(tenant, recorded_at, seq));
        let mut key = Vec::with_capacity(64);
        let mut start = 0usize;
        for &end in &self.ends {
            key.clear();
            key.extend_from_slice(&tenant.to_be_bytes());
            key.extend_from_slice(&self.parts[start..end as usize]);
            key.extend_from_slice(&seq.to_be_bytes());
            f(&key);
            start = end as usize;
        }
    }
}

/// Every index key of `record` in the tenant with internal number `tenant`
/// when it is written in a group of its own (every value's posting then
/// holds it alone and has an empty value), in the order the writer adds
/// them: the format 2 layout, which format 3 still reads.
pub fn entry_keys(tenant: u64, record: &Record) -> Vec<Vec<u8>> {
    let pseudonyms = pseudonyms_of(&record.event);
    let t = IndexTemplate::build(&Indexed::of_record(&record.event, &pseudonyms), None);
    let mut out = Vec::with_capacity(t.len());
    t.for_each_key(tenant, record.seq, record.recorded_at, |k| out.push(k.to_vec()));
    out
}

/// Appends `v` as LEB128.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The value of a posting holding `seqs` (ascending, the last one in the
/// key): the gap from each seq to the next, LEB128, first seq first.
pub fn encode_posting(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len().saturating_sub(1) * 2);
    for w in seqs.windows(2) {
        put_varint(&mut out, w[1] - w[0]);
    }
    out
}

/// The seqs of the posting whose key ends in `last`, ascending: the inverse
/// of [`encode_posting`]. Never panics: a truncated or overlong gap, or gaps
/// adding up to more than `last`, are an error.
pub fn decode_posting(last: u64, value: &[u8]) -> Result<Vec<u64>, DecodeError> {
    let mut gaps = Vec::new();
    let (mut v, mut shift) = (0u64, 0u32);
    for &b in value {
        if shift > 63 || (shift == 63 && b > 1) {
            return Err(DecodeError::Body("posting gap overflows".into()));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            if v == 0 {
                return Err(DecodeError::Body("posting gap of 0".into()));
            }
            gaps.push(v);
            (v, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(DecodeError::Truncated(value.len()));
    }
    let mut seqs = Vec::with_capacity(gaps.len() + 1);
    let mut s = last;
    seqs.push(s);
    for g in gaps.iter().rev() {
        s = s.checked_sub(*g).filter(|s| *s > 0).ok_or_else(|| DecodeError::Body("posting gaps exceed its last seq".into()))?;
        seqs.push(s);
    }
    seqs.reverse();
    Ok(seqs)
}

/// The index entries of a run of one tenant's rows written together (a
/// group commit's rows of that tenant, or a chunk of a rebuild): one posting
/// per distinct value part, one time entry per run of equal `recorded_at`.
/// Rows must be added in seq order.
///
/// The entries come out in key order: RocksDB inserts a batch's keys into
/// its memtable one after the other, and a key just after the previous one
/// is found from where that one went instead of from the top of the skip
/// list. Parts are hashed while rows are added (FxHash: short keys from
/// our own validated values, nothing an attacker can collide usefully
/// beyond one group) and sorted once at the end.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_part: FxHashMap<Vec<u8>, Vec<u64>>,
    times: Vec<(u64, u64)>,
}

impl Postings {
    /// Adds row `seq`, recorded at `recorded_at`, with the value parts of `template`.
    pub fn add(&mut self, template: &IndexTemplate, seq: u64, recorded_at: u64) {
        if self.times.last().is_none_or(|&(at, _)| at != recorded_at) {
            self.times.push((recorded_at, seq));
        }
        for part in template.parts() {
            match self.by_part.get_mut(part) {
                Some(seqs) => seqs.push(seq),
                None => {
                    self.by_part.insert(part.to_vec(), vec![seq]);
                }
            }
        }
    }

    /// Calls `f(key, value)` with every entry of tenant `tenant`, in key
    /// order: the time entries (kind `0x01`), then one posting per value part.
    pub fn for_each_entry(&self, tenant: u64, mut f: impl FnMut(&[u8], &[u8])) {
        for &(at, seq) in &self.times {
            f(&time_key(tenant, at, seq), &[]);
        }
        let mut parts: Vec<(&Vec<u8>, &Vec<u64>)> = self.by_part.iter().collect();
        parts.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut key = Vec::with_capacity(64);
        for (part, seqs) in parts {
            key.clear();
            key.extend_from_slice(&tenant.to_be_bytes());
            key.extend_from_slice(part);
            key.extend_from_slice(&seqs[seqs.len() - 1].to_be_bytes());
            f(&key, &encode_posting(seqs));
        }
    }
}

/// The index entries, `(key, value)`, of `records` (one tenant's, in seq
/// order) written in one group commit of tenant number `tenant`: for
/// forensic tools, golden vectors and benchmarks that must write exactly
/// annal's bytes.
pub fn group_entries(tenant: u64, records: &[Record]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut postings = Postings::default();
    for r in records {
        let pseudonyms = pseudonyms_of(&r.event);
        postings.add(&IndexTemplate::build(&Indexed::of_record(&r.event, &pseudonyms), None), r.seq, r.recorded_at);
    }
    let mut out = Vec::new();
    postings.for_each_entry(tenant, |k, v| out.push((k.to_vec(), v.to_vec())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_prefixes_are_whole_segments() {
        let p: Vec<_> = action_prefixes("iam.role.grant").collect();
        assert_eq!(p, ["iam.", "iam.role.", "iam.role.grant"]);
        assert_eq!(action_prefixes("login").collect::<Vec<_>>(), ["login"]);
    }

    #[test]
    fn value_keys_do_not_share_prefixes_across_values() {
        let a = value_prefix(1, IndexKind::Actor, &["u_1"], None);
        let b = value_prefix(1, IndexKind::Actor, &["u_10"], None);
        assert!(!b.starts_with(&a));
        let t = value_prefix(1, IndexKind::Target, &["user", "u_1"], None);
        assert_eq!(&t[8..], b"\x06user\0u_1\0");
        assert_eq!(key_seq(&with_seq(&t, 42)), Some(42));
        // Tenant first, so tenant 1's largest key sorts before tenant 2's smallest.
        assert!(with_seq(&value_prefix(1, IndexKind::Outcome, &["success"], None), u64::MAX) < time_key(2, 0, 0).to_vec());
    }

    #[test]
    fn template_lists_every_indexed_field() {
        let ix = Indexed {
            action: "iam.role.grant",
            actor_id: "u_1",
            on_behalf_of: Some("u_2"),
            target: Some(("role", "admin")),
            session: Some("s_1"),
            key_ref: Some("key_1"),
            outcome: Some(Outcome::Denied),
            pseudonyms: &[],
        };
        let t = IndexTemplate::build(&ix, None);
        let mut keys = Vec::new();
        t.for_each_key(7, 9, 100, |k| keys.push(k.to_vec()));
        assert_eq!(keys.len(), t.len());
        let parts: Vec<Vec<u8>> = keys[1..].iter().map(|k| k[8..k.len() - 8].to_vec()).collect();
        let expect: [&[u8]; 10] = [
            b"\x02u_1\0",
            b"\x03u_2\0",
            b"\x04iam.role.grant\0",
            b"\x05iam.\0",
            b"\x05iam.role.\0",
            b"\x05iam.role.grant.\0",
            b"\x06role\0admin\0",
            b"\x07s_1\0",
            b"\x08key_1\0",
            b"\x09denied\0",
        ];
        assert_eq!(parts, expect.iter().map(|p| p.to_vec()).collect::<Vec<_>>());
        assert_eq!(keys[0], time_key(7, 100, 9).to_vec());
    }

    #[test]
    fn postings_round_trip_and_reject_damage() {
        for seqs in [vec![7u64], vec![1, 2, 3], vec![5, 300, 70_000, 70_001, u64::MAX / 2]] {
            let v = encode_posting(&seqs);
            assert_eq!(decode_posting(*seqs.last().unwrap(), &v).unwrap(), seqs);
        }
        // One row alone: an empty value, the format 2 entry.
        assert!(encode_posting(&[42]).is_empty());
        assert_eq!(decode_posting(9, &[0x85]), Err(DecodeError::Truncated(1)));
        assert!(decode_posting(9, &[0]).is_err(), "a gap of 0 repeats a seq");
        assert!(decode_posting(9, &[9]).is_err(), "gaps reach seq 0");
        assert!(decode_posting(9, &[0xff; 11]).is_err(), "overlong");
        // A gap of 2^63 encodes in ten bytes and decodes; 2^64 would not fit.
        let mut big = vec![0x80u8; 9];
        big.push(0x01);
        assert_eq!(decode_posting(u64::MAX, &big).unwrap(), [u64::MAX - (1 << 63), u64::MAX]);
        big[9] = 0x02;
        assert!(decode_posting(u64::MAX, &big).is_err());
    }

    #[test]
    fn a_group_writes_one_posting_per_value_and_one_time_entry_per_run() {
        let mk = |actor: &'static str| {
            IndexTemplate::build(
                &Indexed {
                    action: "auth.login",
                    actor_id: actor,
                    on_behalf_of: None,
                    target: None,
                    session: None,
                    key_ref: None,
                    outcome: Some(Outcome::Success),
                    pseudonyms: &[],
                },
                None,
            )
        };
        let mut p = Postings::default();
        p.add(&mk("u_1"), 10, 500);
        p.add(&mk("u_2"), 11, 500);
        p.add(&mk("u_1"), 12, 600);
        let mut entries = Vec::new();
        p.for_each_entry(3, |k, v| entries.push((k.to_vec(), v.to_vec())));
        assert_eq!(entries[0], (time_key(3, 500, 10).to_vec(), vec![]));
        assert_eq!(entries[1], (time_key(3, 600, 12).to_vec(), vec![]));
        let actor_1 = with_seq(&value_prefix(3, IndexKind::Actor, &["u_1"], None), 12);
        assert!(entries.contains(&(actor_1, vec![2])));
        let actor_2 = with_seq(&value_prefix(3, IndexKind::Actor, &["u_2"], None), 11);
        assert!(entries.contains(&(actor_2, vec![])));
        let success = with_seq(&value_prefix(3, IndexKind::Outcome, &["success"], None), 12);
        assert!(entries.contains(&(success, vec![1, 1])));
        // time ×2, actor ×2, action, `auth.` and `auth.login.`, outcome.
        assert_eq!(entries.len(), 8);
    }
}
