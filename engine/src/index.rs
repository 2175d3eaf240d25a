//! Secondary indexes: which entries an event adds, and their key layout.
//!
//! Every index entry is a key in the `index` column family with an empty
//! value, written in the same batch as its record:
//!
//! ```text
//! tenant:u64 ‖ kind:u8 ‖ value ‖ recorded_at:u64 ‖ seq:u64
//! ```
//!
//! `value` is the indexed field's bytes followed by a `0x00` terminator
//! (empty for the time index; one byte for the outcome). Indexed strings
//! never contain `0x00` — validation rejects control characters — so the
//! terminator keeps `ab` and `a` + `b…` apart and the order byte-wise.
//! Within one value, entries sort by (recorded_at, seq): a time window is one
//! contiguous key range, in either direction, for every index.
//!
//! Dotted action prefixes get their own entries (`iam.` and `iam.role.` for
//! `iam.role.grant`), so a prefix query is one time-bounded range too.

use crate::event::{EventRecord, Outcome};

/// Which index a term belongs to. The byte values are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexKind {
    /// `recorded_at` alone: one entry per row.
    Time = 1,
    /// `actor.id`.
    Actor = 2,
    /// `actor.on_behalf_of`.
    OnBehalfOf = 3,
    /// `action`, exact.
    Action = 4,
    /// Each dotted prefix of `action`, ending in `.`.
    ActionPrefix = 5,
    /// `target.type` and `target.id`.
    Target = 6,
    /// `session_id`.
    Session = 7,
    /// `key_ref`.
    KeyRef = 8,
    /// `outcome`.
    Outcome = 9,
}

impl IndexKind {
    /// Name used in query explanations.
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
        }
    }
}

/// `kind ‖ value` of an index key, without tenant and position.
pub(crate) fn term(kind: IndexKind, parts: &[&[u8]]) -> Vec<u8> {
    let mut t = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    t.push(kind as u8);
    for p in parts {
        t.extend_from_slice(p);
        t.push(0);
    }
    t
}

pub(crate) fn outcome_byte(o: Outcome) -> u8 {
    match o {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Denied => 2,
    }
}

/// Every term an event is indexed under.
pub(crate) fn terms(ev: &EventRecord) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(10);
    out.push(vec![IndexKind::Time as u8]);
    out.push(term(IndexKind::Actor, &[ev.actor_id.as_bytes()]));
    if let Some(v) = &ev.on_behalf_of {
        out.push(term(IndexKind::OnBehalfOf, &[v.as_bytes()]));
    }
    out.push(term(IndexKind::Action, &[ev.action.as_bytes()]));
    for (i, b) in ev.action.bytes().enumerate() {
        if b == b'.' {
            out.push(term(IndexKind::ActionPrefix, &[&ev.action.as_bytes()[..=i]]));
        }
    }
    if let Some(t) = &ev.target {
        out.push(term(IndexKind::Target, &[t.kind.as_bytes(), t.id.as_bytes()]));
    }
    if let Some(v) = &ev.session_id {
        out.push(term(IndexKind::Session, &[v.as_bytes()]));
    }
    if let Some(v) = &ev.key_ref {
        out.push(term(IndexKind::KeyRef, &[v.as_bytes()]));
    }
    if let Some(o) = ev.outcome {
        out.push(vec![IndexKind::Outcome as u8, outcome_byte(o)]);
    }
    out
}

/// The full key: `tenant ‖ term ‖ recorded_at ‖ seq`.
pub(crate) fn key(tenant: u64, term: &[u8], recorded_at: u64, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + term.len() + 16);
    k.extend_from_slice(&tenant.to_be_bytes());
    k.extend_from_slice(term);
    k.extend_from_slice(&recorded_at.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// (recorded_at, seq) from the last 16 bytes of an index key.
pub(crate) fn position(key: &[u8]) -> Option<(u64, u64)> {
    let n = key.len();
    let ra: [u8; 8] = key.get(n.checked_sub(16)?..n - 8)?.try_into().ok()?;
    let seq: [u8; 8] = key.get(n - 8..)?.try_into().ok()?;
    Some((u64::from_be_bytes(ra), u64::from_be_bytes(seq)))
}
