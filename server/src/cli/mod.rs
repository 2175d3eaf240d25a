//! The subcommands of `annal`, one module each.
//!
//! Each command writes its results to the given writers (stdout, stderr in
//! the binary) and returns an [`ExitCode`]-like number, so tests can run a
//! command in-process and look at what it printed.

pub mod admin;
pub mod backup;
pub mod bundle;
pub mod checkpoint;
pub mod ingest;
pub mod keyring;
pub mod progress;
pub mod query;
pub mod retention;
pub mod serve;
pub mod store;
pub mod verify;

use annal_engine::Engine;

/// Exit status: everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command could not run (bad arguments, an invalid query
/// or cursor, I/O, storage).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: `verify` found a broken chain.
pub const EXIT_BROKEN: u8 = 2;
/// Exit status: `ingest` rejected some lines (the valid ones were appended).
pub const EXIT_REJECTS: u8 = 3;
/// Exit status of `annal serve` after a write to the store failed (a full
/// disk, an I/O error): it drained and stopped so that a supervisor starts
/// it again, and the store is recovered from the WAL on disk (sysexits'
/// EX_TEMPFAIL; docs/OPERATIONS.md, "When a write fails").
pub const EXIT_WRITE_FAILED: u8 = 75;

/// The tenant a command was given, or every tenant of the store.
pub fn tenant_or_every(engine: &Engine, tenant: Option<&str>) -> Vec<String> {
    match tenant {
        Some(t) => vec![t.to_string()],
        None => engine.tenants(),
    }
}
