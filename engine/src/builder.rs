//! [`EngineBuilder`]: the options of an [`Engine`], each setter stating its
//! default, and the order in which opening assembles one: the core (store,
//! format upgrade, recovery, writer), the signing key, then the features
//! over them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::checkpoint::{Checkpointer, KeySource, SigningKeyPair};
use crate::core::clock::{Clock, SystemClock};
use crate::core::upgrade::UpgradeBackup;
use crate::core::{Core, CoreOptions, Durability};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::event::Limits;
use crate::keyring::KeyProvider;
use crate::redact::Policy;
use crate::storage::StoreOptions;

// The builder's constructors are the engine's (`Engine::builder`), defined
// here so that the builder names the engine and not the other way round.
impl Engine {
    /// A builder for the store in `path` (created if missing).
    pub fn builder(path: impl AsRef<Path>) -> EngineBuilder {
        EngineBuilder::new(path.as_ref())
    }

    /// Opens the store in `path` with every default.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        Engine::builder(path).open()
    }
}

/// Builder for [`Engine`]; every setter states its default.
#[derive(Debug)]
pub struct EngineBuilder {
    path: PathBuf,
    durability: Durability,
    limits: Limits,
    clock: Arc<dyn Clock>,
    idempotency_window: Duration,
    compression: bool,
    create_if_missing: bool,
    block_cache_bytes: usize,
    max_group_events: usize,
    queue_depth: usize,
    max_batch_events: usize,
    default_policy: Policy,
    signing_key: KeySource,
    rotate_signing_key: bool,
    upgrade_backup: UpgradeBackup,
    key_provider: Option<Arc<dyn KeyProvider>>,
    encrypt_new_tenants: bool,
    key_cache_ttl: Duration,
}

impl EngineBuilder {
    /// Every default, for the store in `path`.
    pub(crate) fn new(path: &Path) -> EngineBuilder {
        EngineBuilder {
            path: path.to_path_buf(),
            durability: Durability::Sync,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            idempotency_window: Duration::from_secs(24 * 3600),
            compression: true,
            create_if_missing: true,
            block_cache_bytes: StoreOptions::default().block_cache_bytes,
            max_group_events: 16_384,
            queue_depth: 4_096,
            max_batch_events: 10_000,
            default_policy: Policy::default(),
            signing_key: KeySource::None,
            rotate_signing_key: false,
            upgrade_backup: UpgradeBackup::Required,
            key_provider: None,
            encrypt_new_tenants: true,
            key_cache_ttl: Duration::from_secs(60),
        }
    }

    /// Where the checkpoint signing key comes from; default
    /// [`KeySource::None`]: no key, so checkpoints are read and checked but
    /// not made (nor, therefore, retention deletions or a backup's
    /// checkpoints). annal never generates a key on open.
    pub fn signing_key(mut self, source: KeySource) -> Self {
        self.signing_key = source;
        self
    }

    /// Accept a signing key other than the one that signed the chains'
    /// latest checkpoints, recording the change in each such chain
    /// (`annal.checkpoint.key_rotated`, naming both keys) and signing a
    /// checkpoint with the new key at once. Without it, opening with
    /// another key is refused ([`Error::SigningKeyMismatch`](crate::Error::SigningKeyMismatch)).
    pub fn rotate_signing_key(mut self) -> Self {
        self.rotate_signing_key = true;
        self
    }

    /// Before upgrading a store of an older format, take a backup into the
    /// backup directory `dir` ([`crate::Backups`]). By default an older
    /// store is refused with
    /// [`Error::UpgradeNeedsBackup`](crate::Error::UpgradeNeedsBackup)
    /// until this or [`EngineBuilder::upgrade_without_backup`] is chosen:
    /// an upgrade rewrites the store, and going back needs the backup.
    pub fn upgrade_backup_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.upgrade_backup = UpgradeBackup::Into(dir.as_ref().to_path_buf());
        self
    }

    /// Upgrade a store of an older format without a backup first (see
    /// [`EngineBuilder::upgrade_backup_dir`]).
    pub fn upgrade_without_backup(mut self) -> Self {
        self.upgrade_backup = UpgradeBackup::Skip;
        self
    }

    /// The redaction policy new tenants start with (their version 1);
    /// default [`Policy::default`]: emails masked, IPs truncated, every
    /// detector on. [`Policy::off`] stores events as sent.
    pub fn default_policy(mut self, policy: Policy) -> Self {
        self.default_policy = policy;
        self
    }

    /// Default [`Durability::Sync`].
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Event size limits; default [`Limits::default`] (64 KiB an event).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Source of `recorded_at`; default the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long an idempotency key is remembered; default 24 hours.
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.idempotency_window = window;
        self
    }

    /// LZ4-compress stored blocks; default on. Turn it off only to inspect
    /// files byte by byte.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// Create a store when `path` holds none; default on. Commands that only
    /// read or administer a store turn it off, so that a mistyped directory
    /// fails with [`Error::NoStore`](crate::Error::NoStore) instead of becoming an empty store.
    pub fn create_if_missing(mut self, on: bool) -> Self {
        self.create_if_missing = on;
        self
    }

    /// Size of RocksDB's block cache, shared by every column family; default
    /// 64 MiB. Index-driven queries read rows scattered over the chain, one
    /// data block each, so a cache that holds a tenant's recent blocks makes
    /// their pages much faster; size it to the memory the process can spare.
    pub fn block_cache_bytes(mut self, bytes: usize) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    /// Most events the writer gathers into one group commit; default 16,384.
    /// One append is never split, whatever its size.
    pub fn max_group_events(mut self, n: usize) -> Self {
        self.max_group_events = n;
        self
    }

    /// Appends that may wait for the writer before callers block; default 4,096.
    pub fn queue_depth(mut self, n: usize) -> Self {
        self.queue_depth = n;
        self
    }

    /// Most events in one append; default 10,000.
    pub fn max_batch_events(mut self, n: usize) -> Self {
        self.max_batch_events = n;
        self
    }

    /// Where the key-encryption keys are (a [`crate::keyring::KeyringFile`],
    /// a [`crate::keyring::KeyCommand`], or a provider of the caller's):
    /// every tenant created from then on is encrypted at rest under data
    /// keys wrapped by it, and the store's encrypted tenants are read
    /// through it. Default: none; no new tenant is encrypted, and reading
    /// an encrypted tenant's rows fails with [`Error::Keyring`]
    /// (docs/SECURITY.md, "Encryption at rest").
    pub fn key_provider(mut self, provider: Arc<dyn KeyProvider>) -> Self {
        self.key_provider = Some(provider);
        self
    }

    /// Whether tenants created from now on are encrypted, given a
    /// [`EngineBuilder::key_provider`]; default true. Tenants that already
    /// exist keep what they have.
    pub fn encrypt_new_tenants(mut self, on: bool) -> Self {
        self.encrypt_new_tenants = on;
        self
    }

    /// How long a data key, once unwrapped, is used before the provider is
    /// asked again; default 60 s. A KEK destroyed or revoked at its
    /// provider stops its tenants' reads and appends within this time.
    pub fn key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.key_cache_ttl = ttl;
        self
    }

    /// Opens (or creates) the store and recovers every tenant's head.
    pub fn open(self) -> Result<Engine> {
        if self.limits.max_event_bytes > crate::event::MAX_EVENT_BYTES_LIMIT {
            return Err(Error::InvalidOption {
                option: "max_event_bytes",
                message: format!(
                    "must be at most {} (960 KiB): stored rows are read back only up to 1 MiB",
                    crate::event::MAX_EVENT_BYTES_LIMIT
                ),
            });
        }
        let core = Core::open(CoreOptions {
            path: self.path.clone(),
            durability: self.durability,
            limits: self.limits,
            clock: self.clock,
            idempotency_window: self.idempotency_window,
            store: StoreOptions {
                compression: self.compression,
                block_cache_bytes: self.block_cache_bytes,
                create_if_missing: self.create_if_missing,
            },
            max_group_events: self.max_group_events,
            queue_depth: self.queue_depth,
            max_batch_events: self.max_batch_events,
            default_policy: self.default_policy,
            upgrade_backup: self.upgrade_backup,
            key_provider: self.key_provider,
            encrypt_new_tenants: self.encrypt_new_tenants,
            key_cache_ttl: self.key_cache_ttl,
        })?;
        let signer = SigningKeyPair::load(&self.signing_key)?;
        let core = Arc::new(core);
        let checkpoints = Arc::new(Checkpointer::new(Arc::clone(&core), signer));
        checkpoints.check_key(self.rotate_signing_key)?;
        Ok(Engine::compose(core, checkpoints, self.path))
    }
}
