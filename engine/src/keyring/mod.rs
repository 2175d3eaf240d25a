//! Key-encryption keys (KEKs): the seam between annal and whatever holds
//! them (docs/SECURITY.md, "Keys").
//!
//! annal stores what it encrypts under **data keys**, and stores each data
//! key only wrapped under a KEK. The KEK itself never enters the store or
//! its backups: a [`KeyProvider`] holds it and does the wrapping. So a
//! copied data directory or a backup opens only where the provider answers,
//! and destroying a KEK (or refusing to unwrap under it) makes everything
//! under it unreadable at once, every copy included: crypto-shredding.
//!
//! Two providers come with annal:
//! - [`KeyringFile`]: a file of KEKs outside the data directory (mode
//!   0600), created on purpose by `annal keyring init`. The embedded
//!   default.
//! - [`KeyCommand`]: a program the operator names, run once a wrap or
//!   unwrap, in the style of git's credential helpers. This is how annal
//!   reaches a cloud KMS or Vault's transit engine without linking their
//!   SDKs (docs/OPERATIONS.md, "Encryption keys", has a worked example).
//!
//! A library user may bring a third by implementing the trait.
//!
//! **Layer.** Beside the storage seam: it does I/O (a file, a process) but
//! knows nothing of the store; the core above asks it to wrap and unwrap.

mod command;
mod file;

pub use command::KeyCommand;
pub use file::{KekInfo, KeyringFile, KEYRING_FORMAT};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::format::cipher::{data_key_from_payload, data_key_payload, SecretKey, WrappedKey, KEY_LEN, NONCE_LEN};

/// Whatever holds the KEKs: wraps and unwraps a data key's payload
/// (`format::cipher::data_key_payload`) under a KEK it names.
///
/// Implementations must be safe to call from several threads at once, and
/// must fail rather than answer with bytes they did not make: annal checks
/// what comes back (the payload names its context) but cannot tell a
/// provider's mistake from an attack.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// The KEK new data keys are wrapped under now.
    fn current_kek(&self) -> Result<String>;
    /// `payload` encrypted under the KEK `kek`.
    fn wrap(&self, kek: &str, payload: &[u8]) -> Result<Vec<u8>>;
    /// The payload that [`KeyProvider::wrap`] wrapped into `wrapped` under
    /// `kek`; an error when the KEK is unknown, destroyed or refuses.
    fn unwrap(&self, kek: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// A new random data key from the OS's random source.
pub fn new_data_key() -> Result<SecretKey> {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(&mut k[..])?;
    Ok(SecretKey::from_bytes(*k))
}

/// A fresh nonce from the OS's random source: 96 random bits a message
/// (docs/SECURITY.md, "Nonces").
pub fn random_nonce() -> Result<[u8; NONCE_LEN]> {
    let mut n = [0u8; NONCE_LEN];
    fill_random(&mut n)?;
    Ok(n)
}

/// Fills `buf` from the OS's random source.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Io(std::io::Error::other(format!("the OS random source failed: {e}"))))
}

/// `key` wrapped under `provider`'s current KEK for `context` (which
/// tenant, which of its keys: the unwrap checks it), made at `now` ns.
pub fn wrap_data_key(provider: &dyn KeyProvider, context: &[u8], key: &SecretKey, now: u64) -> Result<WrappedKey> {
    wrap_data_key_under(provider, &provider.current_kek()?, context, key, now)
}

/// [`wrap_data_key`] under the KEK `kek` (a tenant's own, say).
pub fn wrap_data_key_under(
    provider: &dyn KeyProvider,
    kek: &str,
    context: &[u8],
    key: &SecretKey,
    now: u64,
) -> Result<WrappedKey> {
    let wrapped = provider.wrap(kek, &data_key_payload(context, key))?;
    Ok(WrappedKey { kek: kek.to_string(), created_at: now, wrapped })
}

/// The data key in `entry`, unwrapped by `provider` and checked to have
/// been wrapped for `context`.
pub fn unwrap_data_key(provider: &dyn KeyProvider, context: &[u8], entry: &WrappedKey) -> Result<SecretKey> {
    let payload = provider.unwrap(&entry.kek, &entry.wrapped)?;
    data_key_from_payload(context, &payload).ok_or_else(|| {
        Error::Keyring(format!(
            "the key unwrapped under KEK {} was not wrapped for this place (another tenant's or slot's key, or not a data key)",
            entry.kek
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_and_nonces_differ_every_time() {
        let a = new_data_key().unwrap();
        let b = new_data_key().unwrap();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(random_nonce().unwrap(), random_nonce().unwrap());
    }
}
