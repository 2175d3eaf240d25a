//! The API key's bytes: scopes, the token's shape, the hash of its secret,
//! the stored entry and the keys of the `apikeys` column family
//! (docs/FORMAT.md, "API keys"). Creating, revoking and authenticating keys
//! against a store is the `crate::apikeys` feature.

use crate::error::{FieldError, Result};
use crate::event::format_rfc3339_nanos;
use crate::format::record::{seal, unseal, DecodeError, VALUE_FORMAT_V1};

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "ak_";
/// Context string of the BLAKE3 derive-key hash of a key's secret.
pub const SECRET_HASH_CONTEXT: &str = "annal 2026 api key secret v1";
/// Action of the row recording a key's creation.
pub const KEY_CREATED_ACTION: &str = "annal.key.created";
/// Action of the row recording a key's revocation.
pub const KEY_REVOKED_ACTION: &str = "annal.key.revoked";
/// Longest label, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Keys a tenant may hold that are not revoked. Each key has a rate limit
/// of its own, so without a bound an admin key could mint keys to multiply
/// its tenant's share of the server.
pub const MAX_LIVE_KEYS_PER_TENANT: usize = 100;

pub(crate) const ID_BYTES: usize = 8;
pub(crate) const SECRET_BYTES: usize = 32;

/// What a key may do. Scopes are independent: `admin` does not imply `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(pub(crate) u8);

impl Scopes {
    /// Append events.
    pub const INGEST: Scopes = Scopes(1);
    /// Query, get, export and verify.
    pub const READ: Scopes = Scopes(2);
    /// Manage the tenant's keys and redaction policy.
    pub const ADMIN: Scopes = Scopes(4);
    /// Manage workspaces and backups: a platform key's one scope. Platform
    /// keys belong to the platform chain, never to a tenant, and have no
    /// other scope, so they read no tenant's rows; tenant keys never have it.
    pub const PLATFORM: Scopes = Scopes(8);
    const ALL: [(Scopes, &'static str); 4] =
        [(Scopes::INGEST, "ingest"), (Scopes::READ, "read"), (Scopes::ADMIN, "admin"), (Scopes::PLATFORM, "platform")];

    /// Parses scope names (`ingest`, `read`, `admin`); at least one. An
    /// error names the field `scopes`.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Scopes, FieldError> {
        let mut s = Scopes(0);
        for name in names {
            let name = name.as_ref();
            match Scopes::ALL.iter().find(|(_, n)| *n == name) {
                Some((bit, _)) => s.0 |= bit.0,
                None => return Err(FieldError::new("scopes", "unknown scope; expected `ingest`, `read`, `admin` or `platform`")),
            }
        }
        if s.0 == 0 {
            return Err(FieldError::new("scopes", "at least one scope is required"));
        }
        Ok(s)
    }

    /// The scope names, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Scopes::ALL.iter().filter(|(bit, _)| self.contains(*bit)).map(|(_, n)| *n).collect()
    }

    /// Whether every scope of `other` is in `self`.
    pub fn contains(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    pub fn union(self, other: Scopes) -> Scopes {
        Scopes(self.0 | other.0)
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id: 16 lowercase hex digits. Rows the key writes carry it as `key_ref`.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Free text to tell keys apart (`billing-service`); not secret.
    pub label: String,
    /// Engine time of creation, ns since the Unix epoch.
    pub created_at: u64,
    /// Engine time of revocation; `None` while the key works.
    pub revoked_at: Option<u64>,
}

impl ApiKey {
    /// As JSON: `{id, scopes, label, created_at, revoked_at}` (times RFC 3339).
    pub fn to_json(&self) -> serde_json::Value {
        let t = |ns: u64| format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX));
        serde_json::json!({
            "id": self.id,
            "scopes": self.scopes.names(),
            "label": self.label,
            "created_at": t(self.created_at),
            "revoked_at": self.revoked_at.map(t),
        })
    }
}

/// The parts of a token, checked for shape only.
pub(crate) fn parse_token(token: &str) -> Option<([u8; ID_BYTES], [u8; SECRET_BYTES])> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    Some((from_hex(id)?, from_hex(secret)?))
}

fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        if pair.iter().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a public key id (16 lowercase hex digits).
pub fn parse_id(id: &str) -> Option<[u8; ID_BYTES]> {
    from_hex(id)
}

pub(crate) fn secret_hash(secret: &[u8; SECRET_BYTES]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_derive_key(SECRET_HASH_CONTEXT);
    h.update(secret);
    h.finalize()
}

/// `apikeys`: `'t' ‖ tenant:u64 ‖ id[8]` → key entry.
pub(crate) fn entry_key(tenant: u64, id: &[u8; ID_BYTES]) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = b't';
    k[1..9].copy_from_slice(&tenant.to_be_bytes());
    k[9..].copy_from_slice(id);
    k
}

/// `apikeys`: `'i' ‖ id[8]` → `u64be(tenant)`.
pub(crate) fn lookup_key(id: &[u8; ID_BYTES]) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'i';
    k[1..].copy_from_slice(id);
    k
}

/// A key entry as stored: everything but the id and the tenant, which are in its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub hash: [u8; 32],
    pub scopes: Scopes,
    pub created_at: u64,
    pub revoked_at: u64,
    pub label: String,
}

impl Entry {
    /// `0x01 ‖ hash[32] ‖ u8(scopes) ‖ u64be(created_at) ‖ u64be(revoked_at, 0 = active) ‖ u16be(len) ‖ label ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(56 + self.label.len());
        b.push(VALUE_FORMAT_V1);
        b.extend_from_slice(&self.hash);
        b.push(self.scopes.0);
        b.extend_from_slice(&self.created_at.to_be_bytes());
        b.extend_from_slice(&self.revoked_at.to_be_bytes());
        b.extend_from_slice(&(self.label.len() as u16).to_be_bytes());
        b.extend_from_slice(self.label.as_bytes());
        seal(b)
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let p = unseal(bytes)?;
        let fixed = 32 + 1 + 8 + 8 + 2;
        if p.len() < fixed {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&p[i..i + 8]);
            u64::from_be_bytes(a)
        };
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&p[..32]);
        let len = u16::from_be_bytes([p[49], p[50]]) as usize;
        match p.len().cmp(&(fixed + len)) {
            std::cmp::Ordering::Less => return Err(DecodeError::Truncated(bytes.len())),
            std::cmp::Ordering::Greater => return Err(DecodeError::Trailing(p.len() - fixed - len)),
            std::cmp::Ordering::Equal => {}
        }
        let label = String::from_utf8(p[fixed..].to_vec()).map_err(|_| DecodeError::Body("label is not UTF-8".into()))?;
        Ok(Entry { hash, scopes: Scopes(p[32]), created_at: u64_at(33), revoked_at: u64_at(41), label })
    }

    pub fn to_key(&self, id: &[u8; ID_BYTES], tenant: &str) -> ApiKey {
        ApiKey {
            id: to_hex(id),
            tenant: tenant.to_string(),
            scopes: self.scopes,
            label: self.label.clone(),
            created_at: self.created_at,
            revoked_at: (self.revoked_at != 0).then_some(self.revoked_at),
        }
    }
}

/// What one key may use, beside the server's defaults (`annal serve`'s
/// `rate_limit_*` and `key_requests_per_*` settings). A field of 0 means
/// "the server's default"; none can lift a tenant-wide limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLimits {
    /// Sustained requests a second (the token bucket's rate).
    pub per_second: u32,
    /// Requests at once above the rate (the bucket's size).
    pub burst: u32,
    /// Requests in one UTC minute.
    pub per_minute: u64,
    /// Requests in one UTC calendar month.
    pub per_month: u64,
}

impl KeyLimits {
    /// Whether every field is the server's default.
    pub fn is_default(&self) -> bool {
        *self == KeyLimits::default()
    }

    /// `0x01 ‖ u32be(per_second) ‖ u32be(burst) ‖ u64be(per_minute) ‖ u64be(per_month) ‖ crc32`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(29);
        b.push(VALUE_FORMAT_V1);
        b.extend_from_slice(&self.per_second.to_be_bytes());
        b.extend_from_slice(&self.burst.to_be_bytes());
        b.extend_from_slice(&self.per_minute.to_be_bytes());
        b.extend_from_slice(&self.per_month.to_be_bytes());
        seal(b)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<KeyLimits, DecodeError> {
        let p = unseal(bytes)?;
        match p.len().cmp(&24) {
            std::cmp::Ordering::Less => return Err(DecodeError::Truncated(bytes.len())),
            std::cmp::Ordering::Greater => return Err(DecodeError::Trailing(p.len() - 24)),
            std::cmp::Ordering::Equal => {}
        }
        let u32_at = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&p[i..i + 8]);
            u64::from_be_bytes(a)
        };
        Ok(KeyLimits { per_second: u32_at(0), burst: u32_at(4), per_minute: u64_at(8), per_month: u64_at(16) })
    }
}

/// The UTC calendar month of `ns` (since the Unix epoch), counted in
/// months from 1970-01: the month a request counts against.
pub fn utc_month(ns: u64) -> u32 {
    let (y, m, _) = civil_from_days((ns / 86_400_000_000_000) as i64);
    ((y - 1970) * 12 + i64::from(m) - 1).clamp(0, i64::from(u32::MAX)) as u32
}

/// The first instant of `month` ([`utc_month`]'s count), ns since the epoch.
pub fn month_start_ns(month: u32) -> u64 {
    let (y, m) = (1970 + i64::from(month / 12), month % 12 + 1);
    (days_from_civil(y, m, 1).max(0) as u64).saturating_mul(86_400_000_000_000)
}

/// (year, month, day) of a day count since 1970-01-01 (the proleptic
/// Gregorian calendar; H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `apikeys`: `'q' ‖ u64be(tenant) ‖ id[8]` → the key's [`KeyLimits`],
/// only for a key created with limits of its own.
pub(crate) fn limits_key(tenant: u64, id: &[u8; ID_BYTES]) -> [u8; 17] {
    let mut k = entry_key(tenant, id);
    k[0] = b'q';
    k
}

/// `apikeys`: `'u' ‖ u64be(tenant) ‖ u32be(month) ‖ 0x00` (the tenant's
/// requests) or `… ‖ 0x01 ‖ id[8]` (one key's) → `u64be(requests)` sealed:
/// a month's request count, months counted from 1970-01 (UTC).
pub(crate) fn usage_key(tenant: u64, month: u32, id: Option<&[u8; ID_BYTES]>) -> Vec<u8> {
    let mut k = Vec::with_capacity(22);
    k.push(b'u');
    k.extend_from_slice(&tenant.to_be_bytes());
    k.extend_from_slice(&month.to_be_bytes());
    match id {
        None => k.push(0),
        Some(id) => {
            k.push(1);
            k.extend_from_slice(id);
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2026-01-01T00:00:00Z and the instant before it.
        let jan = 1_767_225_600_000_000_000u64;
        assert_eq!(utc_month(jan), 56 * 12);
        assert_eq!(utc_month(jan - 1), 56 * 12 - 1);
        assert_eq!(month_start_ns(56 * 12), jan);
        // 2028 is a leap year: March starts after 29 days of February.
        let feb_2028 = month_start_ns(58 * 12 + 1);
        assert_eq!(month_start_ns(58 * 12 + 2) - feb_2028, 29 * 86_400_000_000_000);
        for m in [0u32, 1, 11, 12, 675, 676, 1199] {
            let start = month_start_ns(m);
            assert_eq!(utc_month(start), m);
            if start > 0 {
                assert_eq!(utc_month(start - 1), m - 1);
            }
        }
    }

    #[test]
    fn limits_and_usage_keys_have_the_documented_bytes() {
        let l = KeyLimits { per_second: 5, burst: 10, per_minute: 300, per_month: 1_000_000 };
        let bytes = l.encode();
        assert_eq!(
            to_hex(&bytes),
            "01000000050000000a000000000000012c00000000000f4240".to_string()
                + &to_hex(&crc32fast::hash(&bytes[..25]).to_be_bytes())
        );
        assert_eq!(KeyLimits::decode(&bytes), Ok(l));
        let mut bad = bytes.clone();
        bad[3] ^= 1;
        assert_eq!(KeyLimits::decode(&bad), Err(DecodeError::Checksum));
        let id = [0xab; ID_BYTES];
        assert_eq!(to_hex(&limits_key(7, &id)), "710000000000000007abababababababab");
        assert_eq!(to_hex(&usage_key(7, 675, None)), "750000000000000007000002a300");
        assert_eq!(to_hex(&usage_key(7, 675, Some(&id))), "750000000000000007000002a301abababababababab");
    }

    #[test]
    fn entry_round_trips_and_rejects_damage() {
        let e = Entry {
            hash: [7; 32],
            scopes: Scopes::READ.union(Scopes::ADMIN),
            created_at: 5,
            revoked_at: 0,
            label: "bill".into(),
        };
        let b = e.encode();
        assert_eq!(b.len(), 56 + 4);
        assert_eq!(Entry::decode(&b).unwrap(), e);
        for cut in 0..b.len() {
            assert!(Entry::decode(&b[..cut]).is_err());
        }
        let mut flipped = b.clone();
        flipped[10] ^= 1;
        assert_eq!(Entry::decode(&flipped), Err(DecodeError::Checksum));
    }

    #[test]
    fn tokens_parse_only_in_their_exact_shape() {
        let good = format!("ak_{}_{}", "0a".repeat(8), "ff".repeat(32));
        assert_eq!(parse_token(&good), Some(([0x0a; 8], [0xff; 32])));
        for bad in [
            "",
            "ak_",
            &good[1..],
            &good.to_uppercase(),
            &format!("{good}0"),
            &good.replace('_', "-"),
            &format!("ak_{}_{}", "0a".repeat(8), "fg".repeat(32)),
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn scopes_parse_by_name() {
        let s = Scopes::from_names(&["read", "ingest"]).unwrap();
        assert_eq!(s.names(), ["ingest", "read"]);
        assert!(s.contains(Scopes::READ) && !s.contains(Scopes::ADMIN));
        assert_eq!(Scopes::from_names(&["root"]).unwrap_err().field, "scopes");
        assert_eq!(Scopes::from_names::<&str>(&[]).unwrap_err().field, "scopes");
    }
}

/// The bytes of API keys, pinned in testdata/golden/apikeys.json (and
/// checked independently by testdata/golden/check_golden.py). To add a
/// vector (never to change one): run with `ANNAL_BLESS=1` and review the diff.
#[cfg(test)]
mod golden {
    use super::*;
    use serde_json::{json, Value};

    fn hex(b: &[u8]) -> String {
        to_hex(b)
    }

    fn vectors() -> Value {
        let mut out = Vec::new();
        let cases: [(u64, u8, u64, u64, &str); 2] = [
            (7, 3, 1_767_225_600_000_000_000, 0, "billing-service"),
            (300, 4, 1_767_225_600_123_456_789, 1_767_312_000_000_000_001, ""),
        ];
        for (i, (tenant, scopes, created_at, revoked_at, label)) in cases.into_iter().enumerate() {
            let id: [u8; ID_BYTES] = std::array::from_fn(|j| (j as u8 + 1) * (i as u8 + 1));
            let secret: [u8; SECRET_BYTES] = std::array::from_fn(|j| (j as u8).wrapping_mul(7).wrapping_add(i as u8));
            let hash = *secret_hash(&secret).as_bytes();
            let entry = Entry { hash, scopes: Scopes(scopes), created_at, revoked_at, label: label.into() };
            let lookup = seal([&[VALUE_FORMAT_V1][..], &tenant.to_be_bytes()].concat());
            out.push(json!({
                "id": hex(&id),
                "secret": hex(&secret),
                "token": format!("{TOKEN_PREFIX}{}_{}", hex(&id), hex(&secret)),
                "secret_hash": hex(&hash),
                "tenant_number": tenant,
                "scopes": scopes,
                "created_at": created_at,
                "revoked_at": revoked_at,
                "label": label,
                "entry_key": hex(&entry_key(tenant, &id)),
                "entry_value": hex(&entry.encode()),
                "lookup_key": hex(&lookup_key(&id)),
                "lookup_value": hex(&lookup),
            }));
        }
        json!({"context": SECRET_HASH_CONTEXT, "keys": out})
    }

    #[test]
    fn api_key_bytes_match_the_golden_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden/apikeys.json");
        let got = vectors();
        if std::env::var_os("ANNAL_BLESS").is_some() {
            std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(got, want, "api key bytes changed: that is a new format, not an edit");
        for k in want["keys"].as_array().unwrap() {
            let (id, secret) = parse_token(k["token"].as_str().unwrap()).unwrap();
            assert_eq!(hex(&id), k["id"]);
            assert_eq!(hex(secret_hash(&secret).as_bytes()), k["secret_hash"]);
            let e = Entry::decode(&from_hex_vec(k["entry_value"].as_str().unwrap())).unwrap();
            assert_eq!(e.label, k["label"]);
        }
    }

    fn from_hex_vec(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
