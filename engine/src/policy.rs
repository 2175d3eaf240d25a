//! Redaction policy changes: a tenant's policy is replaced by a row of its
//! own chain (`annal.policy.set`, with the new version and the policy in
//! `metadata`), written under the new policy in the batch that makes it
//! current, so the log records under which policy each later row was
//! written (docs/REDACTION.md).

use std::sync::Arc;

use crate::core::append::OwnRow;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::format::record::Receipt;
use crate::format::tenant::check_client_tenant;
use crate::redact::Policy;

/// Action of the row that records a change of a tenant's redaction policy.
pub const POLICY_ACTION: &str = "annal.policy.set";

/// How often a change that lost a race with another is made again.
const RETRIES: u32 = 8;

/// Makes `policy` `tenant`'s policy, by `actor`; see `Engine::set_policy`.
pub(crate) fn set(core: &Core, tenant: &str, policy: &Policy, actor: &Actor) -> Result<(Receipt, u32)> {
    check_client_tenant(tenant)?;
    policy.compile().map_err(Error::InvalidPolicy)?;
    let mut attempts = 0;
    loop {
        let current = core.redactors.get(tenant)?;
        let version = current.version + 1;
        let next = Arc::new(current.with_policy(version, policy.clone()).map_err(Error::InvalidPolicy)?);
        let mut metadata = serde_json::Map::new();
        metadata.insert("version".into(), version.into());
        metadata.insert("policy".into(), policy.to_json());
        let row = OwnRow { new_policy: Some(next), ..OwnRow::default() };
        match core.append_own(tenant, POLICY_ACTION, actor, &metadata, row) {
            Ok(r) => return Ok((r, version)),
            // Another change landed first: build on it.
            Err(Error::PolicyChanged { .. }) if attempts < RETRIES => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

/// `tenant`'s current policy and its version.
pub(crate) fn current(core: &Core, tenant: &str) -> Result<(u32, Policy)> {
    let r = core.redactors.get(tenant)?;
    Ok((r.version, r.policy.clone()))
}

/// The token `value` gets when `tenant`'s policy pseudonymizes it.
pub(crate) fn pseudonym(core: &Core, tenant: &str, value: &str) -> Result<String> {
    Ok(core.redactors.get(tenant)?.pseudonym(value))
}
