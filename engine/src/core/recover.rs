//! Reading every tenant's chain back when a store opens: the registry
//! entry, the head, and a check that the head names the last stored row.

use std::collections::{HashMap, HashSet};

use super::reads;
use super::writer::TenantState;
use crate::error::{Error, Result};
use crate::format::chain;
use crate::format::keys;
use crate::format::record::{ChainHead, TenantEntry};
use crate::storage::{Cf, ReadMode, Store};

/// Every tenant's state for the writer, and the next tenant number.
pub(crate) fn recover(store: &Store) -> Result<(HashMap<String, TenantState>, u64)> {
    let next_tenant = match store.get(Cf::Meta, keys::META_NEXT_TENANT)? {
        Some(v) => <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| Error::Corrupt("meta/next_tenant_number".into()))?,
        None => 1,
    };
    let mut tenants = HashMap::new();
    let (from, to) = keys::TENANT_BY_NAME_RANGE;
    for (k, v) in store.scan(Cf::Tenants, from, to, false, usize::MAX, ReadMode::Interactive)? {
        let name = String::from_utf8(k[1..].to_vec()).map_err(|_| Error::Corrupt("tenant name is not UTF-8".into()))?;
        let entry = TenantEntry::decode(&v).map_err(|e| Error::Corrupt(format!("tenant entry: {e}")))?;
        let genesis = ChainHead { seq: 0, recorded_at: 0, head: chain::genesis(&name) };
        let (head, mut damaged) = match store.get(Cf::Heads, &keys::head(entry.number))? {
            None => (genesis, false),
            Some(v) => match ChainHead::decode(&v) {
                Ok(h) => (h, false),
                Err(_) => (genesis, true),
            },
        };
        // The last record must be the one the head entry names; both are
        // written in one batch, so a disagreement means damage, and appending
        // would overwrite or orphan rows.
        let last = store.scan(
            Cf::Records,
            &keys::record(entry.number, 0),
            &keys::record(entry.number + 1, 0),
            true,
            1,
            ReadMode::Interactive,
        )?;
        // With no rows left, the chain ends where retention deleted up to.
        let last_seq = match last.first().and_then(|(k, _)| keys::record_seq(k)) {
            Some(s) => s,
            None => reads::anchor(store, entry.number)?.map_or(0, |a| a.seq),
        };
        damaged |= last_seq != head.seq;
        tenants.insert(name, TenantState { number: entry.number, head, damaged, policy_version: 1 });
    }
    let max_number = tenants.values().map(|t| t.number).max().unwrap_or(0);
    Ok((tenants, next_tenant.max(max_number + 1)))
}

/// The tenants whose deletion is scheduled (a `'d'` entry in `tenants`).
pub(crate) fn closing(store: &Store, tenants: &HashMap<String, TenantState>) -> Result<HashSet<String>> {
    let from = keys::tenant_meta(keys::TAG_DELETION, 0);
    let to = keys::tenant_meta(keys::TAG_DELETION + 1, 0);
    let marked: HashSet<u64> = store
        .scan(Cf::Tenants, &from, &to, false, usize::MAX, ReadMode::Interactive)?
        .into_iter()
        .filter_map(|(k, _)| k.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes))
        .collect();
    Ok(tenants.iter().filter(|(_, t)| marked.contains(&t.number)).map(|(name, _)| name.clone()).collect())
}
