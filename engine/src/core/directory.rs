//! The directory of tenants: which tenant names have a chain in this store,
//! and under which internal number (the fixed-width prefix of every key of
//! theirs). The writer publishes a tenant here only once its first group is
//! durable, and removes it once its deletion is; readers never see a number
//! whose rows are not on disk. A tenant id's syntax is the format layer's
//! (`crate::format::tenant`).
//!
//! A tenant whose deletion is scheduled is *closing*: it keeps its number
//! (its purge and a cancellation need it) but is no longer served:
//! [`Directory::number`] refuses it, [`Directory::list`] leaves it out, and
//! appends to it are refused, until the deletion is cancelled or done.

use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::format::tenant::validate_tenant;

/// Committed tenants: name → number.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    names: RwLock<HashMap<String, u64>>,
    closing: RwLock<HashSet<String>>,
}

impl Directory {
    pub fn new(names: HashMap<String, u64>, closing: HashSet<String>) -> Directory {
        Directory { names: RwLock::new(names), closing: RwLock::new(closing) }
    }

    /// The tenant's internal number: [`Error::InvalidTenant`] for an id that
    /// is not of the documented form, [`Error::UnknownTenant`] for one
    /// without a chain, [`Error::TenantClosing`] for one whose deletion is
    /// scheduled.
    pub fn number(&self, tenant: &str) -> Result<u64> {
        let n = self.number_even_closing(tenant)?;
        if self.is_closing(tenant) {
            return Err(Error::TenantClosing);
        }
        Ok(n)
    }

    /// The tenant's number, closing or not: for the deletion's own work.
    pub fn number_even_closing(&self, tenant: &str) -> Result<u64> {
        validate_tenant(tenant)?;
        self.names.read().get(tenant).copied().ok_or(Error::UnknownTenant)
    }

    /// Whether the tenant's deletion is scheduled.
    pub fn is_closing(&self, tenant: &str) -> bool {
        self.closing.read().contains(tenant)
    }

    /// Marks the tenant closing (its deletion was scheduled), or open again.
    pub fn set_closing(&self, tenant: &str, closing: bool) {
        if closing {
            self.closing.write().insert(tenant.to_string());
        } else {
            self.closing.write().remove(tenant);
        }
    }

    /// Every tenant with a chain that is not closing, sorted.
    pub fn list(&self) -> Vec<String> {
        let closing = self.closing.read();
        let mut v: Vec<String> = self.names.read().keys().filter(|n| !closing.contains(*n)).cloned().collect();
        v.sort();
        v
    }

    /// Every closing tenant, sorted.
    pub fn list_closing(&self) -> Vec<String> {
        let mut v: Vec<String> = self.closing.read().iter().cloned().collect();
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
        let mut closing = self.closing.write();
        for name in forgotten {
            names.remove(name);
            closing.remove(name);
        }
        names.extend(created);
    }
}
