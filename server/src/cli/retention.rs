//! `annal retention run|set|hold|release`: run retention over a store,
//! change a tenant's retention, place or lift a legal hold; and `annal
//! tenant delete`, which removes a tenant entirely.
//!
//! Every change is made by the engine, which records it in the tenant's
//! chain as the operator named by `--actor`. A run prints one line per
//! tenant and a total with the deletion rate; with `--dry-run` it only
//! counts. `--now` ages rows against another time: a past date deletes less,
//! a future one is accepted only with `--dry-run` (deleting by a future date
//! would delete early).

use std::io::Write;

use annal_engine::event::{format_rfc3339_nanos, parse_rfc3339_nanos};
use annal_engine::{Actor, ActorType, Engine, Retention, RunOptions, Tier};

use super::{EXIT_ERROR, EXIT_OK};

/// Options of `annal retention run`.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Count only.
    pub dry_run: bool,
    /// Age rows against this time (RFC 3339 or ns) instead of the clock.
    pub now: Option<String>,
    /// Rows per deletion batch.
    pub batch_rows: Option<usize>,
}

/// The operator changing a setting, as the chain records them.
pub fn operator(id: &str) -> anyhow::Result<Actor> {
    if id.trim().is_empty() {
        anyhow::bail!("--actor must not be empty");
    }
    Ok(Actor { kind: ActorType::User, id: id.to_string(), name: None, email: None, on_behalf_of: None })
}

fn time(ns: u64) -> String {
    format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX))
}

/// One retention run; returns the exit status (1 if some tenant failed).
pub fn run(engine: &Engine, args: &RunArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let now = match args.now.as_deref() {
        None => None,
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Some(v.parse::<u64>()?),
        Some(v) => {
            let ns = parse_rfc3339_nanos(v).map_err(|m| anyhow::anyhow!("--now: {m}"))?;
            Some(u64::try_from(ns).map_err(|_| anyhow::anyhow!("--now: before 1970"))?)
        }
    };
    let mut opts = RunOptions { now, dry_run: args.dry_run, ..RunOptions::default() };
    if let Some(b) = args.batch_rows {
        opts.batch_rows = b;
    }
    let report = engine.run_retention(&opts)?;
    let verb = if report.dry_run { "would delete" } else { "deleted" };
    writeln!(out, "{} at {}", if report.dry_run { "dry run" } else { "retention run" }, time(report.now))?;
    let mut failed = 0;
    for t in &report.tenants {
        let policy = format!("{} ({} days)", t.retention.tier_name(), t.retention.days());
        if let Some(e) = &t.error {
            failed += 1;
            writeln!(out, "{}: {policy}: FAILED after {} rows: {e}", t.tenant, t.rows)?;
        } else if let Some(h) = &t.hold {
            writeln!(out, "{}: {policy}: on legal hold since {} ({}): nothing deleted", t.tenant, time(h.since), h.reason)?;
        } else {
            write!(out, "{}: {policy}, cutoff {}: {verb} {} rows", t.tenant, time(t.cutoff), t.rows)?;
            if let Some(a) = t.anchor.filter(|_| t.rows > 0 && !report.dry_run) {
                write!(out, " in {} batches, chain now starts after seq {}", t.batches, a.seq)?;
            }
            if let Some(p) = t.purged {
                write!(out, ", recorded as seq {}", p.seq)?;
            }
            if let Some(c) = &t.checkpoint {
                write!(out, ", checkpoint at seq {}", c.seq)?;
            }
            writeln!(out)?;
        }
    }
    let secs = report.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { report.rows as f64 / secs } else { 0.0 };
    writeln!(out, "{verb} {} rows of {} tenant(s) in {secs:.2} s ({rate:.0} rows/s)", report.rows, report.tenants.len())?;
    Ok(if failed > 0 { EXIT_ERROR } else { EXIT_OK })
}

/// `annal retention set`: exactly one of `tier` and `days`.
pub fn set(
    engine: &Engine,
    tenant: &str,
    tier: Option<&str>,
    days: Option<u32>,
    actor: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let retention = match (tier, days) {
        (Some(t), None) => Retention::Tier(Tier::parse(t)?),
        (None, Some(d)) => Retention::days_checked(d)?,
        _ => anyhow::bail!("give exactly one of --tier and --days"),
    };
    let r = engine.set_retention(tenant, retention, operator(actor)?)?;
    writeln!(out, "{tenant}: retention {} ({} days), recorded as seq {}", retention.tier_name(), retention.days(), r.seq)?;
    Ok(EXIT_OK)
}

/// `annal retention hold`.
pub fn hold(engine: &Engine, tenant: &str, reason: &str, actor: &str, out: &mut dyn Write) -> anyhow::Result<u8> {
    let r = engine.place_hold(tenant, reason, operator(actor)?)?;
    writeln!(out, "{tenant}: legal hold placed, recorded as seq {}", r.seq)?;
    Ok(EXIT_OK)
}

/// `annal retention release`.
pub fn release(engine: &Engine, tenant: &str, actor: &str, out: &mut dyn Write) -> anyhow::Result<u8> {
    let r = engine.release_hold(tenant, operator(actor)?)?;
    writeln!(out, "{tenant}: legal hold released, recorded as seq {}", r.seq)?;
    Ok(EXIT_OK)
}

/// `annal tenant delete`: `confirm` must repeat the tenant id, so that a
/// slip of the keyboard cannot delete a workspace.
pub fn delete_tenant(
    engine: &Engine,
    tenant: &str,
    confirm: &str,
    reason: &str,
    actor: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if confirm != tenant {
        anyhow::bail!("--confirm must repeat the tenant id ({tenant}) to delete it");
    }
    let d = engine.delete_tenant(tenant, reason, operator(actor)?)?;
    writeln!(
        out,
        "{tenant}: deleted, final seq {} head {}, {} rows removed; recorded as seq {} of {}",
        d.final_head.seq,
        d.final_head.head,
        d.rows_removed,
        d.receipt.seq,
        annal_engine::PLATFORM_TENANT
    )?;
    Ok(EXIT_OK)
}
