//! Encryption keys of a store's tenants, as an operator and a tenant see
//! them (docs/SECURITY.md, "Encryption at rest"): which KEK wraps a
//! tenant's data keys, a tenant's own KEK (bring your own key), and
//! re-wrapping every data key under the current KEK after a rotation.
//!
//! Nothing here rewrites a row: a data key is unwrapped and wrapped again,
//! and only its `tenants` entry changes. A tenant naming its own KEK is
//! itself a row of its chain (`annal.encryption.kek_set`), written in the
//! batch that re-wraps its keys, so the chain says from when the tenant's
//! key protected its data.

use crate::core::append::OwnRow;
use crate::core::writer::SideWrite;
use crate::core::Core;
use crate::error::{Error, FieldError, Result};
use crate::event::Actor;
use crate::format::cipher::valid_kek_ref;
use crate::format::keys;
use crate::format::record::Receipt;
use crate::format::tenant::check_client_tenant;
use crate::storage::Cf;

/// Action of the row that records a change of a tenant's KEK.
pub const KEK_SET_ACTION: &str = "annal.encryption.kek_set";

/// A tenant's encryption at rest, as `Engine::encryption` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionStatus {
    /// Whether the tenant's rows are encrypted.
    pub encrypted: bool,
    /// The tenant's own KEK, if it named one; else its keys are wrapped
    /// under the key provider's current KEK.
    pub own_kek: Option<String>,
    /// Its data keys (the value key and one content key a month written).
    pub data_keys: usize,
}

/// `tenant`'s encryption at rest.
pub(crate) fn status(core: &Core, tenant: &str) -> Result<EncryptionStatus> {
    let n = core.number(tenant)?;
    let from = keys::tenant_key(n, 0);
    let to = keys::tenant_key(n + 1, 0);
    let data_keys =
        core.store.scan(Cf::Tenants, &from, &to[..9], false, usize::MAX, crate::storage::ReadMode::Interactive)?.len();
    Ok(EncryptionStatus { encrypted: data_keys > 0, own_kek: core.sealing.tenant_kek(n)?, data_keys })
}

/// Makes `kek` (a reference the key provider understands) `tenant`'s own
/// KEK, or with `None` goes back to the provider's current one: its data
/// keys are re-wrapped under it, in the batch of the row that records it.
pub(crate) fn set_kek(core: &Core, tenant: &str, kek: Option<&str>, actor: &Actor) -> Result<Receipt> {
    check_client_tenant(tenant)?;
    if let Some(k) = kek {
        if !valid_kek_ref(k) {
            return Err(Error::InvalidEncryption(FieldError::new(
                "kek",
                "must be 1 to 256 ASCII letters, digits and . _ - : / @ +",
            )));
        }
    }
    let n = core.number(tenant)?;
    if !core.sealing.is_encrypted(n)? {
        return Err(Error::NotEncrypted);
    }
    let previous = core.sealing.tenant_kek(n)?;
    let now = core.now();
    // Through the provider: a KEK it cannot wrap under fails here, before
    // anything is written.
    let rewrapped = match kek {
        Some(k) => core.sealing.rewrapped(tenant, n, Some(k), now)?,
        None => {
            let current = core.sealing.current_kek(tenant)?;
            core.sealing.rewrapped(tenant, n, Some(&current), now)?
        }
    };
    let count = rewrapped.len();
    let mut side: Vec<SideWrite> = rewrapped.into_iter().map(|(k, v)| SideWrite::Put(Cf::Tenants, k, v)).collect();
    side.push(SideWrite::TenantMeta { tag: keys::TAG_TENANT_KEK, value: kek.map(|k| k.as_bytes().to_vec()) });
    let mut metadata = serde_json::Map::new();
    metadata.insert("kek".into(), kek.map_or(serde_json::Value::Null, |k| k.into()));
    metadata.insert("previous_kek".into(), previous.map_or(serde_json::Value::Null, |k| k.into()));
    metadata.insert("data_keys_rewrapped".into(), count.into());
    let receipt = core.append_own(tenant, KEK_SET_ACTION, actor, &metadata, OwnRow { side, ..OwnRow::default() })?;
    Ok(receipt)
}

/// Re-wraps every data key of `tenant` (every encrypted tenant without
/// one) under its KEK: its own, else the provider's current one (after
/// `annal keyring add`, so that the old KEK can be destroyed). Returns each
/// tenant re-wrapped and how many keys.
pub(crate) fn rewrap(core: &Core, tenant: Option<&str>) -> Result<Vec<(String, usize)>> {
    let tenants = match tenant {
        Some(t) => vec![t.to_string()],
        None => core.tenants.list(),
    };
    let mut out = Vec::new();
    for t in tenants {
        let n = core.number(&t)?;
        if !core.sealing.is_encrypted(n)? {
            continue;
        }
        let entries = core.sealing.rewrapped(&t, n, None, core.now())?;
        let mut batch = core.store.batch();
        for (k, v) in &entries {
            batch.put(Cf::Tenants, k, v);
        }
        core.store.write(batch, true)?;
        out.push((t, entries.len()));
    }
    Ok(out)
}
