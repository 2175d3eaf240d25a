//! Erasure of one person's data inside a verifiable chain (docs/SECURITY.md,
//! "Erasure of one person").
//!
//! A **subject** is an id that names a person in a tenant's events: as the
//! actor, as the one an actor acted for (`on_behalf_of`), or as a target of
//! type `user`. Erasing a subject rewrites the content of every row that
//! names it (event format 3, so an encrypted tenant's), replacing units by
//! their commitments (`format::content`): where the subject is the actor,
//! the actor (id, name, email) and the context of its action (session, IP,
//! user agent); where it is the one acted for, `on_behalf_of`; where it is
//! the target, the target. The rows stay (action, times, outcome, hashes),
//! every leaf and link is unchanged, so the chain, its checkpoints and every
//! bundle exported before or after still verify; a reader sees the erased
//! fields empty and listed in the row's redactions as `erased`.
//!
//! What else goes, in the batch of the rows rewritten: their index
//! entries for what they no longer say (the subject's values, the
//! sessions of its actions, pseudonym tokens of erased fields), and their
//! idempotency entries (the fingerprint covers the erased values). Then the
//! erasure is a row of the chain (`annal.subject.erased`), naming the
//! subject only by its pseudonym (the keyed hash its actor postings had),
//! and the tenant's records and index are flushed and compacted, so the
//! rows' old versions leave every SST file.
//!
//! Rows appended while an erasure runs, after the head it started from,
//! are not erased: erasing again finishes them. A crash in the middle
//! leaves some rows erased and no row recorded; erasing again (which
//! changes nothing in a row already erased) finishes and records it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::core::append::OwnRow;
use crate::core::reads;
use crate::core::Core;
use crate::error::{Error, FieldError, Result};
use crate::event::{Actor, EventRecord};
use crate::format::content::{row_aad, ClearRef, ContentRef, SplitRecord, StoredContent, Unit, RECORD_FORMAT_V2};
use crate::format::index::{self, IndexKind, IndexTemplate, Indexed};
use crate::format::keys;
use crate::format::record::{IdempotencyEntry, Receipt, StoredRecord};
use crate::format::tenant::check_client_tenant;
use crate::storage::{Cf, ReadMode};

/// Action of the row that records an erasure.
pub const SUBJECT_ERASED_ACTION: &str = "annal.subject.erased";
/// Longest subject id.
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Rows rewritten a batch.
const BATCH_ROWS: usize = 1024;

/// What [`crate::Engine::erase_subject`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The subject's pseudonym, as the recording row names it.
    pub pseudonym: String,
    /// Rows whose content was rewritten.
    pub rows: u64,
    /// The head the erasure covered: rows up to it.
    pub through_seq: u64,
    /// The row recording the erasure.
    pub receipt: Receipt,
}

/// Erases `subject` from `tenant`'s rows, by `actor` (module docs).
pub(crate) fn erase(core: &Core, tenant: &str, subject: &str, actor: &Actor) -> Result<Erasure> {
    check_client_tenant(tenant)?;
    if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES || subject.chars().any(char::is_control) {
        return Err(Error::InvalidEncryption(FieldError::new(
            "subject",
            format!("must be 1 to {MAX_SUBJECT_BYTES} bytes without control characters"),
        )));
    }
    let n = core.number(tenant)?;
    // Only format 3 rows can lose a unit and still verify: an encrypted tenant's.
    let values = core.sealing.value_key(n)?.ok_or(Error::NotEncrypted)?;
    let head = reads::head_seq(&core.store, n)?;
    let mut plan: BTreeMap<u64, Vec<Unit>> = BTreeMap::new();
    let names: [(IndexKind, Vec<&str>, &[Unit]); 3] = [
        (IndexKind::Actor, vec![subject], &[Unit::Actor, Unit::Context]),
        (IndexKind::OnBehalfOf, vec![subject], &[Unit::OnBehalfOf]),
        (IndexKind::Target, vec!["user", subject], &[Unit::Target]),
    ];
    for (kind, vals, units) in names {
        let prefix = index::value_prefix(n, kind, &vals, Some(&values));
        let mut it = core.store.iter(Cf::Index, &prefix, &index::with_seq(&prefix, u64::MAX), false, ReadMode::Bulk);
        while let Some((k, v)) = it.next()? {
            let last = index::key_seq(k).ok_or_else(|| Error::Corrupt("malformed index key".into()))?;
            // A group's posting is all durable or not at all: one past the
            // head is a later append's.
            if last > head {
                continue;
            }
            for seq in index::decode_posting(last, v).map_err(|e| Error::Corrupt(format!("index posting: {e}")))? {
                plan.entry(seq).or_default().extend_from_slice(units);
            }
        }
    }
    let mut rows = 0u64;
    let plan: Vec<(u64, Vec<Unit>)> = plan.into_iter().collect();
    for chunk in plan.chunks(BATCH_ROWS) {
        rows += rewrite(core, tenant, n, &values, chunk)?;
    }
    let pseudonym = values.hash(IndexKind::Actor as u8, &[subject]);
    let mut metadata = serde_json::Map::new();
    metadata.insert("subject".into(), pseudonym.clone().into());
    metadata.insert("rows_erased".into(), rows.into());
    metadata.insert("through_seq".into(), head.into());
    let receipt = core.append_own(tenant, SUBJECT_ERASED_ACTION, actor, &metadata, OwnRow::default())?;
    // The rows' old versions leave every SST file.
    core.store.flush_all()?;
    for cf in [Cf::Records, Cf::Index, Cf::Idempotency] {
        core.store.compact_range(cf, &n.to_be_bytes(), &(n + 1).to_be_bytes());
    }
    Ok(Erasure { pseudonym, rows, through_seq: head, receipt })
}

/// Rewrites the content of `chunk`'s rows of tenant `n` without their
/// listed units, sealed again under the tenant's current content key; one
/// batch. Returns how many rows changed.
fn rewrite(core: &Core, tenant: &str, n: u64, values: &index::ValueKey, chunk: &[(u64, Vec<Unit>)]) -> Result<u64> {
    let seal = core.sealing.for_prepare(tenant, Some(n), core.now())?.ok_or(Error::NotEncrypted)?;
    let keys: Vec<Vec<u8>> = chunk.iter().map(|(s, _)| keys::record(n, *s).to_vec()).collect();
    let stored = core.store.multi_get(Cf::Records, &keys, ReadMode::Bulk)?;
    let mut batch = core.store.batch();
    // The content key of a new month reaches the store with its first use.
    for (k, entry) in seal.take_pending() {
        batch.put(Cf::Tenants, &keys::tenant_key(n, k), &entry);
    }
    let mut random = vec![0u8; crate::format::cipher::NONCE_LEN * chunk.len()];
    crate::keyring::fill_random(&mut random)?;
    let mut changed = 0;
    let mut removals: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
    for (i, ((seq, units), value)) in chunk.iter().zip(stored).enumerate() {
        // Gone since (retention), or a row of format 2 (a `purged` row):
        // nothing of a person to erase.
        let Some(value) = value.filter(|v| v.first() == Some(&RECORD_FORMAT_V2)) else { continue };
        let split = SplitRecord::decode(&value).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        let opened = core.rows.open(n, *seq, &value)?;
        let content = opened.content().map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        let current = ContentRef::decode(content).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        if units.iter().all(|u| current.is_erased(*u)) {
            continue;
        }
        let before = opened.record(*seq).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        // Its idempotency entry: the fingerprint covers the erased values.
        if let Some(k) = &before.event.idempotency_key {
            let ikey = keys::idempotency(n, &values.idempotency_key(k));
            let ours = core
                .store
                .get(Cf::Idempotency, &ikey)?
                .is_some_and(|v| IdempotencyEntry::decode(&v).is_ok_and(|e| e.receipt.seq == *seq));
            if ours {
                batch.delete(Cf::Idempotency, &ikey);
            }
        }
        let erased = current.erase(units);
        // The row's index entries for what it no longer says.
        let clear = ClearRef::decode(split.clear).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        let after = ContentRef::decode(&erased)
            .and_then(|c| c.event(&clear))
            .map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?
            .to_owned();
        let kept: HashSet<Vec<u8>> = parts(&after, values).collect();
        for part in parts(&before.event, values).filter(|p| !kept.contains(p)) {
            let mut prefix = n.to_be_bytes().to_vec();
            prefix.extend_from_slice(&part);
            removals.entry(prefix).or_default().push(*seq);
        }
        let nonce: [u8; 12] = random[i * 12..(i + 1) * 12].try_into().expect("12 bytes");
        let sealed = seal.cipher.seal(&nonce, &row_aad(&split.leaf), &erased);
        let mut next = SplitRecord::template(split.clear, &split.leaf, StoredContent::Sealed { key: seal.key, sealed: &sealed });
        StoredRecord::fill_template(&mut next, split.recorded_at, &split.head);
        batch.put(Cf::Records, &keys::record(n, *seq), &next);
        changed += 1;
    }
    crate::core::postings::unindex(&core.store, &removals, &mut batch)?;
    core.store.write(batch, true)?;
    Ok(changed)
}

/// The index value parts of a stored event of an encrypted tenant.
fn parts<'e>(event: &'e EventRecord, values: &index::ValueKey) -> impl Iterator<Item = Vec<u8>> + 'e {
    let pseudonyms = index::pseudonyms_of(event);
    let template = IndexTemplate::build(&Indexed::of_record(event, &pseudonyms), Some(values));
    template.parts().map(<[u8]>::to_vec).collect::<Vec<_>>().into_iter()
}
