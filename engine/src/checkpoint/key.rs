//! The checkpoint signing key: where it comes from, how it is stored.
//!
//! The key file holds the 32-byte Ed25519 seed as 64 lower-case hex digits
//! and a newline. annal creates it with mode 0600 (owner only) and refuses
//! to use one that others may read: whoever reads it can sign checkpoints,
//! which is the one thing the whole scheme rests on nobody else doing.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer as _, SigningKey};

use crate::error::{Error, Result};
use crate::format::chain::Hash;
pub use crate::format::checkpoint::{from_hex, hex, key_id, verify_signature, KEY_ID_DOMAIN};
use crate::format::checkpoint::{message, Checkpoint};

/// The key file's name where annal's command line looks for it by default:
/// `$XDG_CONFIG_HOME/annal/` (or `~/.config/annal/`), never the data
/// directory (docs/OPERATIONS.md, "The signing key").
pub const KEY_FILE: &str = "checkpoint-signing.key";

/// Where the signing key comes from. annal never makes one up: a key is
/// created only on purpose ([`init_key_file`], `annal checkpoint
/// init-key`), and never inside the data directory, whose every copy and
/// backup would then hold it.
#[derive(Clone, Default)]
pub enum KeySource {
    /// No key: the engine reads, appends, verifies and checks checkpoints,
    /// but signs none. Making a checkpoint, and so a retention run that
    /// deletes or a backup's checkpoints, fails with
    /// [`Error::NoSigningKey`].
    #[default]
    None,
    /// A key file at this path (never generated: a missing file is an error).
    File(PathBuf),
    /// The seed itself (e.g. from the `ANNAL_SIGNING_KEY` environment variable).
    Seed([u8; 32]),
}

impl std::fmt::Debug for KeySource {
    // Never prints a seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::None => f.write_str("None"),
            KeySource::File(p) => f.debug_tuple("File").field(p).finish(),
            KeySource::Seed(_) => f.write_str("Seed(..)"),
        }
    }
}

impl KeySource {
    /// Parses a seed given as 64 hex digits (surrounding white space ignored).
    pub fn seed_from_hex(text: &str) -> Result<KeySource> {
        parse_seed(text).map(KeySource::Seed).ok_or_else(|| key_error("must be 64 hex digits (a 32-byte Ed25519 seed)"))
    }
}

fn key_error(message: &str) -> Error {
    Error::InvalidOption { option: "signing_key", message: message.into() }
}

fn parse_seed(text: &str) -> Option<[u8; 32]> {
    Hash::from_hex(text.trim()).map(|h| h.0)
}

/// An Ed25519 signing key with its public half and id.
pub struct SigningKeyPair {
    key: SigningKey,
}

impl std::fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyPair").field("key_id", &hex(&self.key_id())).finish_non_exhaustive()
    }
}

impl Checkpoint {
    /// Signs a checkpoint with `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        key: &SigningKeyPair,
        tenant: &str,
        seq: u64,
        head: Hash,
        recorded_at: u64,
        prev_seq: u64,
        prev_head: Hash,
        made_at: u64,
    ) -> Checkpoint {
        let key_id = key.key_id();
        let signature = key.sign(&message(tenant, seq, &head, recorded_at, prev_seq, &prev_head, &key_id));
        Checkpoint {
            tenant: tenant.to_string(),
            seq,
            head,
            recorded_at,
            prev_seq,
            prev_head,
            key_id,
            public_key: key.public_key(),
            signature,
            made_at,
        }
    }
}

impl SigningKeyPair {
    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKeyPair {
        SigningKeyPair { key: SigningKey::from_bytes(seed) }
    }

    /// Loads the key `source` names; `None` for [`KeySource::None`].
    pub fn load(source: &KeySource) -> Result<Option<SigningKeyPair>> {
        match source {
            KeySource::None => Ok(None),
            KeySource::Seed(s) => Ok(Some(SigningKeyPair::from_seed(s))),
            KeySource::File(p) => read_key_file(p).map(Some),
        }
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key's id ([`key_id`]).
    pub fn key_id(&self) -> [u8; 8] {
        key_id(&self.public_key())
    }

    /// Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

fn read_key_file(path: &Path) -> Result<SigningKeyPair> {
    let shown = path.display();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| key_error(&format!("cannot read {shown}: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(key_error(&format!(
                "{shown} may be read by others (mode {:o}); make it 0600",
                meta.permissions().mode() & 0o777
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| key_error(&format!("cannot read {shown}: {e}")))?;
    let seed =
        parse_seed(&text).ok_or_else(|| key_error(&format!("{shown} must hold 64 hex digits (a 32-byte Ed25519 seed)")))?;
    Ok(SigningKeyPair::from_seed(&seed))
}

/// Creates a new signing key in a new file at `path` (mode 0600; its
/// directory is created if missing) and returns it. Refuses a path where a
/// file exists: a key replaced by mistake would leave every checkpoint it
/// signed unverifiable against the key that is then published.
pub fn init_key_file(path: &Path) -> Result<SigningKeyPair> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    // Written under a temporary name and linked into place: a crash leaves
    // either no key file or a whole one, and a file already there is never
    // replaced (the link fails).
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp)?;
    f.write_all(format!("{}\n", Hash(seed).to_hex()).as_bytes())?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(SigningKeyPair::from_seed(&seed)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(key_error(&format!("{} exists; annal never replaces a signing key", path.display())))
        }
        Err(e) => Err(e.into()),
    }
}
