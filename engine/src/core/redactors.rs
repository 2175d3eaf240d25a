//! Each tenant's redactor: its current redaction policy, that policy's
//! version and its pseudonym secret. Every event is prepared under the
//! redactor of its tenant at that moment; the writer replaces one when it
//! stages a policy change, and refuses events prepared under an older one
//! (docs/REDACTION.md).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::writer::TenantState;
use crate::error::{Error, Result};
use crate::format::keys;
use crate::format::record;
use crate::format::tenant::validate_tenant;
use crate::redact::{self, Policy, Redactor};
use crate::storage::{Cf, ReadMode, Store};

/// The redactors of every tenant, and the policy new tenants start with.
#[derive(Debug)]
pub(crate) struct Redactors {
    /// Policy version 1 of every tenant created by this engine.
    default: Policy,
    map: RwLock<HashMap<String, Arc<Redactor>>>,
}

impl Redactors {
    /// Reads every tenant's pseudonym secret and latest policy (setting its
    /// `policy_version`). Tenants from before redaction existed get a secret
    /// and the default policy as version 1 now.
    pub fn load(store: &Store, tenants: &mut HashMap<String, TenantState>, default: Policy, now: u64) -> Result<Redactors> {
        let mut map = HashMap::new();
        for (name, state) in tenants.iter_mut() {
            let r = load_one(store, name, state.number, &default, now)?;
            state.policy_version = r.version;
            map.insert(name.clone(), Arc::new(r));
        }
        Ok(Redactors { default, map: RwLock::new(map) })
    }

    /// The policy new tenants start with.
    pub fn default_policy(&self) -> &Policy {
        &self.default
    }

    /// The tenant's current redactor; a tenant without one (not yet
    /// created) gets the default policy and a fresh secret, kept in memory
    /// until its first append stores them.
    pub fn get(&self, tenant: &str) -> Result<Arc<Redactor>> {
        validate_tenant(tenant)?;
        if let Some(r) = self.map.read().get(tenant) {
            return Ok(Arc::clone(r));
        }
        let mut map = self.map.write();
        if let Some(r) = map.get(tenant) {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(Redactor::new(tenant, 1, self.default.clone(), redact::new_secret()?).map_err(Error::InvalidPolicy)?);
        map.insert(tenant.to_string(), Arc::clone(&r));
        Ok(r)
    }

    /// Makes `r` the tenant's redactor (a policy change being staged).
    pub fn set(&self, tenant: &str, r: Arc<Redactor>) {
        self.map.write().insert(tenant.to_string(), r);
    }

    /// Forgets the tenant's redactor (its deletion being staged).
    pub fn remove(&self, tenant: &str) {
        self.map.write().remove(tenant);
    }
}

/// Tenant `n`'s redactor from the store, storing a secret and the default
/// policy first where it has none.
fn load_one(store: &Store, name: &str, n: u64, default: &Policy, now: u64) -> Result<Redactor> {
    let mut batch = store.batch();
    let secret = match store.get(Cf::Tenants, &keys::tenant_secret(n))? {
        Some(v) => record::decode_secret(&v).map_err(|e| Error::Corrupt(format!("secret of tenant {name}: {e}")))?,
        None => {
            let s = redact::new_secret()?;
            batch.put(Cf::Tenants, &keys::tenant_secret(n), &record::encode_secret(&s));
            s
        }
    };
    let latest = store.scan(
        Cf::Tenants,
        &keys::tenant_policy(n, 0),
        &keys::tenant_policy(n + 1, 0)[..9],
        true,
        1,
        ReadMode::Interactive,
    )?;
    let (version, policy) = match latest.first() {
        Some((k, v)) => {
            let version = k.get(9..13).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
            let policy = record::decode_policy(v)
                .ok()
                .and_then(|(_, json)| Policy::from_json_slice(&json).ok())
                .zip(version)
                .ok_or_else(|| Error::Corrupt(format!("redaction policy of tenant {name}")))?;
            (policy.1, policy.0)
        }
        None => {
            let json = serde_json::to_vec(default).unwrap_or_default();
            batch.put(Cf::Tenants, &keys::tenant_policy(n, 1), &record::encode_policy(now, &json));
            (1, default.clone())
        }
    };
    if batch.len() > 0 {
        store.write(batch, true)?;
    }
    Redactor::new(name, version, policy, secret).map_err(|e| Error::Corrupt(format!("policy of tenant {name}: {e}")))
}
