//! Opening the data directory for a command, with the checkpoint signing
//! key from the flag, the environment, the config file or the default key
//! file outside the data directory ([`resolve_key`]).
//!
//! Commands that read or administer a store open an existing one only: the
//! engine refuses a directory without a store ([`Error::NoStore`]) before
//! creating anything, so a mistyped path never becomes an empty store.

use std::path::{Path, PathBuf};

use annal_engine::checkpoint::KEY_FILE;
use annal_engine::{Durability, Engine, Error, KeySource};

/// Environment variable naming a key file.
pub const ENV_KEY_FILE: &str = "ANNAL_SIGNING_KEY_FILE";
/// Environment variable holding the seed itself, 64 hex digits.
pub const ENV_KEY: &str = "ANNAL_SIGNING_KEY";

/// The default key file: `checkpoint-signing.key` in `$XDG_CONFIG_HOME/annal`
/// (else `~/.config/annal`), outside any data directory. Used when it
/// exists and nothing else names a key; annal never creates it unasked
/// (`annal checkpoint init-key`).
pub fn default_key_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("annal").join(KEY_FILE))
}

/// Where the signing key comes from, in one order for every command:
/// the `--signing-key` flag, else `ANNAL_SIGNING_KEY_FILE`, else
/// `ANNAL_SIGNING_KEY` (the hex seed), else `configured` (a config file's
/// `signing_key`: only `annal serve` reads one), else [`default_key_file`]
/// if it exists, else no key ([`KeySource::None`]: the command can read
/// and verify, not sign).
///
/// A key file left in the data directory by an older annal is refused,
/// naming the way out: there every copy and backup of the store holds it.
pub fn resolve_key(flag: Option<&Path>, configured: Option<&Path>, data_dir: &Path) -> anyhow::Result<KeySource> {
    if let Some(f) = flag {
        return Ok(KeySource::File(f.to_path_buf()));
    }
    if let Some(f) = std::env::var_os(ENV_KEY_FILE).filter(|f| !f.is_empty()) {
        return Ok(KeySource::File(PathBuf::from(f)));
    }
    if let Ok(seed) = std::env::var(ENV_KEY) {
        if !seed.is_empty() {
            return KeySource::seed_from_hex(&seed).map_err(|e| anyhow::anyhow!("{ENV_KEY}: {e}"));
        }
    }
    if let Some(f) = configured {
        return Ok(KeySource::File(f.to_path_buf()));
    }
    let inside = data_dir.join(KEY_FILE);
    if inside.exists() {
        anyhow::bail!(
            "{} holds a checkpoint signing key inside the data directory, where every copy and backup of the store \
             would hold it too; move it out (e.g. to {}) and name it with --signing-key or {ENV_KEY_FILE} \
             (docs/OPERATIONS.md, \"The signing key\")",
            inside.display(),
            default_key_file().map_or_else(|| "/etc/annal/".to_string(), |p| p.display().to_string())
        );
    }
    Ok(match default_key_file() {
        Some(f) if f.exists() => KeySource::File(f),
        _ => KeySource::None,
    })
}

/// [`resolve_key`] for a command without a config file.
pub fn key_source(flag: Option<&Path>, data_dir: &Path) -> anyhow::Result<KeySource> {
    resolve_key(flag, None, data_dir)
}

/// How to give a command a key, for the messages of commands that need one.
pub const HOW_TO_GIVE_A_KEY: &str = "create one with `annal checkpoint init-key PATH` (outside the data directory) \
     and name it with --signing-key PATH or ANNAL_SIGNING_KEY_FILE (docs/OPERATIONS.md, \"The signing key\")";

/// Opens the store in `dir`, which must exist, signing checkpoints with the
/// key in `signing_key` (or where [`key_source`] finds one).
pub fn open_existing(dir: &Path, signing_key: Option<&Path>) -> anyhow::Result<Engine> {
    match Engine::builder(dir).create_if_missing(false).signing_key(key_source(signing_key, dir)?).open() {
        Ok(engine) => Ok(engine),
        Err(e @ Error::NoStore(_)) => anyhow::bail!("{e} (create one with `annal ingest`)"),
        Err(e) => Err(e.into()),
    }
}

/// Opens the store in `dir` for writing, creating it if there is none.
pub fn open_for_write(dir: &Path, durability: Durability) -> anyhow::Result<Engine> {
    Ok(Engine::builder(dir).durability(durability).signing_key(key_source(None, dir)?).open()?)
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
