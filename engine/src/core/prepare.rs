//! Turning an event into what the writer links into a chain, on the
//! caller's thread: validation against the limits, redaction under the
//! tenant's policy, the canonical encoding laid out as a record value, the
//! leaf hash and the row's index entries. Call it from many threads to
//! spread the work; the single writer then only fills in each row's place.

use std::sync::Arc;

use crate::error::{Error, FieldError, Result};
use crate::event::{BorrowedEvent, Limits};
use crate::format::chain::Hash;
use crate::format::index::{IndexTemplate, Indexed};
use crate::format::record::{StoredRecord, RECORD_OVERHEAD};
use crate::redact::{Policy, Redactor, Rule, Strategy};

/// An event ready for the writer: validated, encoded, hashed and laid out
/// as a record value on the caller's thread, so the single writer only has to
/// fill in its place in the chain.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// A [`StoredRecord::template`]: the record value minus recorded_at, head and CRC.
    pub(crate) value: Vec<u8>,
    pub(crate) leaf: Hash,
    pub(crate) idempotency_key: Option<String>,
    /// The row's index entries minus tenant, seq and recorded_at.
    pub(crate) index: IndexTemplate,
    /// The tenant and policy version the event was redacted for.
    pub(crate) redactor: Arc<Redactor>,
}

impl PreparedEvent {
    /// Leaf hash of the event.
    pub fn leaf(&self) -> Hash {
        self.leaf
    }

    /// Size of the canonical event encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        self.value.len() - RECORD_OVERHEAD
    }
}

/// Whose event it is: a client's, whose action must not be in annal's
/// reserved namespace, or annal's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Client,
    Annal,
}

/// Validates `event` against `limits`, redacts it with `redactor`, and
/// encodes, hashes and indexes it.
pub(crate) fn prepare(
    limits: &Limits,
    redactor: &Arc<Redactor>,
    event: &BorrowedEvent<'_>,
    origin: Origin,
) -> Result<PreparedEvent, FieldError> {
    let (view, applied) = match origin {
        Origin::Annal => event.view_unchecked_action(limits, Some(redactor))?,
        Origin::Client => event.view_redacted(limits, Some(redactor))?,
    };
    let (value, leaf) = StoredRecord::template(&view);
    let encoded_len = value.len() - RECORD_OVERHEAD;
    if encoded_len > limits.max_event_bytes {
        return Err(FieldError::new(
            "",
            format!("event is {encoded_len} bytes encoded, more than the limit of {}", limits.max_event_bytes),
        ));
    }
    let index = IndexTemplate::build(&Indexed::of_view(&view, &applied.pseudonyms));
    Ok(PreparedEvent {
        value,
        leaf,
        idempotency_key: event.idempotency_key.as_deref().map(str::to_string),
        index,
        redactor: Arc::clone(redactor),
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
