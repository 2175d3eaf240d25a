//! Tenant deletion: a workspace closes its account and every byte of it
//! goes, recorded in the platform chain.
//!
//! One atomic batch, made by the writer, holds the `annal.tenant.deleted`
//! row of [`PLATFORM_TENANT`] (naming the tenant, its final head and row
//! count) and range deletions of everything stored under the tenant's
//! number: rows, index and idempotency entries, head, registry, secret,
//! redaction policies, retention policy, hold, anchor and API keys. Range deletions
//! are single tombstones however many keys they cover, so the batch is small
//! for any tenant size. The writer forgets the tenant in the same step, so
//! an append after it starts a new chain under a new number; numbers are
//! never reused, so nothing of the old chain can reappear under the name.

use serde_json::Map;

use super::{check_reason, rfc3339, Retainer};
use crate::apikeys;
use crate::core::append::OwnRow;
use crate::core::reads;
use crate::core::writer::SideWrite;
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::format::keys;
use crate::format::record::{ChainHead, Receipt};
use crate::format::retention::deletion_id_hex;
use crate::format::tenant::{check_client_tenant, PLATFORM_TENANT};
use crate::storage::Cf;

/// Action of the platform chain's row recording a tenant's deletion.
pub const TENANT_DELETED_ACTION: &str = "annal.tenant.deleted";

/// What `Engine::delete_tenant` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDeletion {
    /// The tenant's chain as it ended.
    pub final_head: ChainHead,
    /// Rows still stored when it was deleted (the rest retention had taken).
    pub rows_removed: u64,
    /// The row of the platform chain that records the deletion.
    pub receipt: Receipt,
    /// The deletion's id (16 hex digits, in the row's metadata as
    /// `deletion_id`): what the deletion ledger beside a store's backups
    /// names it by, so a restore can tell whether a backup already holds it.
    pub deletion_id: String,
}

/// A new deletion id: 8 random bytes.
pub(crate) fn new_deletion_id() -> Result<[u8; 8]> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| Error::Io(std::io::Error::other(format!("no randomness for a deletion id: {e}"))))?;
    Ok(id)
}

impl Retainer {
    /// Deletes `tenant` entirely, by `actor`, for `reason`: all of its rows,
    /// index and idempotency entries and metadata, in one atomic write with
    /// the `annal.tenant.deleted` row of the platform chain
    /// ([`PLATFORM_TENANT`]) that names the tenant, its final seq and head
    /// and how many rows it had. A legal hold refuses it. The deleted key
    /// ranges are then compacted so the bytes leave the disk.
    pub fn delete_tenant(&self, tenant: &str, reason: &str, actor: &Actor) -> Result<TenantDeletion> {
        self.delete_tenant_as(tenant, reason, actor, deletion_id_hex(&new_deletion_id()?), None)
    }

    /// [`Retainer::delete_tenant`] under a given deletion id; with
    /// `reapplied`, the deletion re-applies one a restored backup predates
    /// (its row then also says so: `reapplied_from`, the platform seq
    /// of the original deletion's row).
    pub(crate) fn delete_tenant_as(
        &self,
        tenant: &str,
        reason: &str,
        actor: &Actor,
        deletion_id: String,
        reapplied: Option<u64>,
    ) -> Result<TenantDeletion> {
        check_client_tenant(tenant)?;
        check_reason(reason)?;
        let reason = self.core.free_text(PLATFORM_TENANT, reason)?;
        let store = &self.core.store;
        let mut attempts = 0;
        let (n, deletion) = loop {
            let _guard = self.lock.lock();
            // A closing tenant too: this is how its scheduled deletion ends.
            let n = self.core.tenants.number_even_closing(tenant)?;
            if let Some(hold) = reads::hold(store, n)? {
                return Err(Error::OnHold { since: rfc3339(hold.since).as_str().unwrap_or_default().to_string() });
            }
            let head = reads::head(store, n, tenant)?;
            let anchor = reads::anchor(store, n)?;
            let floor = anchor.map_or(0, |a| a.seq);
            let mut m = Map::new();
            m.insert("tenant".into(), tenant.into());
            m.insert("final_seq".into(), head.seq.into());
            m.insert("final_head".into(), head.head.to_hex().into());
            m.insert("rows".into(), head.seq.into());
            m.insert("rows_removed".into(), (head.seq - floor).into());
            m.insert("rows_deleted_by_retention".into(), floor.into());
            m.insert("reason".into(), reason.clone().into());
            m.insert("deletion_id".into(), deletion_id.clone().into());
            if let Some(seq) = reapplied {
                m.insert("reapplied_from".into(), seq.into());
            }
            let (lo, hi) = (n.to_be_bytes().to_vec(), (n + 1).to_be_bytes().to_vec());
            let mut side = vec![
                SideWrite::DeleteRange(Cf::Records, lo.clone(), hi.clone()),
                SideWrite::DeleteRange(Cf::Index, lo.clone(), hi.clone()),
                SideWrite::DeleteRange(Cf::Idempotency, lo.clone(), hi.clone()),
                SideWrite::DeleteRange(Cf::Checkpoints, lo, hi),
                SideWrite::Delete(Cf::Heads, keys::head(n).to_vec()),
                SideWrite::Delete(Cf::Tenants, keys::tenant_by_name(tenant)),
                SideWrite::DeleteRange(Cf::Tenants, keys::tenant_policy(n, 0).to_vec(), keys::tenant_policy(n + 1, 0).to_vec()),
                // Its data keys: with them gone (and compacted away below),
                // nothing sealed under them opens from this store again.
                SideWrite::DeleteRange(Cf::Tenants, keys::tenant_key(n, 0).to_vec(), keys::tenant_key(n + 1, 0).to_vec()),
            ];
            for tag in [b'i', b'k', keys::TAG_RETENTION, keys::TAG_HOLD, keys::TAG_ANCHOR, keys::TAG_DELETION] {
                side.push(SideWrite::Delete(Cf::Tenants, keys::tenant_meta(tag, n).to_vec()));
            }
            // Its API keys: hashes, not secrets, but the tenant's all the same.
            side.extend(apikeys::deletions(store, n)?);
            let row = OwnRow { side, forget: Some((tenant.to_string(), head)), new_policy: None };
            match self.core.append_own(PLATFORM_TENANT, TENANT_DELETED_ACTION, actor, &m, row) {
                Ok(receipt) => {
                    let rows_removed = head.seq - floor;
                    break (n, TenantDeletion { final_head: head, rows_removed, receipt, deletion_id: deletion_id.clone() });
                }
                // Rows landed after the head was read: read it again.
                Err(Error::HeadMoved) if attempts < 16 => attempts += 1,
                Err(e) => return Err(e),
            }
        };
        store.flush_all()?;
        for cf in [Cf::Records, Cf::Index, Cf::Idempotency] {
            store.compact_range(cf, &n.to_be_bytes(), &(n + 1).to_be_bytes());
        }
        store.compact_range(Cf::Tenants, &[0], &[0xff]);
        store.compact_range(Cf::ApiKeys, &[0], &[0xff]);
        Ok(deletion)
    }
}
