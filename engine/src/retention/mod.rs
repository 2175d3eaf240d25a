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
//! **The run** ([`Engine::run_retention`]) takes, for each tenant not on hold, the rows
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

mod daemon;
mod run;
mod tenant;

pub use daemon::{RetentionDaemon, DEFAULT_INTERVAL};
pub use run::{RunOptions, RunReport, TenantRun, DEFAULT_BATCH_ROWS, DEFAULT_IDLE_RATIO};
pub use tenant::{TenantDeletion, TENANT_DELETED_ACTION};

use serde_json::{Map, Value};

use crate::chain::Hash;
use crate::engine::{Engine, Shared};
use crate::error::{Error, FieldError, Result};
use crate::event::{format_rfc3339_nanos, Actor, ActorType};
use crate::keys;
use crate::record::{self, DecodeError, Reader, Receipt};
use crate::storage::{Cf, Store};
use crate::writer::SideWrite;

/// Action of the row recording a retention policy change.
pub const SET_ACTION: &str = "annal.retention.set";
/// Action of the row recording a legal hold being placed.
pub const HOLD_ACTION: &str = "annal.retention.hold";
/// Action of the row recording a legal hold being lifted.
pub const RELEASED_ACTION: &str = "annal.retention.released";
/// Action of the row recording a deletion by retention; carries the anchor.
pub const PURGED_ACTION: &str = "annal.retention.purged";

/// Shortest retention a tenant may have, in days.
pub const MIN_DAYS: u32 = 90;
/// Longest retention a tenant may have, in days (seven years).
pub const MAX_DAYS: u32 = 2555;
/// Longest legal hold reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

pub(crate) const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// The named retention plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// 90 days.
    Free,
    /// 365 days.
    Starter,
    /// 400 days: every tenant's retention until one is set.
    Default,
    /// 1095 days (three years).
    Business,
    /// 2555 days (seven years).
    Enterprise,
}

impl Tier {
    /// Every tier, shortest first.
    pub const ALL: [Tier; 5] = [Tier::Free, Tier::Starter, Tier::Default, Tier::Business, Tier::Enterprise];

    /// Days of retention.
    pub fn days(self) -> u32 {
        match self {
            Tier::Free => 90,
            Tier::Starter => 365,
            Tier::Default => 400,
            Tier::Business => 1095,
            Tier::Enterprise => 2555,
        }
    }

    /// Name on the command line, in events and in the store's documentation.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Starter => "starter",
            Tier::Default => "default",
            Tier::Business => "business",
            Tier::Enterprise => "enterprise",
        }
    }

    /// The tier called `name`.
    pub fn parse(name: &str) -> Result<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
            Error::InvalidRetention(FieldError::new("tier", format!("unknown tier; expected one of {}", names.join(", "))))
        })
    }

    fn code(self) -> u8 {
        match self {
            Tier::Free => 1,
            Tier::Starter => 2,
            Tier::Default => 3,
            Tier::Business => 4,
            Tier::Enterprise => 5,
        }
    }
}

/// A tenant's retention: a tier, or a custom number of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retention {
    /// One of the named plans.
    Tier(Tier),
    /// A custom retention, [`MIN_DAYS`] to [`MAX_DAYS`] days; build it with
    /// [`Retention::days_checked`].
    Days(u32),
}

impl Default for Retention {
    fn default() -> Self {
        Retention::Tier(Tier::Default)
    }
}

impl Retention {
    /// A custom retention of `days`, refused outside [`MIN_DAYS`]..=[`MAX_DAYS`].
    pub fn days_checked(days: u32) -> Result<Retention> {
        let r = Retention::Days(days);
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<()> {
        if let Retention::Days(d) = *self {
            if !(MIN_DAYS..=MAX_DAYS).contains(&d) {
                return Err(Error::InvalidRetention(FieldError::new("days", format!("must be {MIN_DAYS} to {MAX_DAYS} days"))));
            }
        }
        Ok(())
    }

    /// Days of retention.
    pub fn days(&self) -> u32 {
        match *self {
            Retention::Tier(t) => t.days(),
            Retention::Days(d) => d,
        }
    }

    /// The tier's name, or `custom`.
    pub fn tier_name(&self) -> &'static str {
        match self {
            Retention::Tier(t) => t.name(),
            Retention::Days(_) => "custom",
        }
    }

    /// The oldest `recorded_at` a row may have at `now` and still be kept:
    /// rows recorded strictly before it are due.
    pub fn cutoff(&self, now: u64) -> u64 {
        now.saturating_sub(u64::from(self.days()) * NS_PER_DAY)
    }

    /// The stored entry, set at `set_at`: `0x01 ‖ tier:u8 (0 custom) ‖ days:u32 ‖ set_at:u64 ‖ crc32`.
    pub fn encode(&self, set_at: u64) -> Vec<u8> {
        let mut out = vec![record::VALUE_FORMAT_V1];
        out.push(match self {
            Retention::Tier(t) => t.code(),
            Retention::Days(_) => 0,
        });
        out.extend_from_slice(&self.days().to_be_bytes());
        out.extend_from_slice(&set_at.to_be_bytes());
        record::seal(out)
    }

    /// Inverse of [`Retention::encode`] (the time it was set is not kept).
    pub fn decode(bytes: &[u8]) -> Result<Retention, DecodeError> {
        let mut r = Reader::new(record::unseal(bytes)?);
        let code = r.take(1)?[0];
        let days = r.u32()?;
        let _set_at = r.u64()?;
        r.finish()?;
        let policy = match code {
            0 => Retention::Days(days),
            c => Tier::ALL.into_iter().find(|t| t.code() == c).map(Retention::Tier).ok_or(DecodeError::UnknownFormat(c))?,
        };
        if policy.days() != days || policy.check().is_err() {
            return Err(DecodeError::Body(format!("retention of {days} days")));
        }
        Ok(policy)
    }
}

/// A legal hold: while it is on, retention deletes nothing of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    /// Why, as the operator gave it.
    pub reason: String,
    /// Engine time the hold was placed, ns since the Unix epoch.
    pub since: u64,
}

impl LegalHold {
    /// The stored entry: `0x01 ‖ since:u64 ‖ len:u32 ‖ reason ‖ crc32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![record::VALUE_FORMAT_V1];
        out.extend_from_slice(&self.since.to_be_bytes());
        out.extend_from_slice(&u32::try_from(self.reason.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(self.reason.as_bytes());
        record::seal(out)
    }

    /// Inverse of [`LegalHold::encode`].
    pub fn decode(bytes: &[u8]) -> Result<LegalHold, DecodeError> {
        let mut r = Reader::new(record::unseal(bytes)?);
        let since = r.u64()?;
        let len = r.u32()? as usize;
        let reason = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| DecodeError::Body("hold reason".into()))?;
        r.finish()?;
        Ok(LegalHold { reason, since })
    }
}

/// Where a chain begins after retention deleted its prefix: the last
/// deleted row's seq, `recorded_at` and head, which the first remaining row
/// links to. Stored in the batch of every deletion; carried by the
/// `annal.retention.purged` row that records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionAnchor {
    /// Last deleted seq: every row up to it is gone.
    pub seq: u64,
    /// `recorded_at` of that row.
    pub recorded_at: u64,
    /// Chain head after that row.
    pub head: Hash,
    /// Rows retention has deleted from this chain, in all runs.
    pub rows_deleted: u64,
    /// Retention the last deletion applied, in days.
    pub retention_days: u32,
    /// The last deletion took rows recorded before this (ns).
    pub cutoff: u64,
    /// Engine time of the last deletion (ns).
    pub deleted_at: u64,
    /// Deletions up to this seq are recorded in an `annal.retention.purged`
    /// row; below [`RetentionAnchor::seq`] while a run is unfinished.
    pub announced_seq: u64,
}

impl RetentionAnchor {
    /// `0x01 ‖ seq ‖ recorded_at ‖ head[32] ‖ rows_deleted ‖ days:u32 ‖ cutoff ‖ deleted_at ‖ announced_seq ‖ crc32` (89 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(89);
        out.push(record::VALUE_FORMAT_V1);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&self.head.0);
        out.extend_from_slice(&self.rows_deleted.to_be_bytes());
        out.extend_from_slice(&self.retention_days.to_be_bytes());
        out.extend_from_slice(&self.cutoff.to_be_bytes());
        out.extend_from_slice(&self.deleted_at.to_be_bytes());
        out.extend_from_slice(&self.announced_seq.to_be_bytes());
        record::seal(out)
    }

    /// Inverse of [`RetentionAnchor::encode`].
    pub fn decode(bytes: &[u8]) -> Result<RetentionAnchor, DecodeError> {
        let mut r = Reader::new(record::unseal(bytes)?);
        let a = RetentionAnchor {
            seq: r.u64()?,
            recorded_at: r.u64()?,
            head: r.hash()?,
            rows_deleted: r.u64()?,
            retention_days: r.u32()?,
            cutoff: r.u64()?,
            deleted_at: r.u64()?,
            announced_seq: r.u64()?,
        };
        r.finish()?;
        Ok(a)
    }
}

fn corrupt(what: &str, n: u64, e: DecodeError) -> Error {
    Error::Corrupt(format!("{what} of tenant number {n}: {e}"))
}

/// Tenant `n`'s anchor, if retention ever deleted from its chain.
pub(crate) fn anchor(store: &Store, n: u64) -> Result<Option<RetentionAnchor>> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_ANCHOR, n))? {
        None => Ok(None),
        Some(v) => RetentionAnchor::decode(&v).map(Some).map_err(|e| corrupt("retention anchor", n, e)),
    }
}

/// Whether retention deleted tenant `n`'s row `seq`.
pub(crate) fn deleted(store: &Store, n: u64, seq: u64) -> Result<bool> {
    Ok(anchor(store, n)?.is_some_and(|a| seq <= a.seq))
}

pub(crate) fn policy_of(store: &Store, n: u64) -> Result<Retention> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_RETENTION, n))? {
        None => Ok(Retention::default()),
        Some(v) => Retention::decode(&v).map_err(|e| corrupt("retention policy", n, e)),
    }
}

pub(crate) fn hold_of(store: &Store, n: u64) -> Result<Option<LegalHold>> {
    match store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_HOLD, n))? {
        None => Ok(None),
        Some(v) => LegalHold::decode(&v).map(Some).map_err(|e| corrupt("legal hold", n, e)),
    }
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

fn check_reason(reason: &str) -> Result<()> {
    let bad = |m: &str| Err(Error::InvalidRetention(FieldError::new("reason", m)));
    if reason.trim().is_empty() {
        return bad("must not be empty: say why the tenant's rows are held");
    }
    if reason.len() > MAX_REASON_BYTES {
        return bad(&format!("must be at most {MAX_REASON_BYTES} bytes"));
    }
    if reason.chars().any(char::is_control) {
        return bad("must not contain control characters");
    }
    Ok(())
}

impl Engine {
    /// `tenant`'s retention policy, legal hold and anchor.
    pub fn retention(&self, tenant: &str) -> Result<RetentionStatus> {
        let n = self.tenant_number(tenant)?;
        let store = &self.shared().store;
        Ok(RetentionStatus { retention: policy_of(store, n)?, hold: hold_of(store, n)?, anchor: anchor(store, n)? })
    }

    /// Sets `tenant`'s retention, by `actor`. The change is a row of the
    /// tenant's chain (`annal.retention.set`, with the old and new policy)
    /// written in the same batch as the setting, and applies from the next
    /// deletion batch on. Creates the tenant if needed.
    pub fn set_retention(&self, tenant: &str, retention: Retention, actor: Actor) -> Result<Receipt> {
        retention.check()?;
        crate::engine::check_client_tenant(tenant)?;
        let shared = self.shared();
        let _guard = shared.retention.lock();
        let previous = match self.tenant_number(tenant) {
            Ok(n) => policy_of(&shared.store, n)?,
            Err(Error::UnknownTenant) => Retention::default(),
            Err(e) => return Err(e),
        };
        let mut m = Map::new();
        m.insert("tier".into(), retention.tier_name().into());
        m.insert("days".into(), retention.days().into());
        m.insert("previous_tier".into(), previous.tier_name().into());
        m.insert("previous_days".into(), previous.days().into());
        let side = vec![SideWrite::TenantMeta { tag: keys::TAG_RETENTION, value: Some(retention.encode(shared.clock.now_ns())) }];
        self.append_system_with(tenant, SET_ACTION, actor, m, side, None)
    }

    /// Places a legal hold on `tenant`, by `actor`, for `reason`: from the
    /// moment this returns, no run deletes any of its rows until
    /// [`Engine::release_hold`]. Recorded as `annal.retention.hold` in the
    /// tenant's chain, in the batch that stores the hold. Placing a hold on a
    /// held tenant replaces its reason (and is recorded too).
    pub fn place_hold(&self, tenant: &str, reason: &str, actor: Actor) -> Result<Receipt> {
        check_reason(reason)?;
        crate::engine::check_client_tenant(tenant)?;
        let shared = self.shared();
        let _guard = shared.retention.lock();
        let hold = LegalHold { reason: reason.to_string(), since: shared.clock.now_ns() };
        let mut m = Map::new();
        m.insert("reason".into(), reason.into());
        let side = vec![SideWrite::TenantMeta { tag: keys::TAG_HOLD, value: Some(hold.encode()) }];
        self.append_system_with(tenant, HOLD_ACTION, actor, m, side, None)
    }

    /// Lifts `tenant`'s legal hold, by `actor`; the next run deletes what
    /// expired meanwhile. Recorded as `annal.retention.released` with the
    /// hold's reason and start. [`Error::NoHold`] if there is none.
    pub fn release_hold(&self, tenant: &str, actor: Actor) -> Result<Receipt> {
        crate::engine::check_client_tenant(tenant)?;
        let shared = self.shared();
        let _guard = shared.retention.lock();
        let n = self.tenant_number(tenant)?;
        let hold = hold_of(&shared.store, n)?.ok_or(Error::NoHold)?;
        let mut m = Map::new();
        m.insert("reason".into(), hold.reason.into());
        m.insert("held_since".into(), rfc3339(hold.since));
        let side = vec![SideWrite::TenantMeta { tag: keys::TAG_HOLD, value: None }];
        self.append_system_with(tenant, RELEASED_ACTION, actor, m, side, None)
    }

    /// One retention run over every tenant, as described in [`crate::retention`].
    pub fn run_retention(&self, opts: &RunOptions) -> Result<RunReport> {
        run::run(self, opts, None)
    }

    /// Tenant number, for the retention module.
    pub(crate) fn tenant_number(&self, tenant: &str) -> Result<u64> {
        crate::engine::validate_tenant(tenant)?;
        self.shared().tenants.read().get(tenant).copied().ok_or(Error::UnknownTenant)
    }
}

/// What the anchor of shared's tenant `n` says, for the verifier.
pub(crate) fn anchor_for_verify(shared: &Shared, n: u64) -> std::result::Result<Option<RetentionAnchor>, DecodeError> {
    match shared.store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_ANCHOR, n)) {
        Ok(None) => Ok(None),
        Ok(Some(v)) => RetentionAnchor::decode(&v).map(Some),
        Err(e) => Err(DecodeError::Body(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_reject_damage() {
        let a = RetentionAnchor {
            seq: 9,
            recorded_at: 8,
            head: Hash([7; 32]),
            rows_deleted: 9,
            retention_days: 90,
            cutoff: 5,
            deleted_at: 6,
            announced_seq: 3,
        };
        let bytes = a.encode();
        assert_eq!(bytes.len(), 89);
        assert_eq!(RetentionAnchor::decode(&bytes).unwrap(), a);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(RetentionAnchor::decode(&b).is_err());
        }
        for r in [Retention::Tier(Tier::Free), Retention::Tier(Tier::Enterprise), Retention::Days(123)] {
            assert_eq!(Retention::decode(&r.encode(1)).unwrap(), r);
        }
        let h = LegalHold { reason: "case 42".into(), since: 3 };
        assert_eq!(LegalHold::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn days_are_bounded_and_tiers_named() {
        assert!(Retention::days_checked(89).is_err());
        assert!(Retention::days_checked(2556).is_err());
        assert_eq!(Retention::days_checked(90).unwrap().days(), 90);
        assert_eq!(Retention::default().days(), 400);
        assert_eq!(Tier::parse("business").unwrap().days(), 1095);
        match Tier::parse("gold") {
            Err(Error::InvalidRetention(fe)) => assert_eq!(fe.field, "tier"),
            other => panic!("{other:?}"),
        }
        assert_eq!(Retention::Tier(Tier::Free).cutoff(100 * NS_PER_DAY), 10 * NS_PER_DAY);
        assert_eq!(Retention::Tier(Tier::Free).cutoff(1), 0);
    }
}
