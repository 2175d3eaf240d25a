//! API keys: who may write to and read from a tenant's chain.
//!
//! A key belongs to exactly one tenant and carries [`Scopes`]; a platform
//! key ([`Scopes::PLATFORM`], nothing else) belongs to the platform chain
//! and manages workspaces, never reading one. Its token,
//! `ak_<id>_<secret>`, is shown once, when the key is created: the store
//! keeps only a BLAKE3 hash of the 256-bit secret (derive-key mode with the
//! context [`SECRET_HASH_CONTEXT`]), so a copy of the data directory gives
//! no usable key. A plain fast hash is right here because the secret is
//! random and high-entropy: there is nothing to brute-force that a slow
//! password hash would protect. The stored hash is compared with
//! [`blake3::Hash`]'s constant-time equality, so the time a wrong token
//! takes says nothing about how close it was.
//!
//! Keys live in the `apikeys` column family (docs/FORMAT.md, "API keys"):
//! the entry under the tenant's number, and a lookup from the key id to the
//! tenant, so a token finds its entry with two point reads. There is no
//! cache: a revoked key stops working on the very next request.
//!
//! A key may carry [`KeyLimits`] of its own (requests a second, a minute,
//! a month), stored beside its entry and fixed at creation. How many
//! requests each key and each tenant made in a UTC month is kept under
//! `'u'` entries: the server counts in memory and saves the counts every few
//! seconds ([`save_usage`]), so a restart does not give a month back.
//!
//! Creating and revoking a key are recorded in the tenant's own chain as
//! `annal.key.created` and `annal.key.revoked` rows (by whom, which key,
//! which scopes). Creation appends the row first and stores the key after,
//! so no key exists without its row (a crash in between leaves a row for a
//! key that never worked); revocation stores the revocation first, so a
//! revoked key is refused even if its row could not be written.

pub use crate::format::apikey::{
    month_start_ns, parse_id, utc_month, ApiKey, KeyLimits, Scopes, KEY_CREATED_ACTION, KEY_REVOKED_ACTION, MAX_LABEL_BYTES,
    MAX_LIVE_KEYS_PER_TENANT, SECRET_HASH_CONTEXT, TOKEN_PREFIX,
};

use crate::core::append::OwnRow;
use crate::core::reads;
use crate::core::writer::SideWrite;
use crate::core::Core;
use crate::error::{Error, FieldError, Result};
use crate::event::Actor;
use crate::format::apikey::{
    entry_key, limits_key, lookup_key, parse_token, secret_hash, to_hex, usage_key, Entry, ID_BYTES, SECRET_BYTES,
};
use crate::format::record::{seal, unseal, DecodeError, VALUE_FORMAT_V1};
use crate::format::tenant::{check_client_tenant, PLATFORM_TENANT};
use crate::storage::{Cf, ReadMode, Store};

fn corrupt(id: &[u8], e: DecodeError) -> Error {
    Error::Corrupt(format!("api key {}: {e}", to_hex(id)))
}

/// Creates a key for `tenant` (which must have a chain) and returns it
/// with its token, the only time the token is available. Records an
/// `annal.key.created` row (by `by`, with the key's id, scopes and
/// label) in the tenant's chain first.
pub(crate) fn create(
    core: &Core,
    tenant: &str,
    scopes: Scopes,
    label: &str,
    limits: KeyLimits,
    by: &Actor,
) -> Result<(ApiKey, String)> {
    core.number(tenant)?;
    // Two creations racing may each see room for one: the bound is about
    // a tenant's hundreds of keys, not exact to one.
    if list(core, tenant)?.iter().filter(|k| k.revoked_at.is_none()).count() >= MAX_LIVE_KEYS_PER_TENANT {
        return Err(Error::TooManyKeys { max: MAX_LIVE_KEYS_PER_TENANT });
    }
    check_client_tenant(tenant)?;
    check_tenant_request(scopes, label)?;
    mint(core, tenant, scopes, label, limits, by)
}

/// [`create`] for a tenant that may have no chain yet: the key's row is
/// then the chain's first.
pub(crate) fn create_first(core: &Core, tenant: &str, scopes: Scopes, label: &str, by: &Actor) -> Result<(ApiKey, String)> {
    check_client_tenant(tenant)?;
    check_tenant_request(scopes, label)?;
    mint(core, tenant, scopes, label, KeyLimits::default(), by)
}

/// [`check_request`] for a tenant's key, which never has the `platform` scope.
pub(crate) fn check_tenant_request(scopes: Scopes, label: &str) -> Result<()> {
    check_request(scopes, label)?;
    if scopes.contains(Scopes::PLATFORM) {
        return Err(Error::InvalidApiKeyRequest(FieldError::new(
            "scopes",
            "`platform` is the scope of platform keys only, which belong to no tenant",
        )));
    }
    Ok(())
}

/// Creates a platform key (scope `platform` only, in the platform chain,
/// which the key's `annal.key.created` row starts if it has no row yet).
pub(crate) fn create_platform(core: &Core, label: &str, by: &Actor) -> Result<(ApiKey, String)> {
    check_request(Scopes::PLATFORM, label)?;
    mint(core, PLATFORM_TENANT, Scopes::PLATFORM, label, KeyLimits::default(), by)
}

/// Refuses unknown or missing scopes and labels too long or with control characters.
pub(crate) fn check_request(scopes: Scopes, label: &str) -> Result<()> {
    if scopes.0 == 0 || scopes.0 & !15 != 0 {
        return Err(Error::InvalidApiKeyRequest(FieldError::new("scopes", "at least one known scope is required")));
    }
    if label.len() > MAX_LABEL_BYTES || label.chars().any(char::is_control) {
        return Err(Error::InvalidApiKeyRequest(FieldError::new(
            "label",
            format!("must be at most {MAX_LABEL_BYTES} bytes without control characters"),
        )));
    }
    Ok(())
}

/// Records the key's row, then stores the key under the tenant's number
/// (which the row may just have assigned).
fn mint(core: &Core, tenant: &str, scopes: Scopes, label: &str, limits: KeyLimits, by: &Actor) -> Result<(ApiKey, String)> {
    let label = core.free_text(tenant, label)?;
    let label = label.as_str();
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id)
        .and_then(|()| getrandom::fill(&mut secret))
        .map_err(|e| Error::Io(std::io::Error::other(format!("no randomness for an api key: {e}"))))?;
    let key_id = to_hex(&id);
    let mut meta = serde_json::Map::new();
    meta.insert("key_id".into(), key_id.clone().into());
    meta.insert("scopes".into(), scopes.names().into());
    meta.insert("label".into(), label.into());
    if !limits.is_default() {
        meta.insert(
            "limits".into(),
            serde_json::json!({
                "per_second": limits.per_second, "burst": limits.burst,
                "per_minute": limits.per_minute, "per_month": limits.per_month,
            }),
        );
    }
    let receipt = core.append_own(tenant, KEY_CREATED_ACTION, by, &meta, OwnRow::default())?;
    let n = core.tenants.number_even_closing(tenant)?;
    let entry = Entry {
        hash: *secret_hash(&secret).as_bytes(),
        scopes,
        created_at: receipt.recorded_at,
        revoked_at: 0,
        label: label.to_string(),
    };
    let store = &core.store;
    let mut b = store.batch();
    b.put(Cf::ApiKeys, &entry_key(n, &id), &entry.encode());
    b.put(Cf::ApiKeys, &lookup_key(&id), &seal([&[VALUE_FORMAT_V1][..], &n.to_be_bytes()].concat()));
    if !limits.is_default() {
        b.put(Cf::ApiKeys, &limits_key(n, &id), &limits.encode());
    }
    store.write(b, true)?;
    let token = format!("{TOKEN_PREFIX}{key_id}_{}", to_hex(&secret));
    Ok((entry.to_key(&id, tenant), token))
}

/// Every key of `tenant`, revoked ones included, in id order.
pub(crate) fn list(core: &Core, tenant: &str) -> Result<Vec<ApiKey>> {
    let n = core.number(tenant)?;
    let from = entry_key(n, &[0; ID_BYTES]);
    let to = entry_key(n + 1, &[0; ID_BYTES]);
    let mut out = Vec::new();
    for (k, v) in core.store.scan(Cf::ApiKeys, &from, &to, false, usize::MAX, ReadMode::Interactive)? {
        let id: [u8; ID_BYTES] =
            k.get(9..).and_then(|b| b.try_into().ok()).ok_or_else(|| Error::Corrupt("api key entry key".into()))?;
        out.push(Entry::decode(&v).map_err(|e| corrupt(&id, e))?.to_key(&id, tenant));
    }
    Ok(out)
}

/// The deletions that remove every key of tenant number `n`, entries
/// and lookups, for a tenant's deletion to write in its one batch.
pub(crate) fn deletions(store: &Store, n: u64) -> Result<Vec<SideWrite>> {
    let (from, to) = (entry_key(n, &[0; ID_BYTES]), entry_key(n + 1, &[0; ID_BYTES]));
    let mut out = vec![SideWrite::DeleteRange(Cf::ApiKeys, from.to_vec(), to.to_vec())];
    // Its keys' limits and every month's usage go with them.
    for tag in [b'q', b'u'] {
        let (mut lo, mut hi) = (vec![tag], vec![tag]);
        lo.extend_from_slice(&n.to_be_bytes());
        hi.extend_from_slice(&(n + 1).to_be_bytes());
        out.push(SideWrite::DeleteRange(Cf::ApiKeys, lo, hi));
    }
    for (k, _) in store.scan(Cf::ApiKeys, &from, &to, false, usize::MAX, ReadMode::Interactive)? {
        let id: [u8; ID_BYTES] =
            k.get(9..).and_then(|b| b.try_into().ok()).ok_or_else(|| Error::Corrupt("api key entry key".into()))?;
        out.push(SideWrite::Delete(Cf::ApiKeys, lookup_key(&id).to_vec()));
    }
    Ok(out)
}

/// Revokes `tenant`'s key `id`: from now on it authenticates nothing.
/// Records an `annal.key.revoked` row (by `by`). Revoking a revoked key
/// changes nothing and records nothing. A key of another tenant is
/// [`Error::UnknownApiKey`], exactly like one that does not exist.
pub(crate) fn revoke(core: &Core, tenant: &str, id: &str, by: &Actor) -> Result<ApiKey> {
    check_client_tenant(tenant)?;
    revoke_in(core, tenant, id, by)
}

/// Revokes platform key `id` ([`revoke`] for the platform chain).
pub(crate) fn revoke_platform(core: &Core, id: &str, by: &Actor) -> Result<ApiKey> {
    revoke_in(core, PLATFORM_TENANT, id, by)
}

fn revoke_in(core: &Core, tenant: &str, id: &str, by: &Actor) -> Result<ApiKey> {
    let n = core.number(tenant)?;
    let raw = parse_id(id).ok_or(Error::UnknownApiKey)?;
    let store = &core.store;
    let v = store.get(Cf::ApiKeys, &entry_key(n, &raw))?.ok_or(Error::UnknownApiKey)?;
    let mut entry = Entry::decode(&v).map_err(|e| corrupt(&raw, e))?;
    if entry.revoked_at != 0 {
        return Ok(entry.to_key(&raw, tenant));
    }
    entry.revoked_at = core.now().max(1);
    let mut b = store.batch();
    b.put(Cf::ApiKeys, &entry_key(n, &raw), &entry.encode());
    store.write(b, true)?;
    let mut meta = serde_json::Map::new();
    meta.insert("key_id".into(), id.into());
    meta.insert("scopes".into(), entry.scopes.names().into());
    meta.insert("label".into(), entry.label.clone().into());
    core.append_own(tenant, KEY_REVOKED_ACTION, by, &meta, OwnRow::default())?;
    Ok(entry.to_key(&raw, tenant))
}

/// The live key a token names, or [`Error::InvalidApiKey`] for a
/// malformed, unknown, wrong or revoked token (one error for all, so a
/// caller learns nothing about which keys exist).
pub(crate) fn authenticate(store: &Store, token: &str) -> Result<ApiKey> {
    let (id, secret) = parse_token(token).ok_or(Error::InvalidApiKey)?;
    let Some(v) = store.get(Cf::ApiKeys, &lookup_key(&id))? else {
        // Hash anyway, so an unknown id costs what a known one does.
        let _ = secret_hash(&secret);
        return Err(Error::InvalidApiKey);
    };
    let p = unseal(&v).map_err(|e| corrupt(&id, e))?;
    let n = <[u8; 8]>::try_from(p).map(u64::from_be_bytes).map_err(|_| corrupt(&id, DecodeError::Truncated(v.len())))?;
    let v = store.get(Cf::ApiKeys, &entry_key(n, &id))?.ok_or(Error::InvalidApiKey)?;
    let entry = Entry::decode(&v).map_err(|e| corrupt(&id, e))?;
    // blake3::Hash's == runs in constant time.
    if secret_hash(&secret) != blake3::Hash::from_bytes(entry.hash) || entry.revoked_at != 0 {
        return Err(Error::InvalidApiKey);
    }
    // A tenant whose deletion is scheduled: its keys stop at once.
    if reads::pending_deletion(store, n)?.is_some() {
        return Err(Error::InvalidApiKey);
    }
    let tenant = reads::tenant_name(store, n)?.ok_or(Error::InvalidApiKey)?;
    Ok(entry.to_key(&id, &tenant))
}

/// The limits `tenant`'s key `id` was created with (all defaults for a key
/// created without any). A key of another tenant is
/// [`Error::UnknownApiKey`].
pub(crate) fn limits(core: &Core, tenant: &str, id: &str) -> Result<KeyLimits> {
    let n = core.tenants.number_even_closing(tenant)?;
    let raw = parse_id(id).ok_or(Error::UnknownApiKey)?;
    if core.store.get(Cf::ApiKeys, &entry_key(n, &raw))?.is_none() {
        return Err(Error::UnknownApiKey);
    }
    match core.store.get(Cf::ApiKeys, &limits_key(n, &raw))? {
        None => Ok(KeyLimits::default()),
        Some(v) => KeyLimits::decode(&v).map_err(|e| corrupt(&raw, e)),
    }
}

/// One month's request count of a tenant (`key: None`) or of one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The tenant.
    pub tenant: String,
    /// The key's id (hex), or `None` for the tenant's count over all its keys.
    pub key: Option<String>,
    /// The month ([`utc_month`]).
    pub month: u32,
    /// Requests counted.
    pub requests: u64,
}

/// Every saved count of `month`, over every tenant.
pub(crate) fn usage(core: &Core, month: u32) -> Result<Vec<Usage>> {
    let mut out = Vec::new();
    for tenant in core.tenants.list() {
        let Ok(n) = core.tenants.number_even_closing(&tenant) else { continue };
        let from = usage_key(n, month, None);
        let mut to = usage_key(n, month, None);
        to[13] = 2;
        for (k, v) in core.store.scan(Cf::ApiKeys, &from, &to, false, usize::MAX, ReadMode::Interactive)? {
            let p = unseal(&v).map_err(|e| Error::Corrupt(format!("usage of {tenant}: {e}")))?;
            let requests = p.try_into().map(u64::from_be_bytes).map_err(|_| Error::Corrupt(format!("usage of {tenant}")))?;
            let key = k.get(14..).filter(|id| id.len() == ID_BYTES).map(to_hex);
            out.push(Usage { tenant: tenant.clone(), key, month, requests });
        }
    }
    Ok(out)
}

/// Saves `counts` (each replacing the count stored for its tenant, key and
/// month), in one batch without a sync: a crash may lose the last few
/// seconds of counts, never add any. Counts of tenants or keys that no
/// longer exist are dropped.
pub(crate) fn save_usage(core: &Core, counts: &[Usage]) -> Result<()> {
    let mut b = core.store.batch();
    for u in counts {
        let Ok(n) = core.tenants.number_even_closing(&u.tenant) else { continue };
        let id = match &u.key {
            None => None,
            Some(hex) => match parse_id(hex) {
                Some(id) if core.store.get(Cf::ApiKeys, &entry_key(n, &id))?.is_some() => Some(id),
                _ => continue,
            },
        };
        let mut v = vec![VALUE_FORMAT_V1];
        v.extend_from_slice(&u.requests.to_be_bytes());
        b.put(Cf::ApiKeys, &usage_key(n, u.month, id.as_ref()), &seal(v));
    }
    core.store.write(b, false)
}
