//! What every handler shares: the engine, the limits, the metrics, the
//! quotas and the admission of long requests.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use annal_engine::clock::{Clock, SystemClock};
use annal_engine::{Backups, Engine};

use crate::admission::{Admission, BodyBudget};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::quota::Quotas;
use crate::rate_limit::RateLimiter;

/// Shared state of the router; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub engine: Engine,
    /// The configuration the server runs with.
    pub config: Arc<Config>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Per-key and per-tenant rates and minute and month quotas.
    pub quotas: Arc<Quotas>,
    /// Failed authentications per client address.
    pub auth_failures: Arc<RateLimiter>,
    /// Bounds on exports and verifications running at once.
    pub admission: Arc<Admission>,
    /// The bytes of request bodies that may be held at once, overall and
    /// per tenant.
    pub body_budget: Arc<BodyBudget>,
    /// The pace each tenant's request bodies are read at
    /// (`tenant_body_bytes_per_sec`, a burst of `max_body_bytes`).
    pub body_pace: Arc<RateLimiter>,
    /// The backup directory, when the server has one (`backup_dir`).
    pub backups: Option<Backups>,
    /// Set when shutdown begins: `/readyz` then answers 503 so a load
    /// balancer stops sending requests.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    /// State over an open engine.
    pub fn new(engine: Engine, config: Config) -> AppState {
        AppState::with_clock(engine, config, Arc::new(SystemClock))
    }

    /// State whose quota windows (UTC minutes and months) follow `clock`.
    pub fn with_clock(engine: Engine, config: Config, clock: Arc<dyn Clock>) -> AppState {
        AppState {
            quotas: Arc::new(Quotas::new(engine.clone(), &config, clock)),
            engine,
            backups: config.backup_dir.as_ref().map(Backups::new),
            auth_failures: Arc::new(RateLimiter::new(
                f64::from(config.auth_failures_per_minute) / 60.0,
                f64::from(config.auth_failures_per_minute.max(1)),
            )),
            admission: Arc::new(Admission::new(&config)),
            body_budget: Arc::new(BodyBudget::new(&config)),
            body_pace: Arc::new(RateLimiter::new(config.tenant_body_bytes_per_sec as f64, config.max_body_bytes as f64)),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }
}
