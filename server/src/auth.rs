//! Authentication (`Authorization: Bearer ak_…`), scopes and per-key rate
//! limits.
//!
//! [`Key`] is an extractor: a handler that takes one runs only for a live
//! key, after the key's token bucket allowed the request. The key's tenant
//! is the tenant of everything the handler does; no route takes a tenant
//! from the client. The token is checked against the store on every request
//! (two point reads and a hash), so revocation takes effect at once.

use std::collections::HashMap;
use std::time::Instant;

use annal_engine::{Actor, ActorType, ApiKey, Scopes};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::problem::Problem;
use crate::state::AppState;

/// The authenticated key of a request.
#[derive(Debug, Clone)]
pub struct Key(pub ApiKey);

impl Key {
    /// The key's tenant: the only tenant the request may touch.
    pub fn tenant(&self) -> &str {
        &self.0.tenant
    }

    /// 403 unless the key has `scope`.
    pub fn require(&self, scope: Scopes) -> Result<(), ApiError> {
        if self.0.scopes.contains(scope) {
            return Ok(());
        }
        let name = scope.names().join(",");
        Err(ApiError::new(Problem::InsufficientScope, format!("this route needs an api key with the `{name}` scope")))
    }

    /// The actor of annal's own rows that this key causes (key changes,
    /// policy changes).
    pub fn actor(&self) -> Actor {
        Actor { kind: ActorType::ApiKey, id: self.0.id.clone(), name: None, email: None, on_behalf_of: None }
    }
}

impl FromRequestParts<AppState> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Key, ApiError> {
        let unauthorized = |detail: &str| ApiError::new(Problem::Unauthorized, detail).field("Authorization");
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing `Authorization: Bearer ak_…` header"))?;
        // The scheme is case-insensitive (RFC 9110, 11.1).
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| unauthorized("expected `Authorization: Bearer ak_…`"))?;
        let key = state.engine.authenticate(token.trim()).map_err(ApiError::from)?;
        if let Err(wait) = state.rate.check(&key.id) {
            let mut e = ApiError::new(Problem::RateLimited, format!("this api key exceeded its rate limit; retry in {wait} s"));
            e.retry_after = Some(wait);
            return Err(e);
        }
        Ok(Key(key))
    }
}

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

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock();
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
