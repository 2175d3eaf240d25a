//! Quotas a product can sell: for every key and every tenant, a token
//! bucket (requests a second, with a burst) and request counts per UTC
//! minute and per UTC calendar month, each with its cap.
//!
//! **Limits.** The server's settings give the defaults (`rate_limit_*` and
//! `key_requests_per_*` for a key, `tenant_*` for a tenant); a key may be
//! created with limits of its own (`POST /v1/keys` `limits`, `annal keys
//! create --per-minute …`), stored with it and read once per key. A tenant's
//! limits hold over all its keys together, so minting keys does not
//! multiply what a tenant may use. 0 means no cap.
//!
//! **Windows.** Minutes and months are fixed UTC windows of the engine's
//! clock (injected in tests): a request counts against the minute and the
//! month it arrives in, and the counts start again at 0 when they turn. A
//! refused request counts against no minute or month (the key's bucket may
//! have given it a token before its tenant's refused it); the refusal says
//! how long until the limit that refused it lets a request through
//! (`Retry-After`).
//!
//! **Persistence.** Month counts are saved in the store
//! (`Engine::save_usage`) every `usage_flush_secs` and at shutdown, and
//! read back at start, so a restart does not give a month back; a crash
//! loses at most the last interval's counts (requests are then
//! under-counted, never over-counted). Minute counts live in memory only: a
//! restart within a minute starts that minute again.
//!
//! **Headers.** Each answer to an authenticated request carries the
//! tightest of its minute and month quotas as `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the window
//! turns), the fields of the IETF draft on rate-limit headers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use annal_engine::apikeys::{month_start_ns, utc_month};
use annal_engine::clock::Clock;
use annal_engine::{ApiKey, Engine, KeyLimits, Usage};
use parking_lot::Mutex;

use crate::config::Config;
use crate::rate_limit::RateLimiter;

const MINUTE_NS: u64 = 60_000_000_000;

/// The tightest window quota of a request that was let through, for the
/// `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Requests the window allows.
    pub limit: u64,
    /// Requests left in it after this one.
    pub remaining: u64,
    /// Seconds until the window turns.
    pub reset_secs: u64,
}

/// Why a request was refused, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Seconds until the refusing limit lets a request through.
    pub retry_after: u64,
    /// Which limit: "this api key's rate limit", "the tenant's monthly quota", ….
    pub what: String,
    /// Whether a minute or month quota (not a per-second rate) refused it.
    pub quota: bool,
    /// The refusing window's standing (remaining 0), when it is a quota.
    pub standing: Option<Standing>,
}

/// Whose requests a count is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    Tenant(String),
    Key { tenant: String, id: String },
}

/// One owner's counts in the current minute and month.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    minute: u64,
    in_minute: u64,
    month: u32,
    in_month: u64,
}

/// The limits of one owner, resolved from a key's own and the defaults.
#[derive(Debug, Clone, Copy)]
struct Caps {
    rate: f64,
    burst: f64,
    per_minute: u64,
    per_month: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each key's own limits, read from the store once (they are fixed at
    /// creation).
    limits: HashMap<String, KeyLimits>,
    counts: HashMap<Owner, Counts>,
    /// Owners whose month count changed since the last save.
    dirty: HashSet<Owner>,
    /// Counts of a month that ended before they were saved.
    ended: Vec<Usage>,
}

/// Every key's and tenant's buckets and counts; see the module docs.
pub struct Quotas {
    engine: Engine,
    clock: Arc<dyn Clock>,
    key_caps: Caps,
    tenant_caps: Caps,
    key_buckets: RateLimiter,
    tenant_buckets: RateLimiter,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas").field("key_caps", &self.key_caps).field("tenant_caps", &self.tenant_caps).finish()
    }
}

impl Quotas {
    /// The quotas of `config` over `engine`, with the month counts saved in
    /// the store for the current month read back.
    pub fn new(engine: Engine, config: &Config, clock: Arc<dyn Clock>) -> Quotas {
        let key_caps = Caps {
            rate: config.rate_limit_per_sec,
            burst: config.rate_limit_burst,
            per_minute: config.key_requests_per_minute,
            per_month: config.key_requests_per_month,
        };
        let tenant_caps = Caps {
            rate: config.tenant_rate_limit_per_sec,
            burst: config.tenant_rate_limit_burst,
            per_minute: config.tenant_requests_per_minute,
            per_month: config.tenant_requests_per_month,
        };
        let q = Quotas {
            engine,
            clock,
            key_caps,
            tenant_caps,
            key_buckets: RateLimiter::new(key_caps.rate, key_caps.burst),
            tenant_buckets: RateLimiter::new(tenant_caps.rate, tenant_caps.burst),
            inner: Mutex::new(Inner::default()),
        };
        if let Err(e) = q.load() {
            tracing::error!(error = %e, "the saved request counts could not be read; this month counts from 0");
        }
        q
    }

    /// Reads the current month's saved counts.
    fn load(&self) -> annal_engine::Result<()> {
        let now = self.clock.now_ns();
        let (month, minute) = (utc_month(now), now / MINUTE_NS);
        let saved = self.engine.usage(month)?;
        let mut inner = self.inner.lock();
        for u in saved {
            let owner = match u.key {
                None => Owner::Tenant(u.tenant),
                Some(id) => Owner::Key { tenant: u.tenant, id },
            };
            inner.counts.insert(owner, Counts { minute, in_minute: 0, month, in_month: u.requests });
        }
        Ok(())
    }

    /// Saves every month count that changed since the last save. Counts
    /// that could not be saved are kept for the next save.
    pub fn flush(&self) -> annal_engine::Result<()> {
        let counts = {
            let mut inner = self.inner.lock();
            let mut out = std::mem::take(&mut inner.ended);
            let dirty = std::mem::take(&mut inner.dirty);
            for owner in dirty {
                if let Some(c) = inner.counts.get(&owner) {
                    out.push(usage(&owner, c.month, c.in_month));
                }
            }
            out
        };
        if counts.is_empty() {
            return Ok(());
        }
        self.engine.save_usage(&counts).inspect_err(|_| {
            // Saved first next time, so any newer count of the same owner,
            // written after them in the same batch, still wins.
            let mut inner = self.inner.lock();
            let newer = std::mem::take(&mut inner.ended);
            inner.ended = counts;
            inner.ended.extend(newer);
        })
    }

    /// `key`'s own limits, read from the store the first time.
    fn key_limits(&self, key: &ApiKey) -> KeyLimits {
        if let Some(l) = self.inner.lock().limits.get(&key.id) {
            return *l;
        }
        // A key whose limits cannot be read gets the defaults, logged: the
        // request was authenticated, and the tenant's limits still hold.
        let limits = self.engine.api_key_limits(&key.tenant, &key.id).unwrap_or_else(|e| {
            tracing::warn!(key = %key.id, error = %e, "a key's limits could not be read; the defaults apply");
            KeyLimits::default()
        });
        self.inner.lock().limits.insert(key.id.clone(), limits);
        limits
    }

    /// Lets one request of `key` through, counting it against the key and
    /// its tenant, or says which limit refuses it.
    pub fn check(&self, key: &ApiKey) -> Result<Option<Standing>, Refusal> {
        let key_caps = self.key_caps_of(key);
        if let Err(wait) = self.key_buckets.check_with(&key.id, key_caps.rate, key_caps.burst) {
            return Err(Refusal { retry_after: wait, what: "this api key's rate limit".into(), quota: false, standing: None });
        }
        if let Err(wait) = self.tenant_buckets.check_with(&key.tenant, self.tenant_caps.rate, self.tenant_caps.burst) {
            return Err(Refusal { retry_after: wait, what: "the tenant's rate limit".into(), quota: false, standing: None });
        }
        let now = self.clock.now_ns();
        let (minute, month) = (now / MINUTE_NS, utc_month(now));
        let minute_reset = ((minute + 1) * MINUTE_NS - now).div_ceil(1_000_000_000);
        let month_reset = month_start_ns(month.saturating_add(1)).saturating_sub(now).div_ceil(1_000_000_000);
        let owners = [
            (Owner::Key { tenant: key.tenant.clone(), id: key.id.clone() }, key_caps, "this api key's"),
            (Owner::Tenant(key.tenant.clone()), self.tenant_caps, "the tenant's"),
        ];
        let mut inner = self.inner.lock();
        let mut tightest: Option<Standing> = None;
        // Every limit is checked before any count is taken: a refused
        // request counts against none.
        for (owner, caps, whose) in &owners {
            let c = current(&mut inner, owner, minute, month);
            for (cap, used, window, reset) in
                [(caps.per_minute, c.in_minute, "per-minute", minute_reset), (caps.per_month, c.in_month, "monthly", month_reset)]
            {
                if cap == 0 {
                    continue;
                }
                if used >= cap {
                    let standing = Standing { limit: cap, remaining: 0, reset_secs: reset };
                    return Err(Refusal {
                        retry_after: reset.max(1),
                        what: format!("{whose} {window} quota of {cap} requests"),
                        quota: true,
                        standing: Some(standing),
                    });
                }
                let remaining = cap - used - 1;
                if tightest.is_none_or(|t| remaining < t.remaining) {
                    tightest = Some(Standing { limit: cap, remaining, reset_secs: reset });
                }
            }
        }
        for (owner, _, _) in owners {
            let c = current(&mut inner, &owner, minute, month);
            c.in_minute += 1;
            c.in_month += 1;
            inner.dirty.insert(owner);
        }
        Ok(tightest)
    }

    /// What `key` and its tenant used of their quotas so far, and the
    /// limits that apply to them.
    pub fn report(&self, key: &ApiKey) -> Report {
        let caps = self.key_caps_of(key);
        let now = self.clock.now_ns();
        let (minute, month) = (now / MINUTE_NS, utc_month(now));
        let mut inner = self.inner.lock();
        let k = *current(&mut inner, &Owner::Key { tenant: key.tenant.clone(), id: key.id.clone() }, minute, month);
        let t = *current(&mut inner, &Owner::Tenant(key.tenant.clone()), minute, month);
        let window = |c: &Counts, caps: &Caps| Used {
            minute: (c.in_minute, caps.per_minute),
            month: (c.in_month, caps.per_month),
            rate: (caps.rate, caps.burst),
        };
        Report {
            key: window(&k, &caps),
            tenant: window(&t, &self.tenant_caps),
            minute_ends: (minute + 1) * MINUTE_NS,
            month_ends: month_start_ns(month.saturating_add(1)),
        }
    }

    /// `key`'s own limits over the defaults.
    fn key_caps_of(&self, key: &ApiKey) -> Caps {
        let own = self.key_limits(key);
        let or = |v: u64, default: u64| if v > 0 { v } else { default };
        Caps {
            rate: if own.per_second > 0 { f64::from(own.per_second) } else { self.key_caps.rate },
            burst: if own.burst > 0 { f64::from(own.burst) } else { self.key_caps.burst.max(f64::from(own.per_second)) },
            per_minute: or(own.per_minute, self.key_caps.per_minute),
            per_month: or(own.per_month, self.key_caps.per_month),
        }
    }
}

/// A key's and its tenant's quotas as they stand; see [`Quotas::report`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// The key's.
    pub key: Used,
    /// Its tenant's, over all its keys.
    pub tenant: Used,
    /// When the current minute ends, ns since the epoch.
    pub minute_ends: u64,
    /// When the current month ends.
    pub month_ends: u64,
}

/// Requests used and the caps (0: none) of one owner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Used {
    /// (requests this minute, cap).
    pub minute: (u64, u64),
    /// (requests this month, cap).
    pub month: (u64, u64),
    /// (requests a second, burst); a rate of 0 is none.
    pub rate: (f64, f64),
}

/// `owner`'s counts, turned to `minute` and `month` first: a month that
/// ended unsaved is kept to be saved.
fn current<'i>(inner: &'i mut Inner, owner: &Owner, minute: u64, month: u32) -> &'i mut Counts {
    // Looked up before inserting: the owner is cloned only the first time.
    if !inner.counts.contains_key(owner) {
        inner.counts.insert(owner.clone(), Counts { minute, in_minute: 0, month, in_month: 0 });
    }
    let Some(c) = inner.counts.get_mut(owner) else { unreachable!("inserted above") };
    if c.minute != minute {
        (c.minute, c.in_minute) = (minute, 0);
    }
    if c.month != month {
        let (old, n) = (c.month, c.in_month);
        (c.month, c.in_month) = (month, 0);
        if inner.dirty.remove(owner) {
            inner.ended.push(usage(owner, old, n));
        }
    }
    c
}

fn usage(owner: &Owner, month: u32, requests: u64) -> Usage {
    match owner {
        Owner::Tenant(t) => Usage { tenant: t.clone(), key: None, month, requests },
        Owner::Key { tenant, id } => Usage { tenant: tenant.clone(), key: Some(id.clone()), month, requests },
    }
}
