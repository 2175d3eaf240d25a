//! The core: what every feature shares, and the write path.
//!
//! [`Core`] owns the store, the clock, the event limits, the durability
//! setting, the directory of tenants ([`directory`]), each tenant's
//! redactor ([`redactors`]) and the handle to the single writer thread
//! ([`writer`]), which is the only way rows enter a chain. It opens a store
//! ([`upgrade`] brings an older format up to date first, [`recover`] reads
//! every tenant's head back) and offers the reads every feature needs
//! ([`reads`]). [`prepare`] turns an event into the bytes the writer links
//! into its chain, on the caller's thread, sealed under the tenant's keys
//! when it is encrypted ([`sealing`]: keys made, wrapped through the
//! engine's key provider, unwrapped for reading).
//!
//! **Layer rule.** The core imports the format layer and the storage seam,
//! never a feature or the façade: query, verify, API keys, policy changes,
//! checkpoints and retention are built over it (`crate::engine` composes
//! them). A new capability that changes how rows are written (encryption,
//! packing, replication) enters here, in `prepare` and `writer`, and every
//! feature above gets it. `engine/tests/it/layers.rs` enforces the rule.

pub(crate) mod append;
pub mod clock;
pub(crate) mod directory;
pub(crate) mod periodic;
pub(crate) mod postings;
pub(crate) mod prepare;
pub(crate) mod reads;
mod recover;
pub(crate) mod redactors;
pub(crate) mod sealing;
pub(crate) mod upgrade;
pub(crate) mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event::Limits;
use crate::redact::Policy;
use crate::storage::{Store, StoreOptions};
use clock::Clock;
use directory::Directory;
use redactors::Redactors;
use sealing::Sealing;
use writer::{WriteQueue, WriterContext};

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Receipts are returned only after the group's WAL write is fsynced:
    /// an acknowledged row survives a power loss. The default.
    #[default]
    Sync,
    /// Receipts are returned once the WAL write is in the operating system's
    /// buffers: an acknowledged row survives a crash of the process but may be
    /// lost with the machine (power loss, kernel panic). Much lower latency
    /// for small batches. The WAL is synced on close.
    Buffered,
}

/// Everything [`Core::open`] needs; the façade's builder fills it and
/// documents each default.
#[derive(Debug)]
pub(crate) struct CoreOptions {
    pub path: PathBuf,
    pub durability: Durability,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    pub idempotency_window: Duration,
    pub store: StoreOptions,
    pub max_group_events: usize,
    pub queue_depth: usize,
    pub max_batch_events: usize,
    pub default_policy: Policy,
    pub upgrade_backup: upgrade::UpgradeBackup,
    /// Where the KEKs are; `None`: no tenant can be encrypted.
    pub key_provider: Option<Arc<dyn crate::keyring::KeyProvider>>,
    /// Whether tenants created from now on are encrypted (with a provider).
    pub encrypt_new_tenants: bool,
    /// How long an unwrapped data key is used before it is unwrapped again.
    pub key_cache_ttl: Duration,
}

/// The shared state of an open store and the way into its writer.
#[derive(Debug)]
pub(crate) struct Core {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// Most events one append may hold.
    pub max_batch_events: usize,
    /// Committed tenants; the writer publishes each change once durable.
    pub tenants: Arc<Directory>,
    /// Each tenant's current redaction policy and pseudonym secret.
    pub redactors: Arc<Redactors>,
    /// Each encrypted tenant's keys.
    pub sealing: Arc<Sealing>,
    /// The store as features read rows: opened under their tenant's keys.
    pub rows: sealing::Rows,
    queue: WriteQueue,
}

impl Core {
    /// Opens (or creates) the store, upgrades its format if it is older,
    /// recovers every tenant's head and starts the writer thread.
    pub fn open(opts: CoreOptions) -> Result<Core> {
        for (option, value) in [
            ("max_group_events", opts.max_group_events),
            ("queue_depth", opts.queue_depth),
            ("max_batch_events", opts.max_batch_events),
        ] {
            if value == 0 {
                return Err(Error::InvalidOption { option, message: "must be at least 1".into() });
            }
        }
        opts.default_policy.compile().map_err(Error::InvalidPolicy)?;
        let store = Store::open(&opts.path, &opts.store)?;
        upgrade::check_format(&store, &opts.upgrade_backup)?;
        let (mut states, next_tenant) = recover::recover(&store)?;
        let redactors = Arc::new(Redactors::load(&store, &mut states, opts.default_policy, opts.clock.now_ns())?);
        let closing = recover::closing(&store, &states)?;
        let tenants = Arc::new(Directory::new(states.iter().map(|(name, t)| (name.clone(), t.number)).collect(), closing));
        let sealing = Arc::new(Sealing::new(store.clone(), opts.key_provider, opts.encrypt_new_tenants, opts.key_cache_ttl));
        let context = WriterContext {
            store: store.clone(),
            clock: Arc::clone(&opts.clock),
            durability: opts.durability,
            idempotency_window_ns: u64::try_from(opts.idempotency_window.as_nanos()).unwrap_or(u64::MAX),
            tenants: Arc::clone(&tenants),
            redactors: Arc::clone(&redactors),
            sealing: Arc::clone(&sealing),
            max_group_events: opts.max_group_events,
        };
        let queue = WriteQueue::start(context, states, next_tenant, opts.queue_depth)?;
        let rows = sealing::Rows { store: store.clone(), sealing: Arc::clone(&sealing) };
        Ok(Core {
            store,
            clock: opts.clock,
            limits: opts.limits,
            max_batch_events: opts.max_batch_events,
            tenants,
            redactors,
            rows,
            sealing,
            queue,
        })
    }

    /// The tenant's internal number, if it has a chain.
    pub fn number(&self, tenant: &str) -> Result<u64> {
        self.tenants.number(tenant)
    }

    /// `text`, written by a person (a hold's reason, a key's label), as
    /// annal may store it in `tenant`'s chain and beside it: with the
    /// tenant's current detectors applied (docs/REDACTION.md, "Free text
    /// annal writes"). The raw text is never stored.
    pub fn free_text(&self, tenant: &str, text: &str) -> Result<String> {
        Ok(self.redactors.get(tenant)?.free_text(text).into_owned())
    }

    /// [`Error::Poisoned`] once a write to the store has failed: the
    /// engine then takes no appends until it is reopened.
    pub fn poisoned(&self) -> Option<Error> {
        self.queue.poisoned()
    }

    /// Engine time now, ns since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.clock.now_ns()
    }
}
