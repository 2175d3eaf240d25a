//! Authentication (`Authorization: Bearer ak_…`), scopes, and the check of
//! the key's and its tenant's rates and quotas ([`crate::quota`]).
//!
//! [`Key`] is an extractor: a handler that takes one runs only for a live
//! key, after its rates and quotas let the request through; the quota's
//! standing goes back to the response's `RateLimit-*` headers through the
//! request's [`QuotaSlot`]. The key's tenant
//! is the tenant of everything the handler does; no route takes a tenant
//! from the client. The token is checked against the store on every request
//! (two point reads and a hash), so revocation takes effect at once.
//!
//! That check runs on the async worker, unlike the handlers' reads
//! (`reply::read`): the key entries are a few small values that RocksDB's
//! block cache, or else the page cache, answers in microseconds, and
//! leaving the worker for them would cost a thread hand-off (tens of
//! microseconds on a virtual machine, issue 13's measurements) on every
//! request, more than the reads themselves.

use std::sync::Arc;

use annal_engine::{Actor, ActorType, ApiKey, Scopes};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::admission::Slot;
use crate::error::ApiError;
use crate::problem::Problem;
use crate::quota::Standing;
use crate::state::AppState;

/// Where the key's check leaves the tightest quota's standing for the
/// response's headers (put on each request by the router's middleware).
#[derive(Debug, Clone, Default)]
pub struct QuotaSlot(pub Arc<parking_lot::Mutex<Option<Standing>>>);

/// The authenticated key of a request, and its tenant's place among the
/// requests being served (`max_requests_in_flight_per_tenant`), given back
/// when the handler is done with the key.
#[derive(Debug, Clone)]
pub struct Key(pub ApiKey, #[allow(dead_code)] Arc<Slot>);

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

/// The address of the client at the other end of the connection, put on
/// each request by `serve` (absent in-process, where nothing is throttled
/// by address).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::IpAddr);

impl FromRequestParts<AppState> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Key, ApiError> {
        // An address that failed too often is refused before its token is
        // looked at, whatever the token: a guesser learns nothing more.
        let peer = parts.extensions.get::<Peer>().map(|p| p.0.to_string());
        if let Some(wait) = peer.as_deref().and_then(|p| state.auth_failures.peek(p).err()) {
            let mut e = ApiError::new(
                Problem::RateLimited,
                format!("too many failed authentications from this address; retry in {wait} s"),
            );
            e.retry_after = Some(wait);
            return Err(e);
        }
        let key = authenticate(parts, state).inspect_err(|e| {
            if let (Some(p), Problem::Unauthorized) = (peer.as_deref(), e.problem) {
                let _ = state.auth_failures.check(p);
            }
        })?;
        // Taken before the quotas: a request refused here counts against none.
        let place = state.admission.request(&key.tenant)?;
        let slot = parts.extensions.get::<QuotaSlot>();
        match state.quotas.check(&key) {
            Ok(standing) => {
                if let Some(slot) = slot {
                    *slot.0.lock() = standing;
                }
                Ok(Key(key, Arc::new(place)))
            }
            Err(refusal) => {
                if let Some(slot) = slot {
                    *slot.0.lock() = refusal.standing;
                }
                let (problem, verb) =
                    if refusal.quota { (Problem::QuotaExceeded, "is used up") } else { (Problem::RateLimited, "was exceeded") };
                let mut e = ApiError::new(problem, format!("{} {verb}; retry in {} s", refusal.what, refusal.retry_after));
                e.retry_after = Some(refusal.retry_after);
                Err(e)
            }
        }
    }
}

/// The live key the request's bearer token names, or 401.
fn authenticate(parts: &Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let unauthorized = |detail: &str| ApiError::new(Problem::Unauthorized, detail).field("Authorization");
    let value =
        parts.headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("missing `Authorization: Bearer ak_…` header"))?;
    // The scheme is case-insensitive (RFC 9110, 11.1).
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or_else(|| unauthorized("expected `Authorization: Bearer ak_…`"))?;
    state.engine.authenticate(token.trim()).map_err(ApiError::from)
}
