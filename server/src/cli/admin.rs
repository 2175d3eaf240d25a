//! `annal tenants create` and `annal keys create|list|revoke`: offline
//! administration against the data directory, to bootstrap the first admin
//! key before any server runs (RocksDB's lock keeps these from running
//! beside a server on the same directory).
//!
//! What they do is recorded in the tenant's chain like the HTTP routes'
//! changes, with the actor `{type: system, id: "cli:<user>"}`.

use std::io::Write;

use annal_engine::{Actor, ActorType, Engine, Scopes};

use super::{EXIT_ERROR, EXIT_OK};

/// Action of the row that opens a tenant's chain when it is created on purpose.
pub const TENANT_CREATED_ACTION: &str = "annal.tenant.created";

/// The actor of rows the command line writes.
pub fn cli_actor() -> Actor {
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "unknown".into());
    let id: String = format!("cli:{user}").chars().filter(|c| !c.is_control()).take(200).collect();
    Actor { kind: ActorType::System, id, name: None, email: None, on_behalf_of: None }
}

/// Creates `name`'s chain with an `annal.tenant.created` row. A tenant that
/// exists already is an error (exit 1) and changes nothing.
pub fn create_tenant(engine: &Engine, name: &str, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    annal_engine::validate_tenant(name)?;
    if engine.tenants().iter().any(|t| t == name) {
        writeln!(err, "annal: tenant {name} exists already")?;
        return Ok(EXIT_ERROR);
    }
    let r = engine.append_system(name, TENANT_CREATED_ACTION, cli_actor(), serde_json::Map::new())?;
    writeln!(out, "created tenant {name} (seq {})", r.seq)?;
    Ok(EXIT_OK)
}

/// Creates a key and prints its token (shown only now) on stdout, the rest on stderr.
pub fn create_key(
    engine: &Engine,
    tenant: &str,
    scopes: &[String],
    label: &str,
    limits: annal_engine::KeyLimits,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let scopes = Scopes::from_names(scopes).map_err(|fe| anyhow::anyhow!("--scope: {}", fe.message))?;
    let (key, token) = engine.create_api_key_with_limits(tenant, scopes, label, limits, cli_actor()).map_err(|e| match e {
        annal_engine::Error::UnknownTenant => {
            anyhow::anyhow!("unknown tenant {tenant}: create it first with `annal tenants create {tenant}`")
        }
        e => e.into(),
    })?;
    writeln!(out, "{token}")?;
    writeln!(
        err,
        "created key {} for {tenant} with scopes {}; the token above is shown only once",
        key.id,
        key.scopes.names().join(",")
    )?;
    Ok(EXIT_OK)
}

/// Prints the tenant's keys as NDJSON.
pub fn list_keys(engine: &Engine, tenant: &str, out: &mut dyn Write) -> anyhow::Result<u8> {
    for k in engine.api_keys(tenant)? {
        writeln!(out, "{}", k.to_json())?;
    }
    Ok(EXIT_OK)
}

/// Revokes one key.
pub fn revoke_key(engine: &Engine, tenant: &str, id: &str, out: &mut dyn Write) -> anyhow::Result<u8> {
    let k = engine.revoke_api_key(tenant, id, cli_actor())?;
    writeln!(out, "revoked key {} of {tenant}", k.id)?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_a_tenant_and_an_admin_key() {
        let d = tempfile::tempdir().unwrap();
        let engine = Engine::open(d.path()).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(create_tenant(&engine, "ws_a", &mut out, &mut err).unwrap(), EXIT_OK);
        assert_eq!(create_tenant(&engine, "ws_a", &mut out, &mut err).unwrap(), EXIT_ERROR);
        assert!(create_key(&engine, "ws_b", &["admin".into()], "", Default::default(), &mut out, &mut err).is_err());
        let mut token = Vec::new();
        create_key(&engine, "ws_a", &["admin".into(), "read".into()], "ops", Default::default(), &mut token, &mut err).unwrap();
        let token = String::from_utf8(token).unwrap();
        let key = engine.authenticate(token.trim()).unwrap();
        assert_eq!(key.tenant, "ws_a");
        assert_eq!(key.scopes.names(), ["read", "admin"]);
        // Both acts are rows of the tenant's chain.
        let actions: Vec<String> = engine.iter("ws_a", 1).unwrap().map(|r| r.unwrap().event.action).collect();
        assert_eq!(actions, [TENANT_CREATED_ACTION, annal_engine::apikeys::KEY_CREATED_ACTION]);
    }
}
