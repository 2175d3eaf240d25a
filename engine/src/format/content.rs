//! Event format 3: an event split into a clear part, which the leaf covers
//! directly, and six *units* of content, which the leaf covers only through
//! salted commitments (docs/FORMAT.md, "Event format 3").
//!
//! Why: with format 1 and 2 the leaf hashes every field, so a chain can be
//! verified only by someone who can read every field, and a field can
//! never be removed without breaking the chain. Format 3 makes both
//! possible, which encryption at rest and the erasure of one person need
//! (issue 15, docs/design/encryption-at-rest.md):
//!
//! - **Verification needs no key.** The leaf is `H(leaf domain ‖ E3)` with
//!   `E3 = 0x03 ‖ bincode(clear part) ‖ C`, and `C` commits to the content.
//!   The content may then be stored sealed (AES-256-GCM under a tenant's
//!   data key) and the chain still verifies from `E3` alone.
//! - **A unit can be erased.** `C = H(content domain ‖ c₀ ‖ … ‖ c₅)` where
//!   `c_u = BLAKE3-keyed(salt_u, unit domain ‖ u ‖ bincode(unit u))`. Erasing unit
//!   `u` replaces its salt and bytes by `c_u`: the chain, and `C`, still
//!   verify, and with the salt gone nobody can test a guess of the erased
//!   value against `c_u`.
//!
//! The salts of a row come from one random 32-byte `row_salt` (the content
//! as first written: one random draw and one hash for all six), and are
//! written out one by one only when a unit is erased (the row salt, which
//! would give the erased unit's salt back, goes with it).
//!
//! The units, chosen so that erasing a person touches only what names
//! them: 0 actor (id, name, email), 1 on-behalf-of, 2 target (type, id,
//! name), 3 context (session, IP, user agent: the actor's circumstances),
//! 4 payload (diff, metadata), 5 references (input and output hashes,
//! key_ref, idempotency key). The action, actor type, client time,
//! outcome, policy version and the redaction list (field paths and
//! strategies, never values) stay in the clear part: they are what a row
//! says once its person is erased, and what a query can still filter on
//! without a key.

use crate::event::{ActorType, EventRecordView, Outcome};
use crate::format::chain::Hash;
use crate::format::cipher::{Cipher, NONCE_LEN};
use crate::format::index::ValueKey;
use crate::format::record::{bincode_config, DecodeError, EventRef, Reader, RecordRef};
use crate::format::record::{len32, CONTENT_CLEAR, CONTENT_SEALED, LEN_AT};
pub use crate::format::record::{SplitRecord, StoredContent, EVENT_FORMAT_V3, RECORD_FORMAT_V2};
use crate::redact::Redaction;

/// How many units of content an event has.
pub const UNITS: usize = 6;
/// Bytes of a row salt, and of each unit's salt.
pub const SALT_LEN: usize = 32;
/// Domain prefix of a unit's commitment `c_u`.
pub const UNIT_DOMAIN: &[u8] = b"annal/v3/unit\0";
/// Domain prefix of the content commitment `C`.
pub const CONTENT_DOMAIN: &[u8] = b"annal/v3/content\0";
/// What the unit salts are derived under, keyed by the row salt.
pub const SALTS_CONTEXT: &[u8] = b"annal/v3/salts\0";
/// First byte of content as written: `0x01 ‖ row_salt ‖ unit₀ ‖ … ‖ unit₅`.
pub const CONTENT_WHOLE: u8 = 1;
/// First byte of content with units erased: `0x02`, then each unit as
/// `0x00 ‖ c_u` (erased) or `0x01 ‖ salt_u ‖ unit` (kept).
pub const CONTENT_ERASED: u8 = 2;

/// The units, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Unit {
    /// `actor.id`, `actor.name`, `actor.email`.
    Actor = 0,
    /// `actor.on_behalf_of`.
    OnBehalfOf = 1,
    /// `target`: type, id, name.
    Target = 2,
    /// `context`: session id, IP, user agent.
    Context = 3,
    /// `diff` and `metadata`.
    Payload = 4,
    /// `input_hash`, `output_hash`, `key_ref`, `idempotency_key`.
    References = 5,
}

impl Unit {
    /// Every unit, in order.
    pub const ALL: [Unit; UNITS] = [Unit::Actor, Unit::OnBehalfOf, Unit::Target, Unit::Context, Unit::Payload, Unit::References];
}

/// The clear part, as encoded (fields in this order; never reorder).
#[derive(bincode::Encode)]
struct ClearView<'a> {
    action: &'a str,
    actor_type: ActorType,
    occurred_at: Option<i64>,
    outcome: Option<Outcome>,
    policy_version: u32,
    redactions: &'a [Redaction],
}

/// The clear part, decoded in place.
#[derive(bincode::BorrowDecode)]
struct ClearDecoded<'a> {
    action: &'a str,
    actor_type: ActorType,
    occurred_at: Option<i64>,
    outcome: Option<Outcome>,
    policy_version: u32,
    redactions: Vec<(&'a str, &'a str)>,
}

type ActorUnit<'a> = (&'a str, Option<&'a str>, Option<&'a str>);
type TargetUnit<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;
type ContextUnit<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);
type PayloadUnit<'a> = (Option<&'a str>, Option<&'a str>);
type ReferencesUnit<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn encode_into<T: bincode::Encode>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail; the limit applies only to decoding.
    if let Err(e) = bincode::encode_into_std_write(value, out, bincode_config()) {
        unreachable!("encoding into a Vec failed: {e}");
    }
}

/// The six unit salts of a row: 192 bytes of BLAKE3's output, keyed by the
/// row salt, over [`SALTS_CONTEXT`].
pub fn unit_salts(row_salt: &[u8; SALT_LEN]) -> [[u8; SALT_LEN]; UNITS] {
    let mut h = blake3::Hasher::new_keyed(row_salt);
    h.update(SALTS_CONTEXT);
    let mut all = [0u8; SALT_LEN * UNITS];
    h.finalize_xof().fill(&mut all);
    let mut salts = [[0u8; SALT_LEN]; UNITS];
    for (s, chunk) in salts.iter_mut().zip(all.chunks_exact(SALT_LEN)) {
        s.copy_from_slice(chunk);
    }
    salts
}

/// `c_u = BLAKE3-keyed(key = salt_u, UNIT_DOMAIN ‖ u8(u) ‖ bytes)`: the
/// salt as BLAKE3's key, so that a short unit is one compression (a row
/// hashes six of them).
pub fn unit_commitment(unit: Unit, salt: &[u8; SALT_LEN], bytes: &[u8]) -> Hash {
    let mut buf = [0u8; 128];
    let n = UNIT_DOMAIN.len() + 1 + bytes.len();
    if n <= buf.len() {
        buf[..UNIT_DOMAIN.len()].copy_from_slice(UNIT_DOMAIN);
        buf[UNIT_DOMAIN.len()] = unit as u8;
        buf[UNIT_DOMAIN.len() + 1..n].copy_from_slice(bytes);
        return Hash(*blake3::keyed_hash(salt, &buf[..n]).as_bytes());
    }
    let mut h = blake3::Hasher::new_keyed(salt);
    h.update(UNIT_DOMAIN);
    h.update(&[unit as u8]);
    h.update(bytes);
    Hash(*h.finalize().as_bytes())
}

/// `C = H(CONTENT_DOMAIN ‖ c₀ ‖ … ‖ c₅)`.
pub fn content_commitment(units: &[Hash; UNITS]) -> Hash {
    let mut buf = [0u8; CONTENT_DOMAIN.len() + 32 * UNITS];
    buf[..CONTENT_DOMAIN.len()].copy_from_slice(CONTENT_DOMAIN);
    for (c, out) in units.iter().zip(buf[CONTENT_DOMAIN.len()..].chunks_exact_mut(32)) {
        out.copy_from_slice(&c.0);
    }
    Hash(*blake3::hash(&buf).as_bytes())
}

/// An event in format 3: `E3` (what the leaf covers) and its content as
/// written (what is stored beside it, in the clear or sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitEvent {
    /// `0x03 ‖ bincode(clear part) ‖ C`.
    pub clear: Vec<u8>,
    /// `0x01 ‖ row_salt ‖ unit₀ ‖ … ‖ unit₅`.
    pub content: Vec<u8>,
}

/// Domain of an event's fingerprint.
pub const FINGERPRINT_DOMAIN: &[u8] = b"annal/v3/fingerprint\0";

impl SplitEvent {
    /// The event's fingerprint under its tenant's value key: `BLAKE3-keyed(
    /// key, FINGERPRINT_DOMAIN ‖ E3 without C ‖ content without its layout
    /// byte and row salt)`, the same for the same event whatever its salt.
    /// What an idempotency key's later events are compared by.
    pub fn fingerprint(&self, key: &ValueKey) -> Hash {
        let clear = &self.clear[..self.clear.len() - 32];
        let units = &self.content[1 + SALT_LEN..];
        key.keyed(&[FINGERPRINT_DOMAIN, clear, units])
    }
}

/// Splits a (validated, redacted) event into format 3, with `row_salt`
/// drawn by the caller from the OS's random source.
pub(crate) fn split(view: &EventRecordView<'_>, row_salt: &[u8; SALT_LEN]) -> SplitEvent {
    let mut content = Vec::with_capacity(512);
    let commitment = write_content(view, row_salt, &mut content);
    let mut clear = Vec::with_capacity(128);
    write_clear(view, &mut clear);
    clear.extend_from_slice(&commitment.0);
    SplitEvent { clear, content }
}

/// Appends `E3` without its commitment to `out`.
fn write_clear(view: &EventRecordView<'_>, out: &mut Vec<u8>) {
    out.push(EVENT_FORMAT_V3);
    encode_into(
        &ClearView {
            action: view.action,
            actor_type: view.actor_type,
            occurred_at: view.occurred_at,
            outcome: view.outcome,
            policy_version: view.policy_version,
            redactions: &view.redactions,
        },
        out,
    );
}

/// Appends the content as written (`0x01 ‖ row_salt ‖ units`) to `out`;
/// returns its commitment `C`.
fn write_content(view: &EventRecordView<'_>, row_salt: &[u8; SALT_LEN], out: &mut Vec<u8>) -> Hash {
    out.push(CONTENT_WHOLE);
    out.extend_from_slice(row_salt);
    let mut start = out.len();
    let mut ends = [0usize; UNITS];
    fn s<'v>(c: &'v Option<std::borrow::Cow<'_, str>>) -> Option<&'v str> {
        c.as_deref()
    }
    encode_into::<ActorUnit<'_>>(&(&view.actor_id, s(&view.actor_name), s(&view.actor_email)), out);
    ends[0] = out.len();
    encode_into(&s(&view.on_behalf_of), out);
    ends[1] = out.len();
    let target: TargetUnit<'_> = view.target.as_ref().map(|t| (&*t.kind, &*t.id, t.name.as_deref()));
    encode_into(&target, out);
    ends[2] = out.len();
    encode_into::<ContextUnit<'_>>(&(s(&view.session_id), s(&view.ip), s(&view.user_agent)), out);
    ends[3] = out.len();
    encode_into::<PayloadUnit<'_>>(&(view.diff.as_deref(), view.metadata.as_deref()), out);
    ends[4] = out.len();
    let refs: ReferencesUnit<'_> = (s(&view.input_hash), s(&view.output_hash), view.key_ref, view.idempotency_key);
    encode_into(&refs, out);
    ends[5] = out.len();

    let salts = unit_salts(row_salt);
    let mut commitments = [Hash::default(); UNITS];
    for (u, end) in ends.iter().enumerate() {
        commitments[u] = unit_commitment(Unit::ALL[u], &salts[u], &out[start..*end]);
        start = *end;
    }
    content_commitment(&commitments)
}

/// The record value of `view` in one buffer (what [`split`] then
/// [`record_template`] give, without their copies): `E3`, then the
/// content, sealed in place when `seal` is given. Returns the value, the
/// leaf and, with `fingerprint`, the event's fingerprint under that key.
pub(crate) fn template(
    view: &EventRecordView<'_>,
    row_salt: &[u8; SALT_LEN],
    seal: Option<(&Cipher, u32, &[u8; NONCE_LEN])>,
    fingerprint: Option<&ValueKey>,
) -> (Vec<u8>, Hash, Option<Hash>) {
    let mut out = Vec::with_capacity(1024);
    out.resize(LEN_AT + 4, 0);
    out[0] = RECORD_FORMAT_V2;
    let e3_at = out.len();
    write_clear(view, &mut out);
    let c_at = out.len();
    out.extend_from_slice(&[0; 32]);
    let e3_end = out.len();
    let len_at = match seal {
        None => {
            out.push(CONTENT_CLEAR);
            out.extend_from_slice(&[0; 4]);
            out.len() - 4
        }
        Some((_, key, nonce)) => {
            out.push(CONTENT_SEALED);
            out.extend_from_slice(&key.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            out.push(crate::format::cipher::SEALED_V1);
            out.extend_from_slice(nonce);
            out.len() - 4 - 1 - NONCE_LEN
        }
    };
    let content_at = out.len();
    let commitment = write_content(view, row_salt, &mut out);
    out[c_at..e3_end].copy_from_slice(&commitment.0);
    let leaf = crate::format::chain::leaf_hash(&out[e3_at..e3_end]);
    out[9..41].copy_from_slice(&leaf.0);
    out[73..77].copy_from_slice(&len32(e3_end - e3_at));
    let fingerprint = fingerprint.map(|k| k.keyed(&[FINGERPRINT_DOMAIN, &out[e3_at..c_at], &out[content_at + 1 + SALT_LEN..]]));
    if let Some((cipher, _, nonce)) = seal {
        let tag = cipher.seal_in_place(nonce, &row_aad(&leaf), &mut out[content_at..]);
        out.extend_from_slice(&tag);
    }
    let body_len = out.len() - (len_at + 4);
    out[len_at..len_at + 4].copy_from_slice(&len32(body_len));
    out.extend_from_slice(&[0; 4]);
    (out, leaf, fingerprint)
}

/// [`split`] of a stored (canonical, redacted) event: the same bytes the
/// append path writes for it under `row_salt`. For tools and the golden
/// vectors.
pub fn split_record(record: &crate::event::EventRecord, row_salt: &[u8; SALT_LEN]) -> SplitEvent {
    split(&record.as_view(), row_salt)
}

/// `E3` decoded in place: the clear fields and the content commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are EventRecord's, documented there
pub struct ClearRef<'a> {
    pub action: &'a str,
    pub actor_type: ActorType,
    pub occurred_at: Option<i64>,
    pub outcome: Option<Outcome>,
    pub policy_version: u32,
    pub redactions: Vec<(&'a str, &'a str)>,
    /// `C`, what the content must hash to.
    pub content: Hash,
}

impl<'a> ClearRef<'a> {
    /// Decodes `E3`; never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<ClearRef<'a>, DecodeError> {
        let (&format, body) = bytes.split_first().ok_or(DecodeError::Truncated(0))?;
        if format != EVENT_FORMAT_V3 {
            return Err(DecodeError::UnknownFormat(format));
        }
        let (c, used): (ClearDecoded<'a>, usize) =
            bincode::borrow_decode_from_slice(body, bincode_config()).map_err(|e| DecodeError::Body(e.to_string()))?;
        let rest = body.get(used..).unwrap_or_default();
        let content: [u8; 32] = match rest.len() {
            32 => rest.try_into().map_err(|_| DecodeError::Truncated(bytes.len()))?,
            n if n < 32 => return Err(DecodeError::Truncated(bytes.len())),
            n => return Err(DecodeError::Trailing(n - 32)),
        };
        Ok(ClearRef {
            action: c.action,
            actor_type: c.actor_type,
            occurred_at: c.occurred_at,
            outcome: c.outcome,
            policy_version: c.policy_version,
            redactions: c.redactions,
            content: Hash(content),
        })
    }
}

/// One unit of opened content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitRef<'a> {
    /// Readable: its salt and its bincode bytes.
    Kept {
        /// `salt_u`.
        salt: [u8; SALT_LEN],
        /// `bincode(unit)`.
        bytes: &'a [u8],
    },
    /// Erased: only its commitment is left.
    Erased(Hash),
}

/// Content (whole or with units erased) read in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRef<'a> {
    /// Each unit, in order.
    pub units: [UnitRef<'a>; UNITS],
}

/// Bytes of unit `u` of content, up to the end of that unit's encoding.
fn unit_len(u: usize, bytes: &[u8]) -> Result<usize, DecodeError> {
    fn len<'a, T: bincode::BorrowDecode<'a, ()>>(bytes: &'a [u8]) -> Result<usize, DecodeError> {
        bincode::borrow_decode_from_slice::<T, _>(bytes, bincode_config())
            .map(|(_, n)| n)
            .map_err(|e| DecodeError::Body(e.to_string()))
    }
    match u {
        0 => len::<ActorUnit<'_>>(bytes),
        1 => len::<Option<&str>>(bytes),
        2 => len::<TargetUnit<'_>>(bytes),
        3 => len::<ContextUnit<'_>>(bytes),
        4 => len::<PayloadUnit<'_>>(bytes),
        _ => len::<ReferencesUnit<'_>>(bytes),
    }
}

impl<'a> ContentRef<'a> {
    /// Decodes content, whole or erased; never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<ContentRef<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut units = [UnitRef::Erased(Hash::default()); UNITS];
        match r.take(1)?[0] {
            CONTENT_WHOLE => {
                let row_salt: [u8; SALT_LEN] = r.take(SALT_LEN)?.try_into().map_err(|_| DecodeError::Truncated(0))?;
                let salts = unit_salts(&row_salt);
                for (u, unit) in units.iter_mut().enumerate() {
                    let n = unit_len(u, r.rest())?;
                    *unit = UnitRef::Kept { salt: salts[u], bytes: r.take(n)? };
                }
            }
            CONTENT_ERASED => {
                for (u, unit) in units.iter_mut().enumerate() {
                    *unit = match r.take(1)?[0] {
                        0 => UnitRef::Erased(r.hash()?),
                        1 => {
                            let salt = r.take(SALT_LEN)?.try_into().map_err(|_| DecodeError::Truncated(0))?;
                            let n = unit_len(u, r.rest())?;
                            UnitRef::Kept { salt, bytes: r.take(n)? }
                        }
                        other => return Err(DecodeError::Body(format!("unit {u}: unknown state byte {other}"))),
                    };
                }
            }
            other => return Err(DecodeError::UnknownFormat(other)),
        }
        r.finish()?;
        Ok(ContentRef { units })
    }

    /// Each unit's commitment `c_u`.
    pub fn commitments(&self) -> [Hash; UNITS] {
        let mut out = [Hash::default(); UNITS];
        for (u, unit) in self.units.iter().enumerate() {
            out[u] = match unit {
                UnitRef::Kept { salt, bytes } => unit_commitment(Unit::ALL[u], salt, bytes),
                UnitRef::Erased(c) => *c,
            };
        }
        out
    }

    /// `C` of this content: what the row's `E3` must end in.
    pub fn commitment(&self) -> Hash {
        content_commitment(&self.commitments())
    }

    /// Whether `unit` is erased.
    pub fn is_erased(&self, unit: Unit) -> bool {
        matches!(self.units[unit as usize], UnitRef::Erased(_))
    }

    /// The content with `erase`'s units erased as well (erasing one twice
    /// changes nothing): `0x02`, then per unit `0x00 ‖ c_u` or `0x01 ‖
    /// salt_u ‖ bytes`. Its commitment is this content's.
    pub fn erase(&self, erase: &[Unit]) -> Vec<u8> {
        let mut out = vec![CONTENT_ERASED];
        for (u, unit) in self.units.iter().enumerate() {
            match unit {
                UnitRef::Kept { salt, bytes } if !erase.contains(&Unit::ALL[u]) => {
                    out.push(1);
                    out.extend_from_slice(salt);
                    out.extend_from_slice(bytes);
                }
                UnitRef::Kept { salt, bytes } => {
                    out.push(0);
                    out.extend_from_slice(&unit_commitment(Unit::ALL[u], salt, bytes).0);
                }
                UnitRef::Erased(c) => {
                    out.push(0);
                    out.extend_from_slice(&c.0);
                }
            }
        }
        out
    }

    /// The event the clear part and this content make. An erased unit's
    /// fields read as absent (the actor's id as empty), and the event's
    /// redaction list gains one entry `(field, "erased")` per field of it,
    /// after those of its clear part: what a reader sees of an erasure.
    /// The content must be the one the clear part commits to; this does not
    /// check it ([`ContentRef::commitment`] does).
    pub fn event(&self, clear: &ClearRef<'a>) -> Result<EventRef<'a>, DecodeError> {
        fn dec<'a, T: bincode::BorrowDecode<'a, ()> + Default>(unit: &UnitRef<'a>) -> Result<T, DecodeError> {
            match unit {
                UnitRef::Kept { bytes, .. } => bincode::borrow_decode_from_slice::<T, _>(bytes, bincode_config())
                    .map(|(v, _)| v)
                    .map_err(|e| DecodeError::Body(e.to_string())),
                UnitRef::Erased(_) => Ok(T::default()),
            }
        }
        let units = WholeUnits {
            actor: dec(&self.units[0])?,
            on_behalf_of: dec(&self.units[1])?,
            target: dec(&self.units[2])?,
            context: dec(&self.units[3])?,
            payload: dec(&self.units[4])?,
            references: dec(&self.units[5])?,
        };
        let mut redactions = clear.redactions.clone();
        for (u, unit) in self.units.iter().enumerate() {
            if matches!(unit, UnitRef::Erased(_)) {
                redactions.extend(UNIT_FIELDS[u].iter().map(|f| (*f, ERASED)));
            }
        }
        Ok(assemble(clear, units, redactions))
    }
}

/// What a redaction list says of an erased field.
pub const ERASED: &str = "erased";

/// The fields of each unit, as redaction lists name them.
pub const UNIT_FIELDS: [&[&str]; UNITS] = [
    &["actor.id", "actor.name", "actor.email"],
    &["actor.on_behalf_of"],
    &["target"],
    &["session_id", "ip", "user_agent"],
    &["diff", "metadata"],
    &["input_hash", "output_hash", "key_ref", "idempotency_key"],
];

/// Domain prefix of a sealed content's associated data.
pub const ROW_AAD_DOMAIN: &[u8] = b"annal/v3/row\0";

/// Associated data of a row's sealed content: `ROW_AAD_DOMAIN ‖ leaf`.
/// The content opens only beside the clear part it was written with (the
/// leaf covers that part and, through `C`, the content), and only under
/// its tenant's key (every tenant has keys of its own).
pub fn row_aad(leaf: &Hash) -> [u8; 13 + 32] {
    let mut a = [0u8; 13 + 32];
    a[..13].copy_from_slice(ROW_AAD_DOMAIN);
    a[13..].copy_from_slice(&leaf.0);
    a
}

/// The context a tenant's data key is wrapped for: `u16be(len tenant) ‖
/// tenant ‖ u32be(key number)` (the tenant by name: a new tenant's keys are
/// made before the writer gives it a number).
pub fn data_key_context(tenant: &str, key: u32) -> Vec<u8> {
    let mut c = Vec::with_capacity(2 + tenant.len() + 4);
    c.extend_from_slice(&(tenant.len() as u16).to_be_bytes());
    c.extend_from_slice(tenant.as_bytes());
    c.extend_from_slice(&key.to_be_bytes());
    c
}

/// The record value of `event` (`SplitRecord::template`): its content in
/// the clear or, given `(cipher, key number, nonce)`, sealed with
/// [`row_aad`]. Returns the value and the leaf.
pub fn record_template(event: &SplitEvent, seal: Option<(&Cipher, u32, &[u8; NONCE_LEN])>) -> (Vec<u8>, Hash) {
    let leaf = crate::format::chain::leaf_hash(&event.clear);
    let value = match seal {
        None => SplitRecord::template(&event.clear, &leaf, StoredContent::Clear(&event.content)),
        Some((cipher, key, nonce)) => {
            let sealed = cipher.seal(nonce, &row_aad(&leaf), &event.content);
            SplitRecord::template(&event.clear, &leaf, StoredContent::Sealed { key, sealed: &sealed })
        }
    };
    (value, leaf)
}

/// The units of content as written, decoded in one pass (reading a row
/// needs neither their salts nor their commitments).
#[derive(bincode::BorrowDecode)]
struct WholeUnits<'a> {
    actor: ActorUnit<'a>,
    on_behalf_of: Option<&'a str>,
    target: TargetUnit<'a>,
    context: ContextUnit<'a>,
    payload: PayloadUnit<'a>,
    references: ReferencesUnit<'a>,
}

/// The event of `clear` and its `content` (whole: in one pass; with
/// units erased: through [`ContentRef::event`]).
fn event_of<'a>(clear: ClearRef<'a>, content: &'a [u8]) -> Result<EventRef<'a>, DecodeError> {
    let Some(units) = content.strip_prefix(&[CONTENT_WHOLE]).and_then(|c| c.get(SALT_LEN..)) else {
        return ContentRef::decode(content)?.event(&clear);
    };
    let (u, used): (WholeUnits<'a>, usize) =
        bincode::borrow_decode_from_slice(units, bincode_config()).map_err(|e| DecodeError::Body(e.to_string()))?;
    if used != units.len() {
        return Err(DecodeError::Trailing(units.len() - used));
    }
    let mut clear = clear;
    let redactions = std::mem::take(&mut clear.redactions);
    Ok(assemble(&clear, u, redactions))
}

/// The event of a clear part and its units.
fn assemble<'a>(clear: &ClearRef<'a>, u: WholeUnits<'a>, redactions: Vec<(&'a str, &'a str)>) -> EventRef<'a> {
    let ((actor_id, actor_name, actor_email), (session_id, ip, user_agent)) = (u.actor, u.context);
    let (diff, metadata) = u.payload;
    let (input_hash, output_hash, key_ref, idempotency_key) = u.references;
    EventRef {
        action: clear.action,
        actor_type: clear.actor_type,
        actor_id,
        actor_name,
        actor_email,
        on_behalf_of: u.on_behalf_of,
        occurred_at: clear.occurred_at,
        session_id,
        target: u.target,
        outcome: clear.outcome,
        ip,
        user_agent,
        input_hash,
        output_hash,
        key_ref,
        diff,
        metadata,
        idempotency_key,
        policy_version: clear.policy_version,
        redactions,
    }
}

/// A stored record value of either format as a [`RecordRef`]: format 1 in
/// place, format 2 from its clear part and its content, which is the
/// stored content when it is in the clear, else `opened` (the sealed
/// content opened by whoever holds the key). `None` for sealed content is
/// an error naming it.
pub fn record_ref<'a>(seq: u64, bytes: &'a [u8], opened: Option<&'a [u8]>) -> Result<RecordRef<'a>, DecodeError> {
    if bytes.first() != Some(&RECORD_FORMAT_V2) {
        return RecordRef::from_stored(seq, bytes);
    }
    split_record_ref(seq, &SplitRecord::decode(bytes)?, opened)
}

/// [`record_ref`] of a record of format 2 already decoded.
pub fn split_record_ref<'a>(seq: u64, split: &SplitRecord<'a>, opened: Option<&'a [u8]>) -> Result<RecordRef<'a>, DecodeError> {
    let clear = ClearRef::decode(split.clear)?;
    let content = match (split.content, opened) {
        (StoredContent::Clear(c), _) => c,
        (StoredContent::Sealed { .. }, Some(c)) => c,
        (StoredContent::Sealed { key, .. }, None) => {
            return Err(DecodeError::Body(format!("the content is sealed under key {key}, which was not given")))
        }
    };
    let event = event_of(clear, content)?;
    Ok(RecordRef { seq, recorded_at: split.recorded_at, leaf: split.leaf, head: split.head, event })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Limits};
    use crate::format::chain::leaf_hash;

    /// Events of the seeded corpus, through the same parse a client's go through.
    fn corpus() -> Vec<Event> {
        annal_testdata::corpus(annal_testdata::DEFAULT_SEED, 300)
            .into_iter()
            .map(|(_, v)| Event::from_json_value(v).unwrap())
            .collect()
    }

    #[test]
    fn a_split_event_reads_back_as_the_same_event_and_its_content_commits_to_it() {
        let limits = Limits::default();
        for (i, e) in corpus().iter().enumerate() {
            let b = e.as_borrowed();
            let view = b.view(&limits).unwrap();
            let salt = [i as u8; SALT_LEN];
            let split = split(&view, &salt);
            let clear = ClearRef::decode(&split.clear).unwrap();
            let content = ContentRef::decode(&split.content).unwrap();
            assert_eq!(content.commitment(), clear.content, "event {i}");
            let back = content.event(&clear).unwrap().to_owned();
            assert_eq!(back, view.to_owned(), "event {i}");
            // The salt decides the commitment: the same event under another salt hashes apart.
            let other = super::split(&view, &[!(i as u8); SALT_LEN]);
            assert_ne!(leaf_hash(&other.clear), leaf_hash(&split.clear));
        }
    }

    #[test]
    fn erased_units_keep_the_commitment_and_lose_their_bytes_and_salt() {
        let limits = Limits::default();
        let events = corpus();
        let b = events[7].as_borrowed();
        let view = b.view(&limits).unwrap();
        let split = split(&view, &[9; SALT_LEN]);
        let clear = ClearRef::decode(&split.clear).unwrap();
        let content = ContentRef::decode(&split.content).unwrap();
        let erased = content.erase(&[Unit::Actor, Unit::Context]);
        let after = ContentRef::decode(&erased).unwrap();
        assert_eq!(after.commitment(), clear.content);
        assert!(after.is_erased(Unit::Actor) && after.is_erased(Unit::Context) && !after.is_erased(Unit::Target));
        let seen = after.event(&clear).unwrap();
        assert_eq!((seen.actor_id, seen.ip, seen.session_id), ("", None, None));
        assert_eq!(seen.target.map(|t| t.1), view.target.as_ref().map(|t| &*t.id), "a kept unit reads as it was");
        assert_eq!(seen.metadata, view.metadata.as_deref());
        let fields: Vec<&str> = seen.redactions.iter().filter(|(_, how)| *how == ERASED).map(|(p, _)| *p).collect();
        assert_eq!(fields, ["actor.id", "actor.name", "actor.email", "session_id", "ip", "user_agent"]);
        let id = view.actor_id.as_bytes();
        assert!(!erased.windows(id.len()).any(|w| w == id), "the erased actor id is still there");
        // Neither the row salt nor the erased units' salts are left.
        let salts = unit_salts(&[9; SALT_LEN]);
        for s in [&[9u8; SALT_LEN][..], &salts[0][..], &salts[3][..]] {
            assert!(!erased.windows(SALT_LEN).any(|w| w == s));
        }
        assert!(erased.windows(SALT_LEN).any(|w| w == salts[2]), "a kept unit keeps its salt");
        // Erasing more, or the same again, keeps the commitment.
        let twice_bytes = after.erase(&[Unit::Actor, Unit::Payload]);
        let twice = ContentRef::decode(&twice_bytes).unwrap();
        assert_eq!(twice.commitment(), clear.content);
        let all_bytes = twice.erase(&Unit::ALL);
        let all = ContentRef::decode(&all_bytes).unwrap();
        assert_eq!(all.commitment(), clear.content);
        assert_eq!(after.erase(&[]), erased, "erasing nothing more is stable");
    }

    #[test]
    fn content_and_clear_parts_never_panic_on_bad_bytes() {
        let limits = Limits::default();
        let events = corpus();
        let b = events[3].as_borrowed();
        let split = split(&b.view(&limits).unwrap(), &[1; SALT_LEN]);
        let erased = ContentRef::decode(&split.content).unwrap().erase(&[Unit::Target]);
        for bytes in [&split.clear, &split.content, &erased] {
            for n in 0..bytes.len() {
                let _ = ClearRef::decode(&bytes[..n]);
                let _ = ContentRef::decode(&bytes[..n]);
            }
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0xA5;
                let _ = ClearRef::decode(&bad).map(|c| c.action.len());
                if let Ok(c) = ContentRef::decode(&bad) {
                    let _ = c.commitment();
                }
            }
        }
        assert!(ClearRef::decode(&split.content).is_err());
        assert!(ContentRef::decode(&split.clear).is_err());
        let mut longer = split.clear.clone();
        longer.push(0);
        assert_eq!(ClearRef::decode(&longer), Err(DecodeError::Trailing(1)));
        let mut longer = split.content.clone();
        longer.push(0);
        assert!(ContentRef::decode(&longer).is_err());
    }

    #[test]
    fn a_record_of_format_2_holds_its_content_in_the_clear_or_sealed_to_its_tenant_and_leaf() {
        use crate::format::cipher::SecretKey;
        use crate::format::record::StoredRecord;
        let limits = Limits::default();
        let events = corpus();
        let b = events[11].as_borrowed();
        let view = b.view(&limits).unwrap();
        let split = split(&view, &[5; SALT_LEN]);
        let cipher = Cipher::new(&SecretKey::from_bytes([4; 32]));
        let (mut clear_value, leaf) = record_template(&split, None);
        let (mut sealed_value, leaf2) = record_template(&split, Some((&cipher, 3, &[6; NONCE_LEN])));
        assert_eq!(leaf, leaf2);
        assert_eq!(leaf, crate::format::chain::leaf_hash(&split.clear));
        for v in [&mut clear_value, &mut sealed_value] {
            StoredRecord::fill_template(v, 1234, &Hash([8; 32]));
        }
        let r = SplitRecord::decode(&clear_value).unwrap();
        assert_eq!((r.recorded_at, r.leaf, r.head, r.clear), (1234, leaf, Hash([8; 32]), &split.clear[..]));
        assert_eq!(r.content, StoredContent::Clear(&split.content));

        let r = SplitRecord::decode(&sealed_value).unwrap();
        assert_eq!((r.recorded_at, r.leaf, r.head, r.clear), (1234, leaf, Hash([8; 32]), &split.clear[..]));
        let StoredContent::Sealed { key: 3, sealed } = r.content else { panic!("{:?}", r.content) };
        assert_eq!(&cipher.open(&row_aad(&leaf), sealed).unwrap()[..], &split.content[..]);
        assert!(Cipher::new(&SecretKey::from_bytes([5; 32])).open(&row_aad(&leaf), sealed).is_err(), "opened under another key");
        assert!(cipher.open(&row_aad(&Hash([0; 32])), sealed).is_err(), "opened beside another clear part");
        let id = view.actor_id.as_bytes();
        assert!(!sealed_value.windows(id.len()).any(|w| w == id), "the actor id shows through");

        for v in [&clear_value, &sealed_value] {
            for n in 0..v.len() {
                assert!(SplitRecord::decode(&v[..n]).is_err());
            }
            for i in 0..v.len() {
                let mut bad = v.clone();
                bad[i] ^= 0x10;
                assert!(SplitRecord::decode(&bad).is_err(), "flip at byte {i} accepted");
            }
        }
    }

    #[test]
    fn the_one_buffer_template_writes_what_split_and_record_template_write() {
        use crate::format::cipher::SecretKey;
        use crate::format::index::ValueKey;
        let limits = Limits::default();
        let cipher = Cipher::new(&SecretKey::from_bytes([4; 32]));
        let vk = ValueKey::new(SecretKey::from_bytes([6; 32]));
        for (i, e) in corpus().iter().enumerate() {
            let b = e.as_borrowed();
            let view = b.view(&limits).unwrap();
            let salt = [i as u8; SALT_LEN];
            let nonce = [!(i as u8); NONCE_LEN];
            let s = split(&view, &salt);
            for seal in [None, Some((&cipher, 2, &nonce))] {
                let (value, leaf, fp) = template(&view, &salt, seal, Some(&vk));
                assert_eq!((value.clone(), leaf), record_template(&s, seal), "event {i}");
                assert_eq!(fp, Some(s.fingerprint(&vk)), "event {i}");
            }
        }
    }
}
