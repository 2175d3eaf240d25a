//! `annal keyring init|list|add|rewrap|destroy`: the keyring file of
//! key-encryption keys (docs/OPERATIONS.md, "Encryption keys").
//!
//! The keyring lives outside every data directory: a copy or a backup of a
//! store must not carry the keys that open it. Nothing makes a keyring
//! implicitly; `init` is the one way, and it refuses a path where a file
//! exists.

use std::io::Write;
use std::path::{Path, PathBuf};

use annal_engine::keyring::KeyringFile;
use annal_engine::{Clock, SystemClock};

use super::EXIT_OK;

/// `annal keyring …`
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a new keyring file PATH (mode 0600) holding one new KEK, and
    /// print its id; refuses a PATH that exists. Keep it outside every data
    /// directory and its backups.
    Init {
        /// Where the keyring is written (its directory is created).
        path: PathBuf,
    },
    /// Print the keyring's KEKs, oldest first, one JSON object per line
    /// (id, created_at, destroyed_at, current); never their material.
    List(KeyringArgs),
    /// Add a new KEK, which becomes the current one (new data keys are
    /// wrapped under it); print its id.
    Add(KeyringArgs),
    /// Re-wrap every data key of the store's encrypted tenants (or of one)
    /// under its KEK: the tenant's own, else the keyring's current one. Run
    /// after `add`, before destroying the old KEK; no row changes. Prints
    /// one JSON line a tenant.
    Rewrap {
        /// The store and its keyring (--keyring or ANNAL_KEYRING).
        #[command(flatten)]
        store: super::store::StoreDir,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Destroy a KEK for good: everything wrapped under it, in every copy
    /// and backup, becomes unreadable.
    Destroy {
        /// The keyring.
        #[command(flatten)]
        keyring: KeyringArgs,
        /// The KEK's id.
        id: String,
        /// The same id again: destruction cannot be undone.
        #[arg(long, value_name = "ID")]
        confirm: String,
    },
}

/// Which keyring file a command works on.
#[derive(clap::Args, Debug)]
pub struct KeyringArgs {
    /// The keyring file.
    #[arg(long, env = "ANNAL_KEYRING", value_name = "FILE")]
    pub keyring: PathBuf,
}

/// Runs an `annal keyring` subcommand.
pub fn run(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let now = SystemClock.now_ns();
    match command {
        Command::Init { path } => {
            refuse_inside_a_store(&path)?;
            let (_, id) = KeyringFile::init(&path, now)?;
            writeln!(out, "{id}")?;
            writeln!(
                err,
                "keyring written to {} with KEK {id}; keep it outside every data directory and its backups, and back it \
                 up apart from them: without it, what is encrypted under its keys cannot be read",
                path.display()
            )?;
        }
        Command::List(k) => {
            for key in KeyringFile::open(&k.keyring)?.keys()? {
                writeln!(out, "{}", serde_json::to_string(&key)?)?;
            }
        }
        Command::Add(k) => {
            let id = KeyringFile::open(&k.keyring)?.add_key(now)?;
            writeln!(out, "{id}")?;
        }
        Command::Rewrap { store, tenant } => {
            if let Some(t) = &tenant {
                annal_engine::validate_tenant(t)?;
            }
            let engine = store.open()?;
            let done = engine.rewrap_keys(tenant.as_deref())?;
            for (t, n) in &done {
                writeln!(out, "{}", serde_json::json!({"tenant": t, "data_keys_rewrapped": n}))?;
            }
            writeln!(err, "{} tenants' data keys re-wrapped", done.len())?;
        }
        Command::Destroy { keyring, id, confirm } => {
            if confirm != id {
                anyhow::bail!("--confirm must repeat the KEK's id ({id}): destroying a KEK cannot be undone");
            }
            KeyringFile::open(&keyring.keyring)?.destroy_key(&id, now)?;
            writeln!(err, "KEK {id} destroyed: what was wrapped under it can no longer be read")?;
        }
    }
    Ok(EXIT_OK)
}

/// A keyring inside a data directory would be copied with it into every
/// backup: refused, like a signing key there.
fn refuse_inside_a_store(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for d in dir.ancestors() {
        if d.join("CURRENT").is_file() {
            anyhow::bail!(
                "{} is inside the data directory {}: every copy and backup of the store would carry the keys that open \
                 it; put the keyring elsewhere",
                path.display(),
                d.display()
            );
        }
    }
    Ok(())
}
