//! Backups that restore, verified ([docs/OPERATIONS.md](../../docs/OPERATIONS.md),
//! "Backups"): [`Backups`] is one backup directory, holding RocksDB
//! backups of a store (incremental: `crate::storage::backup`) and the
//! deletion [`Ledger`] beside them.
//!
//! - **Create** checkpoints every chain that has rows since its last
//!   checkpoint, adds the platform chain's deletions to the ledger, then
//!   takes the backup while appends go on. Each chain's head in the backup
//!   is then at or after its latest signed checkpoint.
//! - **Verify means restore**: the backup is restored into a scratch
//!   directory inside the backup directory (each file's checksum checked as
//!   it is copied), opened, every chain verified from its first stored row,
//!   and each chain's latest checkpoint checked against the restored rows
//!   (signature, and the chain still holds that head and extends it). Only
//!   then is a backup reported good.
//! - **Restore** refuses a target that holds anything, restores into a
//!   sibling scratch directory, opens it, re-applies every ledger deletion
//!   the backup predates (each recorded in the platform chain with the
//!   original deletion's id and seq), runs retention once (rows a backup
//!   kept past their expiry go before anything serves them), records the
//!   restore itself as an `annal.backup.restored` row, closes, and only
//!   then renames the directory into place. A crash at any point leaves
//!   the target absent and the backups as they were.
//!
//! This module is façade-level: it opens engines of its own on restored
//! copies, through the caller's `open` function (which brings the signing
//! key and clock the caller uses).

mod ledger;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

pub use ledger::{Ledger, LedgerEntry, LedgerKind, LEDGER_FILE};

use crate::checkpoint::{TrustedFailure, TrustedOutcome};
use crate::core::append::OwnRow;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::event::{Actor, ActorType};
use crate::format::retention::{DELETION_CANCELLED_ACTION, DELETION_SCHEDULED_ACTION};
use crate::format::tenant::PLATFORM_TENANT;
use crate::retention::{RunOptions, RunReport, TENANT_DELETED_ACTION};
pub use crate::storage::BackupInfo;
use crate::storage::{backup as store_backup, BackupInfo as Info};
use crate::verify::VerifyOutcome;

/// Action of the platform row a restore writes into the restored store.
pub const BACKUP_RESTORED_ACTION: &str = "annal.backup.restored";

/// A backup as JSON, as the server and the command line show it:
/// `{id, created_at (RFC 3339), bytes, files}`.
pub fn info_json(b: &BackupInfo) -> serde_json::Value {
    let at = crate::event::format_rfc3339_nanos(b.created_at.saturating_mul(1_000_000_000));
    serde_json::json!({"id": b.id, "created_at": at, "bytes": b.bytes, "files": b.files})
}

/// What [`Backups::create`] did.
#[derive(Debug)]
pub struct Created {
    /// The new backup.
    pub backup: BackupInfo,
    /// Deletions added to the ledger from the platform chain.
    pub ledger_added: usize,
    /// Chains that could not be checkpointed first (a broken chain is never
    /// signed; the backup is still taken, and its verification will name
    /// the break).
    pub unchecked: Vec<(String, Error)>,
}

/// One chain of a verified backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// The tenant.
    pub tenant: String,
    /// Its head seq in the backup.
    pub head_seq: u64,
    /// Rows verified (from the first stored row to the head).
    pub rows_verified: u64,
    /// Seq of the latest signed checkpoint the backup holds for it.
    pub checkpoint_seq: Option<u64>,
    /// What is wrong, if anything.
    pub problem: Option<String>,
}

/// What [`Backups::verify`] found.
#[derive(Debug, Clone)]
pub struct BackupCheck {
    /// The backup verified.
    pub backup: BackupInfo,
    /// Every chain it holds, the platform chain included.
    pub chains: Vec<ChainCheck>,
}

impl BackupCheck {
    /// Whether the backup restored, every chain verified and every chain's
    /// head is covered by a good checkpoint.
    pub fn is_good(&self) -> bool {
        self.chains.iter().all(|c| c.problem.is_none())
    }
}

/// What [`Backups::restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup restored.
    pub backup: BackupInfo,
    /// Ledger steps re-applied, in order: the step, its tenant and the
    /// original row's platform seq.
    pub deletions_reapplied: Vec<(LedgerKind, String, u64)>,
    /// The retention run made before the store was put in place.
    pub retention: RunReport,
}

/// A backup directory: RocksDB backups of one store and its deletion
/// ledger. Clones share one lock: a scheduled backup, one asked for over
/// HTTP and a verification never work on the directory at once (RocksDB's
/// backup engine is not made for two writers of one directory).
#[derive(Debug, Clone)]
pub struct Backups {
    dir: PathBuf,
    lock: Arc<Mutex<()>>,
}

/// Opens a restored scratch copy for [`Backups::verify`]: without a signing
/// key (verification signs nothing, and the operator's key stays where it
/// is), upgrading an older format without a backup (the copy is thrown
/// away). A restore, which may delete expired rows and so checkpoint,
/// opens with the operator's key instead.
pub fn open_scratch(path: &Path) -> Result<Engine> {
    Engine::builder(path).create_if_missing(false).upgrade_without_backup().open()
}

impl Backups {
    /// The backup directory `dir` (created when the first backup is made).
    pub fn new(dir: impl AsRef<Path>) -> Backups {
        Backups { dir: dir.as_ref().to_path_buf(), lock: Arc::new(Mutex::new(())) }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its deletion ledger.
    pub fn ledger(&self) -> Ledger {
        Ledger::in_dir(&self.dir)
    }

    /// Takes a new backup of `engine`'s store while it keeps running (see
    /// the module docs), then deletes all but the newest `keep` backups
    /// (`None` keeps every one).
    pub fn create(&self, engine: &Engine, keep: Option<usize>) -> Result<Created> {
        let _guard = self.lock.lock();
        let mut unchecked = Vec::new();
        for tenant in engine.tenants() {
            if let Err(e) = engine.checkpoint(&tenant) {
                unchecked.push((tenant, e));
            }
        }
        let ledger_added = self.ledger().add(&deletions_in(engine)?)?;
        let backup = engine.core.store.backup(&self.dir)?;
        if let Some(keep) = keep {
            store_backup::purge(&self.dir, keep.max(1))?;
        }
        Ok(Created { backup, ledger_added, unchecked })
    }

    /// Records `entries` in the ledger (those not there yet).
    pub fn record_deletions(&self, entries: &[LedgerEntry]) -> Result<usize> {
        self.ledger().add(entries)
    }

    /// Brings the ledger up to date with `engine`'s platform chain: what a
    /// deleting process does right after each step (cheap: the platform
    /// chain holds only annal's own acts), and what every backup does first.
    pub fn sync_ledger(&self, engine: &Engine) -> Result<usize> {
        self.ledger().add(&deletions_in(engine)?)
    }

    /// Every complete backup, oldest first.
    pub fn list(&self) -> Result<Vec<BackupInfo>> {
        store_backup::list(&self.dir)
    }

    /// Backup `id`, or the newest with `None`.
    fn pick(&self, id: Option<u32>) -> Result<Info> {
        let all = self.list()?;
        // RocksDB lists only the backups whose every file is there; one
        // whose record (`meta/<id>`, written last when it was made) is
        // there but which is not listed has lost a file, and is named so.
        let recorded = store_backup::recorded_ids(&self.dir);
        let want = id.or_else(|| recorded.iter().copied().chain(all.iter().map(|b| b.id)).max());
        if let Some(found) = want.and_then(|w| all.iter().find(|b| b.id == w)) {
            return Ok(found.clone());
        }
        match want {
            Some(w) if recorded.contains(&w) => {
                Err(self.restore_error(w, Error::Backup("RocksDB does not list it: a file of it is missing or damaged".into())))
            }
            Some(w) => Err(Error::Backup(format!("no backup {w} in {}", self.dir.display()))),
            None => Err(Error::Backup(format!("no backup in {}", self.dir.display()))),
        }
    }

    /// Restores backup `id` (the newest with `None`) into a scratch
    /// directory, opens it with `open` and verifies it (module docs). With
    /// `public_key`, every checkpoint must be signed by that key. The
    /// scratch copy is removed afterwards. An error means the backup could
    /// not be restored at all (a file missing or damaged: the message names
    /// it); a restored backup with a broken chain is a [`BackupCheck`] that
    /// is not good.
    pub fn verify(
        &self,
        id: Option<u32>,
        public_key: Option<&[u8; 32]>,
        open: &dyn Fn(&Path) -> Result<Engine>,
    ) -> Result<BackupCheck> {
        let _guard = self.lock.lock();
        let backup = self.pick(id)?;
        remove_stale_scratch(&self.dir)?;
        let scratch = self.dir.join(format!(".verify-{}-{}", std::process::id(), backup.id));
        let _ = std::fs::remove_dir_all(&scratch);
        let result = (|| {
            store_backup::check_files(&self.dir, backup.id)
                .and_then(|()| store_backup::restore(&self.dir, backup.id, &scratch))
                .map_err(|e| self.restore_error(backup.id, e))?;
            let engine = open(&scratch)?;
            // Workspaces being deleted are chains to verify like any: this
            // private copy, thrown away after, serves them to the check.
            for t in engine.core.tenants.list_closing() {
                engine.core.tenants.set_closing(&t, false);
            }
            let chains = engine.tenants().into_iter().map(|t| check_chain(&engine, &t, public_key)).collect::<Result<_>>()?;
            Ok(BackupCheck { backup: backup.clone(), chains })
        })();
        std::fs::remove_dir_all(&scratch).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })?;
        result
    }

    /// Restores backup `id` (the newest with `None`) as the store in
    /// `target`, which must not exist or be an empty directory (module docs
    /// for every step). `open` opens the restored store as the caller will.
    pub fn restore(&self, id: Option<u32>, target: &Path, open: &dyn Fn(&Path) -> Result<Engine>) -> Result<Restored> {
        let _guard = self.lock.lock();
        let backup = self.pick(id)?;
        if target.exists() && std::fs::read_dir(target)?.next().is_some() {
            return Err(Error::Backup(format!("{} is not empty; restore only into a new directory", target.display())));
        }
        let name = target.file_name().ok_or_else(|| Error::Backup(format!("{} names no directory", target.display())))?;
        let scratch = target.with_file_name(format!(".{}.restoring", name.to_string_lossy()));
        // A restore killed earlier left its scratch copy; nothing else is
        // ever there.
        let _ = std::fs::remove_dir_all(&scratch);
        store_backup::restore(&self.dir, backup.id, &scratch).map_err(|e| self.restore_error(backup.id, e))?;
        let (deletions_reapplied, retention) = {
            let engine = open(&scratch)?;
            let reapplied = self.reapply_deletions(&engine)?;
            // Nothing else uses the store yet: delete at full speed.
            let retention = engine.run_retention(&RunOptions { idle_ratio: 0.0, ..RunOptions::default() })?;
            let mut m = serde_json::Map::new();
            m.insert("backup_id".into(), backup.id.into());
            m.insert("backup_created_at".into(), backup.created_at.into());
            m.insert("deletions_reapplied".into(), reapplied.len().into());
            engine.core.append_own(PLATFORM_TENANT, BACKUP_RESTORED_ACTION, &restore_actor(), &m, OwnRow::default())?;
            (reapplied, retention)
        };
        if target.exists() {
            std::fs::remove_dir(target)?;
        }
        std::fs::rename(&scratch, target)?;
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(Restored { backup, deletions_reapplied, retention })
    }

    /// Why backup `id` does not restore, naming the damaged or missing file
    /// when one can be found.
    fn restore_error(&self, id: u32, e: Error) -> Error {
        match store_backup::damaged_file(&self.dir, id) {
            Some(file) => Error::Backup(format!("backup {id} does not restore: {}/{file} ({e})", self.dir.display())),
            None => Error::Backup(format!("backup {id} does not restore: {e}")),
        }
    }

    /// Re-applies, in ledger order, every step of a deletion that
    /// `engine`'s platform chain does not hold.
    fn reapply_deletions(&self, engine: &Engine) -> Result<Vec<(LedgerKind, String, u64)>> {
        let held: std::collections::HashSet<(String, LedgerKind)> = deletions_in(engine)?.iter().map(LedgerEntry::key).collect();
        let mut done = Vec::new();
        let retention = &engine.retention;
        for entry in self.ledger().entries()? {
            if held.contains(&entry.key()) {
                continue;
            }
            let (tenant, seq, actor) = (entry.tenant.as_str(), entry.platform_seq, restore_actor());
            let result = match entry.kind {
                LedgerKind::Deleted => {
                    let reason = format!("re-applied on restore: deleted at platform seq {seq}");
                    retention.delete_tenant_as(tenant, &reason, &actor, entry.deletion_id.clone(), Some(seq)).map(drop)
                }
                LedgerKind::Scheduled => {
                    let reason = format!("re-applied on restore: scheduled at platform seq {seq}");
                    let id = parse_id(&entry.deletion_id)?;
                    let purge_after = entry.purge_after.unwrap_or(entry.recorded_at);
                    retention.schedule_deletion_as(tenant, &reason, purge_after, id, &actor, Some(seq)).map(drop)
                }
                LedgerKind::Cancelled => {
                    retention.cancel_deletion_as(tenant, &actor, Some(&entry.deletion_id), Some(seq)).map(drop)
                }
            };
            match result {
                Ok(()) => done.push((entry.kind, entry.tenant, seq)),
                // Created after the backup was taken (nothing of it to
                // delete), or its schedule is not there to cancel.
                Err(Error::UnknownTenant | Error::NoPendingDeletion) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

fn parse_id(hex: &str) -> Result<[u8; 8]> {
    crate::format::apikey::parse_id(hex).ok_or_else(|| Error::Backup(format!("deletion ledger: `{hex}` is not a deletion id")))
}

fn restore_actor() -> Actor {
    Actor { kind: ActorType::System, id: "annal-restore".into(), name: None, email: None, on_behalf_of: None }
}

/// Every step of a tenant deletion recorded in `engine`'s platform chain
/// that carries a deletion id, as ledger entries.
pub(crate) fn deletions_in(engine: &Engine) -> Result<Vec<LedgerEntry>> {
    let mut out = Vec::new();
    let Ok(rows) = engine.iter(PLATFORM_TENANT, 1) else { return Ok(out) };
    for row in rows {
        let row = row?;
        let kind = match row.event.action.as_str() {
            TENANT_DELETED_ACTION => LedgerKind::Deleted,
            DELETION_SCHEDULED_ACTION => LedgerKind::Scheduled,
            DELETION_CANCELLED_ACTION => LedgerKind::Cancelled,
            _ => continue,
        };
        let meta: serde_json::Map<String, serde_json::Value> = match row.event.metadata.as_deref().map(serde_json::from_str) {
            Some(Ok(m)) => m,
            _ => continue,
        };
        if let (Some(id), Some(tenant)) =
            (meta.get("deletion_id").and_then(|v| v.as_str()), meta.get("tenant").and_then(|v| v.as_str()))
        {
            out.push(LedgerEntry {
                deletion_id: id.to_string(),
                kind,
                tenant: tenant.to_string(),
                platform_seq: row.seq,
                recorded_at: row.recorded_at,
                purge_after: meta.get("purge_after_ns").and_then(|v| v.as_u64()),
            });
        }
    }
    Ok(out)
}

/// Verifies one chain of a restored backup and checks its latest
/// checkpoint. Checking a checkpoint verifies the whole chain on the way
/// (`Engine::verify_trusted`), so a chain with one is read once.
fn check_chain(engine: &Engine, tenant: &str, public_key: Option<&[u8; 32]>) -> Result<ChainCheck> {
    let head = engine.head(tenant)?;
    let mut check =
        ChainCheck { tenant: tenant.to_string(), head_seq: head.seq, rows_verified: 0, checkpoint_seq: None, problem: None };
    let Some(cp) = engine.latest_checkpoint(tenant)? else {
        match engine.verify(tenant, ..)? {
            VerifyOutcome::Intact(r) => {
                check.rows_verified = r.count;
                check.problem = Some("no signed checkpoint in the backup".into());
            }
            VerifyOutcome::Broken(b) => {
                check.rows_verified = b.verified;
                check.problem = Some(format!("chain broken at seq {}: {}", b.seq, b.reason));
            }
        }
        return Ok(check);
    };
    check.checkpoint_seq = Some(cp.seq);
    match engine.verify_trusted(&cp, public_key)? {
        TrustedOutcome::Extends(_) => {
            let first = engine.retention(tenant).ok().and_then(|r| r.anchor).map_or(0, |a| a.seq);
            check.rows_verified = head.seq - first;
        }
        TrustedOutcome::Failed(TrustedFailure::ChainBroken(b)) => {
            check.rows_verified = b.verified;
            check.problem = Some(format!("chain broken at seq {}: {}", b.seq, b.reason));
        }
        TrustedOutcome::Failed(f) => check.problem = Some(format!("checkpoint at seq {}: {f}", cp.seq)),
    }
    Ok(check)
}

/// Removes scratch copies left by verifications whose process is gone.
fn remove_stale_scratch(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(".verify-").and_then(|r| r.split('-').next()) else { continue };
        if !Path::new("/proc").join(pid).exists() {
            std::fs::remove_dir_all(e.path())?;
        }
    }
    Ok(())
}
