//! Opening the data directory for a command, with the checkpoint signing
//! key from the flag, the environment, the config file or the default key
//! file outside the data directory ([`resolve_key`]).
//!
//! Commands that read or administer a store open an existing one only: the
//! engine refuses a directory without a store ([`Error::NoStore`]) before
//! creating anything, so a mistyped path never becomes an empty store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_engine::checkpoint::KEY_FILE;
use annal_engine::keyring::{KeyCommand, KeyProvider, KeyringFile};
use annal_engine::{Durability, Engine, EngineBuilder, Error, KeySource};

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

/// Environment variable naming the keyring file (also `--keyring`).
pub const ENV_KEYRING: &str = "ANNAL_KEYRING";
/// Environment variable holding an external key command: a program and its
/// arguments, separated by spaces (no quoting; put anything more in a
/// script).
pub const ENV_KEYRING_COMMAND: &str = "ANNAL_KEYRING_COMMAND";
/// Environment variable naming the KEK an external key command wraps new
/// data keys under.
pub const ENV_KEYRING_KEK: &str = "ANNAL_KEYRING_KEK";

/// Where the key-encryption keys are, as a config file says (only `annal
/// serve` reads one): a keyring file, or an external command with the KEK
/// it wraps new keys under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyringSettings {
    /// A keyring file.
    pub file: Option<PathBuf>,
    /// An external key command: program and arguments.
    pub command: Option<Vec<String>>,
    /// The KEK the command wraps new keys under.
    pub kek: Option<String>,
}

/// The key provider, in one order for every command: the `--keyring`
/// flag, else `ANNAL_KEYRING`, else `configured` (a config file's
/// `keyring`, or its `keyring_command` with `keyring_kek`),
/// else `ANNAL_KEYRING_COMMAND` with `ANNAL_KEYRING_KEK`, else none (the
/// store's encrypted tenants cannot be read, and no new tenant is
/// encrypted). A keyring file inside the data directory is refused: every
/// copy and backup of the store would carry the keys that open it.
pub fn resolve_keyring(
    flag: Option<&Path>,
    configured: &KeyringSettings,
    data_dir: &Path,
) -> anyhow::Result<Option<Arc<dyn KeyProvider>>> {
    let env_command = std::env::var(ENV_KEYRING_COMMAND).ok().filter(|c| !c.trim().is_empty());
    let command = configured.command.clone().or_else(|| env_command.map(|c| c.split_whitespace().map(String::from).collect()));
    let env_file = std::env::var_os(ENV_KEYRING).filter(|f| !f.is_empty()).map(PathBuf::from);
    let file = flag.map(Path::to_path_buf).or(env_file).or_else(|| configured.file.clone());
    if let Some(file) = file {
        if let (Ok(f), Ok(d)) = (std::fs::canonicalize(&file), std::fs::canonicalize(data_dir)) {
            if f.starts_with(&d) {
                anyhow::bail!(
                    "the keyring {} is inside the data directory {}, where every copy and backup of the store would \
                     carry the keys that open it; move it out",
                    file.display(),
                    data_dir.display()
                );
            }
        }
        return Ok(Some(Arc::new(KeyringFile::open(&file)?)));
    }
    let Some(argv) = command else { return Ok(None) };
    let kek = configured.kek.clone().or_else(|| std::env::var(ENV_KEYRING_KEK).ok()).ok_or_else(|| {
        anyhow::anyhow!("an external key command needs the KEK it wraps new keys under: keyring_kek or {ENV_KEYRING_KEK}")
    })?;
    Ok(Some(Arc::new(KeyCommand::new(argv, &kek)?)))
}

/// `builder` with the key provider [`resolve_keyring`] finds for a command
/// without a config file.
pub fn with_keyring(builder: EngineBuilder, flag: Option<&Path>, data_dir: &Path) -> anyhow::Result<EngineBuilder> {
    Ok(match resolve_keyring(flag, &KeyringSettings::default(), data_dir)? {
        Some(p) => builder.key_provider(p),
        None => builder,
    })
}

/// How to give a command a key, for the messages of commands that need one.
pub const HOW_TO_GIVE_A_KEY: &str = "create one with `annal checkpoint init-key PATH` (outside the data directory) \
     and name it with --signing-key PATH or ANNAL_SIGNING_KEY_FILE (docs/OPERATIONS.md, \"The signing key\")";

/// Opens the store `store` names, which must exist, signing checkpoints
/// with the key in `signing_key` (or where [`key_source`] finds one).
pub fn open_existing(store: &StoreDir, signing_key: Option<&Path>) -> anyhow::Result<Engine> {
    let dir = &store.data_dir;
    let builder = Engine::builder(dir).create_if_missing(false).signing_key(key_source(signing_key, dir)?);
    match with_keyring(builder, store.keyring.as_deref(), dir)?.open() {
        Ok(engine) => Ok(engine),
        Err(e @ Error::NoStore(_)) => anyhow::bail!("{e} (create one with `annal ingest`)"),
        Err(e) => Err(e.into()),
    }
}

/// Opens the store in `dir` for writing, creating it if there is none.
pub fn open_for_write(dir: &Path, keyring: Option<&Path>, durability: Durability) -> anyhow::Result<Engine> {
    let builder = Engine::builder(dir).durability(durability).signing_key(key_source(None, dir)?);
    Ok(with_keyring(builder, keyring, dir)?.open()?)
}

/// `--data-dir` of a command that needs a store to be there already.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreDir {
    /// Data directory (must hold a store).
    #[arg(long, env = "ANNAL_DATA_DIR", default_value = "./annal-data")]
    pub data_dir: PathBuf,
    /// The keyring file of the store's encrypted tenants (outside the data
    /// directory); else ANNAL_KEYRING_COMMAND with ANNAL_KEYRING_KEK (an
    /// external key command) [default: none].
    #[arg(long, env = "ANNAL_KEYRING", value_name = "FILE")]
    pub keyring: Option<PathBuf>,
}

impl StoreDir {
    /// Opens the store, which must exist.
    pub fn open(&self) -> anyhow::Result<Engine> {
        open_existing(self, None)
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
    /// The keyring file: new tenants are encrypted under its current KEK
    /// (outside the data directory); else ANNAL_KEYRING_COMMAND with
    /// ANNAL_KEYRING_KEK (an external key command) [default: none, nothing
    /// encrypted].
    #[arg(long, env = "ANNAL_KEYRING", value_name = "FILE")]
    pub keyring: Option<PathBuf>,
}

impl NewStoreDir {
    /// Opens (or creates) the store to write to `tenant`, whose id is
    /// checked first: a typo in it never leaves an empty store behind.
    pub fn open_for(&self, tenant: &str, durability: Durability) -> anyhow::Result<Engine> {
        annal_engine::validate_tenant(tenant)?;
        open_for_write(&self.data_dir, self.keyring.as_deref(), durability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_a_store_is_named_and_left_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("typo");
        let store = StoreDir { data_dir: missing.clone(), keyring: None };
        let e = open_existing(&store, None).unwrap_err().to_string();
        assert_eq!(e, format!("no annal store in {} (create one with `annal ingest`)", missing.display()));
        assert!(!missing.exists(), "nothing was created");
        drop(open_for_write(&missing, None, Durability::Sync).unwrap());
        open_existing(&store, None).unwrap();
    }
}
