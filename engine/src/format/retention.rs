//! Retention's stored values: tiers and custom days, the legal hold, the
//! anchor a chain starts from after deletion, and the actions of the rows
//! that record them. docs/RETENTION.md explains them to operators;
//! docs/FORMAT.md specifies the bytes. The retention feature that reads
//! and writes them is `crate::retention`.

use crate::error::{Error, FieldError, Result};
use crate::format::chain::Hash;
use crate::format::record::{self, DecodeError, Reader};

/// Action of the row recording a retention policy change.
pub const SET_ACTION: &str = "annal.retention.set";
/// Action of the row recording a legal hold being placed.
pub const HOLD_ACTION: &str = "annal.retention.hold";
/// Action of the row recording a legal hold being lifted.
pub const RELEASED_ACTION: &str = "annal.retention.released";
/// Action of the row recording a deletion by retention; carries the anchor.
pub const PURGED_ACTION: &str = "annal.retention.purged";

/// Action of the platform row recording a tenant's deletion being scheduled.
pub const DELETION_SCHEDULED_ACTION: &str = "annal.tenant.deletion_scheduled";
/// Action of the platform row recording a scheduled deletion being cancelled.
pub const DELETION_CANCELLED_ACTION: &str = "annal.tenant.deletion_cancelled";
/// Action of the platform row recording a tenant's creation by a platform key.
pub const TENANT_CREATED_ACTION: &str = "annal.tenant.created";

/// Shortest retention a tenant may have, in days.
pub const MIN_DAYS: u32 = 90;
/// Longest retention a tenant may have, in days (seven years).
pub const MAX_DAYS: u32 = 2555;
/// Longest legal hold reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// Nanoseconds in a day: retention ages rows in whole days of `recorded_at`.
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

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

    /// Refuses a custom retention outside [`MIN_DAYS`]..=[`MAX_DAYS`].
    pub fn check(&self) -> Result<()> {
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

/// Checks a legal hold's (or a tenant deletion's) reason: said, bounded, printable.
pub fn check_reason(reason: &str) -> Result<()> {
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

/// A tenant's scheduled deletion: from `scheduled_at` its keys authenticate
/// nothing and its rows are unreadable; at `purge_after` its content is
/// deleted (`annal.tenant.deleted`) unless the deletion is cancelled first.
/// Stored under `tenants` `'d' ‖ tenant:u64`, written in the batch of the
/// platform row that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeletion {
    /// Engine time the deletion was scheduled, ns since the Unix epoch.
    pub scheduled_at: u64,
    /// Engine time from which the content is purged, ns since the Unix epoch.
    pub purge_after: u64,
    /// The deletion's id (16 hex digits), carried by each of its platform rows.
    pub deletion_id: [u8; 8],
}

impl PendingDeletion {
    /// `0x01 ‖ scheduled_at:u64 ‖ purge_after:u64 ‖ deletion_id[8] ‖ crc32` (29 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(29);
        out.push(record::VALUE_FORMAT_V1);
        out.extend_from_slice(&self.scheduled_at.to_be_bytes());
        out.extend_from_slice(&self.purge_after.to_be_bytes());
        out.extend_from_slice(&self.deletion_id);
        record::seal(out)
    }

    /// Inverse of [`PendingDeletion::encode`].
    pub fn decode(bytes: &[u8]) -> Result<PendingDeletion, DecodeError> {
        let mut r = Reader::new(record::unseal(bytes)?);
        let scheduled_at = r.u64()?;
        let purge_after = r.u64()?;
        let deletion_id = r.take(8)?.try_into().map_err(|_| DecodeError::Body("deletion id".into()))?;
        r.finish()?;
        Ok(PendingDeletion { scheduled_at, purge_after, deletion_id })
    }

    /// The deletion id as 16 lowercase hex digits.
    pub fn id_hex(&self) -> String {
        deletion_id_hex(&self.deletion_id)
    }
}

/// A deletion id as 16 lowercase hex digits, as platform rows carry it.
pub fn deletion_id_hex(id: &[u8; 8]) -> String {
    crate::format::checkpoint::hex(id)
}

#[cfg(test)]
mod pending_tests {
    use super::*;

    #[test]
    fn a_pending_deletion_round_trips_and_refuses_damage() {
        let p = PendingDeletion { scheduled_at: 7, purge_after: 9, deletion_id: [1, 2, 3, 4, 5, 6, 7, 0xab] };
        let bytes = p.encode();
        assert_eq!(bytes.len(), 29);
        assert_eq!(PendingDeletion::decode(&bytes).unwrap(), p);
        assert_eq!(p.id_hex(), "01020304050607ab");
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(PendingDeletion::decode(&b).is_err(), "byte {i}");
        }
        assert!(PendingDeletion::decode(&bytes[..20]).is_err());
    }
}
