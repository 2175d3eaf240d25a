//! The engine's clock, injectable so tests can cover years in seconds.
//!
//! `recorded_at` comes from here, never from the client: it is what retention
//! ages rows by and what the time index orders them by. The engine also makes
//! it non-decreasing within a tenant, whatever the clock does (NTP steps back).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of nanoseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        // A clock before 1970 reads as 0; the engine keeps time non-decreasing anyway.
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `ns`.
    pub fn new(ns: u64) -> ManualClock {
        ManualClock { now: AtomicU64::new(ns) }
    }

    /// Sets the time.
    pub fn set(&self, ns: u64) {
        self.now.store(ns, Ordering::SeqCst);
    }

    /// Moves the time forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.now.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
