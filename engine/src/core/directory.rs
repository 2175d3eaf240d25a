//! The directory of tenants: which tenant names have a chain in this store,
//! and under which internal number (the fixed-width prefix of every key of
//! theirs). The writer publishes a tenant here only once its first group is
//! durable, and removes it once its deletion is; readers never see a number
//! whose rows are not on disk. A tenant id's syntax is the format layer's
//! (`crate::format::tenant`).

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::format::tenant::validate_tenant;

/// Committed tenants: name → number.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    names: RwLock<HashMap<String, u64>>,
}

impl Directory {
    pub fn new(names: HashMap<String, u64>) -> Directory {
        Directory { names: RwLock::new(names) }
    }

    /// The tenant's internal number: [`Error::InvalidTenant`] for an id that
    /// is not of the documented form, [`Error::UnknownTenant`] for one
    /// without a chain.
    pub fn number(&self, tenant: &str) -> Result<u64> {
        validate_tenant(tenant)?;
        self.names.read().get(tenant).copied().ok_or(Error::UnknownTenant)
    }

    /// Every tenant with a chain, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.names.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Applies what one durable group did: `forgotten` tenants go first, so
    /// a tenant deleted and created again in one group keeps its new chain.
    pub fn publish(&self, created: Vec<(String, u64)>, forgotten: &[String]) {
        if created.is_empty() && forgotten.is_empty() {
            return;
        }
        let mut names = self.names.write();
        for name in forgotten {
            names.remove(name);
        }
        names.extend(created);
    }
}
