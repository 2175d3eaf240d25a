//! Opening the data directory for a command, with the checkpoint signing
//! key from the flag, the environment or the directory itself.
//!
//! Commands that read or administer a store open an existing one only: the
//! engine refuses a directory without a store ([`Error::NoStore`]) before
//! creating anything, so a mistyped path never becomes an empty store.

use std::path::{Path, PathBuf};

use annal_engine::{Durability, Engine, Error, KeySource};

/// Environment variable naming a key file.
pub const ENV_KEY_FILE: &str = "ANNAL_SIGNING_KEY_FILE";
/// Environment variable holding the seed itself, 64 hex digits.
pub const ENV_KEY: &str = "ANNAL_SIGNING_KEY";

/// Where the signing key comes from: `file` if given, else
/// `ANNAL_SIGNING_KEY_FILE`, else `ANNAL_SIGNING_KEY`, else the data directory.
pub fn key_source(file: Option<&Path>) -> anyhow::Result<KeySource> {
    if let Some(f) = file {
        return Ok(KeySource::File(f.to_path_buf()));
    }
    if let Some(f) = std::env::var_os(ENV_KEY_FILE).filter(|f| !f.is_empty()) {
        return Ok(KeySource::File(PathBuf::from(f)));
    }
    match std::env::var(ENV_KEY) {
        Ok(seed) if !seed.is_empty() => Ok(KeySource::seed_from_hex(&seed).map_err(|e| anyhow::anyhow!("{ENV_KEY}: {e}"))?),
        _ => Ok(KeySource::DataDir),
    }
}

/// Opens the store in `dir`, which must exist, signing checkpoints with the
/// key in `signing_key` (or where [`key_source`] finds one).
pub fn open_existing(dir: &Path, signing_key: Option<&Path>) -> anyhow::Result<Engine> {
    match Engine::builder(dir).create_if_missing(false).signing_key(key_source(signing_key)?).open() {
        Ok(engine) => Ok(engine),
        Err(e @ Error::NoStore(_)) => anyhow::bail!("{e} (create one with `annal ingest`)"),
        Err(e) => Err(e.into()),
    }
}

/// Opens the store in `dir` for writing, creating it if there is none.
pub fn open_for_write(dir: &Path, durability: Durability) -> anyhow::Result<Engine> {
    Ok(Engine::builder(dir).durability(durability).signing_key(key_source(None)?).open()?)
}

/// `--data-dir` of a command that needs a store to be there already.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreDir {
    /// Data directory (must hold a store).
    #[arg(long, env = "ANNAL_DATA_DIR", default_value = "./annal-data")]
    pub data_dir: PathBuf,
}

impl StoreDir {
    /// Opens the store, which must exist.
    pub fn open(&self) -> anyhow::Result<Engine> {
        open_existing(&self.data_dir, None)
    }

    /// Opens the store to work on `tenant`, whose id is checked first: a
    /// malformed one gets its own message, not the store's.
    pub fn open_for(&self, tenant: &str) -> anyhow::Result<Engine> {
        annal_engine::validate_tenant(tenant)?;
        self.open()
    }
}

/// `--data-dir` of a command that creates the store when there is none.
#[derive(clap::Args, Debug, Clone)]
pub struct NewStoreDir {
    /// Data directory (created if missing).
    #[arg(long, env = "ANNAL_DATA_DIR", default_value = "./annal-data")]
    pub data_dir: PathBuf,
}

impl NewStoreDir {
    /// Opens (or creates) the store to write to `tenant`, whose id is
    /// checked first: a typo in it never leaves an empty store behind.
    pub fn open_for(&self, tenant: &str, durability: Durability) -> anyhow::Result<Engine> {
        annal_engine::validate_tenant(tenant)?;
        open_for_write(&self.data_dir, durability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_a_store_is_named_and_left_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("typo");
        let e = open_existing(&missing, None).unwrap_err().to_string();
        assert_eq!(e, format!("no annal store in {} (create one with `annal ingest`)", missing.display()));
        assert!(!missing.exists(), "nothing was created");
        drop(open_for_write(&missing, Durability::Sync).unwrap());
        open_existing(&missing, None).unwrap();
    }
}
