//! `annal export --bundle` and `annal verify-bundle`: a window of a chain
//! in one self-verifying file, checked offline (docs/FORMAT.md, "Export bundles").

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use annal_engine::checkpoint::key::hex;
use annal_engine::checkpoint::verify_bundle;
use annal_engine::event::parse_rfc3339_nanos;
use annal_engine::Engine;

use super::{EXIT_BROKEN, EXIT_OK};

/// The window of `annal export --bundle`: seqs, or times on `recorded_at`.
#[derive(Debug, Default)]
pub struct Window {
    /// First seq (inclusive).
    pub from_seq: Option<u64>,
    /// Last seq (inclusive).
    pub to_seq: Option<u64>,
    /// Rows recorded at or after this (RFC 3339 or ns).
    pub from: Option<String>,
    /// Rows recorded before this (RFC 3339 or ns).
    pub to: Option<String>,
}

fn time(flag: &str, v: &str) -> anyhow::Result<u64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(v.parse::<u64>()?);
    }
    let ns = parse_rfc3339_nanos(v).map_err(|m| anyhow::anyhow!("--{flag}: {m}"))?;
    u64::try_from(ns).map_err(|_| anyhow::anyhow!("--{flag}: before 1970"))
}

/// `annal export --bundle FILE --tenant T [window]`: writes the bundle
/// (to a temporary name, renamed into place once complete) and prints its bounds.
pub fn export(engine: &Engine, tenant: &str, window: &Window, file: &Path, out: &mut dyn Write) -> anyhow::Result<u8> {
    let (mut lo, mut hi) = (window.from_seq.unwrap_or(1), window.to_seq.unwrap_or(u64::MAX));
    if window.from.is_some() || window.to.is_some() {
        let from = window.from.as_deref().map(|v| time("from", v)).transpose()?.unwrap_or(0);
        let to = window.to.as_deref().map(|v| time("to", v)).transpose()?.unwrap_or(u64::MAX);
        match engine.seqs_recorded_in(tenant, from, to)? {
            Some((a, b)) => (lo, hi) = (lo.max(a), hi.min(b)),
            None => anyhow::bail!("window: no row of {tenant} was recorded in it"),
        }
    }
    let partial = file.with_extension("partial");
    let f = std::fs::File::create(&partial).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", partial.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let report = match engine.write_bundle(tenant, lo, hi, &mut w) {
        Ok(r) => r,
        Err(e) => {
            drop(w);
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.sync_all()?;
    std::fs::rename(&partial, file)?;
    writeln!(
        out,
        "{tenant}: bundle of seq {}..={} ({} rows) written to {}; chain from the {} at seq {} to the checkpoint at seq {}, key {}",
        report.from_seq,
        report.to_seq,
        report.rows,
        file.display(),
        report.start.0,
        report.start.1,
        report.end_seq,
        hex(&report.key_id)
    )?;
    Ok(EXIT_OK)
}

/// `annal verify-bundle FILE [--public-key HEX]`: exit 0 when it verifies,
/// 2 naming the first bad frame when it does not. Needs no data directory.
pub fn verify(file: &Path, key: Option<&[u8; 32]>, out: &mut dyn Write) -> anyhow::Result<u8> {
    let f = std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    match verify_bundle(BufReader::with_capacity(1 << 20, f), key) {
        Ok(r) => {
            writeln!(
                out,
                "{}: bundle intact: seq {}..={} ({} rows), recomputed from the {} at seq {} to the checkpoint at seq {} signed by key {}",
                r.tenant,
                r.from_seq,
                r.to_seq,
                r.rows,
                r.start.0,
                r.start.1,
                r.end_seq,
                hex(&r.key_id)
            )?;
            Ok(EXIT_OK)
        }
        Err(e) => {
            writeln!(out, "{}: BROKEN at {e}", file.display())?;
            Ok(EXIT_BROKEN)
        }
    }
}
