//! Key layouts of every column family (docs/FORMAT.md, "Keys").
//!
//! Tenants are named by strings but keyed by an internal 8-byte number from
//! the registry, so every tenant's keys form one contiguous, fixed-width
//! prefix: no tenant's range can overlap another's (`a` vs `ab`), and a scan
//! bounded by the prefix can never reach another tenant's rows. All integers
//! are big-endian so that byte order is numeric order.

/// `meta` key holding the store format version (u32 BE).
pub const META_FORMAT: &[u8] = b"format_version";
/// `meta` key holding the next tenant number to assign (u64 BE).
pub const META_NEXT_TENANT: &[u8] = b"next_tenant_number";

/// `records`: `tenant:u64 ‖ seq:u64`.
pub fn record(tenant: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&tenant.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Seq of a `records` key, if it has the right shape.
pub fn record_seq(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    (key.len() == 16).then(|| u64::from_be_bytes(b))
}

/// Tenant number of a `records` key, if it has the right shape.
pub fn record_tenant(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(..8)?.try_into().ok()?;
    (key.len() == 16).then(|| u64::from_be_bytes(b))
}

/// `heads`: `tenant:u64`.
pub fn head(tenant: u64) -> [u8; 8] {
    tenant.to_be_bytes()
}

/// `tenants`: `'n' ‖ name` → tenant entry.
pub fn tenant_by_name(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(b'n');
    k.extend_from_slice(name.as_bytes());
    k
}

/// Prefix of all `tenant_by_name` keys, and the end of their range.
pub const TENANT_BY_NAME_RANGE: (&[u8], &[u8]) = (b"n", b"o");

/// `tenants`: `'i' ‖ tenant:u64` → name.
pub fn tenant_by_number(tenant: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'i';
    k[1..].copy_from_slice(&tenant.to_be_bytes());
    k
}

/// `tenants`: `'k' ‖ tenant:u64` → the tenant's pseudonym secret.
pub fn tenant_secret(tenant: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'k';
    k[1..].copy_from_slice(&tenant.to_be_bytes());
    k
}

/// `tenants`: `'e' ‖ tenant:u64 ‖ key:u32` → the tenant's data key number
/// `key`, wrapped (docs/FORMAT.md, "Event format 3"): 0 is its value key,
/// 1 and up its content keys.
pub fn tenant_key(tenant: u64, key: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = b'e';
    k[1..9].copy_from_slice(&tenant.to_be_bytes());
    k[9..].copy_from_slice(&key.to_be_bytes());
    k
}

/// `tenants`: `'p' ‖ tenant:u64 ‖ version:u32` → that version of the tenant's policy.
pub fn tenant_policy(tenant: u64, version: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = b'p';
    k[1..9].copy_from_slice(&tenant.to_be_bytes());
    k[9..].copy_from_slice(&version.to_be_bytes());
    k
}

/// `tenants`: `'r' ‖ tenant:u64` → the tenant's retention policy (absent: the default tier).
pub const TAG_RETENTION: u8 = b'r';
/// `tenants`: `'h' ‖ tenant:u64` → the tenant's legal hold (absent: none).
pub const TAG_HOLD: u8 = b'h';
/// `tenants`: `'a' ‖ tenant:u64` → the tenant's retention anchor (absent: nothing deleted yet).
pub const TAG_ANCHOR: u8 = b'a';

/// `tenants`: `'d' ‖ tenant:u64` → the tenant's scheduled deletion (absent: none).
pub const TAG_DELETION: u8 = b'd';

/// `tenants`: `'b' ‖ tenant:u64` → the reference of the tenant's own KEK
/// (bring your own key), ASCII (absent: its data keys are wrapped under the
/// key provider's current KEK).
pub const TAG_TENANT_KEK: u8 = b'b';

/// `tenants`: `tag ‖ tenant:u64`, the layout of every per-tenant entry but policies.
pub fn tenant_meta(tag: u8, tenant: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = tag;
    k[1..].copy_from_slice(&tenant.to_be_bytes());
    k
}

/// `idempotency`: `tenant:u64 ‖ key`.
pub fn idempotency(tenant: u64, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&tenant.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_sort_by_tenant_then_seq() {
        assert!(record(1, u64::MAX) < record(2, 0));
        assert!(record(1, 255) < record(1, 256));
        assert_eq!(record_seq(&record(3, 77)), Some(77));
        assert_eq!(record_seq(&[0; 15]), None);
    }
}
