//! The subcommands of `annal`, one module each.
//!
//! Each command writes its results to the given writers (stdout, stderr in
//! the binary) and returns an [`ExitCode`]-like number, so tests can run a
//! command in-process and look at what it printed.

pub mod admin;
pub mod bundle;
pub mod checkpoint;
pub mod ingest;
pub mod progress;
pub mod query;
pub mod retention;
pub mod serve;
pub mod verify;

use std::path::Path;

use annal_engine::{Durability, Engine};

/// Exit status: everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command could not run (bad arguments, an invalid query
/// or cursor, I/O, storage).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: `verify` found a broken chain.
pub const EXIT_BROKEN: u8 = 2;
/// Exit status: `ingest` rejected some lines (the valid ones were appended).
pub const EXIT_REJECTS: u8 = 3;

/// Opens an existing store: commands that only read must not create one by
/// mistake in a mistyped directory.
pub fn open_existing(dir: &Path) -> anyhow::Result<Engine> {
    if !dir.join("CURRENT").exists() {
        anyhow::bail!("no annal store in {} (create one with `annal ingest`)", dir.display());
    }
    Ok(Engine::builder(dir).signing_key(checkpoint::key_source(None)?).open()?)
}

/// Opens or creates a store for writing.
pub fn open_for_write(dir: &Path, durability: Durability) -> anyhow::Result<Engine> {
    Ok(Engine::builder(dir).durability(durability).signing_key(checkpoint::key_source(None)?).open()?)
}
