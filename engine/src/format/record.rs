//! Byte encodings of everything annal stores: the canonical event, the stored
//! record envelope, chain heads, idempotency entries and tenant entries.
//!
//! docs/FORMAT.md specifies each layout; testdata/golden/ pins them. All
//! fixed-width integers outside bincode bodies are big-endian. Every stored
//! value ends in a CRC32 (IEEE, as crc32fast computes it) of the bytes before
//! it, so accidental corruption is told apart from a broken hash link.
//!
//! Decoding never panics: every read is bounds-checked and every failure is a
//! [`DecodeError`] naming what was wrong.

use crate::event::{ActorType, EventRecord, EventRecordView, Outcome, TargetRecord};
use crate::format::chain::Hash;
use crate::redact::Redaction;

/// Format byte of the first canonical event encoding (no redaction list).
/// Still read; no longer written.
pub const EVENT_FORMAT_V1: u8 = 1;
/// Format byte that starts every canonical event encoding written now: format
/// 1's fields followed by the policy version and the list of redactions.
pub const EVENT_FORMAT_V2: u8 = 2;
/// Format byte of an event encoding split into a clear part and committed
/// content (`format::content`).
pub const EVENT_FORMAT_V3: u8 = 3;
/// Format byte that starts every stored record, head and idempotency value.
pub const VALUE_FORMAT_V1: u8 = 1;

/// The one bincode configuration annal uses: little-endian, variable-length
/// integers, and a decode limit so a corrupt length can't allocate gigabytes.
pub(crate) fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<{ 1 << 20 }>()
}

/// Why stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the layout needs.
    #[error("truncated value ({0} bytes)")]
    Truncated(usize),
    /// The trailing CRC32 does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// A format byte this build does not know.
    #[error("unknown format byte {0}")]
    UnknownFormat(u8),
    /// The event body is not valid bincode for its format.
    #[error("undecodable event body: {0}")]
    Body(String),
    /// Bytes left over after the layout.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Encodes the canonical event: `EVENT_FORMAT_V2 ‖ bincode(EventRecord)`.
pub fn encode_event(event: &EventRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.push(EVENT_FORMAT_V2);
    // Writing into a Vec cannot fail; the limit applies only to decoding.
    if let Err(e) = bincode::encode_into_std_write(event, &mut out, bincode_config()) {
        unreachable!("encoding into a Vec failed: {e}");
    }
    out
}

/// Decodes a canonical event encoding.
pub fn decode_event(bytes: &[u8]) -> Result<EventRecord, DecodeError> {
    // Borrowed first, then copied once into exactly sized strings: decoding
    // straight into `String`s goes through a zero-filled buffer per string,
    // a slow path of the system allocator, and a row has about fifteen.
    Ok(EventRef::decode(bytes)?.to_owned())
}

/// The first eighteen fields of every event format, borrowed from the bytes.
#[derive(bincode::BorrowDecode)]
struct EventCore<'a> {
    action: &'a str,
    actor_type: ActorType,
    actor_id: &'a str,
    actor_name: Option<&'a str>,
    actor_email: Option<&'a str>,
    on_behalf_of: Option<&'a str>,
    occurred_at: Option<i64>,
    session_id: Option<&'a str>,
    target: Option<(&'a str, &'a str, Option<&'a str>)>,
    outcome: Option<Outcome>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    input_hash: Option<&'a str>,
    output_hash: Option<&'a str>,
    key_ref: Option<&'a str>,
    diff: Option<&'a str>,
    metadata: Option<&'a str>,
    idempotency_key: Option<&'a str>,
}

/// What format 2 adds after the core.
#[derive(bincode::BorrowDecode)]
struct EventTail<'a> {
    policy_version: u32,
    redactions: Vec<(&'a str, &'a str)>,
}

/// A stored event borrowed from the bytes it was read from: the fields of
/// [`EventRecord`] without copying a string. Reading a window this way
/// allocates nothing per row but its (usually empty) redaction list; see
/// [`crate::Engine::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are EventRecord's, documented there
pub struct EventRef<'a> {
    pub action: &'a str,
    pub actor_type: ActorType,
    pub actor_id: &'a str,
    pub actor_name: Option<&'a str>,
    pub actor_email: Option<&'a str>,
    pub on_behalf_of: Option<&'a str>,
    pub occurred_at: Option<i64>,
    pub session_id: Option<&'a str>,
    /// `target`: type, id and name.
    pub target: Option<(&'a str, &'a str, Option<&'a str>)>,
    pub outcome: Option<Outcome>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub input_hash: Option<&'a str>,
    pub output_hash: Option<&'a str>,
    pub key_ref: Option<&'a str>,
    pub diff: Option<&'a str>,
    pub metadata: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub policy_version: u32,
    /// `redactions`: (path, how).
    pub redactions: Vec<(&'a str, &'a str)>,
}

impl<'a> EventRef<'a> {
    /// Decodes a canonical event encoding (format 1 or 2) in place.
    pub fn decode(bytes: &'a [u8]) -> Result<EventRef<'a>, DecodeError> {
        let (&format, body) = bytes.split_first().ok_or(DecodeError::Truncated(0))?;
        if format != EVENT_FORMAT_V1 && format != EVENT_FORMAT_V2 {
            return Err(DecodeError::UnknownFormat(format));
        }
        let body_err = |e: bincode::error::DecodeError| DecodeError::Body(e.to_string());
        // bincode encodes a struct as its fields in order, so decoding the
        // core and then the tail reads exactly the bytes one struct would.
        let (c, used): (EventCore<'a>, usize) = bincode::borrow_decode_from_slice(body, bincode_config()).map_err(body_err)?;
        let rest = body.get(used..).unwrap_or_default();
        // Format 1 ends after the core: it reads as policy version 0 and no redactions.
        let (tail, used) = if format == EVENT_FORMAT_V2 {
            bincode::borrow_decode_from_slice::<EventTail<'a>, _>(rest, bincode_config()).map_err(body_err)?
        } else {
            (EventTail { policy_version: 0, redactions: Vec::new() }, 0)
        };
        if used != rest.len() {
            return Err(DecodeError::Trailing(rest.len() - used));
        }
        Ok(EventRef {
            action: c.action,
            actor_type: c.actor_type,
            actor_id: c.actor_id,
            actor_name: c.actor_name,
            actor_email: c.actor_email,
            on_behalf_of: c.on_behalf_of,
            occurred_at: c.occurred_at,
            session_id: c.session_id,
            target: c.target,
            outcome: c.outcome,
            ip: c.ip,
            user_agent: c.user_agent,
            input_hash: c.input_hash,
            output_hash: c.output_hash,
            key_ref: c.key_ref,
            diff: c.diff,
            metadata: c.metadata,
            idempotency_key: c.idempotency_key,
            policy_version: tail.policy_version,
            redactions: tail.redactions,
        })
    }

    /// The owned event, each string copied once into an exactly sized allocation.
    pub fn to_owned(&self) -> EventRecord {
        let own = |s: Option<&str>| s.map(str::to_owned);
        EventRecord {
            action: self.action.to_owned(),
            actor_type: self.actor_type,
            actor_id: self.actor_id.to_owned(),
            actor_name: own(self.actor_name),
            actor_email: own(self.actor_email),
            on_behalf_of: own(self.on_behalf_of),
            occurred_at: self.occurred_at,
            session_id: own(self.session_id),
            target: self.target.map(|(kind, id, name)| TargetRecord {
                kind: kind.to_owned(),
                id: id.to_owned(),
                name: own(name),
            }),
            outcome: self.outcome,
            ip: own(self.ip),
            user_agent: own(self.user_agent),
            input_hash: own(self.input_hash),
            output_hash: own(self.output_hash),
            key_ref: own(self.key_ref),
            diff: own(self.diff),
            metadata: own(self.metadata),
            idempotency_key: own(self.idempotency_key),
            policy_version: self.policy_version,
            redactions: self.redactions.iter().map(|&(p, h)| Redaction { path: p.to_owned(), how: h.to_owned() }).collect(),
        }
    }
}

/// Appends the CRC32 of `buf` to it.
pub(crate) fn seal(mut buf: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    buf
}

/// Checks and strips the trailing CRC32 and the format byte; returns the payload.
pub(crate) fn unseal(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    if bytes.len() < 5 {
        return Err(DecodeError::Truncated(bytes.len()));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != crc {
        return Err(DecodeError::Checksum);
    }
    match body[0] {
        VALUE_FORMAT_V1 => Ok(&body[1..]),
        other => Err(DecodeError::UnknownFormat(other)),
    }
}

/// A cursor over a byte slice that fails instead of panicking.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    total: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, total: bytes.len() }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated(self.total));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }
    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn hash(&mut self) -> Result<Hash, DecodeError> {
        let b = self.take(32)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(Hash(a))
    }
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.bytes.len()))
        }
    }
}

/// Bytes a record value adds around its event: format, recorded_at, leaf,
/// head, length, CRC.
pub(crate) const RECORD_OVERHEAD: usize = 1 + 8 + 32 + 32 + 4 + 4;

/// A stored record as it sits in the `records` column family (the seq is in the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Engine time the row was recorded, ns since the Unix epoch.
    pub recorded_at: u64,
    /// Leaf hash of `event`.
    pub leaf: Hash,
    /// Chain head after this row.
    pub head: Hash,
    /// Canonical event encoding (what `leaf` covers).
    pub event: Vec<u8>,
}

impl StoredRecord {
    /// `0x01 ‖ recorded_at:u64 ‖ leaf:32 ‖ head:32 ‖ len:u32 ‖ event ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_OVERHEAD + self.event.len());
        out.push(VALUE_FORMAT_V1);
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&self.leaf.0);
        out.extend_from_slice(&self.head.0);
        // Events are limited to far less than 4 GiB before they get here.
        let len = u32::try_from(self.event.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.event);
        seal(out)
    }

    /// A record value with `recorded_at`, `head` and the CRC left as zeros,
    /// built on the caller's thread; [`StoredRecord::fill_template`] completes
    /// it in the writer, which then only patches 44 bytes and one checksum.
    ///
    /// The event is encoded (from the borrowed view, same bytes as
    /// [`encode_event`]) straight into the value and hashed in place, so the
    /// append path copies it nowhere. Returns the value and the leaf.
    pub(crate) fn template(event: &EventRecordView<'_>) -> (Vec<u8>, Hash) {
        const EVENT_AT: usize = 1 + 8 + 32 + 32 + 4;
        let mut out = Vec::with_capacity(1024);
        out.resize(EVENT_AT, 0);
        out[0] = VALUE_FORMAT_V1;
        out.push(EVENT_FORMAT_V2);
        // Writing into a Vec cannot fail; the limit applies only to decoding.
        if let Err(e) = bincode::encode_into_std_write(event, &mut out, bincode_config()) {
            unreachable!("encoding into a Vec failed: {e}");
        }
        let leaf = crate::format::chain::leaf_hash(&out[EVENT_AT..]);
        let len = u32::try_from(out.len() - EVENT_AT).unwrap_or(u32::MAX);
        out[9..41].copy_from_slice(&leaf.0);
        out[73..77].copy_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        (out, leaf)
    }

    /// Writes `recorded_at` and `head` into a [`StoredRecord::template`] and
    /// reseals its CRC; the result equals [`StoredRecord::encode`].
    pub(crate) fn fill_template(value: &mut [u8], recorded_at: u64, head: &Hash) {
        let n = value.len();
        debug_assert!(n >= RECORD_OVERHEAD);
        value[1..9].copy_from_slice(&recorded_at.to_be_bytes());
        value[41..73].copy_from_slice(&head.0);
        let crc = crc32fast::hash(&value[..n - 4]);
        value[n - 4..].copy_from_slice(&crc.to_be_bytes());
    }

    /// Inverse of [`StoredRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<StoredRecord, DecodeError> {
        let e = Envelope::decode(bytes)?;
        Ok(StoredRecord { recorded_at: e.recorded_at, leaf: e.leaf, head: e.head, event: e.event.to_vec() })
    }
}

/// The action of a canonical event encoding, read without decoding the
/// rest: it is the encoding's first field (a bincode string after the
/// format byte). Verification needs every row's action, and only the rows
/// of one action whole.
pub fn event_action(encoded: &[u8]) -> Result<&str, DecodeError> {
    let (&format, body) = encoded.split_first().ok_or(DecodeError::Truncated(0))?;
    // Format 3's clear part starts with the action too.
    if format != EVENT_FORMAT_V1 && format != EVENT_FORMAT_V2 && format != EVENT_FORMAT_V3 {
        return Err(DecodeError::UnknownFormat(format));
    }
    let (action, _): (&str, usize) =
        bincode::borrow_decode_from_slice(body, bincode_config()).map_err(|e| DecodeError::Body(e.to_string()))?;
    Ok(action)
}

/// A stored record's envelope read in place: its fields, and the event's
/// canonical encoding as a slice of the stored value (what verification
/// rehashes, without copying it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// Engine time the row was recorded, ns since the Unix epoch.
    pub recorded_at: u64,
    /// Leaf hash of `event`.
    pub leaf: Hash,
    /// Chain head after this row.
    pub head: Hash,
    /// Canonical event encoding (what `leaf` covers).
    pub event: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Checks the CRC and the layout of [`StoredRecord::encode`]'s value.
    /// A record of format 2 gives its clear part `E3` as `event`: what its
    /// leaf covers, and all verification needs without a key.
    pub fn decode(bytes: &'a [u8]) -> Result<Envelope<'a>, DecodeError> {
        if bytes.first() == Some(&RECORD_FORMAT_V2) {
            let s = SplitRecord::decode(bytes)?;
            return Ok(Envelope { recorded_at: s.recorded_at, leaf: s.leaf, head: s.head, event: s.clear });
        }
        let mut r = Reader::new(unseal(bytes)?);
        let recorded_at = r.u64()?;
        let leaf = r.hash()?;
        let head = r.hash()?;
        let len = r.u32()? as usize;
        let event = r.take(len)?;
        r.finish()?;
        Ok(Envelope { recorded_at, leaf, head, event })
    }
}

/// A row read back from a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// Engine time, ns since the Unix epoch.
    pub recorded_at: u64,
    /// Leaf hash of the event.
    pub leaf: Hash,
    /// Chain head after this row.
    pub head: Hash,
    /// The event, in stored (canonical, possibly redacted) form.
    pub event: EventRecord,
}

impl Record {
    /// Decodes a stored value; `seq` comes from its key.
    pub fn from_stored(seq: u64, bytes: &[u8]) -> Result<Record, DecodeError> {
        Ok(RecordRef::from_stored(seq, bytes)?.to_owned())
    }

    /// The row as JSON: `{seq, recorded_at, recorded_at_ns, leaf, head, event,
    /// policy_version, redactions}`,
    /// the shape `annal query` prints and the HTTP API returns.
    pub fn to_json(&self) -> serde_json::Value {
        let ns = i64::try_from(self.recorded_at).unwrap_or(i64::MAX);
        serde_json::json!({
            "seq": self.seq,
            "recorded_at": crate::event::format_rfc3339_nanos(ns),
            "recorded_at_ns": self.recorded_at,
            "leaf": self.leaf.to_hex(),
            "head": self.head.to_hex(),
            "event": self.event.to_json(),
            "policy_version": self.event.policy_version,
            "redactions": self.event.redactions.iter().map(|r| serde_json::json!({"path": r.path, "how": r.how})).collect::<Vec<_>>(),
        })
    }
}

/// A row borrowed from the bytes it was read from: what [`crate::Engine::scan`]
/// hands its visitor. [`RecordRef::to_owned`] gives the [`Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// Engine time the row was recorded, ns since the Unix epoch.
    pub recorded_at: u64,
    /// Leaf hash of the event.
    pub leaf: Hash,
    /// Chain head after this row.
    pub head: Hash,
    /// The event, borrowed.
    pub event: EventRef<'a>,
}

impl<'a> RecordRef<'a> {
    /// Decodes a stored value in place; `seq` comes from its key.
    pub fn from_stored(seq: u64, bytes: &'a [u8]) -> Result<RecordRef<'a>, DecodeError> {
        let e = Envelope::decode(bytes)?;
        Ok(RecordRef { seq, recorded_at: e.recorded_at, leaf: e.leaf, head: e.head, event: EventRef::decode(e.event)? })
    }

    /// The owned row.
    pub fn to_owned(&self) -> Record {
        Record { seq: self.seq, recorded_at: self.recorded_at, leaf: self.leaf, head: self.head, event: self.event.to_owned() }
    }
}

/// The latest row of a tenant's chain, as kept in the `heads` column family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Seq of the latest row (0 for a tenant with no rows).
    pub seq: u64,
    /// Its `recorded_at`.
    pub recorded_at: u64,
    /// Its head hash (the genesis head when `seq` is 0).
    pub head: Hash,
}

impl ChainHead {
    /// `0x01 ‖ seq:u64 ‖ recorded_at:u64 ‖ head:32 ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 8 + 32 + 4);
        out.push(VALUE_FORMAT_V1);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&self.head.0);
        seal(out)
    }

    /// Inverse of [`ChainHead::encode`].
    pub fn decode(bytes: &[u8]) -> Result<ChainHead, DecodeError> {
        let mut r = Reader::new(unseal(bytes)?);
        let head = ChainHead { seq: r.u64()?, recorded_at: r.u64()?, head: r.hash()? };
        r.finish()?;
        Ok(head)
    }
}

/// What an append returns for each event: where it landed in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Position in the tenant's chain.
    pub seq: u64,
    /// Engine time, ns since the Unix epoch.
    pub recorded_at: u64,
    /// Leaf hash of the stored event.
    pub leaf: Hash,
    /// Chain head after the row.
    pub head: Hash,
    /// True when this is the receipt of an earlier append, returned again
    /// because the event's idempotency key was seen before. Not stored.
    pub replayed: bool,
}

impl Receipt {
    /// Idempotency entries store the full receipt: `0x01 ‖ seq ‖ recorded_at ‖ leaf ‖ head ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 8 + 32 + 32 + 4);
        out.push(VALUE_FORMAT_V1);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&self.leaf.0);
        out.extend_from_slice(&self.head.0);
        seal(out)
    }

    /// Inverse of [`Receipt::encode`]; reads an [`IdempotencyEntry`] of
    /// either layout.
    pub fn decode(bytes: &[u8]) -> Result<Receipt, DecodeError> {
        IdempotencyEntry::decode(bytes).map(|e| e.receipt)
    }
}

/// Layout byte of an idempotency entry that carries a fingerprint apart
/// from its leaf.
pub(crate) const IDEMPOTENCY_FINGERPRINTED: u8 = 2;

/// What an idempotency entry holds: the receipt a replay answers with, and
/// the event's *fingerprint*, which a later event with the same key must
/// match to be a replay. For an event of format 2 the fingerprint is its
/// leaf, and the entry is a receipt (`0x01 ‖ seq ‖ recorded_at ‖ leaf ‖
/// head ‖ crc32`). A format 3 leaf covers a random salt, so the same event
/// sent twice has two leaves: its fingerprint is a keyed hash of its
/// content instead, and the entry is `0x02 ‖ seq ‖ recorded_at ‖ leaf ‖
/// head ‖ fingerprint ‖ crc32` (docs/FORMAT.md, "Event format 3").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdempotencyEntry {
    pub receipt: Receipt,
    pub fingerprint: Hash,
}

impl IdempotencyEntry {
    pub fn encode(&self) -> Vec<u8> {
        if self.fingerprint == self.receipt.leaf {
            return self.receipt.encode();
        }
        let r = &self.receipt;
        let mut out = Vec::with_capacity(1 + 8 + 8 + 32 + 32 + 32 + 4);
        out.push(IDEMPOTENCY_FINGERPRINTED);
        out.extend_from_slice(&r.seq.to_be_bytes());
        out.extend_from_slice(&r.recorded_at.to_be_bytes());
        out.extend_from_slice(&r.leaf.0);
        out.extend_from_slice(&r.head.0);
        out.extend_from_slice(&self.fingerprint.0);
        seal(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<IdempotencyEntry, DecodeError> {
        let fingerprinted = bytes.first() == Some(&IDEMPOTENCY_FINGERPRINTED);
        let body = if fingerprinted {
            let n = bytes.len();
            if n < 5 {
                return Err(DecodeError::Truncated(n));
            }
            if crc32fast::hash(&bytes[..n - 4]).to_be_bytes() != bytes[n - 4..] {
                return Err(DecodeError::Checksum);
            }
            &bytes[1..n - 4]
        } else {
            unseal(bytes)?
        };
        let mut r = Reader::new(body);
        let receipt = Receipt { seq: r.u64()?, recorded_at: r.u64()?, leaf: r.hash()?, head: r.hash()?, replayed: false };
        let fingerprint = if fingerprinted { r.hash()? } else { receipt.leaf };
        r.finish()?;
        Ok(IdempotencyEntry { receipt, fingerprint })
    }
}

/// A tenant's registry entry: its internal number and when it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantEntry {
    /// Internal number that prefixes every key of the tenant.
    pub number: u64,
    /// Engine time of creation, ns since the Unix epoch.
    pub created_at: u64,
}

impl TenantEntry {
    /// `0x01 ‖ number:u64 ‖ created_at:u64 ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 8 + 4);
        out.push(VALUE_FORMAT_V1);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.created_at.to_be_bytes());
        seal(out)
    }

    /// Inverse of [`TenantEntry::encode`].
    pub fn decode(bytes: &[u8]) -> Result<TenantEntry, DecodeError> {
        let mut r = Reader::new(unseal(bytes)?);
        let entry = TenantEntry { number: r.u64()?, created_at: r.u64()? };
        r.finish()?;
        Ok(entry)
    }
}

/// A tenant's pseudonym secret as stored: `0x01 ‖ secret:32 ‖ crc32`.
pub fn encode_secret(secret: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + 4);
    out.push(VALUE_FORMAT_V1);
    out.extend_from_slice(secret);
    seal(out)
}

/// Inverse of [`encode_secret`].
pub(crate) fn decode_secret(bytes: &[u8]) -> Result<[u8; 32], DecodeError> {
    let mut r = Reader::new(unseal(bytes)?);
    let secret = r.hash()?.0;
    r.finish()?;
    Ok(secret)
}

/// One version of a tenant's redaction policy:
/// `0x01 ‖ recorded_at:u64 ‖ len:u32 ‖ policy JSON ‖ crc32`.
pub(crate) fn encode_policy(recorded_at: u64, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + 4 + json.len() + 4);
    out.push(VALUE_FORMAT_V1);
    out.extend_from_slice(&recorded_at.to_be_bytes());
    out.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(json);
    seal(out)
}

/// Inverse of [`encode_policy`]: (recorded_at, policy JSON).
pub(crate) fn decode_policy(bytes: &[u8]) -> Result<(u64, Vec<u8>), DecodeError> {
    let mut r = Reader::new(unseal(bytes)?);
    let at = r.u64()?;
    let len = r.u32()? as usize;
    let json = r.take(len)?.to_vec();
    r.finish()?;
    Ok((at, json))
}

/// Format byte of a record value whose event is in format 3: the envelope
/// of format 1 followed by the content, in the clear or sealed.
pub const RECORD_FORMAT_V2: u8 = 2;
/// The content follows in the clear: `u32be(len) ‖ content`.
pub const CONTENT_CLEAR: u8 = 0;
/// The content follows sealed: `u32be(key number) ‖ u32be(len) ‖ sealed`.
pub const CONTENT_SEALED: u8 = 1;
/// How a row's content is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredContent<'a> {
    /// In the clear: the content's bytes.
    Clear(&'a [u8]),
    /// Sealed under the tenant's content key `key`.
    Sealed {
        /// The tenant's key number (its `'e'` entry in `tenants`).
        key: u32,
        /// `format::cipher` sealed bytes of the content.
        sealed: &'a [u8],
    },
}

/// A record value of format 2 read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitRecord<'a> {
    /// Engine time the row was recorded, ns since the Unix epoch.
    pub recorded_at: u64,
    /// Leaf hash of `clear`.
    pub leaf: Hash,
    /// Chain head after this row.
    pub head: Hash,
    /// `E3`: what the leaf covers.
    pub clear: &'a [u8],
    /// The content.
    pub content: StoredContent<'a>,
}

/// Where the event's length sits in a record value (both formats).
pub(crate) const LEN_AT: usize = 1 + 8 + 32 + 32;

impl<'a> SplitRecord<'a> {
    /// A record value of format 2 holding `clear` (`E3`, whose leaf is
    /// `leaf`) and `content`, with `recorded_at`, `head` and the CRC left as
    /// zeros: `StoredRecord::fill_template` fills them (the offsets are
    /// format 1's).
    pub fn template(clear: &[u8], leaf: &Hash, content: StoredContent<'_>) -> Vec<u8> {
        let body = match content {
            StoredContent::Clear(c) | StoredContent::Sealed { sealed: c, .. } => c,
        };
        let mut out = Vec::with_capacity(LEN_AT + 4 + clear.len() + 9 + body.len() + 4);
        out.push(RECORD_FORMAT_V2);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&leaf.0);
        out.extend_from_slice(&[0; 32]);
        out.extend_from_slice(&len32(clear.len()));
        out.extend_from_slice(clear);
        match content {
            StoredContent::Clear(_) => out.push(CONTENT_CLEAR),
            StoredContent::Sealed { key, .. } => {
                out.push(CONTENT_SEALED);
                out.extend_from_slice(&key.to_be_bytes());
            }
        }
        out.extend_from_slice(&len32(body.len()));
        out.extend_from_slice(body);
        out.extend_from_slice(&[0; 4]);
        out
    }

    /// This record with `content` in the clear in place of its stored
    /// content (a bundle carries rows opened: its reader needs no key, and
    /// checks the content against `C`).
    pub fn with_clear_content(&self, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN_AT + 4 + self.clear.len() + 5 + content.len() + 4);
        out.push(RECORD_FORMAT_V2);
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&self.leaf.0);
        out.extend_from_slice(&self.head.0);
        out.extend_from_slice(&len32(self.clear.len()));
        out.extend_from_slice(self.clear);
        out.push(CONTENT_CLEAR);
        out.extend_from_slice(&len32(content.len()));
        out.extend_from_slice(content);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Checks the CRC and the layout; never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<SplitRecord<'a>, DecodeError> {
        if bytes.len() < 5 {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(DecodeError::Checksum);
        }
        if body[0] != RECORD_FORMAT_V2 {
            return Err(DecodeError::UnknownFormat(body[0]));
        }
        let mut r = Reader::new(&body[1..]);
        let recorded_at = r.u64()?;
        let leaf = r.hash()?;
        let head = r.hash()?;
        let len = r.u32()? as usize;
        let clear = r.take(len)?;
        let content = match r.take(1)?[0] {
            CONTENT_CLEAR => {
                let len = r.u32()? as usize;
                StoredContent::Clear(r.take(len)?)
            }
            CONTENT_SEALED => {
                let key = r.u32()?;
                let len = r.u32()? as usize;
                StoredContent::Sealed { key, sealed: r.take(len)? }
            }
            other => return Err(DecodeError::Body(format!("unknown content protection byte {other}"))),
        };
        r.finish()?;
        Ok(SplitRecord { recorded_at, leaf, head, clear, content })
    }
}

pub(crate) fn len32(n: usize) -> [u8; 4] {
    // Events are limited to far less than 4 GiB before they get here.
    u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ActorType, Event, Limits};

    fn sample() -> StoredRecord {
        let rec = Event::new("auth.login", ActorType::User, "u1").validate(&Limits::default()).unwrap();
        let event = encode_event(&rec);
        StoredRecord { recorded_at: 42, leaf: crate::format::chain::leaf_hash(&event), head: Hash([7; 32]), event }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(StoredRecord::decode(&r.encode()).unwrap(), r);
        let h = ChainHead { seq: 9, recorded_at: 8, head: Hash([1; 32]) };
        assert_eq!(ChainHead::decode(&h.encode()).unwrap(), h);
        let rc = Receipt { seq: 1, recorded_at: 2, leaf: Hash([3; 32]), head: Hash([4; 32]), replayed: false };
        assert_eq!(Receipt::decode(&rc.encode()).unwrap(), rc);
        let t = TenantEntry { number: 5, created_at: 6 };
        assert_eq!(TenantEntry::decode(&t.encode()).unwrap(), t);
        assert_eq!(decode_event(&r.event).unwrap().action, "auth.login");
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(StoredRecord::decode(&bytes[..n]).is_err());
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(StoredRecord::decode(&b).is_err(), "flip at {i}.{bit} accepted");
            }
        }
    }

    #[test]
    fn a_filled_template_equals_the_owned_encoding_on_the_whole_corpus() {
        for (i, v) in annal_testdata::corpus(annal_testdata::DEFAULT_SEED, 3000).into_iter().enumerate() {
            let e = Event::from_json_value(v.1).unwrap();
            let borrowed = e.as_borrowed();
            let view = borrowed.view(&Limits::default()).unwrap();
            let event = encode_event(&view.to_owned());
            let (mut value, leaf) = StoredRecord::template(&view);
            assert_eq!(leaf, crate::format::chain::leaf_hash(&event));
            StoredRecord::fill_template(&mut value, i as u64, &Hash([9; 32]));
            assert_eq!(value, StoredRecord { recorded_at: i as u64, leaf, head: Hash([9; 32]), event }.encode());
        }
    }

    #[test]
    fn garbage_event_bodies_are_errors() {
        for bytes in [&[][..], &[1], &[2, 0], &[1, 255, 255, 255, 255, 255], &[1, 253, 255, 255, 255, 255, 255, 255, 255, 255]] {
            assert!(decode_event(bytes).is_err());
        }
    }
}
