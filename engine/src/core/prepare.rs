//! Turning an event into what the writer links into a chain, on the
//! caller's thread: validation against the limits, redaction under the
//! tenant's policy, the canonical encoding laid out as a record value, the
//! leaf hash and the row's index entries. Call it from many threads to
//! spread the work; the single writer then only fills in each row's place.

use std::sync::Arc;

use crate::error::{Error, FieldError, Result};
use crate::event::{BorrowedEvent, Limits};
use crate::format::chain::Hash;
use crate::format::cipher::{NONCE_LEN, TAG_LEN};
use crate::format::content::{template, SALT_LEN};
use crate::format::index::{IndexTemplate, Indexed};
use crate::format::record::{StoredRecord, RECORD_OVERHEAD};
use crate::redact::{Policy, Redactor, Rule, Strategy};

use super::sealing::TenantSeal;

/// Random bytes an event sealed for an encrypted tenant takes: its row
/// salt and its nonce (docs/FORMAT.md, "Event format 3").
pub(crate) const SEAL_RANDOM: usize = SALT_LEN + NONCE_LEN;

/// An event ready for the writer: validated, encoded, hashed and laid out
/// as a record value on the caller's thread, so the single writer only has to
/// fill in its place in the chain.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// A [`StoredRecord::template`] or a `content::template`: the record
    /// value minus recorded_at, head and CRC.
    pub(crate) value: Vec<u8>,
    /// The size of the event's canonical encoding in format 2 (what the
    /// event size limit applies to, whichever format it is written in).
    pub(crate) encoded_len: usize,
    pub(crate) leaf: Hash,
    /// What a later event with the same idempotency key must match to be
    /// a replay: the leaf, or for a sealed event (whose leaf covers a
    /// random salt) a keyed hash of its content.
    pub(crate) fingerprint: Hash,
    pub(crate) idempotency_key: Option<String>,
    /// The row's index entries minus tenant, seq and recorded_at.
    pub(crate) index: IndexTemplate,
    /// The tenant and policy version the event was redacted for.
    pub(crate) redactor: Arc<Redactor>,
    /// The keys it was sealed with, for an encrypted tenant: the writer
    /// stores any not yet in the store with the row.
    pub(crate) seal: Option<Arc<TenantSeal>>,
}

impl PreparedEvent {
    /// Leaf hash of the event.
    pub fn leaf(&self) -> Hash {
        self.leaf
    }

    /// Size of the canonical event encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }
}

/// Whose event it is: a client's, whose action must not be in annal's
/// reserved namespace, or annal's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Client,
    Annal,
}

/// How an event of an encrypted tenant is prepared.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sealed<'a> {
    /// In event format 3, its content sealed; the bytes are its row salt
    /// and nonce, from the OS's random source.
    Content(&'a Arc<TenantSeal>, &'a [u8; SEAL_RANDOM]),
    /// In event format 2, in the clear, indexed like the tenant's other
    /// rows (its personal values as keyed hashes): a retention run's
    /// `purged` row.
    IndexOnly(&'a Arc<TenantSeal>),
}

/// Validates `event` against `limits`, redacts it with `redactor`, and
/// encodes, hashes and indexes it; for an encrypted tenant, as `seal` says.
pub(crate) fn prepare(
    limits: &Limits,
    redactor: &Arc<Redactor>,
    seal: Option<Sealed<'_>>,
    event: &BorrowedEvent<'_>,
    origin: Origin,
) -> Result<PreparedEvent, FieldError> {
    let (view, applied) = match origin {
        Origin::Annal => event.view_unchecked_action(limits, Some(redactor))?,
        Origin::Client => event.view_redacted(limits, Some(redactor))?,
    };
    let (value, leaf, encoded_len, fingerprint) = match seal {
        None | Some(Sealed::IndexOnly(_)) => {
            let (value, leaf) = StoredRecord::template(&view);
            let n = value.len() - RECORD_OVERHEAD;
            (value, leaf, n, leaf)
        }
        Some(Sealed::Content(s, random)) => {
            let (salt, nonce) = random.split_at(SALT_LEN);
            let (salt, nonce) = (salt.try_into().expect("SALT_LEN bytes"), nonce.try_into().expect("NONCE_LEN bytes"));
            // Only events with an idempotency key are ever compared.
            let fp_key = event.idempotency_key.is_some().then_some(&s.values);
            let (value, leaf, fingerprint) = template(&view, salt, Some((&s.cipher, s.key, nonce)), fp_key);
            s.sealed_one();
            // Format 3 holds format 2's fields, plus the commitment (32
            // bytes), the content's layout byte and row salt (33), and the
            // value's own framing around them: the sealed content's key,
            // length, layout byte, nonce and tag (41), E3's length, the
            // content's protection byte.
            let n = value.len() - RECORD_OVERHEAD - 32 - 33 - 4 - 4 - 1 - 1 - NONCE_LEN - TAG_LEN;
            (value, leaf, n, fingerprint.unwrap_or(leaf))
        }
    };
    if encoded_len > limits.max_event_bytes {
        return Err(FieldError::new(
            "",
            format!("event is {encoded_len} bytes encoded, more than the limit of {}", limits.max_event_bytes),
        ));
    }
    let tenant_seal = match seal {
        Some(Sealed::Content(s, _)) | Some(Sealed::IndexOnly(s)) => Some(s),
        None => None,
    };
    let values = tenant_seal.map(|s| &s.values);
    let index = IndexTemplate::build(&Indexed::of_view(&view, &applied.pseudonyms), values);
    let idempotency_key = event.idempotency_key.as_deref().map(|k| match values {
        // Stored and compared as its keyed hash: it may name a person.
        Some(v) => v.idempotency_key(k),
        None => k.to_string(),
    });
    Ok(PreparedEvent {
        value,
        encoded_len,
        leaf,
        fingerprint,
        idempotency_key,
        index,
        redactor: Arc::clone(redactor),
        seal: match seal {
            Some(Sealed::Content(s, _)) => Some(Arc::clone(s)),
            _ => None,
        },
    })
}

/// The redactor for one of annal's own rows written under `policy` at
/// `version` (the tenant's current pair, or the new one of a policy change):
/// the row's actor is redacted like any row's, but its `metadata`, which
/// annal writes itself, stays readable.
pub(crate) fn own_row_redactor(base: &Redactor, version: u32, policy: &Policy) -> Result<Arc<Redactor>> {
    let mut shown = policy.clone();
    shown.rules.insert(0, Rule { path: "metadata".into(), strategy: Strategy::Keep });
    Ok(Arc::new(base.with_policy(version, shown).map_err(Error::InvalidPolicy)?))
}
