//! Admission of long requests. An export streams for as long as its client
//! reads, and a verification reads a whole chain: each holds a thread of
//! tokio's blocking pool (and RocksDB iterators) while it runs, and that
//! pool is also where appends and page reads go off the runtime. Unbounded,
//! one tenant opening hundreds of exports that never read parks the whole
//! pool and every other tenant's appends wait behind it.
//!
//! So how many run at once is bounded, overall and per tenant
//! (`max_exports`, `max_exports_per_tenant`, `max_verifications`,
//! `max_verifications_per_tenant`), and a request over a bound is refused
//! at once with 429 `concurrency-limited` and `Retry-After`, never queued:
//! a queue would hold the same resources. (Request bodies are the
//! exception: one waits up to [`BODY_WAIT`] for its share, which holds no
//! byte and no thread; [`BodyBudget::take_waiting`] says why.) The slot is held by a [`Slot`]
//! that the work carries to its thread and releases when dropped, the work
//! finished, failed or panicked. An export whose client stops reading is
//! ended after `export_stall_timeout_ms` (`http/download.rs`), which frees
//! its slot.
//!
//! Reads that are quick but still leave the async workers for RocksDB (a
//! page, one row, the overview, action names, checkpoints: [`Work::Read`])
//! are bounded the same way (`max_reads`, `max_reads_per_tenant`). Together
//! these bounds are what reads can take of the blocking pool: the config
//! refuses `max_exports + max_verifications + max_reads` above
//! `config::READ_THREADS`, so at least 64 of the pool's 512 threads are
//! always left for appends. That is how appends get threads of their own:
//! a separate pool would cost each append two more thread hand-offs (the
//! wake-ups issue 13 took out of the append path), where a reserved share
//! of the one pool costs nothing.
//!
//! Request bodies are bounded the same way, by bytes ([`BodyBudget`]), and
//! so is how many requests of one tenant are being served at once
//! (`max_requests_in_flight_per_tenant`, [`Admission::request`], taken
//! when the key is authenticated): one tenant cannot hold every worker of
//! the runtime. Every bound is a [`Ledger`] of counted shares.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::ApiError;
use crate::problem::Problem;

/// Counted shares of one resource, overall and per tenant: the one
/// mechanism behind every bound of this module (exports, verifications,
/// requests in flight: a count each; request bodies: bytes).
#[derive(Debug)]
pub struct Ledger {
    total: usize,
    per_tenant: usize,
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// Which bound a refused share met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The tenant's.
    Tenant(usize),
    /// The server's.
    Server(usize),
}

/// A share of a [`Ledger`]; given back when dropped.
#[derive(Debug)]
pub struct Share {
    ledger: Arc<Ledger>,
    tenant: String,
    amount: usize,
}

impl Ledger {
    /// At most `total` held at once, and `per_tenant` by one tenant.
    pub fn new(total: usize, per_tenant: usize) -> Arc<Ledger> {
        Arc::new(Ledger { total, per_tenant, held: Mutex::new((0, HashMap::new())) })
    }

    /// `amount` for `tenant`, or which bound (with what is held against it)
    /// it would pass.
    pub fn take(self: &Arc<Self>, tenant: &str, amount: usize) -> Result<Share, Full> {
        let mut held = self.held.lock();
        let mine = held.1.get(tenant).copied().unwrap_or(0);
        if mine + amount > self.per_tenant {
            return Err(Full::Tenant(mine));
        }
        if held.0 + amount > self.total {
            return Err(Full::Server(held.0));
        }
        held.0 += amount;
        match held.1.get_mut(tenant) {
            Some(n) => *n += amount,
            None => {
                held.1.insert(tenant.to_string(), amount);
            }
        }
        Ok(Share { ledger: Arc::clone(self), tenant: tenant.to_string(), amount })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.ledger.held.lock();
        held.0 = held.0.saturating_sub(self.amount);
        match held.1.get_mut(&self.tenant) {
            Some(n) if *n > self.amount => *n -= self.amount,
            _ => {
                held.1.remove(&self.tenant);
            }
        }
    }
}

/// A kind of long request, bounded on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// `GET /v1/export`, every format, and `GET /v1/histogram`, which walks
    /// rows like one.
    Export,
    /// `GET /v1/verify` (with or without `trusted`) and `POST
    /// /v1/checkpoints`, which verifies the rows since the last checkpoint.
    Verify,
    /// A page of `GET /v1/events`, `GET /v1/events/{seq}`, `GET
    /// /v1/overview`, `GET /v1/actions`, `GET /v1/checkpoints[/latest]`,
    /// `GET /v1/redaction`, `GET /v1/retention`.
    Read,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Export => "exports",
            Work::Verify => "verifications",
            Work::Read => "reads",
        }
    }
}

/// The bounds on long requests and on requests in flight.
#[derive(Debug)]
pub struct Admission {
    exports: Arc<Ledger>,
    verifications: Arc<Ledger>,
    reads: Arc<Ledger>,
    requests: Arc<Ledger>,
}

/// A running request's place; released when dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] Share);

/// 429 `concurrency-limited`, with `Retry-After: 1`.
fn limited(detail: String) -> ApiError {
    let mut e = ApiError::new(Problem::ConcurrencyLimited, detail);
    e.retry_after = Some(1);
    e
}

impl Admission {
    /// The bounds of `config`.
    pub fn new(config: &Config) -> Admission {
        Admission {
            exports: Ledger::new(config.max_exports, config.max_exports_per_tenant),
            verifications: Ledger::new(config.max_verifications, config.max_verifications_per_tenant),
            reads: Ledger::new(config.max_reads, config.max_reads_per_tenant),
            // Overall, connections bound requests already (HTTP/1: one at a time each).
            requests: Ledger::new(usize::MAX, config.max_requests_in_flight_per_tenant),
        }
    }

    /// A slot for `work` of `tenant`, or 429 `concurrency-limited` when the
    /// tenant's or the server's bound is reached.
    pub fn admit(&self, work: Work, tenant: &str) -> Result<Slot, ApiError> {
        let ledger = match work {
            Work::Export => &self.exports,
            Work::Verify => &self.verifications,
            Work::Read => &self.reads,
        };
        ledger.take(tenant, 1).map(Slot).map_err(|full| match full {
            Full::Tenant(n) => {
                limited(format!("this tenant already runs {n} {} at once, its most; try again when one ends", work.name()))
            }
            Full::Server(n) => {
                limited(format!("the server already runs {n} {} at once, its most; try again shortly", work.name()))
            }
        })
    }

    /// A place for one request of `tenant` while it is served, or 429
    /// `concurrency-limited` when the tenant already has
    /// `max_requests_in_flight_per_tenant` requests being served.
    pub fn request(&self, tenant: &str) -> Result<Slot, ApiError> {
        self.requests.take(tenant, 1).map(Slot).map_err(|full| {
            let n = match full {
                Full::Tenant(n) | Full::Server(n) => n,
            };
            limited(format!("this tenant already has {n} requests being served, its most; try again shortly"))
        })
    }
}

/// How long a body waits for its share of the budget before it is refused.
pub const BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a waiting body looks again.
const BODY_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(10);

/// The bytes of request bodies held at once, over all tenants and per
/// tenant (`max_body_bytes_in_flight`, `max_body_bytes_in_flight_per_tenant`):
/// without the second, one tenant's large bodies could take the whole
/// budget and every other tenant's appends would be refused.
#[derive(Debug)]
pub struct BodyBudget(Arc<Ledger>);

/// A body's share of the budget; given back when dropped.
#[derive(Debug)]
pub struct BodyShare(#[allow(dead_code)] Share);

impl BodyBudget {
    /// The budget of `config`.
    pub fn new(config: &Config) -> BodyBudget {
        BodyBudget(Ledger::new(config.max_body_bytes_in_flight, config.max_body_bytes_in_flight_per_tenant))
    }

    /// `bytes` of the budget for a body of `tenant`, waiting up to
    /// [`BODY_WAIT`] for it to come back, or 503 with `Retry-After` when
    /// the tenant's or the server's share is still spent then.
    ///
    /// The wait holds no body byte (nothing is read before the share is
    /// taken) and no thread, only the connection and the request's place
    /// among its tenant's requests in flight. Refusing at once instead
    /// would turn a client that retries without pause into thousands of
    /// connections a second (each an accept, a header parse, an answer,
    /// and a close that frees whatever the client already pushed into the
    /// socket), all work the server does for nothing while other tenants
    /// wait; a client that waits is served as soon as there is room.
    pub async fn take_waiting(&self, tenant: &str, bytes: usize) -> Result<BodyShare, ApiError> {
        let deadline = tokio::time::Instant::now() + BODY_WAIT;
        loop {
            match self.take(tenant, bytes) {
                Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(BODY_WAIT_STEP).await,
                taken => return taken,
            }
        }
    }

    /// `bytes` of the budget for a body of `tenant`, or 503 with
    /// `Retry-After` when the tenant's or the server's share is spent.
    pub fn take(&self, tenant: &str, bytes: usize) -> Result<BodyShare, ApiError> {
        self.0.take(tenant, bytes).map(BodyShare).map_err(|full| {
            let detail = match full {
                Full::Tenant(_) => "this tenant's requests already hold as many body bytes as they may; try again shortly",
                Full::Server(_) => "the server holds as many request bodies as it may; try again shortly",
            };
            let mut e = ApiError::new(Problem::Unavailable, detail);
            e.retry_after = Some(1);
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_per_tenant_and_overall_and_slots_come_back_when_dropped() {
        let config = Config { max_exports: 3, max_exports_per_tenant: 2, ..Config::default() };
        let a = Admission::new(&config);
        let first = a.admit(Work::Export, "t1").unwrap();
        let _second = a.admit(Work::Export, "t1").unwrap();
        let e = a.admit(Work::Export, "t1").unwrap_err();
        assert_eq!((e.problem, e.retry_after), (Problem::ConcurrencyLimited, Some(1)));
        assert!(e.detail.contains("this tenant"), "{}", e.detail);
        // Another tenant still gets one, up to the server's bound.
        let _third = a.admit(Work::Export, "t2").unwrap();
        let e = a.admit(Work::Export, "t2").unwrap_err();
        assert!(e.detail.contains("the server"), "{}", e.detail);
        // Verifications and reads are bounded apart.
        let _v = a.admit(Work::Verify, "t1").unwrap();
        let _r = a.admit(Work::Read, "t1").unwrap();
        drop(first);
        let _again = a.admit(Work::Export, "t2").unwrap();
    }

    #[test]
    fn reads_are_bounded_per_tenant_and_overall() {
        let a = Admission::new(&Config { max_reads: 3, max_reads_per_tenant: 2, ..Config::default() });
        let (_r1, _r2) = (a.admit(Work::Read, "t1").unwrap(), a.admit(Work::Read, "t1").unwrap());
        let e = a.admit(Work::Read, "t1").unwrap_err();
        assert!(e.detail.contains("this tenant already runs 2 reads"), "{}", e.detail);
        let _r3 = a.admit(Work::Read, "t2").unwrap();
        assert!(a.admit(Work::Read, "t2").unwrap_err().detail.contains("the server already runs 3 reads"));
        // Exports have their own bound.
        let _e = a.admit(Work::Export, "t2").unwrap();
    }

    #[test]
    fn reads_of_every_kind_cannot_take_the_threads_kept_for_appends() {
        use crate::config::READ_THREADS;
        let d = Config::default();
        assert!(d.max_exports + d.max_verifications + d.max_reads <= READ_THREADS);
        let e = Config { max_reads: READ_THREADS, ..Config::default() }.check().unwrap_err().to_string();
        assert!(e.contains("max_exports + max_verifications + max_reads") && e.contains("kept for appends"), "{e}");
        let fits = READ_THREADS - d.max_exports - d.max_verifications;
        Config { max_reads: fits, ..Config::default() }.check().unwrap();
        assert!(Config { max_reads: fits + 1, ..Config::default() }.check().is_err());
    }

    #[test]
    fn a_tenants_requests_in_flight_are_bounded_and_come_back() {
        let a = Admission::new(&Config { max_requests_in_flight_per_tenant: 2, ..Config::default() });
        let first = a.request("t1").unwrap();
        let _second = a.request("t1").unwrap();
        let e = a.request("t1").unwrap_err();
        assert_eq!((e.problem, e.retry_after), (Problem::ConcurrencyLimited, Some(1)));
        assert!(e.detail.contains("already has 2 requests"), "{}", e.detail);
        let _other = a.request("t2").unwrap();
        drop(first);
        let _again = a.request("t1").unwrap();
    }

    #[test]
    fn body_bytes_are_bounded_per_tenant_and_overall_and_come_back() {
        let config = Config { max_body_bytes_in_flight: 100, max_body_bytes_in_flight_per_tenant: 60, ..Config::default() };
        let b = BodyBudget::new(&config);
        let first = b.take("t1", 50).unwrap();
        assert!(b.take("t1", 20).unwrap_err().detail.contains("this tenant"));
        let _other = b.take("t2", 40).unwrap();
        let e = b.take("t3", 20).unwrap_err();
        assert_eq!((e.problem, e.retry_after), (Problem::Unavailable, Some(1)));
        assert!(e.detail.contains("the server"), "{}", e.detail);
        drop(first);
        let _again = b.take("t1", 60).unwrap();
    }
}
