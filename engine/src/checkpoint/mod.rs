//! Signed checkpoints: a tenant's head at a seq, signed with Ed25519, for
//! someone outside the store to keep (docs/FORMAT.md, "Checkpoints";
//! docs/SECURITY.md says what they protect against).
//!
//! A hash chain shows that no row in the middle changed, but not that the
//! tail is still there, that the data directory is not an older copy, or
//! that the whole chain was not rewritten from some row on. A checkpoint an
//! auditor kept does: the store must still hold that head at that seq
//! ([`Engine::verify_trusted`]).
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
//! `key.rs` loads or generates the key; `trusted.rs` is the verification
//! against a kept checkpoint; `daemon.rs` applies the every-N-rows/T-seconds
//! policy; `bundle.rs` writes and verifies self-verifying export files.

pub mod bundle;
mod daemon;
pub mod key;
mod trusted;

use std::time::Duration;

use serde_json::{Map, Value};

pub use bundle::{verify_bundle, BundleError, BundleReport};
pub use daemon::CheckpointDaemon;
pub use key::{key_id, verify_signature, KeySource, SigningKeyPair, KEY_FILE};
pub use trusted::{Connection, TrustedFailure, TrustedOutcome, TrustedReport};

use crate::chain::{self, Hash};
use crate::engine::Engine;
use crate::error::{Error, FieldError, Result};
use crate::record::{self, DecodeError, Reader};
use crate::storage::{Cf, ReadMode};
use crate::verify::VerifyOutcome;

/// Domain prefix of the signed message of a checkpoint.
pub const CHECKPOINT_DOMAIN: &[u8] = b"annal/v1/checkpoint\0";
/// Version byte of the signed message.
pub const MESSAGE_VERSION: u8 = 1;
/// The `format` of a checkpoint as JSON.
pub const JSON_FORMAT: &str = "annal.checkpoint.v1";

/// A signed statement: tenant's chain had `head` at `seq`, and that head
/// extends `prev_head` at `prev_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The tenant (workspace) id.
    pub tenant: String,
    /// Seq of the row whose head this is.
    pub seq: u64,
    /// `head(seq)`.
    pub head: Hash,
    /// `recorded_at` of row `seq`.
    pub recorded_at: u64,
    /// Seq of the previous checkpoint (0: none, the chain's genesis).
    pub prev_seq: u64,
    /// Head at `prev_seq` (the genesis when it is 0).
    pub prev_head: Hash,
    /// Id of the signing key ([`key_id`] of `public_key`).
    pub key_id: [u8; 8],
    /// The Ed25519 public key that signed it.
    pub public_key: [u8; 32],
    /// Ed25519 signature of [`Checkpoint::message`].
    pub signature: [u8; 64],
    /// Engine time the checkpoint was made (ns). Not signed: it only drives
    /// the every-T-seconds policy.
    pub made_at: u64,
}

/// The bytes a checkpoint signs (docs/FORMAT.md, "Checkpoints").
#[allow(clippy::too_many_arguments)]
pub fn message(
    tenant: &str,
    seq: u64,
    head: &Hash,
    recorded_at: u64,
    prev_seq: u64,
    prev_head: &Hash,
    key_id: &[u8; 8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 1 + 4 + tenant.len() + 8 + 32 + 8 + 8 + 32 + 8);
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.push(MESSAGE_VERSION);
    m.extend_from_slice(&u32::try_from(tenant.len()).unwrap_or(u32::MAX).to_be_bytes());
    m.extend_from_slice(tenant.as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&head.0);
    m.extend_from_slice(&recorded_at.to_be_bytes());
    m.extend_from_slice(&prev_seq.to_be_bytes());
    m.extend_from_slice(&prev_head.0);
    m.extend_from_slice(key_id);
    m
}

impl Checkpoint {
    /// The signed message of this checkpoint.
    pub fn message(&self) -> Vec<u8> {
        message(&self.tenant, self.seq, &self.head, self.recorded_at, self.prev_seq, &self.prev_head, &self.key_id)
    }

    /// Signs a checkpoint with `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        key: &SigningKeyPair,
        tenant: &str,
        seq: u64,
        head: Hash,
        recorded_at: u64,
        prev_seq: u64,
        prev_head: Hash,
        made_at: u64,
    ) -> Checkpoint {
        let key_id = key.key_id();
        let signature = key.sign(&message(tenant, seq, &head, recorded_at, prev_seq, &prev_head, &key_id));
        Checkpoint {
            tenant: tenant.to_string(),
            seq,
            head,
            recorded_at,
            prev_seq,
            prev_head,
            key_id,
            public_key: key.public_key(),
            signature,
            made_at,
        }
    }

    /// Whether the signature is valid for the embedded public key and the
    /// key id is that key's.
    pub fn signature_valid(&self) -> bool {
        key_id(&self.public_key) == self.key_id && verify_signature(&self.public_key, &self.message(), &self.signature)
    }

    /// The stored value in the `checkpoints` column family:
    /// `0x01 ‖ recorded_at ‖ head[32] ‖ prev_seq ‖ prev_head[32] ‖ key_id[8] ‖ public_key[32] ‖ signature[64] ‖ made_at ‖ crc32`.
    pub fn encode_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VALUE_LEN);
        out.push(record::VALUE_FORMAT_V1);
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&self.head.0);
        out.extend_from_slice(&self.prev_seq.to_be_bytes());
        out.extend_from_slice(&self.prev_head.0);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.made_at.to_be_bytes());
        record::seal(out)
    }

    /// Inverse of [`Checkpoint::encode_value`]; the tenant and seq come from the key.
    pub fn decode_value(tenant: &str, seq: u64, bytes: &[u8]) -> Result<Checkpoint, DecodeError> {
        let mut r = Reader::new(record::unseal(bytes)?);
        let recorded_at = r.u64()?;
        let head = r.hash()?;
        let prev_seq = r.u64()?;
        let prev_head = r.hash()?;
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(r.take(8)?);
        let public_key = r.hash()?.0;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(r.take(64)?);
        let made_at = r.u64()?;
        r.finish()?;
        Ok(Checkpoint {
            tenant: tenant.to_string(),
            seq,
            head,
            recorded_at,
            prev_seq,
            prev_head,
            key_id,
            public_key,
            signature,
            made_at,
        })
    }

    /// The checkpoint as JSON (the file an auditor keeps; docs/FORMAT.md).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("format".into(), JSON_FORMAT.into());
        m.insert("tenant".into(), self.tenant.clone().into());
        m.insert("seq".into(), self.seq.into());
        m.insert("head".into(), self.head.to_hex().into());
        m.insert("recorded_at".into(), self.recorded_at.into());
        m.insert("prev_seq".into(), self.prev_seq.into());
        m.insert("prev_head".into(), self.prev_head.to_hex().into());
        m.insert("key_id".into(), key::hex(&self.key_id).into());
        m.insert("public_key".into(), key::hex(&self.public_key).into());
        m.insert("signature".into(), key::hex(&self.signature).into());
        Value::Object(m)
    }

    /// Parses [`Checkpoint::to_json`]'s form; errors name the field. Does
    /// not check the signature ([`Checkpoint::signature_valid`]).
    pub fn from_json(value: &Value) -> std::result::Result<Checkpoint, FieldError> {
        let obj = value.as_object().ok_or_else(|| FieldError::new("", "a checkpoint must be a JSON object"))?;
        let text = |f: &str| obj.get(f).and_then(Value::as_str).ok_or_else(|| FieldError::new(f, "missing or not a string"));
        let num =
            |f: &str| obj.get(f).and_then(Value::as_u64).ok_or_else(|| FieldError::new(f, "missing or not an unsigned integer"));
        if text("format")? != JSON_FORMAT {
            return Err(FieldError::new("format", format!("must be `{JSON_FORMAT}`")));
        }
        let tenant = text("tenant")?.to_string();
        crate::engine::validate_tenant(&tenant).map_err(|e| FieldError::new("tenant", e.to_string()))?;
        Ok(Checkpoint {
            tenant,
            seq: num("seq")?,
            head: Hash(key::from_hex("head", text("head")?)?),
            recorded_at: num("recorded_at")?,
            prev_seq: num("prev_seq")?,
            prev_head: Hash(key::from_hex("prev_head", text("prev_head")?)?),
            key_id: key::from_hex("key_id", text("key_id")?)?,
            public_key: key::from_hex("public_key", text("public_key")?)?,
            signature: key::from_hex("signature", text("signature")?)?,
            made_at: 0,
        })
    }
}

const VALUE_LEN: usize = 1 + 8 + 32 + 8 + 32 + 8 + 32 + 64 + 8 + 4;

/// `checkpoints`: `tenant:u64 ‖ seq:u64`.
fn cp_key(n: u64, seq: u64) -> [u8; 16] {
    crate::keys::record(n, seq)
}

/// When checkpoints are made automatically ([`CheckpointDaemon`],
/// [`Engine::checkpoint_due`]).
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

impl Engine {
    /// The checkpoint signing key's public half (32 bytes) and id (8 bytes).
    pub fn checkpoint_public_key(&self) -> ([u8; 32], [u8; 8]) {
        let k = &self.shared().signer;
        (k.public_key(), k.key_id())
    }

    /// Signs and stores a checkpoint of `tenant`'s current head, after
    /// verifying every row since the previous checkpoint (a broken chain is
    /// never signed: the error says where it breaks). Returns the latest
    /// checkpoint unchanged when no row was appended since.
    pub fn checkpoint(&self, tenant: &str) -> Result<Checkpoint> {
        let shared = self.shared();
        let _guard = shared.signer.lock.lock();
        let n = self.tenant_number(tenant)?;
        let head = self.head(tenant)?;
        let latest = self.latest_checkpoint(tenant)?;
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
        let anchor = crate::retention::anchor(&shared.store, n)?;
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
            match self.get(tenant, prev_seq)? {
                Some(r) => r.head,
                None => return Err(Error::Corrupt(format!("row {prev_seq} of the last checkpoint is missing"))),
            }
        };
        if start_head != prev_head {
            return Err(Error::Corrupt(format!("the chain no longer has the head the checkpoint of seq {prev_seq} signed")));
        }
        match self.verify(tenant, prev_seq + 1..=head.seq)? {
            VerifyOutcome::Intact(r) if r.head == head.head || r.count == 0 => {}
            VerifyOutcome::Intact(_) => return Err(Error::Corrupt("the chain's head entry disagrees with its rows".into())),
            VerifyOutcome::Broken(b) => {
                return Err(Error::Corrupt(format!("chain broken at seq {}: {}; no checkpoint signed", b.seq, b.reason)))
            }
        }
        let cp = Checkpoint::sign(
            &shared.signer,
            tenant,
            head.seq,
            head.head,
            head.recorded_at,
            prev_seq,
            prev_head,
            shared.clock.now_ns(),
        );
        let mut b = shared.store.batch();
        b.put(Cf::Checkpoints, &cp_key(n, cp.seq), &cp.encode_value());
        shared.store.write(b, true)?;
        Ok(cp)
    }

    /// The most recent stored checkpoint of `tenant`, if any.
    pub fn latest_checkpoint(&self, tenant: &str) -> Result<Option<Checkpoint>> {
        let n = self.tenant_number(tenant)?;
        let rows = self.shared().store.scan(Cf::Checkpoints, &cp_key(n, 0), &cp_key(n + 1, 0), true, 1, ReadMode::Interactive)?;
        rows.first().map(|(k, v)| decode_stored(tenant, k, v)).transpose()
    }

    /// Stored checkpoints of `tenant` with `from_seq <= seq <= to_seq`, oldest first, at most `limit`.
    pub fn checkpoints(&self, tenant: &str, from_seq: u64, to_seq: u64, limit: usize) -> Result<Vec<Checkpoint>> {
        let n = self.tenant_number(tenant)?;
        let hi = if to_seq == u64::MAX { cp_key(n + 1, 0) } else { cp_key(n, to_seq + 1) };
        let rows = self.shared().store.scan(Cf::Checkpoints, &cp_key(n, from_seq), &hi, false, limit, ReadMode::Interactive)?;
        rows.iter().map(|(k, v)| decode_stored(tenant, k, v)).collect()
    }

    /// The stored checkpoint of `tenant` at exactly `seq`.
    pub fn checkpoint_at(&self, tenant: &str, seq: u64) -> Result<Option<Checkpoint>> {
        let n = self.tenant_number(tenant)?;
        let key = cp_key(n, seq);
        self.shared().store.get(Cf::Checkpoints, &key)?.map(|v| decode_stored(tenant, &key, &v)).transpose()
    }

    /// The first stored checkpoint of `tenant` at or after `seq`.
    pub fn checkpoint_at_or_after(&self, tenant: &str, seq: u64) -> Result<Option<Checkpoint>> {
        Ok(self.checkpoints(tenant, seq, u64::MAX, 1)?.pop())
    }

    /// Makes a checkpoint of every tenant that `policy` says is due: rows
    /// appended since its last checkpoint, and either `every_rows` of them
    /// or `every` elapsed. Returns those made; a tenant that fails (a broken
    /// chain) is skipped and reported in the error list.
    pub fn checkpoint_due(&self, policy: &CheckpointPolicy) -> (Vec<Checkpoint>, Vec<(String, Error)>) {
        let now = self.shared().clock.now_ns();
        let every = u64::try_from(policy.every.as_nanos()).unwrap_or(u64::MAX);
        let (mut made, mut failed) = (Vec::new(), Vec::new());
        for t in self.tenants() {
            let due = (|| -> Result<bool> {
                let head = self.head(&t)?;
                Ok(match self.latest_checkpoint(&t)? {
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
    let seq = crate::keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed checkpoint key".into()))?;
    Checkpoint::decode_value(tenant, seq, v).map_err(|e| Error::Corrupt(format!("checkpoint of seq {seq}: {e}")))
}
