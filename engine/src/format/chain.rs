//! The hash chain: leaf hashes, links and genesis heads.
//!
//! Every function here is specified byte for byte in docs/FORMAT.md
//! ("Hashes") and pinned by testdata/golden/chain.json. Changing any byte of
//! any input breaks every chain ever written: add a new domain instead.
//!
//! Each hash input starts with its own domain-separation prefix, so a leaf
//! can never be confused with a link or a genesis head even if their inputs
//! happened to coincide.

use std::fmt;

/// Domain prefix of a leaf hash.
pub const LEAF_DOMAIN: &[u8] = b"annal/v1/leaf\0";
/// Domain prefix of a chain link.
pub const LINK_DOMAIN: &[u8] = b"annal/v1/link\0";
/// Domain prefix of a tenant's genesis head.
pub const GENESIS_DOMAIN: &[u8] = b"annal/v1/genesis\0";

/// A 32-byte BLAKE3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        self.push_hex(&mut s);
        s
    }

    /// Appends the lower-case hex to `out`, in one copy (every row a page
    /// or an export writes carries two hashes).
    pub fn push_hex(&self, out: &mut String) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 64];
        for (pair, b) in text.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 15)];
        }
        // Hex digits are ASCII.
        out.push_str(std::str::from_utf8(&text).unwrap_or_default());
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(s: &str) -> Option<Hash> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            out[i] = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// `leaf = BLAKE3(LEAF_DOMAIN ‖ encoded_event)` where `encoded_event` is the
/// canonical event encoding (format byte included), see docs/FORMAT.md.
pub fn leaf_hash(encoded_event: &[u8]) -> Hash {
    // One-shot over a stack buffer when the event is short (a format 3
    // clear part always is), else incrementally: the same hash either way.
    let mut buf = [0u8; 256];
    let n = LEAF_DOMAIN.len() + encoded_event.len();
    if n <= buf.len() {
        buf[..LEAF_DOMAIN.len()].copy_from_slice(LEAF_DOMAIN);
        buf[LEAF_DOMAIN.len()..n].copy_from_slice(encoded_event);
        return Hash(*blake3::hash(&buf[..n]).as_bytes());
    }
    let mut h = blake3::Hasher::new();
    h.update(LEAF_DOMAIN);
    h.update(encoded_event);
    Hash(*h.finalize().as_bytes())
}

/// `head_n = BLAKE3(LINK_DOMAIN ‖ head_{n-1} ‖ seq_n:u64be ‖ recorded_at_n:u64be ‖ leaf_n)`.
pub fn link_hash(prev: &Hash, seq: u64, recorded_at: u64, leaf: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(LINK_DOMAIN);
    h.update(&prev.0);
    h.update(&seq.to_be_bytes());
    h.update(&recorded_at.to_be_bytes());
    h.update(&leaf.0);
    Hash(*h.finalize().as_bytes())
}

/// `genesis = BLAKE3(GENESIS_DOMAIN ‖ len(tenant):u32be ‖ tenant)`: the
/// `head_0` every chain of that tenant starts from.
pub fn genesis(tenant: &str) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(GENESIS_DOMAIN);
    // Tenant ids are at most 128 bytes (validated), so this never saturates.
    let len = u32::try_from(tenant.len()).unwrap_or(u32::MAX);
    h.update(&len.to_be_bytes());
    h.update(tenant.as_bytes());
    Hash(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
        assert_eq!(Hash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn domains_separate_equal_inputs() {
        // The same bytes hashed as a leaf and as a genesis differ.
        assert_ne!(leaf_hash(b"\0\0\0\x01a"), genesis("a"));
        assert_ne!(genesis("a"), genesis("b"));
    }

    #[test]
    fn link_depends_on_every_input() {
        let p = genesis("t");
        let l = leaf_hash(b"e");
        let base = link_hash(&p, 1, 10, &l);
        assert_ne!(base, link_hash(&genesis("u"), 1, 10, &l));
        assert_ne!(base, link_hash(&p, 2, 10, &l));
        assert_ne!(base, link_hash(&p, 1, 11, &l));
        assert_ne!(base, link_hash(&p, 1, 10, &leaf_hash(b"f")));
    }
}
