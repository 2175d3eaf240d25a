//! A workspace's life as a platform sees it: created with its first admin
//! key, deleted after a grace period during which the deletion can be
//! cancelled. Every step is a row of the platform chain
//! ([`PLATFORM_TENANT`]):
//!
//! - `annal.tenant.created`: the tenant and its first key's id (the tenant's
//!   own chain starts with the key's `annal.key.created` row);
//! - `annal.tenant.deletion_scheduled`: the tenant, reason, deletion id and
//!   `purge_after`, in one batch with the tenant's `'d'` entry. From then on
//!   the tenant is *closing*: its keys authenticate nothing (checked against
//!   the store on every request), and the engine serves none of its rows and
//!   takes no new ones;
//! - `annal.tenant.deletion_cancelled`: in one batch with the entry's
//!   removal; the tenant is served again, with the same chain and keys;
//! - the purge, once `purge_after` is past, is the tenant deletion of
//!   `tenant.rs` under the same deletion id (`annal.tenant.deleted`).

use std::time::Duration;

use serde_json::Map;

use super::tenant::{new_deletion_id, TenantDeletion};
use super::{check_reason, rfc3339, Retainer};
use crate::apikeys;
use crate::core::append::OwnRow;
use crate::core::reads;
use crate::core::writer::SideWrite;
use crate::error::{Error, Result};
use crate::event::{Actor, ActorType};
use crate::format::apikey::{ApiKey, Scopes};
use crate::format::keys;
use crate::format::record::Receipt;
use crate::format::retention::{
    deletion_id_hex, PendingDeletion, DELETION_CANCELLED_ACTION, DELETION_SCHEDULED_ACTION, TENANT_CREATED_ACTION,
};
use crate::format::tenant::{check_client_tenant, PLATFORM_TENANT};
use crate::storage::Cf;

/// A tenant as the platform lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// The tenant id.
    pub tenant: String,
    /// Its chain's last seq.
    pub head_seq: u64,
    /// Its scheduled deletion, if any (it is then closing).
    pub deletion: Option<PendingDeletion>,
}

/// What [`Retainer::purge_due`] did: the workspaces deleted, and those that
/// failed (to be tried again).
pub type Purges = (Vec<(String, TenantDeletion)>, Vec<(String, Error)>);

/// What scheduling a deletion did.
#[derive(Debug, Clone)]
pub enum Scheduled {
    /// The tenant is closing until `purge_after`; the platform row's receipt.
    Pending(PendingDeletion, Receipt),
    /// The tenant was closing already: its first schedule stands.
    AlreadyPending(PendingDeletion),
    /// The grace period was zero: the tenant is deleted already.
    Deleted(TenantDeletion),
}

fn platform_actor() -> Actor {
    Actor { kind: ActorType::System, id: "annal".into(), name: None, email: None, on_behalf_of: None }
}

impl Retainer {
    /// Creates `tenant` with a first key of `scopes` labelled `label`, by
    /// `actor`: an `annal.tenant.created` row in the platform chain, then the
    /// key (whose `annal.key.created` row starts the tenant's chain).
    /// [`Error::TenantExists`] if the tenant has a chain, closing or not.
    pub fn create_tenant(&self, tenant: &str, scopes: Scopes, label: &str, actor: &Actor) -> Result<(ApiKey, String)> {
        check_client_tenant(tenant)?;
        let _guard = self.lock.lock();
        match self.core.tenants.number_even_closing(tenant) {
            Err(Error::UnknownTenant) => {}
            Ok(_) => return Err(Error::TenantExists),
            Err(e) => return Err(e),
        }
        // Refused before anything is written.
        apikeys::check_tenant_request(scopes, label)?;
        let mut m = Map::new();
        m.insert("tenant".into(), tenant.into());
        m.insert("label".into(), self.core.free_text(PLATFORM_TENANT, label)?.into());
        self.core.append_own(PLATFORM_TENANT, TENANT_CREATED_ACTION, actor, &m, OwnRow::default())?;
        apikeys::create_first(&self.core, tenant, scopes, label, actor)
    }

    /// Schedules `tenant`'s deletion, by `actor`, for `reason`, to be purged
    /// `grace` from now (at once for zero). A legal hold refuses it
    /// ([`Error::OnHold`]). A tenant already closing keeps its first
    /// schedule, which is returned unchanged.
    pub fn schedule_deletion(&self, tenant: &str, reason: &str, grace: Duration, actor: &Actor) -> Result<Scheduled> {
        check_client_tenant(tenant)?;
        check_reason(reason)?;
        let id = new_deletion_id()?;
        if grace.is_zero() {
            return self.delete_tenant_as(tenant, reason, actor, deletion_id_hex(&id), None).map(Scheduled::Deleted);
        }
        let purge_after = self.core.now().saturating_add(u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX));
        self.schedule_deletion_as(tenant, reason, purge_after, id, actor, None)
    }

    /// [`Retainer::schedule_deletion`] with its id and purge time given:
    /// with `reapplied`, a schedule a restored backup predates, made again
    /// (the row then names the original's platform seq in `reapplied_from`).
    pub(crate) fn schedule_deletion_as(
        &self,
        tenant: &str,
        reason: &str,
        purge_after: u64,
        deletion_id: [u8; 8],
        actor: &Actor,
        reapplied: Option<u64>,
    ) -> Result<Scheduled> {
        let _guard = self.lock.lock();
        let store = &self.core.store;
        let n = self.core.tenants.number_even_closing(tenant)?;
        if let Some(hold) = reads::hold(store, n)? {
            return Err(Error::OnHold { since: rfc3339(hold.since).as_str().unwrap_or_default().to_string() });
        }
        if let Some(p) = reads::pending_deletion(store, n)? {
            return Ok(Scheduled::AlreadyPending(p));
        }
        let pending = PendingDeletion { scheduled_at: self.core.now(), purge_after, deletion_id };
        let mut m = Map::new();
        m.insert("tenant".into(), tenant.into());
        m.insert("reason".into(), self.core.free_text(PLATFORM_TENANT, reason)?.into());
        m.insert("deletion_id".into(), pending.id_hex().into());
        m.insert("purge_after".into(), rfc3339(pending.purge_after));
        m.insert("purge_after_ns".into(), pending.purge_after.into());
        if let Some(seq) = reapplied {
            m.insert("reapplied_from".into(), seq.into());
        }
        let key = keys::tenant_meta(keys::TAG_DELETION, n).to_vec();
        let row = OwnRow { side: vec![SideWrite::Put(Cf::Tenants, key, pending.encode())], ..OwnRow::default() };
        let receipt = self.core.append_own(PLATFORM_TENANT, DELETION_SCHEDULED_ACTION, actor, &m, row)?;
        self.core.tenants.set_closing(tenant, true);
        Ok(Scheduled::Pending(pending, receipt))
    }

    /// Cancels `tenant`'s scheduled deletion, by `actor`: the tenant is
    /// served again. [`Error::NoPendingDeletion`] if none is scheduled.
    pub fn cancel_deletion(&self, tenant: &str, actor: &Actor) -> Result<Receipt> {
        self.cancel_deletion_as(tenant, actor, None, None)
    }

    /// [`Retainer::cancel_deletion`], only of the deletion `id` when given;
    /// with `reapplied`, a cancellation a restored backup predates.
    pub(crate) fn cancel_deletion_as(
        &self,
        tenant: &str,
        actor: &Actor,
        id: Option<&str>,
        reapplied: Option<u64>,
    ) -> Result<Receipt> {
        check_client_tenant(tenant)?;
        let _guard = self.lock.lock();
        let n = self.core.tenants.number_even_closing(tenant)?;
        let pending = reads::pending_deletion(&self.core.store, n)?
            .filter(|p| id.is_none_or(|id| p.id_hex() == id))
            .ok_or(Error::NoPendingDeletion)?;
        let mut m = Map::new();
        m.insert("tenant".into(), tenant.into());
        m.insert("deletion_id".into(), pending.id_hex().into());
        if let Some(seq) = reapplied {
            m.insert("reapplied_from".into(), seq.into());
        }
        let key = keys::tenant_meta(keys::TAG_DELETION, n).to_vec();
        let row = OwnRow { side: vec![SideWrite::Delete(Cf::Tenants, key)], ..OwnRow::default() };
        let receipt = self.core.append_own(PLATFORM_TENANT, DELETION_CANCELLED_ACTION, actor, &m, row)?;
        self.core.tenants.set_closing(tenant, false);
        Ok(receipt)
    }

    /// Purges every closing tenant whose `purge_after` is at or before
    /// `now` (default the engine's clock). Returns the deletions made and
    /// the tenants that failed (a legal hold placed meanwhile: the tenant
    /// stays closing and is tried again next time).
    pub fn purge_due(&self, now: Option<u64>) -> Purges {
        let now = now.unwrap_or_else(|| self.core.now());
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for tenant in self.core.tenants.list_closing() {
            let pending =
                self.core.tenants.number_even_closing(&tenant).and_then(|n| reads::pending_deletion(&self.core.store, n));
            let pending = match pending {
                Ok(Some(p)) if p.purge_after <= now => p,
                Ok(_) => continue,
                Err(e) => {
                    failed.push((tenant, e));
                    continue;
                }
            };
            let reason = "scheduled deletion: its grace period ended";
            match self.delete_tenant_as(&tenant, reason, &platform_actor(), pending.id_hex(), None) {
                Ok(d) => done.push((tenant, d)),
                Err(e) => failed.push((tenant, e)),
            }
        }
        (done, failed)
    }

    /// Every tenant but annal's own, closing ones included, sorted.
    pub fn tenant_infos(&self) -> Result<Vec<TenantInfo>> {
        let mut names: Vec<String> = self.core.tenants.list();
        names.extend(self.core.tenants.list_closing());
        names.sort();
        names.retain(|n| check_client_tenant(n).is_ok());
        names.iter().map(|n| self.tenant_info(n)).collect()
    }

    /// One tenant, closing or not.
    pub fn tenant_info(&self, tenant: &str) -> Result<TenantInfo> {
        check_client_tenant(tenant)?;
        let n = self.core.tenants.number_even_closing(tenant)?;
        let store = &self.core.store;
        Ok(TenantInfo {
            tenant: tenant.to_string(),
            head_seq: reads::head_seq(store, n)?,
            deletion: reads::pending_deletion(store, n)?,
        })
    }
}
