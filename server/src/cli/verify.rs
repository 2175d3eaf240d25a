//! `annal verify`: recompute every chain (or one) and report.

use std::io::Write;

use annal_engine::{Engine, VerifyOutcome};

use super::progress::Progress;
use super::{tenant_or_every, EXIT_BROKEN, EXIT_OK};

/// Verifies `tenant`, or every tenant; returns the exit status.
pub fn run(engine: &Engine, tenant: Option<&str>, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let tenants = tenant_or_every(engine, tenant);
    let mut broken = 0;
    let mut total = 0u64;
    for t in &tenants {
        let mut progress = Progress::new(format!("verify {t}"));
        let outcome = engine.verify_with_progress(t, .., &mut |n| progress.tick(n, "rows", err))?;
        match outcome {
            VerifyOutcome::Intact(r) => {
                total += r.count;
                write!(out, "{t}: intact, {} rows (seq {}..={}), head {}", r.count, r.first_seq, r.last_seq, r.head)?;
                if let Some(a) = r.anchor {
                    write!(out, "; seq 1..={} deleted by retention, chain verified from its anchor", a.seq)?;
                    if a.announced_seq < a.seq {
                        write!(
                            out,
                            " ({} of them not yet recorded in the chain: the next run records them)",
                            a.seq - a.announced_seq
                        )?;
                    }
                }
                if r.content_unchecked > 0 {
                    write!(
                        out,
                        "; the content of {} encrypted rows not checked (their key could not be had: give the store's \
                         keyring to check it)",
                        r.content_unchecked
                    )?;
                }
                writeln!(out)?;
            }
            VerifyOutcome::Broken(b) => {
                broken += 1;
                writeln!(out, "{t}: BROKEN at seq {}: {} ({} rows verified before it)", b.seq, b.reason, b.verified)?;
            }
        }
    }
    if broken == 0 {
        writeln!(out, "all {} chain(s) intact, {total} rows", tenants.len())?;
        Ok(EXIT_OK)
    } else {
        writeln!(out, "{broken} of {} chain(s) broken", tenants.len())?;
        Ok(EXIT_BROKEN)
    }
}
