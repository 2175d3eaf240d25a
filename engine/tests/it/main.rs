//! Engine integration tests, built as one test binary. Every test runs the
//! real engine on a RocksDB store in a temporary directory.

mod append;
mod backup;
mod bundle;
mod checkpoint;
mod crash;
mod encryption;
mod erasure;
mod golden;
mod keyring;
mod kill;
mod layers;
mod lifecycle;
mod query;
mod redaction;
mod retention;
mod summary;
mod tamper;
mod tamper_matrix;
mod upgrade;

use std::sync::Arc;

use annal_engine::{ActorType, Engine, Event, ManualClock};
use tempfile::TempDir;

/// 2026-01-01T00:00:00Z in ns.
pub const T0: u64 = 1_767_225_600_000_000_000;

/// The checkpoint signing key of the tests' stores (annal never makes one
/// up; a store opened without one signs nothing).
pub const KEY: annal_engine::KeySource = annal_engine::KeySource::Seed([0x5e; 32]);

/// A fresh store with a manual clock at [`T0`].
pub fn store() -> (TempDir, Engine, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(dir.path()).clock(clock.clone()).signing_key(KEY).open().unwrap();
    (dir, engine, clock)
}

/// A small valid event, distinct per `i`.
pub fn event(i: u64) -> Event {
    let mut e = Event::new("iam.role.grant", ActorType::User, format!("u_{}", i % 7));
    e.metadata = Some(serde_json::json!({ "n": i }).as_object().unwrap().clone());
    e
}

/// The first `n` events of the seeded corpus for `tenant`, as engine events.
pub fn corpus_events(tenant: &str, n: usize) -> Vec<Event> {
    annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, tenant, n)
        .into_iter()
        .map(|v| Event::from_json_value(v).unwrap())
        .collect()
}

pub use annal_testdata::files_under;

/// Every file under `dir` holding `needle`: what the tests that promise
/// some bytes left the store search with.
pub fn files_with(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|p| std::fs::read(p).unwrap().windows(needle.len()).any(|w| w == needle))
        .map(|p| p.display().to_string())
        .collect()
}
