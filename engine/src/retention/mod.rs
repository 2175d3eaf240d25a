//! Tiered retention: per-tenant policies, legal holds, the compaction run
//! that deletes each chain's expired prefix, the anchor that keeps what
//! remains verifiable, and tenant deletion. docs/RETENTION.md is the
//! operator's account; docs/FORMAT.md specifies the stored bytes.
//!
//! **Policy.** Every tenant has a retention of 90 to 2555 days, a named
//! [`Tier`] or a custom number of days; a tenant without a stored policy is
//! on [`Tier::Default`] (400 days). Age is measured on `recorded_at`, the
//! engine's clock. A policy change, a hold and its release are rows of the
//! tenant's own chain (`annal.retention.set`, `annal.retention.hold`,
//! `annal.retention.released`), written in the same batch as the setting
//! they announce: the log says which policy governed every deletion.
//!
//! **The run** (`Engine::run_retention`) takes, for each tenant not on hold, the rows
//! recorded before `now - retention`. Seq order is time order, so they are
//! a prefix of the chain. It deletes them in batches of at most
//! [`RunOptions::batch_rows`] rows, each batch one atomic write holding the
//! rows' records, index entries, idempotency entries and the new
//! [`RetentionAnchor`]: after a crash the store is before or after each
//! batch, never inside one. Then it appends `annal.retention.purged`, carrying
//! the anchor, in the same batch as the anchor's `announced_seq` moving up,
//! so a run that died between its last batch and that row is finished by
//! the next run. Last, it compacts the deleted key ranges so the bytes leave
//! the disk.
//!
//! **Concurrency.** The run never touches heads or seqs: the writer keeps
//! appending while it deletes, and new rows are never old enough to be
//! taken. Each batch, policy or hold change and tenant deletion holds one
//! mutex, so a hold that has returned stops deletion before the next batch,
//! and a policy change applies from the next batch on.

mod lifecycle;
mod run;
mod tenant;

pub use crate::format::retention::{
    check_reason, LegalHold, PendingDeletion, Retention, RetentionAnchor, Tier, DELETION_CANCELLED_ACTION,
    DELETION_SCHEDULED_ACTION, HOLD_ACTION, MAX_DAYS, MAX_REASON_BYTES, MIN_DAYS, NS_PER_DAY, PURGED_ACTION, RELEASED_ACTION,
    SET_ACTION, TENANT_CREATED_ACTION,
};
pub use lifecycle::{Purges, Scheduled, TenantInfo};
pub use run::{RunOptions, RunReport, TenantRun, DEFAULT_BATCH_ROWS, DEFAULT_IDLE_RATIO, RUN_NICE};
pub use tenant::{TenantDeletion, TENANT_DELETED_ACTION};

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::checkpoint::Checkpointer;
use crate::core::append::OwnRow;
use crate::core::reads;
use crate::core::writer::SideWrite;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::event::{format_rfc3339_nanos, Actor, ActorType};
use crate::format::keys;
use crate::format::record::Receipt;
use crate::format::tenant::check_client_tenant;

/// The retention feature: policies, holds, runs and tenant deletion over
/// the core's store, checkpointing each chain before and after it deletes.
#[derive(Debug)]
pub(crate) struct Retainer {
    core: Arc<Core>,
    checkpoints: Arc<Checkpointer>,
    /// Serialises retention's writes: each deletion batch, policy and hold
    /// changes, tenant deletion. A hold that has returned therefore stops
    /// deletion before the next batch.
    lock: Mutex<()>,
}

/// The retention state of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionStatus {
    /// The policy in force.
    pub retention: Retention,
    /// The legal hold, if one is on.
    pub hold: Option<LegalHold>,
    /// Where the chain begins, if retention has deleted from it.
    pub anchor: Option<RetentionAnchor>,
}

/// The actor of rows annal writes on its own behalf (the run's `purged` rows).
pub(crate) fn retention_actor() -> Actor {
    Actor { kind: ActorType::System, id: "annal.retention".into(), name: None, email: None, on_behalf_of: None }
}

pub(crate) fn rfc3339(ns: u64) -> Value {
    Value::from(format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX)))
}

impl Retainer {
    pub fn new(core: Arc<Core>, checkpoints: Arc<Checkpointer>) -> Retainer {
        Retainer { core, checkpoints, lock: Mutex::new(()) }
    }

    /// `tenant`'s retention policy, legal hold and anchor.
    pub fn status(&self, tenant: &str) -> Result<RetentionStatus> {
        let n = self.core.number(tenant)?;
        let store = &self.core.store;
        Ok(RetentionStatus {
            retention: reads::retention(store, n)?,
            hold: reads::hold(store, n)?,
            anchor: reads::anchor(store, n)?,
        })
    }

    /// Sets `tenant`'s retention, by `actor`. The change is a row of the
    /// tenant's chain (`annal.retention.set`, with the old and new policy)
    /// written in the same batch as the setting, and applies from the next
    /// deletion batch on. Creates the tenant if needed.
    pub fn set(&self, tenant: &str, retention: Retention, actor: &Actor) -> Result<Receipt> {
        retention.check()?;
        check_client_tenant(tenant)?;
        let _guard = self.lock.lock();
        let previous = match self.core.number(tenant) {
            Ok(n) => reads::retention(&self.core.store, n)?,
            Err(Error::UnknownTenant) => Retention::default(),
            Err(e) => return Err(e),
        };
        let mut m = Map::new();
        m.insert("tier".into(), retention.tier_name().into());
        m.insert("days".into(), retention.days().into());
        m.insert("previous_tier".into(), previous.tier_name().into());
        m.insert("previous_days".into(), previous.days().into());
        let side = vec![SideWrite::TenantMeta { tag: keys::TAG_RETENTION, value: Some(retention.encode(self.core.now())) }];
        self.core.append_own(tenant, SET_ACTION, actor, &m, OwnRow { side, ..OwnRow::default() })
    }

    /// Places a legal hold on `tenant`, by `actor`, for `reason`: from the
    /// moment this returns, no run deletes any of its rows until
    /// `Engine::release_hold`. Recorded as `annal.retention.hold` in the
    /// tenant's chain, in the batch that stores the hold. Placing a hold on a
    /// held tenant replaces its reason (and is recorded too).
    pub fn place_hold(&self, tenant: &str, reason: &str, actor: &Actor) -> Result<Receipt> {
        check_reason(reason)?;
        check_client_tenant(tenant)?;
        let _guard = self.lock.lock();
        let reason = self.core.free_text(tenant, reason)?;
        let hold = LegalHold { reason: reason.clone(), since: self.core.now() };
        let mut m = Map::new();
        m.insert("reason".into(), reason.into());
        let side = vec![SideWrite::TenantMeta { tag: keys::TAG_HOLD, value: Some(hold.encode()) }];
        self.core.append_own(tenant, HOLD_ACTION, actor, &m, OwnRow { side, ..OwnRow::default() })
    }

    /// Lifts `tenant`'s legal hold, by `actor`; the next run deletes what
    /// expired meanwhile. Recorded as `annal.retention.released` with the
    /// hold's reason and start. [`Error::NoHold`] if there is none.
    pub fn release_hold(&self, tenant: &str, actor: &Actor) -> Result<Receipt> {
        check_client_tenant(tenant)?;
        let _guard = self.lock.lock();
        let n = self.core.number(tenant)?;
        let hold = reads::hold(&self.core.store, n)?.ok_or(Error::NoHold)?;
        let mut m = Map::new();
        m.insert("reason".into(), hold.reason.into());
        m.insert("held_since".into(), rfc3339(hold.since));
        let side = vec![SideWrite::TenantMeta { tag: keys::TAG_HOLD, value: None }];
        self.core.append_own(tenant, RELEASED_ACTION, actor, &m, OwnRow { side, ..OwnRow::default() })
    }

    /// One retention run over every tenant, as described above; `stop`
    /// ends it after the current deletion batch.
    pub fn run(&self, opts: &RunOptions, stop: Option<&AtomicBool>) -> Result<RunReport> {
        run::run(self, opts, stop)
    }
}
