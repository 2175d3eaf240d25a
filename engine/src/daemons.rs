//! The background threads a server starts beside an [`Engine`] and stops
//! before closing it: retention on an interval, checkpoints by policy. Both
//! are one [`Periodic`] thread over the feature they drive.

use std::time::Duration;

use crate::backup::{open_scratch, BackupCheck, Backups, Created};
use crate::checkpoint::{Checkpoint, CheckpointPolicy};
use crate::core::periodic::Periodic;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::retention::{RunOptions, RunReport, TenantDeletion};

/// How often the retention daemon runs unless told otherwise: hourly.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the checkpoint daemon looks at the heads: a tenant reaching
/// `every_rows` gets its checkpoint within this long.
const CHECKPOINT_POLL: Duration = Duration::from_millis(250);

/// A background thread running [`Engine::run_retention`] every interval,
/// the first time right after it starts. [`RetentionDaemon::stop`] (or
/// dropping it) ends it promptly: a sleeping daemon wakes at once, and a
/// running one stops after its current deletion batch (the next run
/// finishes the work).
#[derive(Debug)]
pub struct RetentionDaemon(Periodic);

impl RetentionDaemon {
    /// Starts the daemon on `engine`, running every `interval`: first the
    /// purge of workspaces whose scheduled deletion is due
    /// ([`Engine::purge_due_deletions`]; what it did goes to `on_purge`),
    /// then a retention run with default [`RunOptions`] (its result goes to
    /// `on_run`, to log it).
    pub fn start(
        engine: Engine,
        interval: Duration,
        mut on_run: impl FnMut(Result<RunReport>) + Send + 'static,
        mut on_purge: impl FnMut(Vec<(String, TenantDeletion)>, Vec<(String, Error)>) + Send + 'static,
    ) -> Result<RetentionDaemon> {
        let retention = engine.retention;
        // Each run lowers its own deleting thread's priority. Workspaces
        // whose scheduled deletion fell due go first.
        Periodic::start("annal-retention", interval, None, move |stop| {
            let (purged, failed) = retention.purge_due(None);
            on_purge(purged, failed);
            on_run(retention.run(&RunOptions::default(), Some(stop)))
        })
        .map(RetentionDaemon)
    }

    /// Asks the daemon to stop and waits until it has.
    pub fn stop(self) {
        self.0.stop();
    }
}

/// The nice value of the checkpoint daemon's thread (Linux). Before it
/// signs, a checkpoint verifies every row since the previous one: under a
/// burst of appends that is a tenth or more of the server's CPU, which
/// appends want more. At 10 it still gets about a tenth of a core against
/// each busy normal thread, so checkpoints lag a burst and catch up after.
pub const CHECKPOINT_NICE: i32 = 10;

/// A background thread calling [`Engine::checkpoint_due`] four times a
/// second, at [`CHECKPOINT_NICE`]; each checkpoint made or failure goes to `on_checkpoint`.
/// [`CheckpointDaemon::stop`] (or dropping it) ends it promptly.
#[derive(Debug)]
pub struct CheckpointDaemon(Periodic);

impl CheckpointDaemon {
    /// Starts the daemon on `engine` with `policy`.
    pub fn start(
        engine: Engine,
        policy: CheckpointPolicy,
        mut on_checkpoint: impl FnMut(std::result::Result<Checkpoint, (String, Error)>) + Send + 'static,
    ) -> Result<CheckpointDaemon> {
        let checkpoints = engine.checkpoints;
        Periodic::start("annal-checkpoint", CHECKPOINT_POLL, Some(CHECKPOINT_NICE), move |_| {
            let (made, failed) = checkpoints.due(&policy);
            made.into_iter().for_each(|cp| on_checkpoint(Ok(cp)));
            failed.into_iter().for_each(|f| on_checkpoint(Err(f)));
        })
        .map(CheckpointDaemon)
    }

    /// Asks the daemon to stop and waits until it has.
    pub fn stop(self) {
        self.0.stop();
    }
}

/// The nice value of the backup daemon's thread: a backup copies files and
/// its verification reads and hashes every row, background work that
/// appends should always win a core from.
pub const BACKUP_NICE: i32 = 10;

/// What one scheduled backup did: the backup (or why it failed) and, when
/// asked for, its verification by restore (or why that failed).
#[derive(Debug)]
pub struct BackupOutcome {
    /// The backup made.
    pub created: Result<Created>,
    /// Its verification: `None` when not asked for or the backup failed.
    pub verified: Option<Result<BackupCheck>>,
}

/// A background thread taking a backup every interval, the first right
/// after it starts, at [`BACKUP_NICE`]: [`Backups::create`] keeping the
/// newest `keep`, then, with `verify`, [`Backups::verify`] of the new
/// backup (every checkpoint must be signed by the engine's key). Each
/// outcome goes to `on_backup`. [`BackupDaemon::stop`] ends it; a backup
/// in progress finishes first.
#[derive(Debug)]
pub struct BackupDaemon(Periodic);

impl BackupDaemon {
    /// Starts the daemon.
    pub fn start(
        engine: Engine,
        backups: Backups,
        interval: Duration,
        keep: usize,
        verify: bool,
        mut on_backup: impl FnMut(BackupOutcome) + Send + 'static,
    ) -> Result<BackupDaemon> {
        Periodic::start("annal-backup", interval, Some(BACKUP_NICE), move |_| {
            let created = backups.create(&engine, Some(keep));
            let verified = match (&created, verify) {
                (Ok(c), true) => {
                    let key = engine.checkpoint_public_key().map(|(k, _)| k);
                    Some(backups.verify(Some(c.backup.id), key.as_ref(), &open_scratch))
                }
                _ => None,
            };
            on_backup(BackupOutcome { created, verified });
        })
        .map(BackupDaemon)
    }

    /// Asks the daemon to stop and waits until it has.
    pub fn stop(self) {
        self.0.stop();
    }
}
