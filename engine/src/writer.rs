//! The single writer: group commit of concurrent appends.
//!
//! Callers validate, encode and hash their events and lay out each record
//! value on their own threads ([`crate::Engine::prepare`]), then hand a
//! request to this thread through a
//! bounded channel and wait. The writer takes every request waiting at that
//! moment (up to a cap), assigns seqs and `recorded_at`, computes the chain
//! links, fills them into the prepared values, and writes the whole group as
//! one RocksDB batch with one WAL sync.
//! Only after that write returns does any caller get its receipts.
//!
//! One thread owns the chain heads, so seq assignment needs no lock and two
//! appends to one tenant can never race. While it syncs, new requests queue
//! up and form the next group: the more concurrent writers, the larger the
//! groups, the fewer syncs per row.
//!
//! **Invariant:** in-memory heads change only after the batch that contains
//! them is on disk. A failed write leaves memory as it was and poisons the
//! engine, because after a failed fsync the state on disk is unknown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use crate::chain::{self, Hash};
use crate::engine::{Durability, Shared};
use crate::error::{Error, Result};
use crate::keys;
use crate::record::{ChainHead, Receipt, StoredRecord, TenantEntry, RECORD_OVERHEAD};
use crate::storage::Cf;

/// An event ready for the writer: validated, encoded, hashed and laid out
/// as a record value on the caller's thread, so the single writer only has to
/// fill in its place in the chain.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// A [`StoredRecord::template`]: the record value minus recorded_at, head and CRC.
    pub(crate) value: Vec<u8>,
    pub(crate) leaf: Hash,
    pub(crate) idempotency_key: Option<String>,
}

impl PreparedEvent {
    /// Leaf hash of the event.
    pub fn leaf(&self) -> Hash {
        self.leaf
    }

    /// Size of the canonical event encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        self.value.len() - RECORD_OVERHEAD
    }
}

/// One caller's append: all of its events land, or none.
pub(crate) struct Request {
    pub tenant: String,
    pub events: Vec<PreparedEvent>,
    pub reply: SyncSender<Result<Vec<Receipt>>>,
}

/// A tenant's chain as the writer sees it.
#[derive(Debug, Clone)]
pub(crate) struct TenantState {
    pub number: u64,
    pub head: ChainHead,
    /// Set when the head entry and the last record disagree on open: appends
    /// are refused (writing would overwrite or orphan rows) until repaired.
    pub damaged: bool,
}

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub tenants: HashMap<String, TenantState>,
    pub next_tenant: u64,
    pub rx: Receiver<Request>,
    pub poisoned: Arc<AtomicBool>,
    pub max_group_events: usize,
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
    idempotency: HashMap<(u64, String), Receipt>,
    next_tenant: u64,
}

impl Writer {
    pub fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut events = first.events.len();
            let mut requests = vec![first];
            while events < self.max_group_events {
                match self.rx.try_recv() {
                    Ok(r) => {
                        events += r.events.len();
                        requests.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit(requests);
        }
    }

    fn commit(&mut self, mut requests: Vec<Request>) {
        if self.poisoned.load(Ordering::SeqCst) {
            for r in requests {
                let _ = r.reply.send(Err(Error::Poisoned));
            }
            return;
        }
        let shared = Arc::clone(&self.shared);
        let now = shared.clock.now_ns();
        let mut batch = shared.store.batch();
        let mut group = Group { next_tenant: self.next_tenant, ..Group::default() };
        let mut replies = Vec::with_capacity(requests.len());
        for mut req in requests.drain(..) {
            match self.stage(&mut req, now, &mut batch, &mut group) {
                Ok(receipts) => replies.push((req.reply, Ok(receipts))),
                Err(e) => {
                    let _ = req.reply.send(Err(e));
                }
            }
        }
        if batch.len() > 0 {
            let sync = shared.durability == Durability::Sync;
            if let Err(e) = shared.store.write(batch, sync) {
                self.poisoned.store(true, Ordering::SeqCst);
                let msg = e.to_string();
                for (tx, _) in replies {
                    let _ = tx.send(Err(Error::Storage(msg.clone())));
                }
                return;
            }
            // Durable: now memory may move forward.
            let mut directory = shared.tenants.write();
            for (name, state) in group.tenants {
                directory.entry(name.clone()).or_insert(state.number);
                self.tenants.insert(name, state);
            }
            self.next_tenant = group.next_tenant;
        }
        for (tx, result) in replies {
            let _ = tx.send(result);
        }
    }

    /// Adds one request's writes to the batch, or changes nothing and fails.
    fn stage(
        &self,
        req: &mut Request,
        now: u64,
        batch: &mut crate::storage::Batch<'_>,
        group: &mut Group,
    ) -> Result<Vec<Receipt>> {
        let shared = &self.shared;
        let existing = group.tenants.get(&req.tenant).or_else(|| self.tenants.get(&req.tenant)).cloned();
        if existing.as_ref().is_some_and(|t| t.damaged) {
            return Err(Error::Corrupt("the tenant's chain head and its last record disagree; run verify".into()));
        }

        // Decide every event first, so that a conflict leaves nothing staged.
        let window = shared.idempotency_window_ns;
        let mut plans = Vec::with_capacity(req.events.len());
        let mut seen_in_request: HashMap<&str, usize> = HashMap::new();
        for (i, ev) in req.events.iter().enumerate() {
            let Some(key) = ev.idempotency_key.as_deref() else {
                plans.push(Plan::New);
                continue;
            };
            if let Some(&j) = seen_in_request.get(key) {
                if req.events[j].leaf != ev.leaf {
                    return Err(Error::IdempotencyConflict { index: i, first_seq: None });
                }
                plans.push(Plan::ReplayOf(j));
                continue;
            }
            seen_in_request.insert(key, i);
            let earlier = match &existing {
                None => None,
                Some(t) => match group.idempotency.get(&(t.number, key.to_string())) {
                    Some(r) => Some(*r),
                    None => match shared.store.get(Cf::Idempotency, &keys::idempotency(t.number, key))? {
                        Some(bytes) => {
                            Some(Receipt::decode(&bytes).map_err(|e| Error::Corrupt(format!("idempotency entry: {e}")))?)
                        }
                        None => None,
                    },
                },
            };
            match earlier {
                Some(r) if now.saturating_sub(r.recorded_at) <= window => {
                    if r.leaf != ev.leaf {
                        return Err(Error::IdempotencyConflict { index: i, first_seq: Some(r.seq) });
                    }
                    plans.push(Plan::Replay(Receipt { replayed: true, ..r }));
                }
                _ => plans.push(Plan::New),
            }
        }

        // Apply.
        let mut state = match existing {
            Some(t) => t,
            None => {
                let number = group.next_tenant;
                group.next_tenant += 1;
                let entry = TenantEntry { number, created_at: now };
                batch.put(Cf::Tenants, &keys::tenant_by_name(&req.tenant), &entry.encode());
                batch.put(Cf::Tenants, &keys::tenant_by_number(number), req.tenant.as_bytes());
                batch.put(Cf::Meta, keys::META_NEXT_TENANT, &group.next_tenant.to_be_bytes());
                TenantState {
                    number,
                    head: ChainHead { seq: 0, recorded_at: 0, head: chain::genesis(&req.tenant) },
                    damaged: false,
                }
            }
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
                    batch.put(Cf::Records, &keys::record(state.number, seq), &ev.value);
                    let receipt = Receipt { seq, recorded_at, leaf: ev.leaf, head, replayed: false };
                    if let Some(key) = &ev.idempotency_key {
                        batch.put(Cf::Idempotency, &keys::idempotency(state.number, key), &receipt.encode());
                        group.idempotency.insert((state.number, key.clone()), receipt);
                    }
                    state.head = ChainHead { seq, recorded_at, head };
                    wrote = true;
                    receipt
                }
            };
            receipts.push(receipt);
        }
        if wrote {
            batch.put(Cf::Heads, &keys::head(state.number), &state.head.encode());
            group.tenants.insert(req.tenant.clone(), state);
        }
        Ok(receipts)
    }
}
