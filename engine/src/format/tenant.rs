//! What a tenant id is. The id is part of hashed bytes (the genesis of its
//! chain, every checkpoint's message), so its syntax is format; the
//! directory of tenants a store holds is the core's (`core::directory`).

use crate::error::{Error, Result};

/// Longest tenant id, in bytes.
pub const MAX_TENANT_BYTES: usize = 128;

/// Tenant ids beginning with this are annal's own chains
/// ([`PLATFORM_TENANT`]): readable like any chain, never written by clients.
pub const RESERVED_TENANT_PREFIX: &str = "annal.";

/// The platform chain: annal's record of acts above any one tenant (a
/// tenant's deletion). Retention never deletes from it.
pub const PLATFORM_TENANT: &str = "annal.platform";

/// Checks a tenant id: 1 to 128 bytes of ASCII letters, digits, `_`, `-`, `.`.
pub fn validate_tenant(tenant: &str) -> Result<()> {
    if tenant.is_empty() || tenant.len() > MAX_TENANT_BYTES {
        return Err(Error::InvalidTenant(format!("must be 1 to {MAX_TENANT_BYTES} bytes")));
    }
    if !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return Err(Error::InvalidTenant("may hold only ASCII letters, digits, `_`, `-` and `.`".into()));
    }
    Ok(())
}

/// [`validate_tenant`], and refuses annal's reserved names: the check of
/// every way a client writes.
pub fn check_client_tenant(tenant: &str) -> Result<()> {
    validate_tenant(tenant)?;
    if tenant.starts_with(RESERVED_TENANT_PREFIX) {
        return Err(Error::InvalidTenant(format!("the `{RESERVED_TENANT_PREFIX}` prefix is reserved for annal's own chains")));
    }
    Ok(())
}
