//! Encrypted bytes: AES-256-GCM under a 256-bit key, the data keys as they
//! are handed to a key provider to wrap, and the stored entry of a wrapped
//! key (docs/FORMAT.md, "Keys and sealed bytes").
//!
//! Two kinds of key meet here. A **data key** encrypts what annal stores
//! for a tenant; it is itself stored only *wrapped*: encrypted under a
//! **key-encryption key** (KEK) that never enters the store, by whatever
//! holds the KEK (the keyring file, an external command; `crate::keyring`).
//! What a provider wraps is not the bare key but a *payload*: a domain
//! prefix, the key's context (which tenant and which of its keys) and the
//! key. The context comes back on unwrap and is checked, so a wrapped key
//! copied to another tenant's entry is refused, whatever the provider does
//! with its own metadata.
//!
//! **Nonces.** A sealed value carries its 96-bit nonce. Callers draw it from
//! the OS's random source for every message; a key is meant for at most
//! 2^30 messages (docs/SECURITY.md says why that keeps a repeat out of
//! reach). Nothing here draws randomness: this layer does no I/O.

use zeroize::{Zeroize, Zeroizing};

use crate::format::record::{seal as with_crc, unseal as check_crc, DecodeError, Reader, VALUE_FORMAT_V1};

/// Bytes of a key (AES-256).
pub const KEY_LEN: usize = 32;
/// Bytes of a nonce (GCM's 96 bits).
pub const NONCE_LEN: usize = 12;
/// Bytes of GCM's authentication tag.
pub const TAG_LEN: usize = 16;
/// The first byte of a sealed value: its layout, `nonce ‖ ciphertext ‖ tag`.
pub const SEALED_V1: u8 = 0x01;
/// Domain prefix of a data key's payload, the bytes a provider wraps.
pub const DATA_KEY_DOMAIN: &[u8] = b"annal/v1/data-key\0";
/// Longest KEK reference: long enough for a cloud KMS key ARN or a Vault
/// transit path, short enough to sit in every wrapped-key entry.
pub const MAX_KEK_REF_BYTES: usize = 256;

/// A 256-bit secret key. Zeroed when dropped; never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    /// The key made of these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes))
    }

    /// The key's bytes, for the one place that must have them (a keyring
    /// file being written).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// AES-256-GCM under one key, its round keys (and GHASH's powers of H)
/// expanded once: *ring*'s implementation (BoringSSL's assembly: AES-NI or
/// VAES with carry-less multiplication, constant-time), which seals and
/// opens a row of a few hundred bytes three to four times as fast as a
/// portable one.
#[derive(Clone)]
pub struct Cipher(std::sync::Arc<aead::LessSafeKey>);

use ring::aead;

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

/// Why sealed bytes did not open. Deliberately says nothing more: GCM does
/// not tell a wrong key from an edited byte, and neither should we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Too short to hold a nonce and a tag, or an unknown layout byte.
    #[error("not a sealed value")]
    Malformed,
    /// The tag does not match: another key, other associated data, or
    /// bytes changed.
    #[error("authentication failed: another key, other associated data, or changed bytes")]
    Authentication,
}

impl Cipher {
    /// A cipher under `key`.
    pub fn new(key: &SecretKey) -> Cipher {
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &key.0[..])
            // Only a key of another length fails; `SecretKey` is 32 bytes.
            .expect("a 256-bit key");
        Cipher(std::sync::Arc::new(aead::LessSafeKey::new(unbound)))
    }

    /// `SEALED_V1 ‖ nonce ‖ ciphertext ‖ tag` of `plaintext`, authenticated
    /// together with `aad` (which is not stored: the reader must know it).
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(SEALED_V1);
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place(nonce, aad, &mut out[1 + NONCE_LEN..]);
        out.extend_from_slice(&tag);
        out
    }

    /// Encrypts `buf` in place as [`Cipher::seal`] would the same bytes
    /// (the caller has written `SEALED_V1 ‖ nonce` before it) and returns
    /// the tag to append after it: the append path's one-buffer form.
    pub fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .seal_in_place_separate_tag(aead::Nonce::assume_unique_for_key(*nonce), aead::Aad::from(aad), buf)
            // GCM refuses only a message beyond its 2^36 bytes, far beyond
            // anything annal seals (values are bounded by the event limits):
            // a failure here is a bug, not input.
            .expect("a message within GCM's length limit");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The plaintext of bytes [`Cipher::seal`] made under this key with
    /// this `aad`; anything else is an [`OpenError`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let (&layout, rest) = sealed.split_first().ok_or(OpenError::Malformed)?;
        if layout != SEALED_V1 || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Malformed)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let n = self.0.open_in_place(nonce, aead::Aad::from(aad), &mut buf).map_err(|_| OpenError::Authentication)?.len();
        buf.truncate(n);
        Ok(buf)
    }
}

/// The payload a provider wraps for a data key: `DATA_KEY_DOMAIN ‖
/// u16be(len context) ‖ context ‖ key`.
pub fn data_key_payload(context: &[u8], key: &SecretKey) -> Zeroizing<Vec<u8>> {
    let mut p = Vec::with_capacity(DATA_KEY_DOMAIN.len() + 2 + context.len() + KEY_LEN);
    p.extend_from_slice(DATA_KEY_DOMAIN);
    p.extend_from_slice(&(context.len() as u16).to_be_bytes());
    p.extend_from_slice(context);
    p.extend_from_slice(key.as_bytes());
    Zeroizing::new(p)
}

/// The data key in an unwrapped payload, if the payload is one and names
/// exactly `context`; `None` otherwise (a key wrapped for another tenant or
/// slot, or a provider that answered with something else).
pub fn data_key_from_payload(context: &[u8], payload: &[u8]) -> Option<SecretKey> {
    let rest = payload.strip_prefix(DATA_KEY_DOMAIN)?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let rest = rest.strip_prefix(context).filter(|_| u16::from_be_bytes(*len) as usize == context.len())?;
    let mut key: [u8; KEY_LEN] = rest.try_into().ok()?;
    let secret = SecretKey::from_bytes(key);
    key.zeroize();
    Some(secret)
}

/// Whether `kek` is a usable KEK reference: 1 to [`MAX_KEK_REF_BYTES`]
/// bytes of ASCII letters, digits and `. _ - : / @ +` (enough for a
/// keyring's ids, cloud KMS ARNs and aliases, Vault transit paths), so
/// that it can be passed as a command's argument and logged as it is.
pub fn valid_kek_ref(kek: &str) -> bool {
    !kek.is_empty() && kek.len() <= MAX_KEK_REF_BYTES && kek.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:/@+".contains(&b))
}

/// A data key as the store keeps it: wrapped under a KEK, with that KEK's
/// reference and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The KEK it is wrapped under, as the provider names it.
    pub kek: String,
    /// When the data key was made (or last re-wrapped), ns.
    pub created_at: u64,
    /// What the provider returned; opaque to annal.
    pub wrapped: Vec<u8>,
}

impl WrappedKey {
    /// `0x01 ‖ u64be(created_at) ‖ u16be(len kek) ‖ kek ‖ u32be(len
    /// wrapped) ‖ wrapped ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(19 + self.kek.len() + self.wrapped.len());
        v.push(VALUE_FORMAT_V1);
        v.extend_from_slice(&self.created_at.to_be_bytes());
        v.extend_from_slice(&(self.kek.len() as u16).to_be_bytes());
        v.extend_from_slice(self.kek.as_bytes());
        v.extend_from_slice(&(self.wrapped.len() as u32).to_be_bytes());
        v.extend_from_slice(&self.wrapped);
        with_crc(v)
    }

    /// Decodes [`WrappedKey::encode`]'s bytes; never panics.
    pub fn decode(bytes: &[u8]) -> Result<WrappedKey, DecodeError> {
        let mut r = Reader::new(check_crc(bytes)?);
        let created_at = r.u64()?;
        let kek_len = r.u16()? as usize;
        let kek = std::str::from_utf8(r.take(kek_len)?)
            .ok()
            .filter(|k| valid_kek_ref(k))
            .ok_or_else(|| DecodeError::Body("the KEK reference is not a valid one".into()))?
            .to_owned();
        let wrapped_len = r.u32()? as usize;
        let wrapped = r.take(wrapped_len)?.to_vec();
        r.finish()?;
        Ok(WrappedKey { kek, created_at, wrapped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes([b; KEY_LEN])
    }

    #[test]
    fn sealed_bytes_open_only_under_their_key_and_associated_data() {
        let c = Cipher::new(&key(7));
        let nonce = [3u8; NONCE_LEN];
        let sealed = c.seal(&nonce, b"tenant 1", b"alice@example.com");
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 17 + TAG_LEN);
        assert!(!sealed.windows(5).any(|w| w == b"alice"), "the plaintext shows through");
        assert_eq!(&c.open(b"tenant 1", &sealed).unwrap()[..], b"alice@example.com");
        assert_eq!(c.open(b"tenant 2", &sealed), Err(OpenError::Authentication));
        assert_eq!(Cipher::new(&key(8)).open(b"tenant 1", &sealed), Err(OpenError::Authentication));
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(c.open(b"tenant 1", &bad).is_err(), "a flip of bit {bit} of byte {i} was not caught");
            }
        }
        for n in 0..1 + NONCE_LEN + TAG_LEN {
            assert_eq!(c.open(b"tenant 1", &sealed[..n]), Err(OpenError::Malformed));
        }
    }

    #[test]
    fn aes_256_gcm_matches_a_published_test_vector() {
        // NIST GCM test vectors (gcmEncryptExtIV256.rsp), [Keylen = 256]
        // [IVlen = 96] [PTlen = 128] [AADlen = 128] [Taglen = 128], Count = 0:
        // what every other implementation of the format must also produce.
        let h = |s: &str| -> Vec<u8> { (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect() };
        let k: [u8; 32] = h("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b").try_into().unwrap();
        let iv: [u8; 12] = h("ac93a1a6145299bde902f21a").try_into().unwrap();
        let pt = h("2d71bcfa914e4ac045b2aa60955fad24");
        let aad = h("1e0889016f67601c8ebea4943bc23ad6");
        let sealed = Cipher::new(&SecretKey::from_bytes(k)).seal(&iv, &aad, &pt);
        assert_eq!(sealed[0], SEALED_V1);
        assert_eq!(&sealed[1..13], &iv);
        assert_eq!(sealed[13..29], h("8995ae2e6df3dbf96fac7b7137bae67f")[..]);
        assert_eq!(sealed[29..], h("eca5aa77d51d4a0a14d9c51e1da474ab")[..]);
    }

    #[test]
    fn a_data_key_comes_back_only_for_the_context_it_was_wrapped_for() {
        let k = key(9);
        let p = data_key_payload(b"\0\0\0\0\0\0\0\x01\0\0\0\x02", &k);
        let back = data_key_from_payload(b"\0\0\0\0\0\0\0\x01\0\0\0\x02", &p).unwrap();
        assert_eq!(back.as_bytes(), k.as_bytes());
        assert!(data_key_from_payload(b"\0\0\0\0\0\0\0\x02\0\0\0\x02", &p).is_none());
        assert!(data_key_from_payload(b"\0\0\0\0\0\0\0\x01\0\0\0", &p).is_none());
        for n in 0..p.len() {
            assert!(data_key_from_payload(b"\0\0\0\0\0\0\0\x01\0\0\0\x02", &p[..n]).is_none());
        }
        let mut longer = p.to_vec();
        longer.push(0);
        assert!(data_key_from_payload(b"\0\0\0\0\0\0\0\x01\0\0\0\x02", &longer).is_none());
        assert_eq!(format!("{back:?}"), "SecretKey(..)");
    }

    #[test]
    fn kek_references_are_plain_printable_names() {
        for ok in ["kek-1", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab", "transit/keys/annal", "a@b+c"] {
            assert!(valid_kek_ref(ok), "{ok}");
        }
        let long = "k".repeat(MAX_KEK_REF_BYTES + 1);
        for bad in ["", "has space", "semi;colon", "new\nline", "ünïcode", "$(rm)", long.as_str()] {
            assert!(!valid_kek_ref(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_wrapped_key_entry_round_trips_and_never_panics_on_bad_bytes() {
        let w = WrappedKey { kek: "kek-1".into(), created_at: 1_765_000_000_000_000_000, wrapped: vec![1, 2, 3, 4] };
        let bytes = w.encode();
        assert_eq!(bytes.len(), 1 + 8 + 2 + 5 + 4 + 4 + 4);
        assert_eq!(WrappedKey::decode(&bytes).unwrap(), w);
        for n in 0..bytes.len() {
            assert!(WrappedKey::decode(&bytes[..n]).is_err());
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(WrappedKey::decode(&bad).is_err(), "byte {i}");
        }
    }
}
