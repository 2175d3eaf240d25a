//! Appending: the ways rows enter a chain, all through the one writer.
//!
//! A client's events are prepared on the caller's thread under the tenant's
//! current redactor and handed to the writer as one request; if the
//! tenant's policy changed in between, the writer refuses the request and
//! it is prepared again (a policy change is rare, so one more round almost
//! always suffices). annal's own rows (`annal.*` actions: key changes,
//! retention acts, policy changes, tenant deletions) take the same way, with
//! writes that must land in the same batch as the row (`SideWrite`).

use std::sync::Arc;

use super::prepare::{own_row_redactor, prepare, Origin, PreparedEvent, Sealed, SEAL_RANDOM};
use super::sealing::TenantSeal;
use super::writer::{ReplyTo, Request, SideWrite};
use super::Core;
use crate::error::{Error, FieldError, Result};
use crate::event::{Actor, AsBorrowedEvent, Event, RESERVED_ACTION_PREFIX};
use crate::format::record::{ChainHead, Receipt};
use crate::format::retention::PURGED_ACTION;
use crate::format::tenant::{check_client_tenant, validate_tenant};
use crate::redact::Redactor;

/// How often a request refused for a policy change is prepared again.
const POLICY_RETRIES: u32 = 8;

/// One of annal's own rows and what lands with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnRow {
    /// Writes in the row's batch.
    pub side: Vec<SideWrite>,
    /// A tenant to delete in the row's batch, with the head its chain must
    /// still have.
    pub forget: Option<(String, ChainHead)>,
    /// A policy change the row announces: the new redactor, whose version
    /// must be the tenant's next.
    pub new_policy: Option<Arc<Redactor>>,
}

impl Core {
    /// Prepares one of a client's events for `tenant`; see `Engine::prepare`.
    pub fn prepare(&self, tenant: &str, event: &impl AsBorrowedEvent) -> Result<PreparedEvent> {
        check_client_tenant(tenant)?;
        let redactor = self.redactors.get(tenant)?;
        let seal = self.seal_for(tenant)?;
        let random = seal_random(seal.as_ref(), 1)?;
        let sealed = seal.as_ref().map(|s| Sealed::Content(s, random_of(&random, 0)));
        prepare(&self.limits, &redactor, sealed, &event.as_borrowed(), Origin::Client).map_err(Error::InvalidEvent)
    }

    /// What `tenant`'s events are sealed with now; `None` when it is not
    /// encrypted (docs/SECURITY.md, "Encryption at rest").
    fn seal_for(&self, tenant: &str) -> Result<Option<Arc<TenantSeal>>> {
        self.sealing.for_prepare(tenant, self.tenants.number(tenant).ok(), self.now())
    }

    /// Appends a client's batch to `tenant`'s chain, all or nothing.
    pub fn append(&self, tenant: &str, events: &[Event]) -> Result<Vec<Receipt>> {
        check_client_tenant(tenant)?;
        self.check_batch_len(events.len())?;
        let mut attempts = 0;
        loop {
            let prepared = self.prepare_batch(tenant, events)?;
            match self.submit(tenant, prepared, OwnRow::default()) {
                Err(Error::PolicyChanged { .. }) if attempts < POLICY_RETRIES => attempts += 1,
                other => return other,
            }
        }
    }

    /// Prepares a client's batch on this thread and hands it to the writer
    /// without waiting: `done` gets the receipts once the rows are durable,
    /// or why they were refused, on the thread that wrote them (it must return at
    /// once: wake a task, send on a channel). A batch that fails validation
    /// is refused here, before anything is handed over. Unlike
    /// [`Core::append`], a policy change between preparing and writing is
    /// not retried: `done` gets [`Error::PolicyChanged`], and the caller
    /// prepares the batch again.
    pub fn append_then(
        &self,
        tenant: &str,
        events: &[impl AsBorrowedEvent],
        done: Box<dyn FnOnce(Result<Vec<Receipt>>) + Send>,
    ) -> Result<()> {
        check_client_tenant(tenant)?;
        self.check_batch_len(events.len())?;
        if self.tenants.is_closing(tenant) {
            return Err(Error::TenantClosing);
        }
        let prepared = self.prepare_batch(tenant, events)?;
        let tenant = tenant.to_string();
        self.queue.submit_with(
            |reply| Request { tenant, events: prepared, reply, new_policy: None, side: Vec::new(), forget: None },
            ReplyTo::Callback(done),
        )
    }

    /// Prepares every event of a client's batch under the tenant's current
    /// redactor; any that fails refuses the whole batch, every failure named.
    fn prepare_batch(&self, tenant: &str, events: &[impl AsBorrowedEvent]) -> Result<Vec<PreparedEvent>> {
        let redactor = self.redactors.get(tenant)?;
        let seal = self.seal_for(tenant)?;
        // One draw from the OS's random source for the whole batch.
        let random = seal_random(seal.as_ref(), events.len())?;
        let mut prepared = Vec::with_capacity(events.len());
        let mut errors = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let sealed = seal.as_ref().map(|s| Sealed::Content(s, random_of(&random, i)));
            match prepare(&self.limits, &redactor, sealed, &e.as_borrowed(), Origin::Client) {
                Ok(p) => prepared.push(p),
                Err(fe) => errors.push((i, fe)),
            }
        }
        if !errors.is_empty() {
            return Err(Error::InvalidBatch(errors));
        }
        Ok(prepared)
    }

    /// Appends events already prepared for `tenant`.
    pub fn append_prepared(&self, tenant: &str, events: Vec<PreparedEvent>) -> Result<Vec<Receipt>> {
        check_client_tenant(tenant)?;
        self.submit(tenant, events, OwnRow::default())
    }

    /// Appends one of annal's own rows (an action in the reserved `annal.`
    /// namespace) to `tenant`'s chain, by `actor`, with its details in
    /// `metadata` and `row`'s writes in the same batch; on any tenant,
    /// annal's own chains included. Redacted under the tenant's current
    /// policy like any row, except `metadata`, which annal writes itself.
    /// With `row.new_policy`, the row is written under that policy instead.
    pub fn append_own(
        &self,
        tenant: &str,
        action: &str,
        actor: &Actor,
        metadata: &serde_json::Map<String, serde_json::Value>,
        row: OwnRow,
    ) -> Result<Receipt> {
        if !action.starts_with(RESERVED_ACTION_PREFIX) {
            return Err(Error::InvalidEvent(FieldError::new(
                "action",
                format!("annal's own events are in the `{RESERVED_ACTION_PREFIX}` namespace"),
            )));
        }
        let mut attempts = 0;
        loop {
            let current = self.redactors.get(tenant)?;
            let announce = match &row.new_policy {
                Some(next) => own_row_redactor(next, next.version, &next.policy)?,
                None => own_row_redactor(&current, current.version, &current.policy)?,
            };
            let mut event = Event::new(action, actor.kind, actor.id.clone());
            event.actor = actor.clone();
            event.metadata = Some(metadata.clone());
            // A retention run's `purged` row stays in the clear (event
            // format 2) in an encrypted tenant too: it holds only annal's
            // own numbers, and verification without a key reads them to
            // check the retention anchor (docs/FORMAT.md, "Event format 3").
            let seal = self.seal_for(tenant)?;
            let random = seal_random(seal.as_ref().filter(|_| action != PURGED_ACTION), 1)?;
            let sealed = seal.as_ref().map(|s| match action {
                PURGED_ACTION => Sealed::IndexOnly(s),
                _ => Sealed::Content(s, random_of(&random, 0)),
            });
            let prepared =
                prepare(&self.limits, &announce, sealed, &event.as_borrowed(), Origin::Annal).map_err(Error::InvalidEvent)?;
            match self.submit(tenant, vec![prepared], row.clone()) {
                Ok(r) => return Ok(r[0]),
                Err(Error::PolicyChanged { .. }) if attempts < POLICY_RETRIES && row.new_policy.is_none() => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands one request to the writer and waits for its receipts.
    fn submit(&self, tenant: &str, events: Vec<PreparedEvent>, row: OwnRow) -> Result<Vec<Receipt>> {
        validate_tenant(tenant)?;
        self.check_batch_len(events.len())?;
        // A closing tenant takes no rows; its deletion's own row goes to the
        // platform chain, which never closes.
        if self.tenants.is_closing(tenant) {
            return Err(Error::TenantClosing);
        }
        let OwnRow { side, forget, new_policy } = row;
        self.queue.submit(|reply| Request { tenant: tenant.to_string(), events, reply, new_policy, side, forget })
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
}

/// Random bytes for `n` events sealed with `seal` (none without one).
fn seal_random(seal: Option<&Arc<TenantSeal>>, n: usize) -> Result<Vec<u8>> {
    // An unencrypted tenant's append asks the OS for nothing.
    if seal.is_none() {
        return Ok(Vec::new());
    }
    let mut random = vec![0u8; n * SEAL_RANDOM];
    crate::keyring::fill_random(&mut random)?;
    Ok(random)
}

/// Event `i`'s share of [`seal_random`]'s bytes.
fn random_of(random: &[u8], i: usize) -> &[u8; SEAL_RANDOM] {
    random[i * SEAL_RANDOM..(i + 1) * SEAL_RANDOM].try_into().expect("SEAL_RANDOM bytes an event")
}
