//! `annal serve`: opens the store, starts the retention daemon and runs the
//! HTTP server until SIGTERM or SIGINT, then drains, stops the daemon (a run
//! in progress stops after its current batch, which is recorded) and closes
//! the engine (which syncs the WAL).

use std::time::Duration;

use annal_engine::{CheckpointDaemon, CheckpointPolicy};
use annal_engine::{Engine, Limits, RetentionDaemon};

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
    let engine = Engine::builder(&config.data_dir)
        .durability(config.durability.into())
        .limits(limits)
        .max_batch_events(config.max_batch_events)
        .signing_key(super::store::key_source(config.signing_key.as_deref())?)
        .open()?;
    let daemon = match config.retention_interval_secs {
        0 => None,
        secs => Some(RetentionDaemon::start(engine.clone(), Duration::from_secs(secs), |r| match r {
            Ok(r) if r.rows > 0 || r.stopped => {
                tracing::info!(rows = r.rows, secs = r.elapsed.as_secs_f64(), stopped = r.stopped, "retention run")
            }
            Ok(r) => tracing::debug!(secs = r.elapsed.as_secs_f64(), "retention run: nothing expired"),
            Err(e) => tracing::error!(cause = %e, "retention run failed"),
        })?),
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
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        // On stdout, one line, so scripts and tests can read the port.
        println!("annal listening on http://{addr}");
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "serving");
        let state = AppState::new(engine, config);
        crate::serve::serve(listener, state, crate::serve::signal()).await?;
        anyhow::Ok(())
    })?;
    if let Some(d) = daemon {
        d.stop();
    }
    if let Some(d) = checkpoints {
        d.stop();
    }
    // The runtime, the daemon and with them the last engine handle are gone: the writer
    // has committed everything queued and the WAL is synced.
    tracing::info!("stopped");
    Ok(super::EXIT_OK)
}
