//! The façade: [`Engine`], the one type callers hold.
//!
//! It composes the core and the features and delegates every call to the
//! one that owns it: appends and reads to the core (`crate::core`), queries
//! to `crate::query`, verification to `crate::verify`, API keys to
//! `crate::apikeys`, policy changes to `crate::policy`, checkpoints and
//! bundles to `crate::checkpoint`, retention and tenant deletion to
//! `crate::retention`. Nothing here decides anything: a method that grows
//! logic belongs in the layer below.
//!
//! [`Engine`] is cheap to clone and safe to share across threads. Appends go
//! through the single writer thread; reads go straight to the store and
//! never wait for the writer.

use std::ops::ControlFlow;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::access::{self, ExportRecord};
use crate::apikeys::{self, KeyLimits, Usage};
use crate::checkpoint::{Checkpoint, CheckpointPolicy, Checkpointer, TrustedOutcome};
use crate::core::prepare::PreparedEvent;
use crate::core::reads::RecordIter;
use crate::core::Core;
use crate::encryption::{self, EncryptionStatus};
use crate::erasure::{self, Erasure};
use crate::error::{Error, Result};
use crate::event::{Actor, AsBorrowedEvent, Event, Limits};
use crate::format::apikey::{ApiKey, Scopes};
use crate::format::record::{ChainHead, Receipt, Record, RecordRef};
use crate::format::tenant::check_client_tenant;
use crate::policy;
use crate::query::{self, Page, PageInfo, Query, QueryStream, Scanned};
use crate::redact::Policy;
use crate::retention::{
    Purges, Retainer, Retention, RetentionStatus, RunOptions, RunReport, Scheduled, TenantDeletion, TenantInfo,
};
use crate::summary::{self, Bucket, Histogram};
use crate::verify::{self, IndexCheck, VerifyOutcome};

/// An open annal store. Clone it freely; all clones share one writer.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) core: Arc<Core>,
    pub(crate) checkpoints: Arc<Checkpointer>,
    pub(crate) retention: Arc<Retainer>,
    path: Arc<PathBuf>,
}

impl Engine {
    /// The façade over an opened core and its features.
    pub(crate) fn compose(core: Arc<Core>, checkpoints: Arc<Checkpointer>, path: PathBuf) -> Engine {
        let retention = Arc::new(Retainer::new(Arc::clone(&core), Arc::clone(&checkpoints)));
        Engine { core, checkpoints, retention, path: Arc::new(path) }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits events are checked against.
    pub fn limits(&self) -> &Limits {
        &self.core.limits
    }

    // ---- Appending -------------------------------------------------------

    /// Validates one event, redacts it under `tenant`'s policy, and
    /// canonicalises, encodes and hashes it, on the calling thread. Call it
    /// from many threads to spread the work. A prepared event can be appended
    /// to `tenant` only, and only while its policy is unchanged
    /// ([`Error::PolicyChanged`] asks to prepare again).
    pub fn prepare(&self, tenant: &str, event: &impl AsBorrowedEvent) -> Result<PreparedEvent> {
        self.core.prepare(tenant, event)
    }

    /// Appends a batch of events to `tenant`'s chain, all or nothing, and
    /// returns one receipt per event once they are durable. A tenant's chain
    /// is created by its first append.
    pub fn append(&self, tenant: &str, events: &[Event]) -> Result<Vec<Receipt>> {
        self.core.append(tenant, events)
    }

    /// [`Engine::append`] without waiting, for callers that wait their own
    /// way (an async server): validates, redacts and encodes the batch on
    /// this thread and returns once it is handed to the writer; `done` gets
    /// the receipts when the rows are durable, or why they were refused, on
    /// the engine's commit thread — it must return at once (wake a task,
    /// send on a channel), or it holds up every append behind it. An invalid
    /// batch is an error here and `done` is not called. A policy change
    /// between preparing and writing reaches `done` as
    /// [`Error::PolicyChanged`]: call again. It never blocks: when the
    /// writer's queue is full it is [`Error::Busy`].
    pub fn append_then(
        &self,
        tenant: &str,
        events: &[impl AsBorrowedEvent],
        done: impl FnOnce(Result<Vec<Receipt>>) + Send + 'static,
    ) -> Result<()> {
        self.core.append_then(tenant, events, Box::new(done))
    }

    /// Appends events already passed through [`Engine::prepare`].
    pub fn append_prepared(&self, tenant: &str, events: Vec<PreparedEvent>) -> Result<Vec<Receipt>> {
        self.core.append_prepared(tenant, events)
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
        self.core.append_own(tenant, action, &actor, &metadata, Default::default())
    }

    // ---- Encryption at rest ----------------------------------------------

    /// `tenant`'s encryption at rest: whether it is encrypted, its own KEK
    /// if it named one, how many data keys it has.
    pub fn encryption(&self, tenant: &str) -> Result<EncryptionStatus> {
        encryption::status(&self.core, tenant)
    }

    /// Makes `kek`, a KEK reference the engine's key provider understands
    /// (a KMS key of the tenant's own, say), `tenant`'s KEK, or with `None`
    /// goes back to the provider's current one: every data key of the
    /// tenant is re-wrapped under it, in the batch of a row of its chain
    /// (`annal.encryption.kek_set`, by `actor`). From then on destroying or
    /// revoking that KEK makes the tenant's data unreadable, every copy and
    /// backup included. [`Error::NotEncrypted`] for a tenant that is not
    /// encrypted; [`Error::Keyring`] when the provider cannot wrap under it.
    pub fn set_tenant_kek(&self, tenant: &str, kek: Option<&str>, actor: Actor) -> Result<Receipt> {
        encryption::set_kek(&self.core, tenant, kek, &actor)
    }

    /// Re-wraps every data key of `tenant` (of every encrypted tenant,
    /// without one) under its KEK: its own, else the provider's current
    /// one. Run after adding a KEK (`annal keyring add`) and before
    /// destroying the old one. No row changes. Returns each tenant and its
    /// keys re-wrapped.
    pub fn rewrap_keys(&self, tenant: Option<&str>) -> Result<Vec<(String, usize)>> {
        encryption::rewrap(&self.core, tenant)
    }

    /// Erases `subject`, a person named by an id, from `tenant`'s rows, by
    /// `actor`: where it is the actor, the actor and the context of the
    /// action (session, IP, user agent); where it is the one acted for,
    /// `on_behalf_of`; where it is a target of type `user`, the target. The
    /// rows stay and the chain still verifies; the erasure is a row of it
    /// (`annal.subject.erased`) naming the subject by its pseudonym only
    /// (docs/SECURITY.md, "Erasure of one person"). [`Error::NotEncrypted`]
    /// for a tenant that is not encrypted, whose leaves cover every field.
    pub fn erase_subject(&self, tenant: &str, subject: &str, actor: Actor) -> Result<Erasure> {
        erasure::erase(&self.core, tenant, subject, &actor)
    }

    // ---- Redaction policy ------------------------------------------------

    /// Changes `tenant`'s redaction policy, effective for every event
    /// prepared after it lands. The change is itself a row of the tenant's
    /// chain (action `annal.policy.set`, by `actor`, with the new version and
    /// the policy in `metadata`), so the log records under which policy each
    /// later row was written. Returns that row's receipt and the new version.
    /// Creates the tenant if needed: the change is then its first row.
    pub fn set_policy(&self, tenant: &str, policy: &Policy, actor: Actor) -> Result<(Receipt, u32)> {
        policy::set(&self.core, tenant, policy, &actor)
    }

    /// `tenant`'s current redaction policy and its version.
    pub fn policy(&self, tenant: &str) -> Result<(u32, Policy)> {
        policy::current(&self.core, tenant)
    }

    /// The token `value` gets when `tenant`'s policy pseudonymizes it: what
    /// to search for. Queries do this themselves for their filters.
    pub fn pseudonym(&self, tenant: &str, value: &str) -> Result<String> {
        policy::pseudonym(&self.core, tenant, value)
    }

    /// `Some(`[`Error::Poisoned`]`)` once a write to the store has failed
    /// (a full disk, an I/O error): from then on every append gets that
    /// error, reads still work, and only reopening the store (recovery from
    /// the WAL on disk) makes it take appends again. `annal serve` answers
    /// `/readyz` with 503 meanwhile and exits with its own code
    /// (docs/OPERATIONS.md, "When a write fails").
    pub fn poisoned(&self) -> Option<Error> {
        self.core.poisoned()
    }

    // ---- Reading ---------------------------------------------------------

    /// Every tenant with a chain, sorted.
    pub fn tenants(&self) -> Vec<String> {
        self.core.tenants.list()
    }

    /// The latest row of `tenant`'s chain as durably stored.
    pub fn head(&self, tenant: &str) -> Result<ChainHead> {
        self.core.head(tenant)
    }

    /// One row by seq.
    pub fn get(&self, tenant: &str, seq: u64) -> Result<Option<Record>> {
        self.core.get(tenant, seq)
    }

    /// The tenant's rows in seq order, from `from_seq`, read in bounded chunks
    /// (constant memory however long the chain).
    pub fn iter(&self, tenant: &str, from_seq: u64) -> Result<RecordIter> {
        self.core.iter(tenant, from_seq)
    }

    /// The seqs of `tenant`'s rows with `from <= recorded_at < to` (ns), as
    /// an inclusive range; `None` when no row is in it.
    pub fn seqs_recorded_in(&self, tenant: &str, from: u64, to: u64) -> Result<Option<(u64, u64)>> {
        self.core.seqs_recorded_in(tenant, from, to)
    }

    /// `query` with its filter values turned into `tenant`'s pseudonym
    /// tokens where its policy pseudonymizes the field, and the tenant's number.
    fn resolved(&self, tenant: &str, query: &Query) -> Result<(u64, Query)> {
        let n = self.core.number(tenant)?;
        Ok((n, query::resolve_pseudonyms(&*self.core.redactors.get(tenant)?, query)))
    }

    /// One page of `query` over `tenant`'s chain: at most `limit` rows (1 to
    /// [`MAX_PAGE_SIZE`](crate::query::MAX_PAGE_SIZE); the command line and
    /// API default to 100), resuming after `cursor` if given. See
    /// [`crate::query`] for how the index is chosen and why paging is exact.
    pub fn query(&self, tenant: &str, query: &Query, limit: usize, cursor: Option<&str>) -> Result<Page> {
        Page::owned(|f| self.query_visit(tenant, query, limit, cursor, f))
    }

    /// The page [`Engine::query`] returns, with each row lent to `f` as it
    /// is read instead of copied into the page: a server writing rows
    /// straight into its answer allocates nothing per row. `f` may stop the
    /// page early (it is then not `complete`, and its cursor resumes after
    /// the last row `f` was given).
    pub fn query_visit(
        &self,
        tenant: &str,
        query: &Query,
        limit: usize,
        cursor: Option<&str>,
        mut f: impl FnMut(&RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<PageInfo> {
        let (n, query) = self.resolved(tenant, query)?;
        query::page_visit(&self.core.rows, &self.core.limits, tenant, n, &query, limit, cursor, &mut f)
    }

    /// Every row of `query`, in order, read a bounded chunk at a time
    /// (constant memory however large the window): for exports. The walk
    /// covers the rows that exist when it starts; later appends are not
    /// included, so an export is a fixed snapshot.
    pub fn query_stream(&self, tenant: &str, query: &Query) -> Result<QueryStream> {
        let (n, query) = self.resolved(tenant, query)?;
        QueryStream::new(&self.core.rows, &self.core.limits, n, query)
    }

    /// Hands every row of `query` to `f`, in order, each borrowed from the
    /// bytes just read: the export path. Nothing is copied or allocated per
    /// row (a [`RecordRef`] borrows its strings), and memory stays constant
    /// however large the window. Like [`Engine::query_stream`], the walk
    /// covers the rows that exist when it starts. `f` returns
    /// [`ControlFlow::Break`] to stop early (a full output buffer, a client
    /// gone).
    pub fn scan(&self, tenant: &str, query: &Query, mut f: impl FnMut(&RecordRef<'_>) -> ControlFlow<()>) -> Result<Scanned> {
        let (n, query) = self.resolved(tenant, query)?;
        query::scan(&self.core.rows, &self.core.limits, n, &query, &mut f)
    }

    /// `tenant`'s distinct action names that start with `prefix` (`""` for
    /// all), sorted, at most `limit`; and whether that is all of them. Read
    /// from the action index alone, one seek a name (see [`crate::summary`]).
    pub fn action_names(&self, tenant: &str, prefix: &str, limit: usize) -> Result<(Vec<String>, bool)> {
        summary::action_names(&self.core.store, self.core.number(tenant)?, prefix, limit)
    }

    /// How many of `query`'s rows fall in each `bucket` (UTC hour or day) of
    /// its window, by outcome; the window (`from` and `to`) is required.
    /// Counts at most `max_rows` rows, then stops and says the histogram is
    /// not complete. The rows are walked like an export's, as they stand
    /// when it starts.
    pub fn histogram(&self, tenant: &str, query: &Query, bucket: Bucket, max_rows: u64) -> Result<Histogram> {
        let (n, query) = self.resolved(tenant, query)?;
        summary::histogram(&self.core.rows, &self.core.limits, n, &query, bucket, max_rows)
    }

    /// Records in `tenant`'s own chain that `actor` exported rows of it
    /// (action `annal.log.exported`; the filter, format and row count in
    /// `metadata`, filter values through the tenant's detectors). See
    /// [`crate::access`].
    pub fn record_export(&self, tenant: &str, actor: Actor, export: &ExportRecord<'_>) -> Result<Receipt> {
        check_client_tenant(tenant)?;
        access::record_export(&self.core, tenant, &actor, export)
    }

    // ---- Verifying -------------------------------------------------------

    /// Checks that `tenant`'s index holds exactly the entries of its rows;
    /// reads every row and index entry of the tenant, in constant memory.
    pub fn check_index(&self, tenant: &str) -> Result<IndexCheck> {
        verify::check_index(&self.core.rows, self.core.number(tenant)?)
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
        verify::verify(&self.core.store, Some(&self.core.rows), tenant, self.core.number(tenant)?, range, progress)
    }

    // ---- API keys --------------------------------------------------------

    /// Creates a key for `tenant` (which must have a chain) and returns it
    /// with its token, the only time the token is available. Records an
    /// `annal.key.created` row (by `by`, with the key's id, scopes and
    /// label) in the tenant's chain first.
    pub fn create_api_key(&self, tenant: &str, scopes: Scopes, label: &str, by: Actor) -> Result<(ApiKey, String)> {
        apikeys::create(&self.core, tenant, scopes, label, KeyLimits::default(), &by)
    }

    /// [`Engine::create_api_key`] with limits of the key's own (requests a
    /// second, a minute, a month; 0 for the server's default), stored with
    /// the key and named in its `annal.key.created` row.
    pub fn create_api_key_with_limits(
        &self,
        tenant: &str,
        scopes: Scopes,
        label: &str,
        limits: KeyLimits,
        by: Actor,
    ) -> Result<(ApiKey, String)> {
        apikeys::create(&self.core, tenant, scopes, label, limits, &by)
    }

    /// The limits `tenant`'s key `id` was created with.
    pub fn api_key_limits(&self, tenant: &str, id: &str) -> Result<KeyLimits> {
        apikeys::limits(&self.core, tenant, id)
    }

    /// Every request count saved for `month` ([`apikeys::utc_month`]): per
    /// tenant and per key.
    pub fn usage(&self, month: u32) -> Result<Vec<Usage>> {
        apikeys::usage(&self.core, month)
    }

    /// Saves request counts (each replacing the stored one), without a
    /// sync: a crash loses at most the counts since the last save.
    pub fn save_usage(&self, counts: &[Usage]) -> Result<()> {
        apikeys::save_usage(&self.core, counts)
    }

    /// Every key of `tenant`, revoked ones included, in id order.
    pub fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKey>> {
        apikeys::list(&self.core, tenant)
    }

    /// Revokes `tenant`'s key `id`: from now on it authenticates nothing.
    /// Records an `annal.key.revoked` row (by `by`). Revoking a revoked key
    /// changes nothing and records nothing. A key of another tenant is
    /// [`Error::UnknownApiKey`], exactly like one that does not exist.
    pub fn revoke_api_key(&self, tenant: &str, id: &str, by: Actor) -> Result<ApiKey> {
        apikeys::revoke(&self.core, tenant, id, &by)
    }

    /// The live key a token names, or [`Error::InvalidApiKey`] for a
    /// malformed, unknown, wrong or revoked token (one error for all, so a
    /// caller learns nothing about which keys exist).
    pub fn authenticate(&self, token: &str) -> Result<ApiKey> {
        apikeys::authenticate(&self.core.store, token)
    }

    // ---- Checkpoints and bundles -----------------------------------------

    /// The checkpoint signing key's public half (32 bytes) and id (8
    /// bytes); `None` when the engine was opened without a key.
    pub fn checkpoint_public_key(&self) -> Option<([u8; 32], [u8; 8])> {
        self.checkpoints.public_key()
    }

    /// Signs and stores a checkpoint of `tenant`'s current head, after
    /// verifying every row since the previous checkpoint (a broken chain is
    /// never signed: the error says where it breaks). Returns the latest
    /// checkpoint unchanged when no row was appended since.
    pub fn checkpoint(&self, tenant: &str) -> Result<Checkpoint> {
        self.checkpoints.checkpoint(tenant)
    }

    /// The most recent stored checkpoint of `tenant`, if any.
    pub fn latest_checkpoint(&self, tenant: &str) -> Result<Option<Checkpoint>> {
        self.checkpoints.latest(tenant)
    }

    /// Stored checkpoints of `tenant` with `from_seq <= seq <= to_seq`, oldest first, at most `limit`.
    pub fn checkpoints(&self, tenant: &str, from_seq: u64, to_seq: u64, limit: usize) -> Result<Vec<Checkpoint>> {
        self.checkpoints.list(tenant, from_seq, to_seq, limit)
    }

    /// The stored checkpoint of `tenant` at exactly `seq`.
    pub fn checkpoint_at(&self, tenant: &str, seq: u64) -> Result<Option<Checkpoint>> {
        self.checkpoints.at(tenant, seq)
    }

    /// The first stored checkpoint of `tenant` at or after `seq`.
    pub fn checkpoint_at_or_after(&self, tenant: &str, seq: u64) -> Result<Option<Checkpoint>> {
        self.checkpoints.at_or_after(tenant, seq)
    }

    /// Makes a checkpoint of every tenant that `policy` says is due: rows
    /// appended since its last checkpoint, and either `every_rows` of them
    /// or `every` elapsed. Returns those made; a tenant that fails (a broken
    /// chain) is skipped and reported in the error list.
    pub fn checkpoint_due(&self, policy: &CheckpointPolicy) -> (Vec<Checkpoint>, Vec<(String, Error)>) {
        self.checkpoints.due(policy)
    }

    /// Verifies `tenant`'s chain from its latest signed checkpoint to its
    /// head, instead of from seq 1: the cost is the rows since the
    /// checkpoint. The rows before it are not read again (a change to one is
    /// found only by [`Engine::verify`] of the whole chain). Returns the
    /// checkpoint resumed from, `None` when there was none to resume from
    /// and the whole chain was verified.
    pub fn verify_since_checkpoint(&self, tenant: &str) -> Result<(Option<Checkpoint>, VerifyOutcome)> {
        self.checkpoints.verify_since_latest(tenant)
    }

    /// Checks that the store still holds the chain `trusted` signed and
    /// extends it; with `required_key`, the checkpoint must be signed by
    /// that public key. See [`TrustedFailure`](crate::TrustedFailure) for
    /// every reason it fails.
    pub fn verify_trusted(&self, trusted: &Checkpoint, required_key: Option<&[u8; 32]>) -> Result<TrustedOutcome> {
        self.checkpoints.verify_trusted(trusted, required_key)
    }

    /// Writes a bundle of `tenant`'s rows `from_seq..=to_seq` (clipped to
    /// what the store holds: after the retention anchor, up to the head) to
    /// `out`. Makes a checkpoint first when none covers the window's end.
    pub fn write_bundle(
        &self,
        tenant: &str,
        from_seq: u64,
        to_seq: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<crate::checkpoint::BundleReport> {
        self.checkpoints.write_bundle(tenant, from_seq, to_seq, out)
    }

    // ---- Retention -------------------------------------------------------

    /// `tenant`'s retention policy, legal hold and anchor.
    pub fn retention(&self, tenant: &str) -> Result<RetentionStatus> {
        self.retention.status(tenant)
    }

    /// Sets `tenant`'s retention, by `actor`. The change is a row of the
    /// tenant's chain (`annal.retention.set`, with the old and new policy)
    /// written in the same batch as the setting, and applies from the next
    /// deletion batch on. Creates the tenant if needed.
    pub fn set_retention(&self, tenant: &str, retention: Retention, actor: Actor) -> Result<Receipt> {
        self.retention.set(tenant, retention, &actor)
    }

    /// Places a legal hold on `tenant`, by `actor`, for `reason`: from the
    /// moment this returns, no run deletes any of its rows until
    /// [`Engine::release_hold`]. Recorded as `annal.retention.hold` in the
    /// tenant's chain, in the batch that stores the hold. Placing a hold on a
    /// held tenant replaces its reason (and is recorded too).
    pub fn place_hold(&self, tenant: &str, reason: &str, actor: Actor) -> Result<Receipt> {
        self.retention.place_hold(tenant, reason, &actor)
    }

    /// Lifts `tenant`'s legal hold, by `actor`; the next run deletes what
    /// expired meanwhile. Recorded as `annal.retention.released` with the
    /// hold's reason and start. [`Error::NoHold`] if there is none.
    pub fn release_hold(&self, tenant: &str, actor: Actor) -> Result<Receipt> {
        self.retention.release_hold(tenant, &actor)
    }

    /// One retention run over every tenant, as described in [`crate::retention`].
    pub fn run_retention(&self, opts: &RunOptions) -> Result<RunReport> {
        self.retention.run(opts, None)
    }

    /// Deletes `tenant` entirely, by `actor`, for `reason`: all of its rows,
    /// index and idempotency entries and metadata, in one atomic write with
    /// the `annal.tenant.deleted` row of the platform chain
    /// ([`PLATFORM_TENANT`](crate::PLATFORM_TENANT)) that names the tenant,
    /// its final seq and head and how many rows it had. A legal hold refuses
    /// it. The deleted key ranges are then compacted so the bytes leave the
    /// disk.
    pub fn delete_tenant(&self, tenant: &str, reason: &str, actor: Actor) -> Result<TenantDeletion> {
        self.retention.delete_tenant(tenant, reason, &actor)
    }

    // ---- Workspaces, for a platform ----------------------------------------

    /// Creates `tenant` with a first key of `scopes` labelled `label`, by
    /// `actor`, and returns the key with its token (shown this once). An
    /// `annal.tenant.created` row of the platform chain records it;
    /// [`Error::TenantExists`] if the tenant has a chain.
    pub fn create_tenant(&self, tenant: &str, scopes: Scopes, label: &str, actor: Actor) -> Result<(ApiKey, String)> {
        self.retention.create_tenant(tenant, scopes, label, &actor)
    }

    /// Schedules `tenant`'s deletion `grace` from now, by `actor`, for
    /// `reason`: from the moment this returns its keys authenticate nothing
    /// and none of its rows is served; [`Engine::purge_due_deletions`]
    /// deletes it once `grace` has passed, unless
    /// [`Engine::cancel_tenant_deletion`] came first. A zero `grace`
    /// deletes it at once. Recorded as `annal.tenant.deletion_scheduled` in
    /// the platform chain.
    pub fn schedule_tenant_deletion(&self, tenant: &str, reason: &str, grace: Duration, actor: Actor) -> Result<Scheduled> {
        self.retention.schedule_deletion(tenant, reason, grace, &actor)
    }

    /// Cancels `tenant`'s scheduled deletion, by `actor`
    /// (`annal.tenant.deletion_cancelled` in the platform chain).
    pub fn cancel_tenant_deletion(&self, tenant: &str, actor: Actor) -> Result<Receipt> {
        self.retention.cancel_deletion(tenant, &actor)
    }

    /// Deletes every tenant whose scheduled deletion is due by the engine's
    /// clock; returns those deleted and those that failed.
    pub fn purge_due_deletions(&self) -> Purges {
        self.retention.purge_due(None)
    }

    /// Every client tenant, closing ones included, with its head seq and
    /// scheduled deletion.
    pub fn tenant_infos(&self) -> Result<Vec<TenantInfo>> {
        self.retention.tenant_infos()
    }

    /// One client tenant, closing or not.
    pub fn tenant_info(&self, tenant: &str) -> Result<TenantInfo> {
        self.retention.tenant_info(tenant)
    }

    /// Creates a platform key ([`Scopes::PLATFORM`]; it belongs to the
    /// platform chain, which records its creation), returned with its token.
    pub fn create_platform_key(&self, label: &str, by: Actor) -> Result<(ApiKey, String)> {
        apikeys::create_platform(&self.core, label, &by)
    }

    /// Revokes platform key `id`, by `by` (`annal.key.revoked` in the
    /// platform chain); it authenticates nothing from the next request on.
    pub fn revoke_platform_key(&self, id: &str, by: Actor) -> Result<ApiKey> {
        apikeys::revoke_platform(&self.core, id, &by)
    }

    /// Every platform key, revoked ones included.
    pub fn platform_keys(&self) -> Result<Vec<ApiKey>> {
        match apikeys::list(&self.core, crate::PLATFORM_TENANT) {
            Err(Error::UnknownTenant) => Ok(Vec::new()),
            other => other,
        }
    }
}
