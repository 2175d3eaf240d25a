//! `annal backup create|list|verify|restore`, `annal upgrade` and `annal
//! platform-key create|list`: backups of a store into a backup directory
//! (docs/OPERATIONS.md, "Backups"), the format upgrade with a backup taken
//! first, and the keys of the platform that manages workspaces.
//!
//! `create`, `upgrade` and `platform-key` open the store, so they run only
//! while no server has it open (RocksDB's lock); a running server takes
//! backups itself (`POST /v1/admin/backups`, `backup_every_secs`). `list`,
//! `verify` and `restore` read the backup directory alone and run beside a
//! server. `verify` exits 2 when a backup restores but does not verify.

use std::io::Write;
use std::path::{Path, PathBuf};

use annal_engine::backup::{info_json, open_scratch};

use annal_engine::{Backups, Engine};

use super::admin::cli_actor;
use super::store::key_source;
use super::{EXIT_BROKEN, EXIT_OK};

/// `annal backup …`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Take a backup of the store (incremental: files the backups already
    /// hold are not copied again), after checkpointing every chain.
    Create {
        /// The store to back up.
        #[command(flatten)]
        store: super::store::StoreDir,
        /// The backup directory.
        #[arg(long, env = "ANNAL_BACKUP_DIR")]
        backup_dir: PathBuf,
        /// Keep only the newest this many backups.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
        /// File with the checkpoint signing key's hex seed.
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
    /// List the backups (NDJSON, oldest first).
    List {
        /// The backup directory.
        #[arg(long, env = "ANNAL_BACKUP_DIR")]
        backup_dir: PathBuf,
    },
    /// Restore a backup into a scratch directory and verify every chain and
    /// its latest checkpoint: exit 0 good, 2 not good, 1 does not restore.
    Verify {
        /// The backup directory.
        #[arg(long, env = "ANNAL_BACKUP_DIR")]
        backup_dir: PathBuf,
        /// The backup (default: the newest).
        #[arg(long)]
        id: Option<u32>,
        /// Every checkpoint must be signed by this public key (hex).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Restore a backup as a new store: deletions the ledger records after
    /// the backup are applied again, expired rows are deleted, then the
    /// store is put in place. Refuses a directory that holds anything.
    Restore {
        /// The backup directory.
        #[arg(long, env = "ANNAL_BACKUP_DIR")]
        backup_dir: PathBuf,
        /// Where the store is restored to (must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// The backup (default: the newest).
        #[arg(long)]
        id: Option<u32>,
        /// File with the checkpoint signing key's hex seed (signs the
        /// checkpoints of what the restore deletes).
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
}

/// Runs one `annal backup` command.
pub fn run(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        Command::Create { store, backup_dir, keep, signing_key } => {
            let engine = super::store::open_existing(&store, signing_key.as_deref())?;
            let made = Backups::new(&backup_dir).create(&engine, keep.map(|k| k as usize))?;
            for (tenant, e) in &made.unchecked {
                writeln!(err, "annal: {tenant}: not checkpointed before the backup: {e}")?;
            }
            writeln!(out, "{}", info_json(&made.backup))?;
            writeln!(
                err,
                "backup {} of {} in {} ({} bytes, {} files)",
                made.backup.id,
                store.data_dir.display(),
                backup_dir.display(),
                made.backup.bytes,
                made.backup.files
            )?;
            Ok(EXIT_OK)
        }
        Command::List { backup_dir } => {
            for b in Backups::new(&backup_dir).list()? {
                writeln!(out, "{}", info_json(&b))?;
            }
            Ok(EXIT_OK)
        }
        Command::Verify { backup_dir, id, public_key } => {
            let key = public_key.as_deref().map(super::checkpoint::parse_public_key).transpose()?;
            let check = Backups::new(&backup_dir).verify(id, key.as_ref(), &open_scratch)?;
            for c in &check.chains {
                let line = serde_json::json!({
                    "tenant": c.tenant, "head_seq": c.head_seq, "rows_verified": c.rows_verified,
                    "checkpoint_seq": c.checkpoint_seq, "good": c.problem.is_none(), "problem": c.problem,
                });
                writeln!(out, "{line}")?;
            }
            if check.is_good() {
                writeln!(err, "backup {}: good ({} chains restored and verified)", check.backup.id, check.chains.len())?;
                Ok(EXIT_OK)
            } else {
                let bad = check.chains.iter().filter(|c| c.problem.is_some()).count();
                writeln!(err, "annal: backup {}: NOT GOOD: {bad} of {} chains fail", check.backup.id, check.chains.len())?;
                Ok(EXIT_BROKEN)
            }
        }
        Command::Restore { backup_dir, data_dir, id, signing_key } => {
            let source = key_source(signing_key.as_deref(), &data_dir)?;
            // The restore's retention run reads encrypted tenants' rows:
            // the keyring of the environment, if any.
            let provider = super::store::resolve_keyring(None, &Default::default(), &data_dir)?;
            let open = |p: &Path| {
                let b = Engine::builder(p).signing_key(source.clone()).upgrade_without_backup();
                match &provider {
                    Some(k) => b.key_provider(k.clone()),
                    None => b,
                }
                .open()
            };
            let r = Backups::new(&backup_dir).restore(id, &data_dir, &open)?;
            for (kind, tenant, seq) in &r.deletions_reapplied {
                writeln!(err, "re-applied {kind:?} deletion step of {tenant} (platform seq {seq} of the lost store)")?;
            }
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "backup": info_json(&r.backup), "data_dir": data_dir.display().to_string(),
                    "deletions_reapplied": r.deletions_reapplied.len(), "rows_expired": r.retention.rows,
                })
            )?;
            Ok(EXIT_OK)
        }
    }
}

/// `annal upgrade`: opens a store of an older format and upgrades it, after
/// a backup into `backup_dir` unless `no_backup`.
pub fn upgrade(data_dir: &Path, backup_dir: Option<&Path>, no_backup: bool, out: &mut dyn Write) -> anyhow::Result<u8> {
    let builder = Engine::builder(data_dir).create_if_missing(false).signing_key(key_source(None, data_dir)?);
    let builder = super::store::with_keyring(builder, None, data_dir)?;
    let builder = match (backup_dir, no_backup) {
        (_, true) => builder.upgrade_without_backup(),
        (Some(dir), false) => builder.upgrade_backup_dir(dir),
        (None, false) => anyhow::bail!("give --backup-dir DIR (a backup is taken there first) or, knowingly, --no-backup"),
    };
    drop(builder.open()?);
    writeln!(out, "{} is at store format {}", data_dir.display(), annal_engine::STORE_FORMAT_VERSION)?;
    Ok(EXIT_OK)
}

/// `annal platform-key create`: prints the token (shown only now) on stdout.
pub fn create_platform_key(engine: &Engine, label: &str, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let (key, token) = engine.create_platform_key(label, cli_actor())?;
    writeln!(out, "{token}")?;
    writeln!(err, "created platform key {}; the token above is shown only once", key.id)?;
    Ok(EXIT_OK)
}

/// `annal platform-key list`: NDJSON, no secrets.
pub fn list_platform_keys(engine: &Engine, out: &mut dyn Write) -> anyhow::Result<u8> {
    for k in engine.platform_keys()? {
        writeln!(out, "{}", k.to_json())?;
    }
    Ok(EXIT_OK)
}
