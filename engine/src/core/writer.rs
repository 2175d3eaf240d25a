//! The single writer: group commit of concurrent appends.
//!
//! Callers validate, encode and hash their events and lay out each record
//! value on their own threads ([`super::prepare`]), then hand a
//! request to this thread through a
//! bounded channel and wait. The writer takes every request waiting at that
//! moment (up to a cap), assigns seqs and `recorded_at`, computes the chain
//! links, fills them into the prepared values, and writes the whole group as
//! one RocksDB batch with one WAL sync.
//! Only after that write returns does any caller get its receipts.
//!
//! One thread owns the chain heads, so seq assignment needs no lock and two
//! appends to one tenant can never race. While the committer thread writes
//! and syncs one group, the writer stages the next from the requests that
//! queued up meanwhile: the more concurrent writers, the larger the groups,
//! the fewer syncs per row, and staging overlaps the disk. While nothing
//! is in flight, a small group, or one with no next arriving behind it, is
//! written by the writer itself, sparing two thread wake-ups (see
//! `Writer::run`).
//!
//! **Invariants.** A receipt is sent only after the batch holding its row
//! returned from a (synced) write, by whichever thread wrote it. The
//! writer's working heads run at most one group ahead of the disk; groups
//! are written strictly in staging order; a failed write poisons the engine
//! and fails every group staged after it, so nothing built on a lost group
//! can land. Readers see a new tenant only once
//! its first group is durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::clock::Clock;
use super::directory::Directory;
use super::prepare::PreparedEvent;
use super::redactors::Redactors;
use super::Durability;
use crate::error::{Error, Result};
use crate::format::chain;
use crate::format::index::Postings;
use crate::format::keys;
use crate::format::record::{self, ChainHead, IdempotencyEntry, Receipt, StoredRecord, TenantEntry};
use crate::redact::Redactor;
use crate::storage::{Batch, Cf, Store};

/// One caller's append: all of its events land, or none.
pub(crate) struct Request {
    pub tenant: String,
    pub events: Vec<PreparedEvent>,
    pub reply: ReplyTo,
    /// Set for a policy change: the new policy, whose version must be the
    /// tenant's next. `events` is then the one `annal.policy.set` event.
    pub new_policy: Option<Arc<Redactor>>,
    /// Writes that must land in the same batch as the request's rows (a
    /// retention policy, a hold, an anchor), or not at all.
    pub side: Vec<SideWrite>,
    /// Tenant deletion: the tenant to forget, and the head its chain must
    /// still have. Its keys go in the same batch (as `side` writes) and the
    /// writer drops its state, so a later append starts a new chain.
    pub forget: Option<(String, ChainHead)>,
}

/// A write staged with a request's rows, in the same batch.
#[derive(Debug, Clone)]
pub(crate) enum SideWrite {
    /// Put or (with `None`) delete `tag ‖ u64be(number)` in `tenants`, where
    /// the number is the request's tenant's (assigned by this very request
    /// for a new tenant).
    TenantMeta { tag: u8, value: Option<Vec<u8>> },
    /// Put one key.
    Put(Cf, Vec<u8>, Vec<u8>),
    /// Delete one key.
    Delete(Cf, Vec<u8>),
    /// Delete every key in `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// A tenant's chain as the writer sees it.
#[derive(Debug, Clone)]
pub(crate) struct TenantState {
    pub number: u64,
    pub head: ChainHead,
    /// Set when the head entry and the last record disagree on open: appends
    /// are refused (writing would overwrite or orphan rows) until repaired.
    pub damaged: bool,
    /// Version of the tenant's redaction policy: every event must have been
    /// prepared under exactly this one.
    pub policy_version: u32,
}

/// What the writer thread works with: its own handles on the core's state.
#[derive(Debug, Clone)]
pub(crate) struct WriterContext {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub durability: Durability,
    pub idempotency_window_ns: u64,
    /// Where new and deleted tenants are published once durable.
    pub tenants: Arc<Directory>,
    /// Replaced by a policy change when it is staged.
    pub redactors: Arc<Redactors>,
    /// Encrypted tenants' keys, forgotten with a tenant's deletion.
    pub sealing: Arc<super::sealing::Sealing>,
    /// Most events the writer gathers into one group commit.
    pub max_group_events: usize,
}

/// Set once a group's write fails, never cleared: the engine then takes no
/// more appends (nor stages any on top of the failed group) until the
/// store is reopened. Remembers whether the disk was full, which a
/// supervisor and a client are told apart (507, not 503).
#[derive(Debug, Default)]
pub(crate) struct Poison(AtomicU8);

impl Poison {
    const FAILED: u8 = 1;
    const NO_SPACE: u8 = 2;

    pub fn set(&self, no_space: bool) {
        // The first failure's cause stays.
        let _ =
            self.0.compare_exchange(0, if no_space { Self::NO_SPACE } else { Self::FAILED }, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }

    /// The error every append gets once set.
    pub fn error(&self) -> Error {
        Error::Poisoned { no_space: self.0.load(Ordering::SeqCst) == Self::NO_SPACE }
    }
}

/// The way into the writer thread; the core owns it, and dropping it (the
/// last handle on the core going) stops the writer once everything queued
/// is committed.
#[derive(Debug)]
pub(crate) struct WriteQueue {
    tx: Option<SyncSender<Request>>,
    thread: Option<JoinHandle<()>>,
    poisoned: Arc<Poison>,
    store: Store,
    durability: Durability,
}

impl WriteQueue {
    /// Starts the writer over the recovered `tenants`, with room for
    /// `depth` requests waiting before callers block.
    pub fn start(
        context: WriterContext,
        tenants: HashMap<String, TenantState>,
        next_tenant: u64,
        depth: usize,
    ) -> Result<WriteQueue> {
        let (tx, rx) = mpsc::sync_channel(depth);
        let poisoned = Arc::new(Poison::default());
        let (store, durability) = (context.store.clone(), context.durability);
        let writer = Writer {
            context,
            tenants,
            next_tenant,
            rx,
            poisoned: Arc::clone(&poisoned),
            in_flight_idempotency: HashMap::new(),
            waiting: None,
        };
        let thread = std::thread::Builder::new().name("annal-writer".into()).spawn(move || writer.run())?;
        Ok(WriteQueue { tx: Some(tx), thread: Some(thread), poisoned, store, durability })
    }

    /// The error appends get, once a write has failed.
    pub fn poisoned(&self) -> Option<Error> {
        self.poisoned.is_set().then(|| self.poisoned.error())
    }

    /// Hands one request to the writer and waits for its receipts.
    pub fn submit(&self, request: impl FnOnce(ReplyTo) -> Request) -> Result<Vec<Receipt>> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.submit_with(request, ReplyTo::Channel(reply))?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// Hands one request to the writer; `reply` gets its outcome. A
    /// callback's request never waits for room in the queue: it is refused
    /// with [`Error::Busy`] instead (its caller does not block, by design).
    pub fn submit_with(&self, request: impl FnOnce(ReplyTo) -> Request, reply: ReplyTo) -> Result<()> {
        if self.poisoned.is_set() {
            return Err(self.poisoned.error());
        }
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        let waits = matches!(reply, ReplyTo::Channel(_));
        let request = request(reply);
        if waits {
            return tx.send(request).map_err(|_| Error::Closed);
        }
        tx.try_send(request).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => Error::Busy,
            mpsc::TrySendError::Disconnected(_) => Error::Closed,
        })
    }
}

impl Drop for WriteQueue {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once it has committed
        // everything already queued.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.durability == Durability::Buffered {
            let _ = self.store.sync_wal();
        }
    }
}

/// Groups of at most this many events are written by the writer itself
/// when no group is in flight, whatever is waiting (see `Writer::run`):
/// staging them is too short to be worth overlapping.
const INLINE_GROUP_EVENTS: usize = 64;

struct Writer {
    context: WriterContext,
    tenants: HashMap<String, TenantState>,
    next_tenant: u64,
    rx: Receiver<Request>,
    poisoned: Arc<Poison>,
    /// Idempotency entries of the group the committer may still be writing:
    /// not yet readable from the store, already binding.
    in_flight_idempotency: HashMap<(u64, String), IdempotencyEntry>,
    /// A request that arrived while the last group was staged: the next
    /// group's first (see `run`).
    waiting: Option<Request>,
}

/// The committer: writes staged groups in order, then publishes and replies;
/// `done` is called after each group.
fn commit_loop<'s>(context: &'s WriterContext, poisoned: &Poison, groups: impl IntoIterator<Item = Commit<'s>>, done: impl Fn()) {
    for commit in groups {
        commit_one(context, poisoned, commit);
        done();
    }
}

/// Writes one staged group, then publishes its tenants and replies.
fn commit_one<'s>(context: &'s WriterContext, poisoned: &Poison, commit: Commit<'s>) {
    if commit.batch.len() > 0 && !poisoned.is_set() {
        if let Err(e) = context.store.write(commit.batch, context.durability == Durability::Sync) {
            let no_space = matches!(e, Error::NoSpace(_));
            poisoned.set(no_space);
            let msg = e.to_string();
            for (tx, _) in commit.replies {
                tx.send(Err(if no_space { Error::NoSpace(msg.clone()) } else { Error::Storage(msg.clone()) }));
            }
            return;
        }
    }
    if poisoned.is_set() {
        // An earlier group failed; this one was built on it.
        for (tx, _) in commit.replies {
            tx.send(Err(poisoned.error()));
        }
        return;
    }
    context.tenants.publish(commit.new_tenants, &commit.forgotten);
    for (tx, receipts) in commit.replies {
        tx.send(Ok(receipts));
    }
}

/// What the writer decided for one event of a request.
enum Plan {
    /// A new row.
    New,
    /// A replay of a row written earlier (or earlier in this group).
    Replay(Receipt),
    /// A replay of an earlier event of the same request.
    ReplayOf(usize),
}

/// Everything a group has changed but not yet written.
#[derive(Default)]
struct Group {
    tenants: HashMap<String, TenantState>,
    /// Tenants deleted by this group.
    forgotten: Vec<String>,
    idempotency: HashMap<(u64, String), IdempotencyEntry>,
    next_tenant: u64,
    /// Each tenant's index entries of this group, by tenant number: written
    /// once the group is staged, one posting per distinct value, tenants
    /// in number order (so the batch's index keys are in key order).
    postings: BTreeMap<u64, Postings>,
}

/// A caller's receipts (or why there are none), once its rows are durable.
pub(crate) type Outcome = Result<Vec<Receipt>>;

/// Where a request's outcome goes: a caller blocked on a channel, or a
/// callback (an async server's task waker, say), run on the committer
/// thread, which must return at once.
pub(crate) enum ReplyTo {
    Channel(SyncSender<Outcome>),
    Callback(Box<dyn FnOnce(Outcome) + Send>),
}

impl ReplyTo {
    fn send(self, outcome: Outcome) {
        match self {
            // A caller that went away does not need its answer.
            ReplyTo::Channel(tx) => {
                let _ = tx.send(outcome);
            }
            ReplyTo::Callback(f) => f(outcome),
        }
    }
}

impl std::fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplyTo::Channel(_) => "ReplyTo::Channel",
            ReplyTo::Callback(_) => "ReplyTo::Callback",
        })
    }
}

/// A staged group on its way to the disk.
struct Commit<'s> {
    batch: Batch<'s>,
    /// Events the group's requests hold.
    events: usize,
    /// Callers and the receipts they get once the batch is durable.
    replies: Vec<(ReplyTo, Vec<Receipt>)>,
    /// Tenants this group creates, published to readers once durable.
    new_tenants: Vec<(String, u64)>,
    /// Tenants this group deletes, removed from the directory once durable.
    forgotten: Vec<String>,
}

impl Writer {
    /// Two stages in two threads: this one stages group N+1 (seqs, links,
    /// the batch) while the committer writes and syncs group N. The hand-over
    /// is a rendezvous, so at most one group is in flight while the next is
    /// staged: staging builds on the in-flight group's heads and idempotency
    /// keys, and the committer writes groups strictly in order. The committer
    /// alone replies, and only after a group's write returned: no receipt is
    /// ever given for a row that is not durable. If a write fails, the
    /// committer poisons the engine and fails that group and every later one,
    /// so nothing built on a lost group can land.
    ///
    /// While no group is in flight, a group is written by this thread
    /// itself when it is small or when no request arrived while it was
    /// staged: handing it over costs two thread wake-ups (to the committer
    /// and back) and a cache gone cold on another thread, and then there
    /// is nothing, or little, to stage while it is written. Clients that
    /// each wait for their answer before sending again (a service's few
    /// connections) are all in one group, so their groups are written
    /// here; a large group with the next arriving behind it is handed
    /// over, and the next is staged while it is written. The order
    /// and the guarantees are the same: `in_flight` counts the groups
    /// handed over and not yet done, and only at zero is every earlier
    /// group written.
    fn run(mut self) {
        // The committer borrows a context of its own: staging needs `self`
        // mutably meanwhile.
        let shared = self.context.clone();
        let poisoned = Arc::clone(&self.poisoned);
        let in_flight = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (to_committer, from_writer) = mpsc::sync_channel::<Commit<'_>>(0);
            let committer = std::thread::Builder::new().name("annal-commit".into()).spawn_scoped(scope, || {
                commit_loop(&shared, &poisoned, from_writer, || {
                    in_flight.fetch_sub(1, Ordering::Release);
                })
            });
            if committer.is_err() {
                // Could not start a thread: commit inline (no overlap, same guarantees).
                while let Some(commit) = self.next_group(&shared) {
                    commit_one(&shared, &poisoned, commit);
                }
                return;
            }
            while let Some(commit) = self.next_group(&shared) {
                let alone = commit.events <= INLINE_GROUP_EVENTS || self.waiting.is_none();
                if alone && in_flight.load(Ordering::Acquire) == 0 {
                    commit_one(&shared, &poisoned, commit);
                    continue;
                }
                in_flight.fetch_add(1, Ordering::Release);
                if to_committer.send(commit).is_err() {
                    break;
                }
            }
        });
    }

    /// Waits for requests, gathers a group and stages it; `None` once the
    /// engine is closed.
    fn next_group<'s>(&mut self, shared: &'s WriterContext) -> Option<Commit<'s>> {
        let first = match self.waiting.take() {
            Some(r) => r,
            None => self.rx.recv().ok()?,
        };
        let mut events = first.events.len();
        let mut requests = vec![first];
        while events < shared.max_group_events {
            match self.rx.try_recv() {
                Ok(r) => {
                    events += r.events.len();
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        let commit = self.stage_group(shared, requests, events);
        // Whether the next group has begun to arrive: the first request of
        // it, taken now and staged first next time (see `run`).
        self.waiting = self.rx.try_recv().ok();
        Some(commit)
    }

    fn stage_group<'s>(&mut self, shared: &'s WriterContext, requests: Vec<Request>, events: usize) -> Commit<'s> {
        // Each row is its value and key plus, at most, about as much again
        // in index postings, its head and idempotency entries.
        let bytes: usize = requests.iter().flat_map(|r| &r.events).map(|e| e.value.len() + 64).sum();
        let mut commit = Commit {
            batch: shared.store.batch_with_capacity(bytes + 4096),
            events,
            replies: Vec::with_capacity(requests.len()),
            new_tenants: Vec::new(),
            forgotten: Vec::new(),
        };
        if self.poisoned.is_set() {
            for r in requests {
                r.reply.send(Err(self.poisoned.error()));
            }
            return commit;
        }
        let now = shared.clock.now_ns();
        let mut group = Group { next_tenant: self.next_tenant, ..Group::default() };
        for mut req in requests {
            match self.stage(&mut req, now, &mut commit.batch, &mut group) {
                Ok(receipts) => commit.replies.push((req.reply, receipts)),
                // Nothing of this request was staged; the others go on.
                Err(e) => {
                    req.reply.send(Err(e));
                }
            }
        }
        for (n, postings) in std::mem::take(&mut group.postings) {
            postings.for_each_entry(n, |k, v| commit.batch.put(Cf::Index, k, v));
        }
        // The next group builds on this one, which is not yet on disk; see run().
        // A tenant deleted and then created again in this group is in both
        // lists: forgetting first keeps the new chain.
        for name in &group.forgotten {
            self.tenants.remove(name);
        }
        commit.forgotten = group.forgotten;
        for (name, state) in group.tenants {
            if !self.tenants.contains_key(&name) {
                commit.new_tenants.push((name.clone(), state.number));
            }
            self.tenants.insert(name, state);
        }
        self.next_tenant = group.next_tenant;
        self.in_flight_idempotency = group.idempotency;
        commit
    }

    /// Adds one request's writes to the batch, or changes nothing and fails.
    fn stage(&self, req: &mut Request, now: u64, batch: &mut Batch<'_>, group: &mut Group) -> Result<Vec<Receipt>> {
        let existing = self.current(group, &req.tenant);
        self.check(req, existing.as_ref(), group)?;
        // Decide every event first, so that a conflict leaves nothing staged.
        let plans = self.plan(req, existing.as_ref(), now, group)?;
        let mut state = match existing {
            Some(t) => t,
            None => self.new_tenant(req, now, batch, group)?,
        };
        let mut receipts: Vec<Receipt> = Vec::with_capacity(req.events.len());
        let mut wrote = false;
        for (ev, plan) in req.events.iter_mut().zip(plans) {
            let receipt = match plan {
                Plan::Replay(r) => r,
                Plan::ReplayOf(j) => Receipt { replayed: true, ..receipts[j] },
                Plan::New => {
                    let seq = state.head.seq + 1;
                    // Never decreasing within a tenant, whatever the clock does.
                    let recorded_at = now.max(state.head.recorded_at);
                    let head = chain::link_hash(&state.head.head, seq, recorded_at, &ev.leaf);
                    StoredRecord::fill_template(&mut ev.value, recorded_at, &head);
                    // The keys a sealed row needs land with it (or came
                    // with an earlier row: a failed batch poisons every one
                    // staged after it).
                    for (k, entry) in ev.seal.as_ref().map(|s| s.take_pending()).unwrap_or_default() {
                        batch.put(Cf::Tenants, &keys::tenant_key(state.number, k), &entry);
                    }
                    batch.put(Cf::Records, &keys::record(state.number, seq), &ev.value);
                    // Same batch as the record: both land or neither does.
                    group.postings.entry(state.number).or_default().add(&ev.index, seq, recorded_at);
                    let receipt = Receipt { seq, recorded_at, leaf: ev.leaf, head, replayed: false };
                    if let Some(key) = &ev.idempotency_key {
                        let entry = IdempotencyEntry { receipt, fingerprint: ev.fingerprint };
                        batch.put(Cf::Idempotency, &keys::idempotency(state.number, key), &entry.encode());
                        group.idempotency.insert((state.number, key.clone()), entry);
                    }
                    state.head = ChainHead { seq, recorded_at, head };
                    wrote = true;
                    receipt
                }
            };
            receipts.push(receipt);
        }
        if let Some(p) = &req.new_policy {
            let json = serde_json::to_vec(&p.policy).unwrap_or_default();
            batch.put(Cf::Tenants, &keys::tenant_policy(state.number, p.version), &record::encode_policy(now, &json));
            state.policy_version = p.version;
            // Events prepared from now on use it; those prepared under the
            // old version are refused above and prepared again.
            self.context.redactors.set(&req.tenant, Arc::clone(p));
        }
        // The deleted tenant's entries of this group go in before the
        // deletion's range tombstones, which then cover them too.
        if let Some(n) = req.forget.as_ref().and_then(|(name, _)| self.current(group, name)).map(|t| t.number) {
            if let Some(p) = group.postings.remove(&n) {
                p.for_each_entry(n, |k, v| batch.put(Cf::Index, k, v));
            }
        }
        for w in &req.side {
            match w {
                SideWrite::TenantMeta { tag, value: Some(v) } => {
                    batch.put(Cf::Tenants, &keys::tenant_meta(*tag, state.number), v)
                }
                SideWrite::TenantMeta { tag, value: None } => batch.delete(Cf::Tenants, &keys::tenant_meta(*tag, state.number)),
                SideWrite::Put(cf, k, v) => batch.put(*cf, k, v),
                SideWrite::Delete(cf, k) => batch.delete(*cf, k),
                SideWrite::DeleteRange(cf, from, to) => batch.delete_range(*cf, from, to),
            }
        }
        if wrote {
            batch.put(Cf::Heads, &keys::head(state.number), &state.head.encode());
            group.tenants.insert(req.tenant.clone(), state);
        }
        if let Some((name, _)) = &req.forget {
            group.tenants.remove(name);
            group.forgotten.push(name.clone());
            self.context.redactors.remove(name);
            self.context.sealing.forget(name, self.tenants.get(name).map(|t| t.number));
        }
        Ok(receipts)
    }

    /// Refuses a request that cannot be staged as it is: a damaged chain, a
    /// deletion whose chain moved, events prepared for another tenant or
    /// under another policy version than the one their rows would get.
    fn check(&self, req: &Request, existing: Option<&TenantState>, group: &Group) -> Result<()> {
        if existing.is_some_and(|t| t.damaged) {
            return Err(Error::Corrupt("the tenant's chain head and its last record disagree; run verify".into()));
        }
        if let Some((name, expected)) = &req.forget {
            // The deletion names the final head: refuse it if rows landed
            // since the caller read it (the caller reads it again).
            match self.current(group, name) {
                Some(t) if t.head == *expected => {}
                Some(_) => return Err(Error::HeadMoved),
                None => return Err(Error::UnknownTenant),
            }
        }
        // Redaction: every event was prepared for this tenant under the
        // policy version its rows will be written under (a new tenant starts
        // at version 1; a policy change moves to the next).
        let current = existing.map_or(1, |t| t.policy_version);
        let expected = match &req.new_policy {
            None => current,
            Some(p) => {
                let next = if existing.is_some() { current + 1 } else { 2 };
                if p.version != next || p.tenant != req.tenant {
                    return Err(Error::PolicyChanged { prepared: p.version.saturating_sub(1), current });
                }
                next
            }
        };
        for ev in &req.events {
            if ev.redactor.tenant != req.tenant {
                return Err(Error::WrongTenant);
            }
            if ev.redactor.version != expected {
                return Err(Error::PolicyChanged { prepared: ev.redactor.version, current });
            }
        }
        Ok(())
    }

    /// What becomes of each event: a new row, or a replay of a row an
    /// earlier event with the same idempotency key got (within the window).
    fn plan(&self, req: &Request, existing: Option<&TenantState>, now: u64, group: &Group) -> Result<Vec<Plan>> {
        let window = self.context.idempotency_window_ns;
        let mut plans = Vec::with_capacity(req.events.len());
        let mut seen_in_request: HashMap<&str, usize> = HashMap::new();
        for (i, ev) in req.events.iter().enumerate() {
            let Some(key) = ev.idempotency_key.as_deref() else {
                plans.push(Plan::New);
                continue;
            };
            if let Some(&j) = seen_in_request.get(key) {
                if req.events[j].fingerprint != ev.fingerprint {
                    return Err(Error::IdempotencyConflict { index: i, first_seq: None });
                }
                plans.push(Plan::ReplayOf(j));
                continue;
            }
            seen_in_request.insert(key, i);
            let earlier = match existing {
                None => None,
                Some(t) => self.earlier_receipt(t.number, key, group)?,
            };
            match earlier {
                Some(IdempotencyEntry { receipt: r, fingerprint }) if now.saturating_sub(r.recorded_at) <= window => {
                    if fingerprint != ev.fingerprint {
                        return Err(Error::IdempotencyConflict { index: i, first_seq: Some(r.seq) });
                    }
                    plans.push(Plan::Replay(Receipt { replayed: true, ..r }));
                }
                _ => plans.push(Plan::New),
            }
        }
        Ok(plans)
    }

    /// The receipt of the row tenant `n` wrote under idempotency `key`:
    /// this group's first, then the one the committer may be writing (not
    /// yet readable from the store), then the store.
    fn earlier_receipt(&self, n: u64, key: &str, group: &Group) -> Result<Option<IdempotencyEntry>> {
        let k = (n, key.to_string());
        if let Some(r) = group.idempotency.get(&k).or_else(|| self.in_flight_idempotency.get(&k)) {
            return Ok(Some(*r));
        }
        match self.context.store.get(Cf::Idempotency, &keys::idempotency(n, key))? {
            Some(bytes) => {
                Ok(Some(IdempotencyEntry::decode(&bytes).map_err(|e| Error::Corrupt(format!("idempotency entry: {e}")))?))
            }
            None => Ok(None),
        }
    }

    /// Registers the request's tenant, new to the store: its number, name,
    /// pseudonym secret and policy version 1, in the request's batch.
    fn new_tenant(&self, req: &Request, now: u64, batch: &mut Batch<'_>, group: &mut Group) -> Result<TenantState> {
        // The secret every prepared event of the tenant was pseudonymized
        // with. Taken before the tenant gets a number: a request refused
        // here must not use one up.
        let secret = match (&req.new_policy, req.events.first()) {
            (Some(p), _) => p.secret(),
            (None, Some(ev)) => ev.redactor.secret(),
            (None, None) => return Err(Error::EmptyBatch),
        };
        let number = group.next_tenant;
        group.next_tenant += 1;
        let entry = TenantEntry { number, created_at: now };
        batch.put(Cf::Tenants, &keys::tenant_by_name(&req.tenant), &entry.encode());
        batch.put(Cf::Tenants, &keys::tenant_by_number(number), req.tenant.as_bytes());
        batch.put(Cf::Meta, keys::META_NEXT_TENANT, &group.next_tenant.to_be_bytes());
        batch.put(Cf::Tenants, &keys::tenant_secret(number), &record::encode_secret(secret));
        // Policy version 1: the default.
        let default = serde_json::to_vec(self.context.redactors.default_policy()).unwrap_or_default();
        batch.put(Cf::Tenants, &keys::tenant_policy(number, 1), &record::encode_policy(now, &default));
        Ok(TenantState {
            number,
            head: ChainHead { seq: 0, recorded_at: 0, head: chain::genesis(&req.tenant) },
            damaged: false,
            policy_version: 1,
        })
    }

    /// The tenant's state as this group leaves it: `None` if it has no
    /// chain or this group deleted it.
    fn current(&self, group: &Group, tenant: &str) -> Option<TenantState> {
        match group.tenants.get(tenant) {
            Some(t) => Some(t.clone()),
            None if group.forgotten.iter().any(|f| f == tenant) => None,
            None => self.tenants.get(tenant).cloned(),
        }
    }
}
