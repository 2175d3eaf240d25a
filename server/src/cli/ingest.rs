//! `annal ingest`: append newline-delimited JSON events to one tenant.
//!
//! Each line is parsed and prepared on its own, so one bad line is reported
//! (line number, field, problem — never the line's content, which may hold
//! personal data) and skipped, while the good lines are appended in batches.
//! A batch is all-or-nothing in the engine; the only engine-side rejection
//! of a single prepared event is an idempotency conflict, and then that line
//! is reported and the rest of its batch appended.

use std::io::{BufRead, Write};

use annal_engine::{BorrowedEvent, Engine, Error, PreparedEvent};

use super::progress::Progress;
use super::{EXIT_OK, EXIT_REJECTS};

/// Options of one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Tenant to append to.
    pub tenant: String,
    /// Events per append.
    pub batch_size: usize,
}

/// Counts of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    /// Lines read (blank lines excluded).
    pub lines: u64,
    /// Rows appended (new rows, replays excluded).
    pub appended: u64,
    /// Events whose idempotency key returned an earlier receipt.
    pub replayed: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Bytes of input read.
    pub bytes: u64,
}

/// Most reject lines printed; the rest are only counted.
const MAX_PRINTED_REJECTS: u64 = 50;

/// Runs the ingest; returns the exit status.
pub fn run(
    engine: &Engine,
    opts: &IngestOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    annal_engine::validate_tenant(&opts.tenant)?;
    let mut s = IngestSummary::default();
    let mut progress = Progress::new(format!("ingest {}", opts.tenant));
    let mut batch: Vec<(u64, PreparedEvent)> = Vec::with_capacity(opts.batch_size);
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        s.bytes += n as u64;
        let text = trim_ascii(&line);
        if text.is_empty() {
            continue;
        }
        s.lines += 1;
        let prepared =
            BorrowedEvent::from_json_slice(text).map_err(Error::InvalidEvent).and_then(|e| engine.prepare(&opts.tenant, &e));
        match prepared {
            Ok(p) => batch.push((line_no, p)),
            Err(Error::InvalidEvent(fe)) => reject(&mut s, err, line_no, &fe.to_string()),
            Err(e) => return Err(e.into()),
        }
        if batch.len() >= opts.batch_size {
            flush(engine, &opts.tenant, &mut batch, &mut s, err)?;
            progress.tick(s.lines, "lines", err);
        }
    }
    flush(engine, &opts.tenant, &mut batch, &mut s, err)?;
    let secs = progress.elapsed().as_secs_f64().max(1e-9);
    let head = engine.head(&opts.tenant).ok();
    writeln!(
        out,
        "ingested {} of {} events into {} in {:.2}s ({:.0} events/s, {:.1} MB/s); {} rejected, {} idempotent replays{}",
        s.appended,
        s.lines,
        opts.tenant,
        secs,
        s.lines as f64 / secs,
        s.bytes as f64 / secs / 1e6,
        s.rejected,
        s.replayed,
        head.map(|h| format!("; head seq {} {}", h.seq, h.head)).unwrap_or_default(),
    )?;
    Ok(if s.rejected > 0 { EXIT_REJECTS } else { EXIT_OK })
}

fn reject(s: &mut IngestSummary, err: &mut dyn Write, line_no: u64, why: &str) {
    s.rejected += 1;
    if s.rejected <= MAX_PRINTED_REJECTS {
        let _ = writeln!(err, "line {line_no}: rejected: {why}");
    } else if s.rejected == MAX_PRINTED_REJECTS + 1 {
        let _ = writeln!(err, "(further rejects are counted, not printed)");
    }
}

fn flush(
    engine: &Engine,
    tenant: &str,
    batch: &mut Vec<(u64, PreparedEvent)>,
    s: &mut IngestSummary,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    while !batch.is_empty() {
        let events: Vec<PreparedEvent> = batch.iter().map(|(_, p)| p.clone()).collect();
        match engine.append_prepared(tenant, events) {
            Ok(receipts) => {
                for r in receipts {
                    if r.replayed {
                        s.replayed += 1;
                    } else {
                        s.appended += 1;
                    }
                }
                batch.clear();
            }
            Err(Error::IdempotencyConflict { index, .. }) => {
                let (line_no, _) = batch.remove(index);
                reject(s, err, line_no, "idempotency_key: already used for a different event");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}
