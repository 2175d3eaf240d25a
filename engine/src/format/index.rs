//! Secondary indexes: which rows of a tenant have a given actor, action,
//! target, session, API key or outcome, and which seqs a time window covers.
//!
//! Every entry lives in the `index` column family with an empty value; the
//! key says it all (docs/FORMAT.md, "Index keys"):
//!
//! ```text
//! time:   tenant:u64 ‖ 0x01 ‖ recorded_at:u64 ‖ seq:u64
//! other:  tenant:u64 ‖ kind:u8 ‖ value ‖ 0x00 ‖ seq:u64
//! target: tenant:u64 ‖ 0x06 ‖ type ‖ 0x00 ‖ id ‖ 0x00 ‖ seq:u64
//! ```
//!
//! Indexed values are identifiers or enum names, which validation keeps free
//! of control characters, so `0x00` cannot occur inside them: it ends the
//! value unambiguously, and `iam` never shares a key prefix with `iam2`.
//!
//! Because `recorded_at` never decreases along a chain, seq order *is* time
//! order. So a time window is translated once into a seq range through the
//! time index, and every other index is keyed by seq alone: one value's
//! entries are that value's rows in chain order, and a window bounds an index
//! scan by two seqs. Action prefixes (`iam.` for `iam.role.grant`) get their
//! own entries, one per dotted prefix, so a prefix query is one bounded scan.
//!
//! **Invariant:** a record's index entries are written in the same batch as
//! the record (see `writer`), so across crashes too, a record and its entries
//! are both present or both absent. `Engine::check_index` proves it for a tenant.

use crate::event::{EventRecord, EventRecordView, Outcome};
use crate::format::record::Record;

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

/// `tenant ‖ part`: every key of one indexed value starts with this.
pub(crate) fn value_prefix(tenant: u64, kind: IndexKind, values: &[&str]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + 1 + values.iter().map(|v| v.len() + 1).sum::<usize>() + 8);
    k.extend_from_slice(&tenant.to_be_bytes());
    push_part(&mut k, kind, values);
    k
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
}

impl IndexTemplate {
    pub fn build(ix: &Indexed<'_>) -> IndexTemplate {
        let mut t = IndexTemplate { parts: Vec::with_capacity(192), ends: Vec::with_capacity(10) };
        t.add(IndexKind::Actor, &[ix.actor_id]);
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
        push_part(&mut self.parts, kind, values);
        // Parts are bounded by the event limits, far below 4 GiB.
        self.ends.push(self.parts.len() as u32);
    }

    /// Number of entries one row gets, the time entry included.
    pub fn len(&self) -> usize {
        self.ends.len() + 1
    }

    /// Calls `f` with every index key of the row `(tenant, seq, recorded_at)`.
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

/// Every index key the writer adds for `record` in the tenant with internal
/// number `tenant`, in the order it adds them: for forensic tools, golden
/// vectors and benchmarks that must write exactly annal's bytes.
pub fn entry_keys(tenant: u64, record: &Record) -> Vec<Vec<u8>> {
    let pseudonyms = pseudonyms_of(&record.event);
    let t = IndexTemplate::build(&Indexed::of_record(&record.event, &pseudonyms));
    let mut out = Vec::with_capacity(t.len());
    t.for_each_key(tenant, record.seq, record.recorded_at, |k| out.push(k.to_vec()));
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
        let a = value_prefix(1, IndexKind::Actor, &["u_1"]);
        let b = value_prefix(1, IndexKind::Actor, &["u_10"]);
        assert!(!b.starts_with(&a));
        let t = value_prefix(1, IndexKind::Target, &["user", "u_1"]);
        assert_eq!(&t[8..], b"\x06user\0u_1\0");
        assert_eq!(key_seq(&with_seq(&t, 42)), Some(42));
        // Tenant first, so tenant 1's largest key sorts before tenant 2's smallest.
        assert!(with_seq(&value_prefix(1, IndexKind::Outcome, &["success"]), u64::MAX) < time_key(2, 0, 0).to_vec());
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
        let t = IndexTemplate::build(&ix);
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
}
