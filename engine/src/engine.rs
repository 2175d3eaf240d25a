//! The engine façade: opening a store, appending, reading, verifying.
//!
//! [`Engine`] is cheap to clone and safe to share across threads. Appends go
//! through the single writer thread ([`crate::writer`]); reads go straight to
//! the store and never wait for the writer.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::RwLock;

use crate::chain;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, FieldError, Result};
use crate::event::{Actor, Event, Limits};
use crate::index::{self, IndexCheck, IndexTemplate, Indexed};
use crate::keys;
use crate::query::{self, Page, Query, QueryStream, Scanned};
use crate::record::{self, ChainHead, Receipt, Record, RecordRef, StoredRecord, TenantEntry, RECORD_OVERHEAD};
use crate::redact::{self, Policy, Redactor, Rule, Strategy};
use crate::storage::{Cf, ReadMode, Store, StoreOptions};
use crate::verify::{self, VerifyOutcome};
use crate::writer::{PreparedEvent, Request, SideWrite, TenantState, Writer};

/// Store format version this build reads and writes (`meta/format_version`).
/// Version 2 added the `index` column family; a version 1 store is upgraded
/// on open by indexing its rows (docs/FORMAT.md, "Version history").
pub const STORE_FORMAT_VERSION: u32 = 2;

/// Action of the row that records a change of a tenant's redaction policy.
pub const POLICY_ACTION: &str = "annal.policy.set";

/// Longest tenant id, in bytes.
pub const MAX_TENANT_BYTES: usize = 128;

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

/// State shared by the writer and the readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    /// Committed tenants: name → number. Updated by the writer after each durable write.
    pub tenants: RwLock<HashMap<String, u64>>,
    pub clock: Arc<dyn Clock>,
    pub durability: Durability,
    pub idempotency_window_ns: u64,
    pub limits: Limits,
    /// Policy version 1 of every tenant created by this engine.
    pub default_policy: Policy,
    /// Each tenant's current redaction policy and secret. The writer replaces
    /// an entry when it stages a policy change; a tenant not yet created gets
    /// one (default policy, fresh secret) from its first prepare.
    pub redactors: RwLock<HashMap<String, Arc<Redactor>>>,
    /// Serialises retention's writes: each deletion batch, policy and hold
    /// changes, tenant deletion (see [`crate::retention`]).
    pub retention: parking_lot::Mutex<()>,
    /// The checkpoint signing key ([`crate::checkpoint`]).
    pub signer: crate::checkpoint::SigningKeyPair,
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
    signing_key: crate::checkpoint::KeySource,
}

impl EngineBuilder {
    /// Where the checkpoint signing key comes from; default
    /// [`KeySource::DataDir`](crate::checkpoint::KeySource::DataDir), a key
    /// generated (mode 0600) into the data directory on first open.
    pub fn signing_key(mut self, source: crate::checkpoint::KeySource) -> Self {
        self.signing_key = source;
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
    /// fails with [`Error::NoStore`] instead of becoming an empty store.
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

    /// Opens (or creates) the store and recovers every tenant's head.
    pub fn open(self) -> Result<Engine> {
        for (option, value) in [
            ("max_group_events", self.max_group_events),
            ("queue_depth", self.queue_depth),
            ("max_batch_events", self.max_batch_events),
        ] {
            if value == 0 {
                return Err(Error::InvalidOption { option, message: "must be at least 1".into() });
            }
        }
        self.default_policy.compile().map_err(Error::InvalidPolicy)?;
        let window_ns = u64::try_from(self.idempotency_window.as_nanos()).unwrap_or(u64::MAX);
        let store = Store::open(
            &self.path,
            &StoreOptions {
                compression: self.compression,
                block_cache_bytes: self.block_cache_bytes,
                create_if_missing: self.create_if_missing,
            },
        )?;
        check_format(&store)?;
        let signer = crate::checkpoint::SigningKeyPair::load(&self.signing_key, &self.path)?;
        let (mut tenants, next_tenant) = recover(&store)?;
        let redactors = load_redactors(&store, &mut tenants, &self.default_policy, self.clock.now_ns())?;
        let directory = tenants.iter().map(|(name, t)| (name.clone(), t.number)).collect();
        let shared = Arc::new(Shared {
            store,
            tenants: RwLock::new(directory),
            clock: self.clock,
            durability: self.durability,
            idempotency_window_ns: window_ns,
            limits: self.limits,
            default_policy: self.default_policy,
            redactors: RwLock::new(redactors),
            retention: parking_lot::Mutex::new(()),
            signer,
        });
        let (tx, rx) = mpsc::sync_channel(self.queue_depth);
        let poisoned = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            shared: Arc::clone(&shared),
            tenants,
            next_tenant,
            rx,
            poisoned: Arc::clone(&poisoned),
            max_group_events: self.max_group_events,
            in_flight_idempotency: HashMap::new(),
        };
        let thread = std::thread::Builder::new().name("annal-writer".into()).spawn(move || writer.run())?;
        Ok(Engine {
            shared,
            writer: Arc::new(WriterHandle { tx: Some(tx), thread: Some(thread), poisoned }),
            max_batch_events: self.max_batch_events,
            path: self.path,
        })
    }
}

fn check_format(store: &Store) -> Result<()> {
    match store.get(Cf::Meta, keys::META_FORMAT)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| Error::Corrupt("meta/format_version".into()))?;
            if found == 1 {
                // Version 1 had no index: build it from the rows, then mark
                // the store as version 2. A crash in between re-runs the
                // rebuild, which writes the same keys again.
                index::rebuild(store)?;
                return set_format(store);
            }
            if found != STORE_FORMAT_VERSION {
                return Err(Error::UnsupportedFormat { found, supported: STORE_FORMAT_VERSION });
            }
            Ok(())
        }
        None => set_format(store),
    }
}

fn set_format(store: &Store) -> Result<()> {
    let mut b = store.batch();
    b.put(Cf::Meta, keys::META_FORMAT, &STORE_FORMAT_VERSION.to_be_bytes());
    store.write(b, true)
}

/// Reads every tenant's registry entry and head, and checks each head
/// against the tenant's last record.
fn recover(store: &Store) -> Result<(HashMap<String, TenantState>, u64)> {
    let next_tenant = match store.get(Cf::Meta, keys::META_NEXT_TENANT)? {
        Some(v) => <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| Error::Corrupt("meta/next_tenant_number".into()))?,
        None => 1,
    };
    let mut tenants = HashMap::new();
    let (from, to) = keys::TENANT_BY_NAME_RANGE;
    for (k, v) in store.scan(Cf::Tenants, from, to, false, usize::MAX, ReadMode::Interactive)? {
        let name = String::from_utf8(k[1..].to_vec()).map_err(|_| Error::Corrupt("tenant name is not UTF-8".into()))?;
        let entry = TenantEntry::decode(&v).map_err(|e| Error::Corrupt(format!("tenant entry: {e}")))?;
        let genesis = ChainHead { seq: 0, recorded_at: 0, head: chain::genesis(&name) };
        let (head, mut damaged) = match store.get(Cf::Heads, &keys::head(entry.number))? {
            None => (genesis, false),
            Some(v) => match ChainHead::decode(&v) {
                Ok(h) => (h, false),
                Err(_) => (genesis, true),
            },
        };
        // The last record must be the one the head entry names; both are
        // written in one batch, so a disagreement means damage, and appending
        // would overwrite or orphan rows.
        let last = store.scan(
            Cf::Records,
            &keys::record(entry.number, 0),
            &keys::record(entry.number + 1, 0),
            true,
            1,
            ReadMode::Interactive,
        )?;
        // With no rows left, the chain ends where retention deleted up to.
        let last_seq = match last.first().and_then(|(k, _)| keys::record_seq(k)) {
            Some(s) => s,
            None => crate::retention::anchor(store, entry.number)?.map_or(0, |a| a.seq),
        };
        damaged |= last_seq != head.seq;
        tenants.insert(name, TenantState { number: entry.number, head, damaged, policy_version: 1 });
    }
    let max_number = tenants.values().map(|t| t.number).max().unwrap_or(0);
    Ok((tenants, next_tenant.max(max_number + 1)))
}

/// Reads every tenant's pseudonym secret and latest policy (setting its
/// `policy_version`). Tenants from before redaction existed get a secret and
/// the default policy as version 1 now.
fn load_redactors(
    store: &Store,
    tenants: &mut HashMap<String, TenantState>,
    default: &Policy,
    now: u64,
) -> Result<HashMap<String, Arc<Redactor>>> {
    let mut out = HashMap::new();
    for (name, state) in tenants.iter_mut() {
        let n = state.number;
        let mut batch = store.batch();
        let secret = match store.get(Cf::Tenants, &keys::tenant_secret(n))? {
            Some(v) => record::decode_secret(&v).map_err(|e| Error::Corrupt(format!("secret of tenant {name}: {e}")))?,
            None => {
                let s = redact::new_secret()?;
                batch.put(Cf::Tenants, &keys::tenant_secret(n), &record::encode_secret(&s));
                s
            }
        };
        let latest = store.scan(
            Cf::Tenants,
            &keys::tenant_policy(n, 0),
            &keys::tenant_policy(n + 1, 0)[..9],
            true,
            1,
            ReadMode::Interactive,
        )?;
        let (version, policy) = match latest.first() {
            Some((k, v)) => {
                let version = k.get(9..13).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
                let policy = record::decode_policy(v)
                    .ok()
                    .and_then(|(_, json)| Policy::from_json_slice(&json).ok())
                    .zip(version)
                    .ok_or_else(|| Error::Corrupt(format!("redaction policy of tenant {name}")))?;
                (policy.1, policy.0)
            }
            None => {
                let json = serde_json::to_vec(default).unwrap_or_default();
                batch.put(Cf::Tenants, &keys::tenant_policy(n, 1), &record::encode_policy(now, &json));
                (1, default.clone())
            }
        };
        if batch.len() > 0 {
            store.write(batch, true)?;
        }
        let r =
            Redactor::new(name, version, policy, secret).map_err(|e| Error::Corrupt(format!("policy of tenant {name}: {e}")))?;
        state.policy_version = version;
        out.insert(name.clone(), Arc::new(r));
    }
    Ok(out)
}

/// Owns the writer thread; the last clone of the engine to go stops it.
#[derive(Debug)]
struct WriterHandle {
    tx: Option<SyncSender<Request>>,
    thread: Option<JoinHandle<()>>,
    poisoned: Arc<AtomicBool>,
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once it has committed
        // everything already queued.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An open annal store. Clone it freely; all clones share one writer.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    writer: Arc<WriterHandle>,
    max_batch_events: usize,
    path: PathBuf,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.durability == Durability::Buffered {
            let _ = self.store.sync_wal();
        }
    }
}

impl Engine {
    /// A builder for the store in `path` (created if missing).
    pub fn builder(path: impl AsRef<Path>) -> EngineBuilder {
        EngineBuilder {
            path: path.as_ref().to_path_buf(),
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
            signing_key: crate::checkpoint::KeySource::DataDir,
        }
    }

    /// Opens the store in `path` with every default.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        Engine::builder(path).open()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits events are checked against.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Validates one event, redacts it under `tenant`'s policy, and
    /// canonicalises, encodes and hashes it, on the calling thread. Call it
    /// from many threads to spread the work. A prepared event can be appended
    /// to `tenant` only, and only while its policy is unchanged
    /// ([`Error::PolicyChanged`] asks to prepare again).
    pub fn prepare(&self, tenant: &str, event: &Event) -> Result<PreparedEvent> {
        check_client_tenant(tenant)?;
        let redactor = self.redactor(tenant)?;
        self.prepare_with(&redactor, event, false).map_err(Error::InvalidEvent)
    }

    fn prepare_with(&self, redactor: &Arc<Redactor>, event: &Event, own_event: bool) -> Result<PreparedEvent, FieldError> {
        let limits = &self.shared.limits;
        let (view, applied) = if own_event {
            event.view_unchecked_action(limits, Some(redactor))?
        } else {
            event.view_redacted(limits, Some(redactor))?
        };
        let (value, leaf) = StoredRecord::template(&view);
        let encoded_len = value.len() - RECORD_OVERHEAD;
        if encoded_len > limits.max_event_bytes {
            return Err(FieldError::new(
                "",
                format!("event is {encoded_len} bytes encoded, more than the limit of {}", limits.max_event_bytes),
            ));
        }
        let index = IndexTemplate::build(&Indexed::of_view(&view, &applied.pseudonyms));
        Ok(PreparedEvent { value, leaf, idempotency_key: event.idempotency_key.clone(), index, redactor: Arc::clone(redactor) })
    }

    /// The tenant's current redactor; a tenant without one (not yet
    /// created) gets the default policy and a fresh secret, kept in memory
    /// until its first append stores them.
    fn redactor(&self, tenant: &str) -> Result<Arc<Redactor>> {
        validate_tenant(tenant)?;
        if let Some(r) = self.shared.redactors.read().get(tenant) {
            return Ok(Arc::clone(r));
        }
        let mut map = self.shared.redactors.write();
        if let Some(r) = map.get(tenant) {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(
            Redactor::new(tenant, 1, self.shared.default_policy.clone(), redact::new_secret()?).map_err(Error::InvalidPolicy)?,
        );
        map.insert(tenant.to_string(), Arc::clone(&r));
        Ok(r)
    }

    /// Appends a batch of events to `tenant`'s chain, all or nothing, and
    /// returns one receipt per event once they are durable. A tenant's chain
    /// is created by its first append.
    pub fn append(&self, tenant: &str, events: &[Event]) -> Result<Vec<Receipt>> {
        check_client_tenant(tenant)?;
        self.check_batch_len(events.len())?;
        // A policy change between prepare and the writer refuses the batch;
        // prepare it again under the new policy (a change is rare, so one
        // more round almost always suffices).
        let mut attempts = 0;
        loop {
            let redactor = self.redactor(tenant)?;
            let mut prepared = Vec::with_capacity(events.len());
            let mut errors = Vec::new();
            for (i, e) in events.iter().enumerate() {
                match self.prepare_with(&redactor, e, false) {
                    Ok(p) => prepared.push(p),
                    Err(fe) => errors.push((i, fe)),
                }
            }
            if !errors.is_empty() {
                return Err(Error::InvalidBatch(errors));
            }
            match self.send(tenant, prepared, None) {
                Err(Error::PolicyChanged { .. }) if attempts < 8 => attempts += 1,
                other => return other,
            }
        }
    }

    /// Appends events already passed through [`Engine::prepare`].
    pub fn append_prepared(&self, tenant: &str, events: Vec<PreparedEvent>) -> Result<Vec<Receipt>> {
        self.send(tenant, events, None)
    }

    fn send(&self, tenant: &str, events: Vec<PreparedEvent>, new_policy: Option<Arc<Redactor>>) -> Result<Vec<Receipt>> {
        check_client_tenant(tenant)?;
        self.send_request(tenant, events, new_policy, Vec::new(), None)
    }

    /// Hands one request to the writer and waits for its receipts; also
    /// for annal's own chains (no reserved-name check).
    pub(crate) fn send_request(
        &self,
        tenant: &str,
        events: Vec<PreparedEvent>,
        new_policy: Option<Arc<Redactor>>,
        side: Vec<SideWrite>,
        forget: Option<(String, ChainHead)>,
    ) -> Result<Vec<Receipt>> {
        validate_tenant(tenant)?;
        self.check_batch_len(events.len())?;
        if self.writer.poisoned.load(Ordering::SeqCst) {
            return Err(Error::Poisoned);
        }
        let (reply, rx) = mpsc::sync_channel(1);
        let tx = self.writer.tx.as_ref().ok_or(Error::Closed)?;
        tx.send(Request { tenant: tenant.to_string(), events, reply, new_policy, side, forget }).map_err(|_| Error::Closed)?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// State shared with the writer, for the retention module.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Changes `tenant`'s redaction policy, effective for every event
    /// prepared after it lands. The change is itself a row of the tenant's
    /// chain (action `annal.policy.set`, by `actor`, with the new version and
    /// the policy in `metadata`), so the log records under which policy each
    /// later row was written. Returns that row's receipt and the new version.
    /// Creates the tenant if needed: the change is then its first row.
    pub fn set_policy(&self, tenant: &str, policy: &Policy, actor: Actor) -> Result<(Receipt, u32)> {
        check_client_tenant(tenant)?;
        policy.compile().map_err(Error::InvalidPolicy)?;
        let mut attempts = 0;
        loop {
            let current = self.redactor(tenant)?;
            let version = current.version + 1;
            let next = Arc::new(current.with_policy(version, policy.clone()).map_err(Error::InvalidPolicy)?);
            let mut event = Event::new(POLICY_ACTION, actor.kind, actor.id.clone());
            event.actor = actor.clone();
            let mut metadata = serde_json::Map::new();
            metadata.insert("version".into(), version.into());
            metadata.insert("policy".into(), policy.to_json());
            event.metadata = Some(metadata);
            // The announcement is redacted like the rows it governs, but its
            // policy text must stay readable: only the actor is subject to it.
            let mut shown = policy.clone();
            shown.rules.insert(0, Rule { path: "metadata".into(), strategy: Strategy::Keep });
            let announce = Arc::new(next.with_policy(version, shown).map_err(Error::InvalidPolicy)?);
            let prepared = self.prepare_with(&announce, &event, true).map_err(Error::InvalidEvent)?;
            match self.send(tenant, vec![prepared], Some(Arc::clone(&next))) {
                Ok(r) => return Ok((r[0], version)),
                Err(Error::PolicyChanged { .. }) if attempts < 8 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends one of annal's own events (an action in the reserved `annal.`
    /// namespace, e.g. `annal.key.created`) to `tenant`'s chain: an
    /// administrative act recorded in the log it governs, by `actor`, with
    /// its details in `metadata`. Redacted under the tenant's current policy
    /// like any row, except `metadata`, which annal writes itself and which
    /// must stay readable (it never holds event values a client sent).
    /// Creates the tenant if needed.
    pub fn append_system(
        &self,
        tenant: &str,
        action: &str,
        actor: Actor,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Receipt> {
        check_client_tenant(tenant)?;
        self.append_system_with(tenant, action, actor, metadata, Vec::new(), None)
    }

    /// [`Engine::append_system`] with writes that land in the row's batch
    /// (`side`), optionally deleting a tenant in it (`forget`), on any
    /// tenant including annal's own.
    pub(crate) fn append_system_with(
        &self,
        tenant: &str,
        action: &str,
        actor: Actor,
        metadata: serde_json::Map<String, serde_json::Value>,
        side: Vec<SideWrite>,
        forget: Option<(String, ChainHead)>,
    ) -> Result<Receipt> {
        if !action.starts_with(crate::event::RESERVED_ACTION_PREFIX) {
            return Err(Error::InvalidEvent(FieldError::new(
                "action",
                format!("annal's own events are in the `{}` namespace", crate::event::RESERVED_ACTION_PREFIX),
            )));
        }
        let mut attempts = 0;
        loop {
            let current = self.redactor(tenant)?;
            let mut event = Event::new(action, actor.kind, actor.id.clone());
            event.actor = actor.clone();
            event.metadata = Some(metadata.clone());
            let mut shown = current.policy.clone();
            shown.rules.insert(0, Rule { path: "metadata".into(), strategy: Strategy::Keep });
            let announce = Arc::new(current.with_policy(current.version, shown).map_err(Error::InvalidPolicy)?);
            let prepared = self.prepare_with(&announce, &event, true).map_err(Error::InvalidEvent)?;
            match self.send_request(tenant, vec![prepared], None, side.clone(), forget.clone()) {
                Ok(r) => return Ok(r[0]),
                Err(Error::PolicyChanged { .. }) if attempts < 8 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// `tenant`'s current redaction policy and its version.
    pub fn policy(&self, tenant: &str) -> Result<(u32, Policy)> {
        let r = self.redactor(tenant)?;
        Ok((r.version, r.policy.clone()))
    }

    /// The token `value` gets when `tenant`'s policy pseudonymizes it: what
    /// to search for. Queries do this themselves for their filters.
    pub fn pseudonym(&self, tenant: &str, value: &str) -> Result<String> {
        Ok(self.redactor(tenant)?.pseudonym(value))
    }

    fn check_batch_len(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::EmptyBatch);
        }
        if n > self.max_batch_events {
            return Err(Error::BatchTooLarge { got: n, max: self.max_batch_events });
        }
        Ok(())
    }

    /// The tenant's internal number, if it has a chain.
    pub(crate) fn number(&self, tenant: &str) -> Result<u64> {
        validate_tenant(tenant)?;
        self.shared.tenants.read().get(tenant).copied().ok_or(Error::UnknownTenant)
    }

    /// The name of tenant number `n`, from the registry.
    pub(crate) fn tenant_name(&self, n: u64) -> Result<Option<String>> {
        match self.shared.store.get(Cf::Tenants, &keys::tenant_by_number(n))? {
            None => Ok(None),
            Some(v) => String::from_utf8(v).map(Some).map_err(|_| Error::Corrupt("tenant name is not UTF-8".into())),
        }
    }

    /// Every tenant with a chain, sorted.
    pub fn tenants(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared.tenants.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// The latest row of `tenant`'s chain as durably stored.
    pub fn head(&self, tenant: &str) -> Result<ChainHead> {
        let n = self.number(tenant)?;
        match self.shared.store.get(Cf::Heads, &keys::head(n))? {
            Some(v) => ChainHead::decode(&v).map_err(|e| Error::Corrupt(format!("chain head: {e}"))),
            None => Ok(ChainHead { seq: 0, recorded_at: 0, head: chain::genesis(tenant) }),
        }
    }

    /// One row by seq.
    pub fn get(&self, tenant: &str, seq: u64) -> Result<Option<Record>> {
        let n = self.number(tenant)?;
        match self.shared.store.get(Cf::Records, &keys::record(n, seq))? {
            None => Ok(None),
            Some(v) => Record::from_stored(seq, &v).map(Some).map_err(|e| Error::Corrupt(format!("record {seq}: {e}"))),
        }
    }

    /// The tenant's rows in seq order, from `from_seq`, read in bounded chunks
    /// (constant memory however long the chain).
    pub fn iter(&self, tenant: &str, from_seq: u64) -> Result<RecordIter> {
        let number = self.number(tenant)?;
        Ok(RecordIter {
            shared: Arc::clone(&self.shared),
            number,
            next: from_seq.max(1),
            buf: Vec::new().into_iter(),
            done: false,
        })
    }

    /// One page of `query` over `tenant`'s chain: at most `limit` rows (1 to
    /// [`MAX_PAGE_SIZE`](crate::query::MAX_PAGE_SIZE); the command line and
    /// API default to 100), resuming after `cursor` if given. See
    /// [`crate::query`] for how the index is chosen and why paging is exact.
    pub fn query(&self, tenant: &str, query: &Query, limit: usize, cursor: Option<&str>) -> Result<Page> {
        let n = self.number(tenant)?;
        let query = self.resolve_pseudonyms(tenant, query)?;
        query::page(&self.shared, tenant, n, &query, limit, cursor)
    }

    /// Turns raw values into the tenant's tokens where its current policy
    /// pseudonymizes the filtered field, and for the `pseudonym` filter: the
    /// index holds tokens only. A value that already is a token is kept.
    fn resolve_pseudonyms(&self, tenant: &str, query: &Query) -> Result<Query> {
        let r = self.redactor(tenant)?;
        let mut q = query.clone();
        let token = |v: &mut String| {
            if !redact::is_pseudonym(v) {
                *v = r.pseudonym(v);
            }
        };
        let by_policy = |f: usize, v: &mut Option<String>| {
            if r.field_strategy(f) == Some(Strategy::Pseudonymize) {
                if let Some(v) = v {
                    token(v);
                }
            }
        };
        by_policy(redact::field::ACTOR_ID, &mut q.actor);
        by_policy(redact::field::ON_BEHALF_OF, &mut q.on_behalf_of);
        by_policy(redact::field::SESSION, &mut q.session);
        if let Some(t) = &mut q.target {
            if r.field_strategy(redact::field::TARGET_TYPE) == Some(Strategy::Pseudonymize) {
                token(&mut t.kind);
            }
            if r.field_strategy(redact::field::TARGET_ID) == Some(Strategy::Pseudonymize) {
                token(&mut t.id);
            }
        }
        if let Some(v) = &mut q.pseudonym {
            token(v);
        }
        Ok(q)
    }

    /// Every row of `query`, in order, read a bounded chunk at a time
    /// (constant memory however large the window): for exports. The walk
    /// covers the rows that exist when it starts; later appends are not
    /// included, so an export is a fixed snapshot.
    pub fn query_stream(&self, tenant: &str, query: &Query) -> Result<QueryStream> {
        let n = self.number(tenant)?;
        let query = &self.resolve_pseudonyms(tenant, query)?;
        // Checks the query now, so that a bad one fails here, not mid-export.
        query::plan(&self.shared, n, query, None, None, ReadMode::Bulk)?;
        let hi_cap = self.head(tenant)?.seq + 1;
        Ok(QueryStream {
            shared: Arc::clone(&self.shared),
            n,
            query: query.clone(),
            hi_cap,
            after: None,
            buf: Vec::new().into_iter(),
            done: false,
            examined: 0,
        })
    }

    /// Hands every row of `query` to `f`, in order, each borrowed from the
    /// bytes just read: the export path. Nothing is copied or allocated per
    /// row (a [`RecordRef`] borrows its strings), and memory stays constant
    /// however large the window. Like [`Engine::query_stream`], the walk
    /// covers the rows that exist when it starts. `f` returns
    /// [`ControlFlow::Break`] to stop early (a full output buffer, a client
    /// gone).
    pub fn scan(&self, tenant: &str, query: &Query, mut f: impl FnMut(&RecordRef<'_>) -> ControlFlow<()>) -> Result<Scanned> {
        let n = self.number(tenant)?;
        let query = self.resolve_pseudonyms(tenant, query)?;
        query::scan(&self.shared, n, &query, &mut f)
    }

    /// Checks that `tenant`'s index holds exactly the entries of its rows;
    /// reads every row and index entry of the tenant, in constant memory.
    pub fn check_index(&self, tenant: &str) -> Result<IndexCheck> {
        let n = self.number(tenant)?;
        index::check(&self.shared.store, n)
    }

    /// Verifies `range` (inclusive seqs) of `tenant`'s chain; see [`crate::verify`].
    pub fn verify(&self, tenant: &str, range: impl RangeBounds<u64>) -> Result<VerifyOutcome> {
        self.verify_with_progress(tenant, range, &mut |_| {})
    }

    /// [`Engine::verify`], calling `progress` with the count of rows verified so far.
    pub fn verify_with_progress(
        &self,
        tenant: &str,
        range: impl RangeBounds<u64>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyOutcome> {
        let n = self.number(tenant)?;
        verify::verify(&self.shared, tenant, n, range, progress)
    }
}

/// Checks a tenant id: 1 to 128 bytes of ASCII letters, digits, `_`, `-`, `.`.
pub fn validate_tenant(tenant: &str) -> Result<()> {
    if tenant.is_empty() || tenant.len() > MAX_TENANT_BYTES {
        return Err(Error::InvalidTenant(format!("must be 1 to {MAX_TENANT_BYTES} bytes")));
    }
    if !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return Err(Error::InvalidTenant("may hold only ASCII letters, digits, `_`, `-` and `.`".into()));
    }
    Ok(())
}

/// Tenant ids beginning with this are annal's own chains
/// ([`PLATFORM_TENANT`]): readable like any chain, never written by clients.
pub const RESERVED_TENANT_PREFIX: &str = "annal.";

/// The platform chain: annal's record of acts above any one tenant (a
/// tenant's deletion). Retention never deletes from it.
pub const PLATFORM_TENANT: &str = "annal.platform";

/// [`validate_tenant`], and refuses annal's reserved names: the check of
/// every way a client writes.
pub(crate) fn check_client_tenant(tenant: &str) -> Result<()> {
    validate_tenant(tenant)?;
    if tenant.starts_with(RESERVED_TENANT_PREFIX) {
        return Err(Error::InvalidTenant(format!("the `{RESERVED_TENANT_PREFIX}` prefix is reserved for annal's own chains")));
    }
    Ok(())
}

/// Iterator over a tenant's rows; see [`Engine::iter`].
#[derive(Debug)]
pub struct RecordIter {
    shared: Arc<Shared>,
    number: u64,
    next: u64,
    buf: std::vec::IntoIter<Result<Record>>,
    done: bool,
}

const ITER_CHUNK: usize = 256;

impl Iterator for RecordIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(item) = self.buf.next() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let from = keys::record(self.number, self.next);
            let to = keys::record(self.number + 1, 0);
            let rows = match self.shared.store.scan(Cf::Records, &from, &to, false, ITER_CHUNK, ReadMode::Bulk) {
                Ok(rows) => rows,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.done = rows.len() < ITER_CHUNK;
            let mut out = Vec::with_capacity(rows.len());
            for (k, v) in rows {
                let seq = keys::record_seq(&k).unwrap_or(0);
                self.next = seq.saturating_add(1);
                out.push(Record::from_stored(seq, &v).map_err(|e| Error::Corrupt(format!("record {seq}: {e}"))));
            }
            self.buf = out.into_iter();
        }
    }
}
