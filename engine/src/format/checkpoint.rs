//! The signed checkpoint's bytes: the message a checkpoint signs, its
//! stored value in the `checkpoints` column family, its JSON form (the file
//! an auditor keeps), and the key id. docs/FORMAT.md, "Checkpoints",
//! specifies them. Making, storing and checking checkpoints against a store
//! is the `crate::checkpoint` feature; the signing key's file is its `key`.

use ed25519_dalek::VerifyingKey;
use serde_json::{Map, Value};

use crate::error::{FieldError, Result};
use crate::format::chain::Hash;
use crate::format::record::{self, DecodeError, Reader};

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
        m.insert("key_id".into(), hex(&self.key_id).into());
        m.insert("public_key".into(), hex(&self.public_key).into());
        m.insert("signature".into(), hex(&self.signature).into());
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
        crate::format::tenant::validate_tenant(&tenant).map_err(|e| FieldError::new("tenant", e.to_string()))?;
        Ok(Checkpoint {
            tenant,
            seq: num("seq")?,
            head: Hash(from_hex("head", text("head")?)?),
            recorded_at: num("recorded_at")?,
            prev_seq: num("prev_seq")?,
            prev_head: Hash(from_hex("prev_head", text("prev_head")?)?),
            key_id: from_hex("key_id", text("key_id")?)?,
            public_key: from_hex("public_key", text("public_key")?)?,
            signature: from_hex("signature", text("signature")?)?,
            made_at: 0,
        })
    }
}

const VALUE_LEN: usize = 1 + 8 + 32 + 8 + 32 + 8 + 32 + 64 + 8 + 4;

/// `checkpoints`: `tenant:u64 ‖ seq:u64`.
pub fn key(n: u64, seq: u64) -> [u8; 16] {
    crate::format::keys::record(n, seq)
}

/// Domain prefix of a key id.
pub const KEY_ID_DOMAIN: &[u8] = b"annal/v1/key-id\0";

/// The id of a public key: the first 8 bytes of
/// `BLAKE3("annal/v1/key-id\0" ‖ public key)`.
pub fn key_id(public_key: &[u8; 32]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(KEY_ID_DOMAIN);
    h.update(public_key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&h.finalize().as_bytes()[..8]);
    id
}

/// Checks an Ed25519 signature strictly (no malleable or small-order forms).
pub fn verify_signature(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else { return false };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
}

/// Lower-case hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses exactly `N` bytes of hex, naming `field` in the error.
pub fn from_hex<const N: usize>(field: &str, text: &str) -> std::result::Result<[u8; N], FieldError> {
    let b = text.as_bytes();
    let bad = || FieldError::new(field, format!("must be {} hex digits", 2 * N));
    if b.len() != 2 * N {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16).ok_or_else(bad)?;
        let lo = char::from(pair[1]).to_digit(16).ok_or_else(bad)?;
        out[i] = u8::try_from(hi * 16 + lo).map_err(|_| bad())?;
    }
    Ok(out)
}
