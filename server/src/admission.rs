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
//! a queue would hold the same resources. The slot is held by a [`Slot`]
//! that the work carries to its thread and releases when dropped, the work
//! finished, failed or panicked. An export whose client stops reading is
//! ended after `export_stall_timeout_ms` (`http/download.rs`), which frees
//! its slot.
//!
//! Request bodies are bounded the same way, by bytes ([`BodyBudget`]).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::ApiError;
use crate::problem::Problem;

/// A kind of long request, bounded on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// `GET /v1/export`, every format.
    Export,
    /// `GET /v1/verify` (with or without `trusted`) and `POST
    /// /v1/checkpoints`, which verifies the rows since the last checkpoint.
    Verify,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Export => "exports",
            Work::Verify => "verifications",
        }
    }
}

/// The bounds and what runs now.
#[derive(Debug)]
pub struct Admission {
    limits: HashMap<Work, (usize, usize)>,
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    total: HashMap<Work, usize>,
    per_tenant: HashMap<(Work, String), usize>,
}

/// A running request's place; released when dropped.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    work: Work,
    tenant: String,
}

impl Admission {
    /// The bounds of `config`.
    pub fn new(config: &Config) -> Admission {
        let limits = HashMap::from([
            (Work::Export, (config.max_exports, config.max_exports_per_tenant)),
            (Work::Verify, (config.max_verifications, config.max_verifications_per_tenant)),
        ]);
        Admission { limits, running: Mutex::new(Running::default()) }
    }

    /// A slot for `work` of `tenant`, or 429 `concurrency-limited` when the
    /// tenant's or the server's bound is reached.
    pub fn admit(self: &Arc<Self>, work: Work, tenant: &str) -> Result<Slot, ApiError> {
        let (overall, per_tenant) = self.limits[&work];
        let mut r = self.running.lock();
        let total = r.total.get(&work).copied().unwrap_or(0);
        let mine = r.per_tenant.get(&(work, tenant.to_string())).copied().unwrap_or(0);
        let refused = if mine >= per_tenant {
            Some(format!("this tenant already runs {mine} {} at once, its most; try again when one ends", work.name()))
        } else if total >= overall {
            Some(format!("the server already runs {total} {} at once, its most; try again shortly", work.name()))
        } else {
            None
        };
        if let Some(detail) = refused {
            let mut e = ApiError::new(Problem::ConcurrencyLimited, detail);
            e.retry_after = Some(1);
            return Err(e);
        }
        *r.total.entry(work).or_default() += 1;
        *r.per_tenant.entry((work, tenant.to_string())).or_default() += 1;
        Ok(Slot { admission: Arc::clone(self), work, tenant: tenant.to_string() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut r = self.admission.running.lock();
        if let Some(n) = r.total.get_mut(&self.work) {
            *n = n.saturating_sub(1);
        }
        let key = (self.work, std::mem::take(&mut self.tenant));
        match r.per_tenant.get_mut(&key) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                r.per_tenant.remove(&key);
            }
        }
    }
}

/// The bytes of request bodies held at once, over all tenants and per
/// tenant (`max_body_bytes_in_flight`, `max_body_bytes_in_flight_per_tenant`):
/// without the second, one tenant's large bodies could take the whole
/// budget and every other tenant's appends would be refused.
#[derive(Debug)]
pub struct BodyBudget {
    total: usize,
    per_tenant: usize,
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// A body's share of the budget; given back when dropped.
#[derive(Debug)]
pub struct BodyShare {
    budget: Arc<BodyBudget>,
    tenant: String,
    bytes: usize,
}

impl BodyBudget {
    /// The budget of `config`.
    pub fn new(config: &Config) -> BodyBudget {
        BodyBudget {
            total: config.max_body_bytes_in_flight,
            per_tenant: config.max_body_bytes_in_flight_per_tenant,
            held: Mutex::new((0, HashMap::new())),
        }
    }

    /// `bytes` of the budget for a body of `tenant`, or 503 with
    /// `Retry-After` when the tenant's or the server's share is spent.
    pub fn take(self: &Arc<Self>, tenant: &str, bytes: usize) -> Result<BodyShare, ApiError> {
        let mut held = self.held.lock();
        let mine = held.1.get(tenant).copied().unwrap_or(0);
        let refused = if mine + bytes > self.per_tenant {
            Some("this tenant's requests already hold as many body bytes as they may; try again shortly")
        } else if held.0 + bytes > self.total {
            Some("the server holds as many request bodies as it may; try again shortly")
        } else {
            None
        };
        if let Some(detail) = refused {
            let mut e = ApiError::new(Problem::Unavailable, detail);
            e.retry_after = Some(1);
            return Err(e);
        }
        held.0 += bytes;
        *held.1.entry(tenant.to_string()).or_default() += bytes;
        Ok(BodyShare { budget: Arc::clone(self), tenant: tenant.to_string(), bytes })
    }
}

impl Drop for BodyShare {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock();
        held.0 = held.0.saturating_sub(self.bytes);
        let tenant = std::mem::take(&mut self.tenant);
        match held.1.get_mut(&tenant) {
            Some(n) if *n > self.bytes => *n -= self.bytes,
            _ => {
                held.1.remove(&tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_per_tenant_and_overall_and_slots_come_back_when_dropped() {
        let config = Config { max_exports: 3, max_exports_per_tenant: 2, ..Config::default() };
        let a = Arc::new(Admission::new(&config));
        let first = a.admit(Work::Export, "t1").unwrap();
        let _second = a.admit(Work::Export, "t1").unwrap();
        let e = a.admit(Work::Export, "t1").unwrap_err();
        assert_eq!((e.problem, e.retry_after), (Problem::ConcurrencyLimited, Some(1)));
        assert!(e.detail.contains("this tenant"), "{}", e.detail);
        // Another tenant still gets one, up to the server's bound.
        let _third = a.admit(Work::Export, "t2").unwrap();
        let e = a.admit(Work::Export, "t2").unwrap_err();
        assert!(e.detail.contains("the server"), "{}", e.detail);
        // Verifications are bounded apart.
        let _v = a.admit(Work::Verify, "t1").unwrap();
        drop(first);
        let _again = a.admit(Work::Export, "t2").unwrap();
    }

    #[test]
    fn body_bytes_are_bounded_per_tenant_and_overall_and_come_back() {
        let config = Config { max_body_bytes_in_flight: 100, max_body_bytes_in_flight_per_tenant: 60, ..Config::default() };
        let b = Arc::new(BodyBudget::new(&config));
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
