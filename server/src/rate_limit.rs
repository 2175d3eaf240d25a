//! Token buckets: per api key and per tenant for requests (`quota.rs`
//! decides each one's rate), per client address for failed
//! authentications (`auth_failures_per_minute`), and per tenant for the
//! bytes of request bodies (`tenant_body_bytes_per_sec`, a pace: reading
//! waits, nothing is refused).
//!
//! The buckets live in memory, in one map behind a blocking mutex: it is
//! held only for the arithmetic of one check and nothing awaits under it.
//! A restart refills every bucket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A token bucket per key id: `rate` requests a second on average, up to
/// `burst` at once.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter; `rate` 0 lets everything through.
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter { rate, burst, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token from `key`'s bucket, or says how many whole seconds
    /// until one is there.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// Whether `key`'s bucket holds a token, without taking it; else how
    /// many whole seconds until it will.
    pub fn peek(&self, key: &str) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let buckets = self.buckets.lock();
        let Some(mut bucket) = buckets.get(key).copied() else { return Ok(()) };
        let tokens = *refilled(&mut bucket, now, self.rate, self.burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }

    /// [`RateLimiter::check`] at `rate` and `burst` for this bucket alone
    /// (a key created with a rate of its own).
    pub fn check_with(&self, key: &str, rate: f64, burst: f64) -> Result<(), u64> {
        self.check_at_with(key, Instant::now(), rate, burst)
    }

    /// Takes `amount` tokens from `key`'s bucket, into debt if need be, and
    /// says how long until the debt is paid back (zero when there was
    /// none): a pace to keep rather than a refusal, for bytes read.
    pub fn pace(&self, key: &str, amount: f64) -> Duration {
        self.pace_at(key, amount, Instant::now())
    }

    fn pace_at(&self, key: &str, amount: f64, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let mut buckets = self.buckets.lock();
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_string()).or_insert((self.burst, now)),
        };
        let tokens = refilled(bucket, now, self.rate, self.burst);
        *tokens -= amount;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / self.rate)
        }
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        self.check_at_with(key, now, self.rate, self.burst)
    }

    fn check_at_with(&self, key: &str, now: Instant, rate: f64, burst: f64) -> Result<(), u64> {
        if rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock();
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_string()).or_insert((burst, now)),
        };
        let tokens = refilled(bucket, now, rate, burst);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// A bucket's tokens, refilled at `rate` up to `burst` for the time since
/// they were last counted, and counted now.
fn refilled(bucket: &mut (f64, Instant), now: Instant, rate: f64, burst: f64) -> &mut f64 {
    let (tokens, last) = bucket;
    *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate).min(burst);
    *last = now;
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_lets_the_burst_through_then_says_how_long_the_debt_takes() {
        let r = RateLimiter::new(1000.0, 4000.0);
        let t0 = Instant::now();
        assert_eq!(r.pace_at("t", 4000.0, t0), Duration::ZERO, "the burst at once");
        assert_eq!(r.pace_at("t", 500.0, t0), Duration::from_millis(500));
        assert_eq!(r.pace_at("u", 500.0, t0), Duration::ZERO, "buckets are per tenant");
        // Half a second later the debt is paid; the next 1000 wait a second.
        assert_eq!(r.pace_at("t", 1000.0, t0 + Duration::from_millis(500)), Duration::from_secs(1));
        assert_eq!(RateLimiter::new(0.0, 1.0).pace_at("t", 1e12, t0), Duration::ZERO, "rate 0: no pace");
    }

    #[test]
    fn bucket_allows_the_burst_then_refills_at_the_rate() {
        let r = RateLimiter::new(2.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.check_at("k", t0), Ok(()));
        }
        assert_eq!(r.check_at("k", t0), Err(1));
        assert_eq!(r.check_at("other", t0), Ok(()), "buckets are per key");
        assert_eq!(r.check_at("k", t0 + Duration::from_millis(500)), Ok(()));
        assert!(r.check_at("k", t0 + Duration::from_millis(500)).is_err());
        assert_eq!(RateLimiter::new(0.0, 1.0).check_at("k", t0), Ok(()));
    }
}
