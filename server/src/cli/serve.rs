//! `annal serve`: opens the store (after a backup, when its format must be
//! upgraded), starts the retention, checkpoint and backup daemons and runs
//! the HTTP server until SIGTERM or SIGINT, then drains, stops the daemons
//! (a retention run in progress stops after its current batch, which is
//! recorded; a backup in progress finishes) and closes the engine (which
//! syncs the WAL). After a failed write to the store it does the same on
//! its own and exits with [`super::EXIT_WRITE_FAILED`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use annal_engine::{BackupDaemon, BackupOutcome, CheckpointDaemon, CheckpointPolicy};
use annal_engine::{Engine, Error, KeySource, Limits, RetentionDaemon};

use crate::config::{Config, LogFormat};
use crate::state::AppState;

/// Runs the server with `config`; returns once it has shut down cleanly.
pub fn run(config: Config) -> anyhow::Result<u8> {
    config.check()?;
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log).map_err(|e| anyhow::anyhow!("log: not a valid filter: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
    };
    let limits = Limits { max_event_bytes: config.max_event_bytes, ..Limits::default() };
    let mut builder = Engine::builder(&config.data_dir)
        .durability(config.durability.into())
        .limits(limits)
        .max_batch_events(config.max_batch_events)
        .signing_key(serve_key(&config)?);
    if config.rotate_signing_key {
        builder = builder.rotate_signing_key();
    }
    let keyring = super::store::KeyringSettings {
        file: config.keyring.clone(),
        command: config.keyring_command.clone(),
        kek: config.keyring_kek.clone(),
    };
    if let Some(provider) = super::store::resolve_keyring(config.keyring_flag.as_deref(), &keyring, &config.data_dir)? {
        builder = builder.key_provider(provider).key_cache_ttl(Duration::from_secs(config.key_cache_ttl_secs));
    }
    builder = match (&config.backup_dir, config.no_backup) {
        (_, true) => builder.upgrade_without_backup(),
        (Some(dir), false) => builder.upgrade_backup_dir(dir),
        (None, false) => builder,
    };
    let engine = builder.open().map_err(|e| match e {
        Error::UpgradeNeedsBackup { .. } => {
            anyhow::anyhow!("{e}: start with --backup-dir DIR (a backup is taken there first) or, knowingly, --no-backup")
        }
        e => e.into(),
    })?;
    let state = AppState::new(engine.clone(), config.clone());
    let daemon = retention_daemon(&engine, &state, config.retention_interval_secs)?;
    let backups = match (&state.backups, config.backup_every_secs) {
        (Some(b), secs) if secs > 0 => {
            let metrics = state.metrics.clone();
            Some(BackupDaemon::start(
                engine.clone(),
                b.clone(),
                Duration::from_secs(secs),
                config.backup_keep,
                config.backup_verify,
                move |o: BackupOutcome| log_backup(&metrics, o),
            )?)
        }
        _ => None,
    };
    let checkpoints = match (config.checkpoint_every_rows, config.checkpoint_every_secs) {
        (0, 0) => None,
        (rows, secs) => {
            let policy = CheckpointPolicy {
                every_rows: if rows == 0 { u64::MAX } else { rows },
                every: if secs == 0 { Duration::MAX } else { Duration::from_secs(secs) },
            };
            Some(CheckpointDaemon::start(engine.clone(), policy, |r| match r {
                Ok(cp) => tracing::debug!(tenant = %cp.tenant, seq = cp.seq, "checkpoint"),
                Err((tenant, e)) => tracing::error!(%tenant, cause = %e, "checkpoint failed"),
            })?)
        }
    };
    let write_failed = Arc::new(AtomicBool::new(false));
    let (watched, flag) = (engine.clone(), Arc::clone(&write_failed));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().max_blocking_threads(crate::config::BLOCKING_THREADS).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        // On stdout, one line, so scripts and tests can read the port.
        println!("annal listening on http://{addr}");
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "serving");
        let stop = async move {
            tokio::select! {
                () = crate::serve::signal() => {}
                e = write_failure(&watched) => {
                    tracing::error!(
                        cause = %e,
                        "a write to the store failed: draining, then exiting with status {} so that a supervisor restarts annal \
                         (the store is then recovered from its WAL on disk)",
                        super::EXIT_WRITE_FAILED
                    );
                    flag.store(true, Ordering::SeqCst);
                    // Health checks see `/readyz` answer 503 before the
                    // port closes, and route writes elsewhere first.
                    tokio::time::sleep(WRITE_FAILURE_LINGER).await;
                }
            }
        };
        // The month request counts go to the store every few seconds, so
        // a restart (or a crash, but for the last interval) keeps them.
        let quotas = Arc::clone(&state.quotas);
        let every = Duration::from_secs(config.usage_flush_secs);
        let flusher = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let q = Arc::clone(&quotas);
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || q.flush()).await {
                    tracing::error!(cause = %e, "request counts not saved; retried at the next interval");
                }
            }
        });
        let quotas = Arc::clone(&state.quotas);
        crate::serve::serve(listener, state, stop).await?;
        flusher.abort();
        if let Err(e) = tokio::task::spawn_blocking(move || quotas.flush()).await? {
            tracing::error!(cause = %e, "request counts not saved at shutdown");
        }
        anyhow::Ok(())
    })?;
    if let Some(d) = daemon {
        d.stop();
    }
    if let Some(d) = checkpoints {
        d.stop();
    }
    if let Some(d) = backups {
        d.stop();
    }
    drop(engine);
    // The runtime, the daemons and with them the last engine handle are gone: the writer
    // has committed everything queued and the WAL is synced.
    if write_failed.load(Ordering::SeqCst) {
        tracing::error!(status = super::EXIT_WRITE_FAILED, "stopped after a failed write");
        return Ok(super::EXIT_WRITE_FAILED);
    }
    tracing::info!("stopped");
    Ok(super::EXIT_OK)
}

/// The key `annal serve` signs with ([`super::store::resolve_key`]: flag,
/// environment, config file, default file). The server signs checkpoints
/// on its own schedule and around retention runs, so it does not start
/// without one.
fn serve_key(config: &Config) -> anyhow::Result<KeySource> {
    match super::store::resolve_key(config.signing_key_flag.as_deref(), config.signing_key.as_deref(), &config.data_dir)? {
        KeySource::None => anyhow::bail!(
            "annal serve signs checkpoints and needs a signing key: {}, or set signing_key in the config file",
            super::store::HOW_TO_GIVE_A_KEY
        ),
        source => Ok(source),
    }
}

/// How long `annal serve` keeps answering after a failed write (reads
/// served, writes refused, `/readyz` 503) before it drains and exits.
const WRITE_FAILURE_LINGER: Duration = Duration::from_secs(1);

/// The engine's error once a write to the store has failed (checked ten
/// times a second; `/readyz` sees it at once, from the engine itself).
async fn write_failure(engine: &Engine) -> Error {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if let Some(e) = engine.poisoned() {
            return e;
        }
    }
}

/// Logs a scheduled backup's outcome and records it for `/metrics`.
fn log_backup(metrics: &crate::metrics::Metrics, o: BackupOutcome) {
    metrics.backup.record_backup(o.created.as_ref().map(|c| &c.backup));
    match &o.created {
        Ok(c) => {
            tracing::info!(id = c.backup.id, bytes = c.backup.bytes, files = c.backup.files, "backup made");
            for (tenant, e) in &c.unchecked {
                tracing::error!(%tenant, cause = %e, "chain not checkpointed before the backup");
            }
        }
        Err(e) => tracing::error!(cause = %e, "backup failed"),
    }
    match o.verified {
        Some(Ok(check)) => {
            metrics.backup.record_verify(check.is_good());
            for c in check.chains.iter().filter(|c| c.problem.is_some()) {
                tracing::error!(tenant = %c.tenant, problem = c.problem.as_deref().unwrap_or(""), "backup verification");
            }
            if check.is_good() {
                tracing::info!(id = check.backup.id, chains = check.chains.len(), "backup verified by restore");
            }
        }
        Some(Err(e)) => {
            metrics.backup.record_verify(false);
            tracing::error!(cause = %e, "backup does not restore");
        }
        None => {}
    }
}

/// The retention daemon, every `secs` (none for 0): it purges workspaces
/// whose deletion is due and runs retention, logging each tenant's failure
/// by name, and brings the deletion ledger beside the backups up to date.
fn retention_daemon(engine: &Engine, state: &AppState, secs: u64) -> anyhow::Result<Option<RetentionDaemon>> {
    Ok(match secs {
        0 => None,
        secs => {
            let ledger = state.clone();
            Some(RetentionDaemon::start(
                engine.clone(),
                Duration::from_secs(secs),
                |r| match r {
                    Ok(r) if r.tenants.iter().any(|t| t.error.is_some()) => {
                        // The others went on; each failure is named, by tenant.
                        for t in r.tenants.iter().filter(|t| t.error.is_some()) {
                            let cause = t.error.as_deref().unwrap_or_default();
                            tracing::error!(tenant = %t.tenant, rows = t.rows, cause, "retention run failed for a tenant");
                        }
                        tracing::warn!(
                            rows = r.rows,
                            secs = r.elapsed.as_secs_f64(),
                            stopped = r.stopped,
                            "retention run, with failures"
                        )
                    }
                    Ok(r) if r.rows > 0 || r.stopped => {
                        tracing::info!(rows = r.rows, secs = r.elapsed.as_secs_f64(), stopped = r.stopped, "retention run")
                    }
                    Ok(r) => tracing::debug!(secs = r.elapsed.as_secs_f64(), "retention run: nothing expired"),
                    Err(e) => tracing::error!(cause = %e, "retention run failed"),
                },
                move |purged, failed| {
                    for (tenant, d) in &purged {
                        tracing::info!(%tenant, rows = d.rows_removed, deletion_id = %d.deletion_id, "workspace purged");
                    }
                    for (tenant, e) in failed {
                        tracing::error!(%tenant, cause = %e, "scheduled workspace deletion failed");
                    }
                    if let (false, Some(b)) = (purged.is_empty(), &ledger.backups) {
                        if let Err(e) = b.sync_ledger(&ledger.engine) {
                            tracing::error!(cause = %e, "deletion ledger not updated; the next backup will add the deletion");
                        }
                    }
                },
            )?)
        }
    })
}
