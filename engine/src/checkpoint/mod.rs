//! Signed checkpoints: a tenant's head at a seq, signed with Ed25519, for
//! someone outside the store to keep (docs/FORMAT.md, "Checkpoints";
//! docs/SECURITY.md says what they protect against).
//!
//! A hash chain shows that no row in the middle changed, but not that the
//! tail is still there, that the data directory is not an older copy, or
//! that the whole chain was not rewritten from some row on. A checkpoint an
//! auditor kept does: the store must still hold that head at that seq
//! (`Engine::verify_trusted`).
//!
//! Checkpoints form a chain of their own: each signs the seq and head of the
//! one before it (`prev_seq`, `prev_head`; the genesis at seq 0 for the
//! first), and annal signs one only after verifying every row between the
//! two. So when retention has deleted the rows a kept checkpoint names, the
//! stored checkpoints from it to the first remaining rows still connect it
//! to today's chain: each link is a signed statement that one head extends
//! the other, made while the rows were there. A retention run makes a
//! checkpoint before it deletes anything and another after.
//!
//! [`Checkpointer`] is the feature: it signs with the key `key.rs` loads,
//! over the core's store, and verifies rows with `crate::verify` before it
//! signs; `trusted.rs` is the verification against a kept checkpoint;
//! `bundle.rs` writes and verifies self-verifying export files. The bytes
//! of a checkpoint are the format layer's (`crate::format::checkpoint`).

pub mod bundle;
pub mod key;
mod trusted;

use std::sync::Arc;
use std::time::Duration;

pub use crate::format::checkpoint::{
    key_id, message, verify_signature, Checkpoint, CHECKPOINT_DOMAIN, JSON_FORMAT, KEY_ID_DOMAIN, MESSAGE_VERSION,
};
pub use bundle::{verify_bundle, BundleError, BundleReport};
pub use key::{init_key_file, KeySource, SigningKeyPair, KEY_FILE};
pub use trusted::{Connection, TrustedFailure, TrustedOutcome, TrustedReport};

use crate::core::append::OwnRow;
use crate::core::reads;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::event::{Actor, ActorType};
use crate::format::chain;
use crate::format::checkpoint::hex;
use crate::format::checkpoint::key as cp_key;
use crate::format::keys;
use crate::storage::{Cf, ReadMode};
use crate::verify::{self, VerifyOutcome};

/// When checkpoints are made automatically (the checkpoint daemon,
/// `Engine::checkpoint_due`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// A checkpoint once this many rows were appended since the last (default 10,000).
    pub every_rows: u64,
    /// A checkpoint once this long passed since the last, if rows were appended (default 60 s).
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy { every_rows: 10_000, every: Duration::from_secs(60) }
    }
}

/// The action of the row that records, in a chain, that its checkpoints are
/// signed by another key from then on (docs/OPERATIONS.md, "The signing key").
pub const KEY_ROTATED_ACTION: &str = "annal.checkpoint.key_rotated";

/// The checkpoint feature: signs, stores, lists and checks checkpoints of
/// the core's chains.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    core: Arc<Core>,
    /// `None`: opened without a key; checkpoints are read and checked, not made.
    signer: Option<SigningKeyPair>,
    /// Serialises checkpoint making: two makers racing from the same
    /// previous checkpoint would store two successors of it.
    lock: parking_lot::Mutex<()>,
}

impl Checkpointer {
    pub fn new(core: Arc<Core>, signer: Option<SigningKeyPair>) -> Checkpointer {
        Checkpointer { core, signer, lock: parking_lot::Mutex::new(()) }
    }

    /// The checkpoint signing key's public half (32 bytes) and id (8
    /// bytes); `None` without a key.
    pub fn public_key(&self) -> Option<([u8; 32], [u8; 8])> {
        self.signer.as_ref().map(|k| (k.public_key(), k.key_id()))
    }

    /// Signs and stores a checkpoint of `tenant`'s current head, after
    /// verifying every row since the previous checkpoint (a broken chain is
    /// never signed: the error says where it breaks). Returns the latest
    /// checkpoint unchanged when no row was appended since.
    pub fn checkpoint(&self, tenant: &str) -> Result<Checkpoint> {
        let signer = self.signer.as_ref().ok_or(Error::NoSigningKey)?;
        let _guard = self.lock.lock();
        let n = self.core.number(tenant)?;
        let head = self.core.head(tenant)?;
        let latest = self.latest(tenant)?;
        if let Some(l) = &latest {
            if l.seq > head.seq {
                return Err(Error::Corrupt(format!(
                    "the chain ends at seq {} but a checkpoint of seq {} is stored: truncated or rolled back",
                    head.seq, l.seq
                )));
            }
            if l.seq == head.seq {
                if l.head != head.head {
                    return Err(Error::Corrupt(format!("the stored checkpoint of seq {} names another head", l.seq)));
                }
                return Ok(l.clone());
            }
        }
        let anchor = reads::anchor(&self.core.store, n)?;
        let floor = anchor.map_or(0, |a| a.seq);
        // The previous link: the latest checkpoint if its rows (or the
        // anchor at its seq) are still there to connect it, else the anchor.
        let (prev_seq, prev_head) = match (&latest, anchor) {
            (Some(l), _) if l.seq >= floor => (l.seq, l.head),
            (_, Some(a)) => (a.seq, a.head),
            (_, None) => (0, chain::genesis(tenant)),
        };
        let start_head = if prev_seq == 0 {
            chain::genesis(tenant)
        } else if prev_seq == floor {
            anchor.map(|a| a.head).unwrap_or_default()
        } else {
            match self.core.stored_head(tenant, prev_seq)? {
                Some(head) => head,
                None => return Err(Error::Corrupt(format!("row {prev_seq} of the last checkpoint is missing"))),
            }
        };
        if start_head != prev_head {
            return Err(Error::Corrupt(format!("the chain no longer has the head the checkpoint of seq {prev_seq} signed")));
        }
        match verify::verify(&self.core.store, None, tenant, n, prev_seq + 1..=head.seq, &mut |_| {})? {
            VerifyOutcome::Intact(r) if r.head == head.head || r.count == 0 => {}
            VerifyOutcome::Intact(_) => return Err(Error::Corrupt("the chain's head entry disagrees with its rows".into())),
            VerifyOutcome::Broken(b) => {
                return Err(Error::Corrupt(format!("chain broken at seq {}: {}; no checkpoint signed", b.seq, b.reason)))
            }
        }
        let cp = Checkpoint::sign(signer, tenant, head.seq, head.head, head.recorded_at, prev_seq, prev_head, self.core.now());
        let mut b = self.core.store.batch();
        b.put(Cf::Checkpoints, &cp_key(n, cp.seq), &cp.encode_value());
        self.core.store.write(b, true)?;
        Ok(cp)
    }

    /// Checks that this engine's key signed every chain's latest checkpoint.
    /// A chain last signed by another key is refused
    /// ([`Error::SigningKeyMismatch`]: two keys signing one chain is how a
    /// stray command or a stolen directory would go unnoticed), unless
    /// `rotate`: then the change is recorded in that chain
    /// ([`KEY_ROTATED_ACTION`], naming both keys) and a checkpoint is signed
    /// with the new key at once, linked to the old key's last one. Returns
    /// the chains rotated, with the key id they had. Without a key, checks
    /// nothing.
    pub fn check_key(&self, rotate: bool) -> Result<Vec<(String, [u8; 8])>> {
        let Some(signer) = &self.signer else { return Ok(Vec::new()) };
        let id = signer.key_id();
        let mut rotated = Vec::new();
        for tenant in self.core.tenants.list() {
            let latest = match self.latest(&tenant) {
                Ok(Some(l)) if l.key_id != id => l,
                Ok(_) | Err(Error::UnknownTenant) => continue,
                Err(e) => return Err(e),
            };
            if !rotate {
                return Err(Error::SigningKeyMismatch { tenant, stored: hex(&latest.key_id), given: hex(&id) });
            }
            let mut m = serde_json::Map::new();
            m.insert("previous_key_id".into(), hex(&latest.key_id).into());
            m.insert("previous_public_key".into(), hex(&latest.public_key).into());
            m.insert("previous_checkpoint_seq".into(), latest.seq.into());
            m.insert("key_id".into(), hex(&id).into());
            m.insert("public_key".into(), hex(&signer.public_key()).into());
            let annal = Actor { kind: ActorType::System, id: "annal".into(), name: None, email: None, on_behalf_of: None };
            match self.core.append_own(&tenant, KEY_ROTATED_ACTION, &annal, &m, OwnRow::default()) {
                // A closing workspace takes no rows; its content goes anyway.
                Err(Error::TenantClosing) => continue,
                r => r?,
            };
            self.checkpoint(&tenant)?;
            rotated.push((tenant, latest.key_id));
        }
        Ok(rotated)
    }

    /// Verifies `tenant`'s chain from its latest checkpoint to its head:
    /// the rows after the checkpoint are verified as
    /// [`crate::Engine::verify`] does, linked from the head the checkpoint
    /// signed, which the row at its seq must still hold. Returns the
    /// checkpoint resumed from, or `None` when the whole chain was verified
    /// instead: there is no checkpoint, retention deleted its row, or it is
    /// not validly signed by this engine's key (a damaged checkpoint is no
    /// place to resume from).
    ///
    /// What this does not do is re-verify the rows up to the checkpoint:
    /// they were verified when it was signed, and a later change to one of
    /// them is found only by a full verification. It is the cheap question
    /// "is everything since the last signature intact and linked to it",
    /// whose cost is the rows since, not the chain's length.
    pub fn verify_since_latest(&self, tenant: &str) -> Result<(Option<Checkpoint>, VerifyOutcome)> {
        let n = self.core.number(tenant)?;
        let floor = reads::anchor(&self.core.store, n)?.map_or(0, |a| a.seq);
        let ours = |cp: &Checkpoint| self.signer.as_ref().is_none_or(|s| s.public_key() == cp.public_key);
        let usable = self.latest(tenant)?.filter(|cp| cp.seq > floor && cp.signature_valid() && ours(cp));
        let rows = Some(&self.core.rows);
        let Some(cp) = usable else {
            return Ok((None, verify::verify(&self.core.store, rows, tenant, n, .., &mut |_| {})?));
        };
        let broken = |reason| VerifyOutcome::Broken(verify::ChainBreak { seq: cp.seq, reason, verified: 0 });
        // The row's stored head, read without opening its content: the
        // chain needs no key.
        let stored = self.core.store.get(Cf::Records, &keys::record(n, cp.seq))?;
        let outcome = match stored.as_deref().map(crate::format::record::Envelope::decode) {
            Some(Ok(r)) if r.head == cp.head => verify::verify(&self.core.store, rows, tenant, n, cp.seq + 1.., &mut |_| {})?,
            Some(Ok(_)) | None => broken(verify::BreakReason::CheckpointMismatch),
            Some(Err(why)) => broken(verify::BreakReason::Undecodable(format!("record {}: {why}", cp.seq))),
        };
        Ok((Some(cp), outcome))
    }

    /// The most recent stored checkpoint of `tenant`, if any.
    pub fn latest(&self, tenant: &str) -> Result<Option<Checkpoint>> {
        let n = self.core.number(tenant)?;
        let rows = self.core.store.scan(Cf::Checkpoints, &cp_key(n, 0), &cp_key(n + 1, 0), true, 1, ReadMode::Interactive)?;
        rows.first().map(|(k, v)| decode_stored(tenant, k, v)).transpose()
    }

    /// Stored checkpoints of `tenant` with `from_seq <= seq <= to_seq`, oldest first, at most `limit`.
    pub fn list(&self, tenant: &str, from_seq: u64, to_seq: u64, limit: usize) -> Result<Vec<Checkpoint>> {
        let n = self.core.number(tenant)?;
        let hi = if to_seq == u64::MAX { cp_key(n + 1, 0) } else { cp_key(n, to_seq + 1) };
        let rows = self.core.store.scan(Cf::Checkpoints, &cp_key(n, from_seq), &hi, false, limit, ReadMode::Interactive)?;
        rows.iter().map(|(k, v)| decode_stored(tenant, k, v)).collect()
    }

    /// The stored checkpoint of `tenant` at exactly `seq`.
    pub fn at(&self, tenant: &str, seq: u64) -> Result<Option<Checkpoint>> {
        let n = self.core.number(tenant)?;
        let key = cp_key(n, seq);
        self.core.store.get(Cf::Checkpoints, &key)?.map(|v| decode_stored(tenant, &key, &v)).transpose()
    }

    /// The first stored checkpoint of `tenant` at or after `seq`.
    pub fn at_or_after(&self, tenant: &str, seq: u64) -> Result<Option<Checkpoint>> {
        Ok(self.list(tenant, seq, u64::MAX, 1)?.pop())
    }

    /// Makes a checkpoint of every tenant that `policy` says is due: rows
    /// appended since its last checkpoint, and either `every_rows` of them
    /// or `every` elapsed. Returns those made; a tenant that fails (a broken
    /// chain) is skipped and reported in the error list.
    pub fn due(&self, policy: &CheckpointPolicy) -> (Vec<Checkpoint>, Vec<(String, Error)>) {
        let now = self.core.now();
        let every = u64::try_from(policy.every.as_nanos()).unwrap_or(u64::MAX);
        let (mut made, mut failed) = (Vec::new(), Vec::new());
        for t in self.core.tenants.list() {
            let due = (|| -> Result<bool> {
                let head = self.core.head(&t)?;
                Ok(match self.latest(&t)? {
                    None => head.seq > 0,
                    Some(l) => {
                        head.seq > l.seq
                            && (head.seq - l.seq >= policy.every_rows.max(1) || now.saturating_sub(l.made_at) >= every)
                    }
                })
            })();
            match due.and_then(|due| due.then(|| self.checkpoint(&t)).transpose()) {
                Ok(Some(cp)) => made.push(cp),
                Ok(None) | Err(Error::UnknownTenant) => {}
                Err(e) => failed.push((t, e)),
            }
        }
        (made, failed)
    }
}

fn decode_stored(tenant: &str, k: &[u8], v: &[u8]) -> Result<Checkpoint> {
    let seq = keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed checkpoint key".into()))?;
    Checkpoint::decode_value(tenant, seq, v).map_err(|e| Error::Corrupt(format!("checkpoint of seq {seq}: {e}")))
}
